import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import jwt from "jsonwebtoken";
import { verifyToken } from "../../src/auth/tokens.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const dataDir = mkdtempSync(path.join(tmpdir(), "cli-token-"));
after(() => rmSync(dataDir, { recursive: true, force: true }));

// The child gets a clean environment: no JWT_SECRET, so the dev key in DATA_DIR is used, and no
// PORT, so the default one is (unless a test sets it in `extra`).
function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, NODE_ENV: "test" };
  delete env.JWT_SECRET;
  delete env.SECRETS_KEY;
  delete env.PORT;
  return { ...env, ...extra };
}

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return cliWithEnv({}, ...args);
}

function cliWithEnv(extra: NodeJS.ProcessEnv, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--no-warnings", "--import", "tsx", "src/cli/main.ts", ...args],
      { cwd: root, env: childEnv(extra) },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const devSecret = () => readFileSync(path.join(dataDir, "keys", "jwt-secret"), "utf8").trim();
const USAGE_LINE = /usage: npm run cli -- token --tenant <slug> --role admin\|member/;

describe("cli token", () => {
  it("prints only a bare admin token that verifies with the dev secret from DATA_DIR", async () => {
    const r = await cli("token", "--tenant", "acme", "--role", "admin");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    assert.equal(r.stderr, "");
    assert.deepEqual(verifyToken(r.stdout.trim(), devSecret()), { sub: "cli-admin", tenant: "acme", role: "admin" });
  });

  it("mints a platform_admin token without a tenant, and honours --sub and --expires-in", async () => {
    const r = await cli("token", "--role", "platform_admin", "--sub", "ops-1", "--expires-in", "3600");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const token = r.stdout.trim();
    assert.deepEqual(verifyToken(token, devSecret()), { sub: "ops-1", role: "platform_admin" });
    const payload = jwt.decode(token) as jwt.JwtPayload;
    assert.equal(payload.exp! - payload.iat!, 3600);
  });

  it("defaults a member's sub to cli-member", async () => {
    const r = await cli("token", "--tenant", "acme", "--role", "member", "--expires-in", "1d");
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(verifyToken(r.stdout.trim(), devSecret()), { sub: "cli-member", tenant: "acme", role: "member" });
  });

  it("exits 2 with the usage on stderr for a bad role", async () => {
    const r = await cli("token", "--tenant", "acme", "--role", "owner");
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /--role must be one of admin, member, platform_admin/);
    assert.match(r.stderr, USAGE_LINE);
  });

  it("exits 2 when an admin token has no tenant", async () => {
    const r = await cli("token", "--role", "admin");
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /--tenant <slug> is required for role admin/);
    assert.match(r.stderr, USAGE_LINE);
  });

  it("always sets exp (30 days by default) and exits 2 for an --expires-in past the 90-day maximum", async () => {
    const r = await cli("token", "--tenant", "acme", "--role", "admin");
    const payload = jwt.decode(r.stdout.trim()) as jwt.JwtPayload;
    assert.equal(payload.exp! - payload.iat!, 30 * 24 * 3600);
    for (const span of ["91d", "1y", String(90 * 24 * 3600 + 1)]) {
      const long = await cli("token", "--tenant", "acme", "--role", "admin", "--expires-in", span);
      assert.equal(long.code, 2, span);
      assert.equal(long.stdout, "");
      assert.match(long.stderr, /is longer than the 90 days a token may live/);
    }
    const longest = await cli("token", "--tenant", "acme", "--role", "admin", "--expires-in", "90d");
    assert.equal(longest.code, 0, longest.stderr);
    assert.deepEqual(verifyToken(longest.stdout.trim(), devSecret()), { sub: "cli-admin", tenant: "acme", role: "admin" });
  });

  it("exits 2 for an unknown option or an unreadable --expires-in", async () => {
    for (const args of [["--role", "admin", "--tenant", "acme", "--bogus"], ["--role", "admin", "--tenant", "acme", "--expires-in", "soon"]]) {
      const r = await cli("token", ...args);
      assert.equal(r.code, 2, args.join(" "));
      assert.equal(r.stdout, "");
      assert.match(r.stderr, USAGE_LINE);
    }
  });

  it("--link prints one line: the admin UI sign-in link on localhost and the configured PORT", async () => {
    const r = await cliWithEnv({ PORT: "4321" }, "token", "--tenant", "acme", "--role", "admin", "--link");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    const m = /^http:\/\/localhost:4321\/admin\/#token=([\w-]+\.[\w-]+\.[\w-]+)\n$/.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.deepEqual(verifyToken(m[1], devSecret()), { sub: "cli-admin", tenant: "acme", role: "admin" });

    const byDefault = await cli("token", "--role", "platform_admin", "--link");
    assert.equal(byDefault.code, 0, byDefault.stderr);
    assert.match(byDefault.stdout, /^http:\/\/localhost:3000\/admin\/#token=[\w-]+\.[\w-]+\.[\w-]+\n$/);
  });

  it("--url sets the link's base (a trailing slash or a path prefix is kept tidy)", async () => {
    for (const [url, base] of [
      ["https://sbh.example.com", "https://sbh.example.com"],
      ["https://sbh.example.com/", "https://sbh.example.com"],
      ["http://10.0.0.5:8080/platform/", "http://10.0.0.5:8080/platform"],
    ]) {
      const r = await cli("token", "--tenant", "acme", "--role", "member", "--link", "--url", url);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.stdout.startsWith(`${base}/admin/#token=`), `${url}: ${r.stdout}`);
      assert.equal(r.stdout.split("\n").length, 2, "one line");
      const token = r.stdout.trim().slice(`${base}/admin/#token=`.length);
      assert.deepEqual(verifyToken(token, devSecret()), { sub: "cli-member", tenant: "acme", role: "member" });
    }
  });

  it("exits 2 for --url without --link, or a --url that is not an http(s) URL", async () => {
    const alone = await cli("token", "--tenant", "acme", "--role", "admin", "--url", "https://sbh.example.com");
    assert.equal(alone.code, 2);
    assert.equal(alone.stdout, "");
    assert.match(alone.stderr, /--url is only used with --link/);
    assert.match(alone.stderr, USAGE_LINE);
    for (const url of ["sbh.example.com", "ftp://sbh.example.com", "https://sbh.example.com/?x=1"]) {
      const r = await cli("token", "--tenant", "acme", "--role", "admin", "--link", "--url", url);
      assert.equal(r.code, 2, url);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, /--url must be an http\(s\) URL/);
    }
  });

  it("exits 2 with the usage for an unknown subcommand or none", async () => {
    for (const args of [["frobnicate"], []]) {
      const r = await cli(...args);
      assert.equal(r.code, 2);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, args.length ? /unknown command "frobnicate"/ : /no command given/);
      assert.match(r.stderr, USAGE_LINE);
    }
  });
});
