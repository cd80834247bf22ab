import { createHash } from "node:crypto";
import type { Config, PlatformLimits } from "../config.ts";
import { AppError } from "../errors.ts";
import { codeSizeProblems } from "./code-size.ts";
import { checkImports } from "./imports.ts";
import { withoutAuthorTooling } from "./pack.ts";
import { compileTypeScript } from "./typescript.ts";
import { parseManifest, type Manifest } from "./manifest-schema.ts";
import type { Problem } from "./problem.ts";
import type { Registered } from "./registered.ts";
import { parseWebhooks, type WebhookDefinition } from "./webhook-schema.ts";
import { readPluginZip } from "./zip-reader.ts";

export interface ValidatedPackage {
  manifest: Manifest;
  files: Map<string, Buffer>;
  webhooks: WebhookDefinition[];
  /** Hex SHA-256 of the contents (sorted names and bytes): the same files zipped twice hash alike. */
  sha256: string;
}

/**
 * Everything that can be checked without running the plugin's code. Throws
 * AppError("invalid_plugin") listing every problem found (an unsafe ZIP stops earlier).
 */
export function validatePackage(
  buf: Buffer,
  opts: { upload: Config["upload"]; limits: PlatformLimits },
): ValidatedPackage {
  const raw = withoutAuthorTooling(readPluginZip(buf, opts.upload));
  // TypeScript modules are compiled first, so every later check (and the sandbox) sees JavaScript.
  const { files, problems } = compileTypeScript(raw);
  problems.push(...codeSizeProblems(files, opts.upload));

  let json: unknown;
  try {
    json = JSON.parse((files.get("plugin.json") as Buffer).toString("utf8").replace(/^\uFEFF/, ""));
  } catch (err) {
    problems.push({ path: "plugin.json", message: `not valid JSON: ${(err as Error).message}` });
  }
  const parsed = json === undefined ? { problems: [] } : parseManifest(json, opts.limits);
  problems.push(...parsed.problems);

  // Check the entry even when other keys are wrong, so one upload shows every problem.
  const entry = parsed.manifest?.entry ?? rawEntry(json, parsed.problems);
  if (entry !== undefined && !files.has(entry)) {
    problems.push({ path: "entry", message: `the entry file ${entry} is not in the package` });
  }
  problems.push(...checkImports(files));
  const { webhooks, problems: webhookProblems } = parseWebhooks(files, parsed.manifest);
  problems.push(...webhookProblems);

  if (problems.length || !parsed.manifest) {
    throw new AppError("invalid_plugin", "The plugin package is invalid", problems);
  }
  return { manifest: parsed.manifest, files, webhooks, sha256: contentHash(raw) };
}

// The entry a manifest that failed validation names, when that key itself was fine.
function rawEntry(json: unknown, problems: Problem[]): string | undefined {
  if (json === undefined || problems.some((p) => p.path === "entry" || p.path === "plugin.json")) return undefined;
  const entry = (json as { entry?: unknown }).entry;
  if (entry === undefined) return "main.js";
  return typeof entry === "string" ? entry.replace(/^\.\//, "") : undefined;
}

function contentHash(files: Map<string, Buffer>): string {
  const hash = createHash("sha256");
  for (const name of [...files.keys()].sort()) {
    const data = files.get(name) as Buffer;
    // Length-prefixed, so no two different packages can produce the same byte stream.
    hash.update(`${Buffer.byteLength(name)}:${name}:${data.length}:`).update(data);
  }
  return hash.digest("hex");
}

const ROUTE_AUTH = new Set(["user", "admin", "public"]);
const HTTP_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/** What the manifest declares against what the code registered when loaded; each mismatch is a problem. */
export function compareRegistrations(manifest: Manifest, registered: Registered, webhooks: readonly WebhookDefinition[] = []): Problem[] {
  const problems: Problem[] = [];
  for (const webhook of webhooks) {
    if (!webhook.transform) continue;
    const { file, fn } = webhook.transform;
    if (!registered.transforms?.[file]?.includes(fn)) {
      problems.push({ path: `${webhook.file}: transform.entry`, message: `${file} does not export a function "${fn}"` });
    }
  }
  const hooks = new Set(registered.hooks);
  manifest.events.forEach((event, i) => {
    if (!hooks.has(event)) {
      problems.push({ path: `events[${i}]`, message: `no hook registered for "${event}"; add hook("${event}", …)` });
    }
  });
  for (const event of hooks) {
    if (!manifest.events.includes(event)) {
      problems.push({ path: "events", message: `hook("${event}") is registered but "${event}" is not declared in events` });
    }
  }

  const handlers = new Set(registered.jobs);
  manifest.jobs.forEach((job, i) => {
    if (!handlers.has(job.name)) {
      problems.push({ path: `jobs[${i}]`, message: `no handler registered for job "${job.name}"; add job("${job.name}", …)` });
    }
  });
  for (const name of handlers) {
    if (!manifest.jobs.some((j) => j.name === name)) {
      problems.push({ path: "jobs", message: `job("${name}") has a handler but no entry in jobs` });
    }
  }

  const routes = registered.routes;
  if (manifest.routes && routes.length === 0) {
    problems.push({ path: "routes", message: "routes is true but the code registers no route" });
  }
  if (!manifest.routes && routes.length > 0) {
    const list = routes.map((r) => r.path).join(", ");
    problems.push({ path: "routes", message: `the code registers routes (${list}) but routes is not true in plugin.json` });
  }
  const seen = new Set<string>();
  for (const route of routes) {
    const where = `route ${route.path}`;
    if (!route.path.startsWith("/")) problems.push({ path: "routes", message: `${where}: the path must start with /` });
    if (!ROUTE_AUTH.has(route.auth)) {
      problems.push({ path: "routes", message: `${where}: auth "${route.auth}" is not one of user, admin, public` });
    }
    for (const method of route.methods.map((m) => m.toUpperCase())) {
      if (!HTTP_METHODS.has(method)) problems.push({ path: "routes", message: `${where}: unknown method ${method}` });
      const key = `${method} ${route.path}`;
      if (seen.has(key)) problems.push({ path: "routes", message: `route ${key} is registered more than once` });
      seen.add(key);
    }
  }
  return problems;
}
