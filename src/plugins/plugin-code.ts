import type { Config } from "../config.ts";
import type { PrismaClient } from "../generated/prisma/client.ts";
import type { WebhookDefinition } from "../packaging/webhook-schema.ts";
import { withoutAuthorTooling } from "../packaging/pack.ts";
import { compileTypeScript } from "../packaging/typescript.ts";
import { readPluginZip } from "../packaging/zip-reader.ts";
import type { PluginCode } from "../sandbox/protocol.ts";

/** The JavaScript files of a package, as the sandbox loads them. */
export function codeFromFiles(versionId: string, entry: string, files: Map<string, Buffer>, webhooks: readonly WebhookDefinition[] = []): PluginCode {
  const js: Record<string, string> = {};
  for (const [name, data] of files) if (/\.(m?js|ts)$/.test(name) && !name.endsWith(".d.ts")) js[name] = data.toString("utf8");
  const transforms = [...new Set(webhooks.flatMap((w) => (w.transform ? [w.transform.file] : [])))];
  return { versionId, entry, files: js, ...(transforms.length ? { transforms } : {}) };
}

/**
 * Plugin code by version id, read from the stored bundle on first use. Sandbox processes
 * keep their own copy, so this is read again only after a sandbox restart or a new version.
 */
export class PluginCodeStore {
  // Promises, so concurrent first calls of a version read and compile it once.
  private readonly cache = new Map<string, Promise<PluginCode>>();

  constructor(
    private readonly prisma: PrismaClient,
    private readonly upload: Config["upload"],
    private readonly max = 200,
  ) {}

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
    const row = await this.prisma.pluginVersion.findUniqueOrThrow({
      where: { id: versionId },
      select: { bundle: true, manifest: true, webhooks: true },
    });
    const entry = (row.manifest as { entry: string }).entry;
    const webhooks = row.webhooks as unknown as WebhookDefinition[];
    // The stored bundle is what was uploaded; TypeScript is compiled again here (it compiled at upload).
    const { files } = compileTypeScript(withoutAuthorTooling(readPluginZip(Buffer.from(row.bundle), this.upload)));
    return codeFromFiles(versionId, entry, files, webhooks);
  }
}
