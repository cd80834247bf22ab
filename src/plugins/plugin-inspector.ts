import { randomUUID } from "node:crypto";
import { AppError } from "../errors.ts";
import type { Manifest } from "../packaging/manifest-schema.ts";
import type { Registered } from "../packaging/registered.ts";
import type { WebhookDefinition } from "../packaging/webhook-schema.ts";
import type { SandboxPool } from "../sandbox/sandbox-pool.ts";
import { codeFromFiles } from "./plugin-code.ts";

/**
 * Loads an uploaded package in a throwaway isolate and asks what it registered (hooks,
 * routes, jobs, lifecycle). Top-level code runs under the plugin's own limits; a package
 * whose code cannot load is a 422 like any other invalid package.
 */
export async function inspectPackage(
  sandbox: SandboxPool,
  manifest: Manifest,
  files: Map<string, Buffer>,
  sha256: string,
  webhooks: readonly WebhookDefinition[] = [],
): Promise<Registered> {
  const versionId = `inspect-${sha256}-${randomUUID()}`;
  const key = `inspect:${versionId}`;
  const result = await sandbox
    .call({
      key,
      versionId,
      memoryMb: manifest.resources.memory_mb,
      timeoutMs: manifest.resources.timeout_ms,
      kind: "describe",
      name: "",
      args: [],
      info: { tenantId: "", userId: null, plugin: { slug: manifest.slug, version: manifest.version, installId: "" }, config: {} },
      code: () => codeFromFiles(versionId, manifest.entry, files, webhooks),
      // Top-level code has no ctx; nothing may be asked of the host while loading.
      capability: async () => {
        throw new Error("ctx is not available while the plugin loads");
      },
      ephemeral: true,
    })
    .catch((err: unknown) => {
      if (err instanceof AppError) throw invalid(manifest.entry, loadingFailedBecause(err.code, manifest));
      throw err;
    });
  const outcome = result.outcome;
  switch (outcome.status) {
    case "ok":
      return (JSON.parse(outcome.json) as { value: Registered }).value;
    case "failed":
      throw invalid(manifest.entry, `loading the code failed: ${outcome.error.name}: ${outcome.error.message}`);
    case "timeout":
      throw invalid(manifest.entry, loadingFailedBecause("plugin_timeout", manifest));
    case "out_of_memory":
      throw invalid(manifest.entry, loadingFailedBecause("plugin_out_of_memory", manifest));
    default:
      throw new AppError("sandbox_unavailable");
  }
}

function loadingFailedBecause(code: string, manifest: Manifest): string {
  if (code === "plugin_timeout") return `top-level code did not finish within ${manifest.resources.timeout_ms} ms`;
  if (code === "plugin_out_of_memory") return `top-level code exceeded the ${manifest.resources.memory_mb} MB memory limit`;
  return "the sandbox stopped while loading the code";
}

function invalid(path: string, message: string): AppError {
  return new AppError("invalid_plugin", "The plugin package is invalid", [{ path, message }]);
}
