import type { Config } from "../config.ts";
import type { PrismaClient } from "../generated/prisma/client.ts";
import type { WebhookDefinition } from "../packaging/webhook-schema.ts";
import { withoutAuthorTooling } from "../packaging/pack.ts";
import { compileTypeScript } from "../packaging/typescript.ts";
import { readPluginZip } from "../packaging/zip-reader.ts";
import type { PluginCode } from "../sandbox/protocol.ts";

/** Whether a package file is a module the sandbox loads (TypeScript counts: it is compiled first). */
export function isCodeFile(name: string): boolean {
  return /\.(m?js|ts)$/.test(name) && !name.endsWith(".d.ts");
}

/** The JavaScript files of a package, as the sandbox loads them. */
export function codeFromFiles(versionId: string, entry: string, files: Map<string, Buffer>, webhooks: readonly WebhookDefinition[] = []): PluginCode {
  const js: Record<string, string> = {};
  for (const [name, data] of files) if (isCodeFile(name)) js[name] = data.toString("utf8");
  const transforms = [...new Set(webhooks.flatMap((w) => (w.transform ? [w.transform.file] : [])))];
  return { versionId, entry, files: js, ...(transforms.length ? { transforms } : {}) };
}

/** Every package file that is not code (ctx.assets): templates, static files, plugin.json. */
export function assetsFromFiles(files: Map<string, Buffer>): ReadonlyMap<string, Buffer> {
  return new Map([...files].filter(([name]) => !isCodeFile(name)));
}

/**
 * Plugin code by version id, read from the stored bundle on first use. Sandbox processes
 * keep their own copy, so this is read again only after a sandbox restart or a new version.
 */
export class PluginCodeStore {
  // Promises, so concurrent first calls of a version read and compile it once.
  private readonly cache = new Map<string, Promise<PluginCode>>();
  // Assets stay on the host (a call reads one file, not all of them); bounded by bytes, since
  // one version may hold up to the unpacked upload limit. Oldest first, for eviction.
  private readonly assetCache = new Map<string, { files: Promise<ReadonlyMap<string, Buffer>>; bytes: number }>();

  constructor(
    private readonly prisma: PrismaClient,
    private readonly upload: Config["upload"],
    private readonly max = 200,
    private readonly maxAssetBytes = 64 * 1024 * 1024,
  ) {}

  /** The version's non-code files; the bundle is read once per version while it stays cached. */
  assets(versionId: string): Promise<ReadonlyMap<string, Buffer>> {
    const hit = this.assetCache.get(versionId);
    if (hit) {
      // Most recently used last, so the versions still being called are the ones kept.
      this.assetCache.delete(versionId);
      this.assetCache.set(versionId, hit);
      return hit.files;
    }
    const entry = { files: this.readFiles(versionId).then(({ files }) => assetsFromFiles(files)), bytes: 0 };
    this.assetCache.set(versionId, entry);
    entry.files.then(
      (files) => {
        entry.bytes = [...files.values()].reduce((sum, data) => sum + data.length, 0);
        this.evictAssets();
      },
      () => {
        if (this.assetCache.get(versionId) === entry) this.assetCache.delete(versionId);
      },
    );
    return entry.files;
  }

  private evictAssets(): void {
    let total = [...this.assetCache.values()].reduce((sum, e) => sum + e.bytes, 0);
    for (const [versionId, e] of this.assetCache) {
      if (total <= this.maxAssetBytes && this.assetCache.size <= this.max) break;
      this.assetCache.delete(versionId);
      total -= e.bytes;
    }
  }

  get(versionId: string): Promise<PluginCode> {
    const hit = this.cache.get(versionId);
    if (hit) return hit;
    const loading = this.read(versionId);
    this.cache.set(versionId, loading);
    loading.catch(() => this.cache.delete(versionId));
    if (this.cache.size > this.max) this.cache.delete(this.cache.keys().next().value as string);
    return loading;
  }

  private async read(versionId: string): Promise<PluginCode> {
    const { row, files } = await this.readFiles(versionId);
    const entry = (row.manifest as { entry: string }).entry;
    const webhooks = row.webhooks as unknown as WebhookDefinition[];
    return codeFromFiles(versionId, entry, files, webhooks);
  }

  private async readFiles(versionId: string) {
    const row = await this.prisma.pluginVersion.findUniqueOrThrow({
      where: { id: versionId },
      select: { bundle: true, manifest: true, webhooks: true },
    });
    // The stored bundle is what was uploaded; TypeScript is compiled again here (it compiled at upload).
    const { files } = compileTypeScript(withoutAuthorTooling(readPluginZip(Buffer.from(row.bundle), this.upload)));
    return { row, files };
  }
}
