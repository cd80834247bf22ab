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

// The child gets a clean environment: no JWT_SECRET, so the dev key in DATA_DIR is used.
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, NODE_ENV: "test" };
  delete env.JWT_SECRET;
  delete env.SECRETS_KEY;
  return env;
}

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--no-warnings", "--import", "tsx", "src/cli/main.ts", ...args],
      { cwd: root, env: childEnv() },
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

  it("exits 2 for an unknown option or an unreadable --expires-in", async () => {
    for (const args of [["--role", "admin", "--tenant", "acme", "--bogus"], ["--role", "admin", "--tenant", "acme", "--expires-in", "soon"]]) {
      const r = await cli("token", ...args);
      assert.equal(r.code, 2, args.join(" "));
      assert.equal(r.stdout, "");
      assert.match(r.stderr, USAGE_LINE);
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
