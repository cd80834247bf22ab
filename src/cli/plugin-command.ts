import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { packageLimits } from "../config.ts";
import { AppError } from "../errors.ts";
import { createLogger } from "../logger.ts";
import { collectPluginFiles, packFiles } from "../packaging/pack.ts";
import { SLUG } from "../packaging/manifest-schema.ts";
import { describeProblems, type Problem } from "../packaging/problem.ts";
import { checkPackage } from "../plugins/check-package.ts";
import { SandboxPool } from "../sandbox/sandbox-pool.ts";
import type { CliIo } from "./main.ts";
import { scaffoldFiles } from "./plugin-scaffold.ts";

export const PLUGIN_USAGE = [
  "usage: npm run cli -- plugin init <dir> [--slug <slug>] [--name <name>]",
  "       npm run cli -- plugin validate <dir>",
  "       npm run cli -- plugin pack <dir> [--out <file.zip>]",
  "       npm run cli -- plugin deploy <dir> --url <http://host:port> --tenant <slug> [--token <jwt>]   (token default: $SBH_TOKEN)",
  "       npm run cli -- plugin test <dir>",
].join("\n");

const REPO_ROOT = path.resolve(import.meta.dirname, "../..");

/**
 * `plugin …`: scaffold, check, pack, upload and test plugins from a folder. `validate` and
 * `pack` run the upload's own checks offline (the same messages); exit 1 when they fail, 2 for
 * bad arguments.
 */
export async function pluginCommand(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  let parsed: { values: Record<string, string | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: rest,
      strict: true,
      allowPositionals: true,
      options: { slug: { type: "string" }, name: { type: "string" }, out: { type: "string" }, url: { type: "string" }, tenant: { type: "string" }, token: { type: "string" } },
    }) as typeof parsed;
  } catch (err) {
    return usageError(io, (err as Error).message);
  }
  const [dir, ...extra] = parsed.positionals;
  if (!dir || extra.length) return usageError(io, dir ? `unexpected arguments: ${extra.join(" ")}` : "give the plugin folder");
  const v = parsed.values;
  switch (sub) {
    case "init":
      return init(io, dir, v.slug, v.name);
    case "validate":
      return withChecked(io, dir, async ({ summary }) => {
        io.stdout.write(`${summary}\n`);
        return 0;
      });
    case "pack":
      return withChecked(io, dir, async ({ zip, slug, version, summary }) => {
        const out = path.resolve(v.out ?? `${slug}-${version}.zip`);
        writeFileSync(out, zip);
        io.stdout.write(`${summary}\n${out} (${zip.length} bytes, sha256 ${createHash("sha256").update(zip).digest("hex")})\n`);
        return 0;
      });
    case "deploy":
      if (!v.url || !v.tenant) return usageError(io, "deploy needs --url and --tenant");
      return deploy(io, dir, v.url, v.tenant, v.token ?? process.env.SBH_TOKEN);
    case "test":
      return runTests(io, dir);
    default:
      return usageError(io, sub ? `unknown plugin command "${sub}"` : "give a plugin command");
  }
}

function usageError(io: CliIo, message: string): number {
  io.stderr.write(`error: ${message}\n${PLUGIN_USAGE}\n`);
  return 2;
}

function init(io: CliIo, dir: string, slugArg: string | undefined, name: string | undefined): number {
  const target = path.resolve(dir);
  if (existsSync(target) && readdirSync(target).length > 0) {
    io.stderr.write(`error: ${target} exists and is not empty\n`);
    return 1;
  }
  const slug = slugArg ?? path.basename(target).toLowerCase().replace(/[^a-z0-9_-]+/g, "-").replace(/^-+|-+$/g, "");
  if (!SLUG.test(slug)) {
    io.stderr.write(`error: "${slug}" is not a valid slug (2-63 characters of a-z, 0-9, _ and -); pass --slug\n`);
    return 2;
  }
  for (const [rel, content] of Object.entries(scaffoldFiles({ slug, name: name ?? slug, sdkTypes: path.join(REPO_ROOT, "sdk/index.d.ts") }))) {
    const file = path.join(target, rel);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, content);
  }
  io.stdout.write(
    [
      `Created ${slug} in ${target}`,
      `  npm run cli -- plugin test ${dir}       run its tests`,
      `  npm run cli -- plugin validate ${dir}   check it as an upload would`,
      `  npm run cli -- plugin deploy ${dir} --url http://localhost:3000 --tenant demo --token $TOKEN`,
      "",
    ].join("\n"),
  );
  return 0;
}

interface Checked {
  zip: Buffer;
  slug: string;
  version: string;
  summary: string;
}

// Pack the folder, then the upload's checks (archive, manifest, imports, webhooks, then the code
// loaded in a sandbox and compared with the manifest). Problems are printed as upload reports them.
async function withChecked(io: CliIo, dir: string, then: (c: Checked) => Promise<number>): Promise<number> {
  const root = path.resolve(dir);
  if (!existsSync(path.join(root, "plugin.json"))) {
    io.stderr.write(`error: ${root} has no plugin.json\n`);
    return 1;
  }
  const sandbox = new SandboxPool({ processes: 1, idleMs: 60_000, maxIsolates: 2, graceMs: 1000, logger: createLogger("silent") });
  await sandbox.start();
  try {
    const zip = packFiles(collectPluginFiles(root));
    const { pkg, registered, problems } = await checkPackage(sandbox, zip, packageLimits());
    if (problems.length) throw new AppError("invalid_plugin", "The plugin package is invalid", problems);
    const m = pkg.manifest;
    const parts = [
      `${registered.routes.length} route(s)`,
      `${registered.hooks.length} hook(s)`,
      `${registered.jobs.length} job(s)`,
      `${pkg.webhooks.length} webhook(s)`,
    ];
    return await then({ zip, slug: m.slug, version: m.version, summary: `✓ ${m.slug} ${m.version} is valid: ${parts.join(", ")}` });
  } catch (err) {
    if (err instanceof AppError && err.code === "invalid_plugin") {
      io.stderr.write(`${describeProblems(err.message, (err.details as Problem[]) ?? [])}\n`);
      return 1;
    }
    throw err;
  } finally {
    await sandbox.close();
  }
}

async function deploy(io: CliIo, dir: string, url: string, tenant: string, token: string | undefined): Promise<number> {
  if (!token) return usageError(io, "deploy needs --token or SBH_TOKEN (an admin token: npm run cli -- token --tenant <slug> --role admin)");
  const zip = packFiles(collectPluginFiles(path.resolve(dir)));
  const form = new FormData();
  form.append("file", new Blob([new Uint8Array(zip)], { type: "application/zip" }), "plugin.zip");
  let res: Response;
  try {
    res = await fetch(new URL("/api/plugins/upload", url), {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "x-tenant-slug": tenant },
      body: form,
    });
  } catch (err) {
    io.stderr.write(`error: cannot reach ${url}: ${(err as Error).message}\n`);
    return 1;
  }
  const body = (await res.json().catch(() => null)) as { plugin?: { slug: string; version: string; status: string; id: string }; previous_version?: string; error?: { code: string; message: string; details?: unknown } } | null;
  if (!res.ok || !body?.plugin) {
    const e = body?.error;
    io.stderr.write(`error: upload answered ${res.status}${e ? ` ${e.code}: ${e.message}` : ""}\n`);
    if (Array.isArray(e?.details)) for (const p of e.details as { path: string; message: string }[]) io.stderr.write(`  ${p.path}: ${p.message}\n`);
    return 1;
  }
  const p = body.plugin;
  const what = res.status === 201 ? "installed" : `upgraded from ${body.previous_version}`;
  io.stdout.write(`${p.slug} ${p.version} ${what} for tenant ${tenant} (${p.status}, id ${p.id})\n`);
  return 0;
}

// The plugin's own tests (test/*.test.{js,mjs,ts}) with node's runner, the SDK test kit resolvable.
async function runTests(io: CliIo, dir: string): Promise<number> {
  const testDir = path.resolve(dir, "test");
  const files = existsSync(testDir) ? readdirSync(testDir).filter((f) => /\.test\.(m?js|ts)$/.test(f)).map((f) => path.join(testDir, f)) : [];
  if (files.length === 0) {
    io.stderr.write(`error: no test files in ${testDir}\n`);
    return 1;
  }
  // A run started from inside another node:test run must not speak that run's child protocol.
  const { NODE_TEST_CONTEXT: _parent, ...env } = process.env;
  const child = spawn(
    process.execPath,
    ["--no-node-snapshot", "--import", "tsx", "--import", path.join(REPO_ROOT, "src/testing/register.mjs"), "--test", ...files],
    { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...env, NODE_ENV: "test" } },
  );
  child.stdout.on("data", (d) => io.stdout.write(String(d)));
  child.stderr.on("data", (d) => io.stderr.write(String(d)));
  return new Promise((resolve) => child.on("close", (code) => resolve(code ?? 1)));
}
