import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { main, type CliIo } from "../../src/cli/main.ts";
import { loadConfig } from "../../src/config.ts";
import { ok } from "../support/http-assert.ts";
import { startTestApp } from "../support/test-app.ts";

// `plugin init|test|validate|pack|deploy`, run in-process with captured output, against a real
// platform for deploy: the author's whole loop from an empty folder to a route that answers.

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const io: CliIo = { stdout: { write: (c: string) => (out += c) }, stderr: { write: (c: string) => (err += c) }, loadConfig: () => loadConfig() };
  const code = await main(argv, io);
  return { code, out, err };
}

const work = mkdtempSync(path.join(tmpdir(), "sbh-cli-plugin-"));
after(() => rmSync(work, { recursive: true, force: true }));

describe("plugin init → test → validate → pack → deploy", () => {
  const dir = path.join(work, "greeter");

  test("a scaffold passes its own tests, validates, packs reproducibly, deploys, and its route answers", async () => {
    const init = await cli("plugin", "init", dir);
    assert.equal(init.code, 0, init.err);
    assert.match(init.out, /Created greeter/);
    assert.equal(JSON.parse(readFileSync(path.join(dir, "plugin.json"), "utf8")).slug, "greeter");

    const tested = await cli("plugin", "test", dir);
    assert.equal(tested.code, 0, tested.out + tested.err);
    assert.match(tested.out, /# pass 2/);

    const valid = await cli("plugin", "validate", dir);
    assert.equal(valid.code, 0, valid.err);
    assert.match(valid.out, /✓ greeter 0\.1\.0 is valid: 2 route\(s\), 1 hook\(s\), 0 job\(s\), 0 webhook\(s\)/);

    const one = path.join(work, "one.zip");
    const two = path.join(work, "two.zip");
    assert.equal((await cli("plugin", "pack", dir, "--out", one)).code, 0);
    assert.equal((await cli("plugin", "pack", dir, "--out", two)).code, 0);
    assert.deepEqual(readFileSync(one), readFileSync(two), "the same folder packs to the same bytes");

    const app = await startTestApp();
    try {
      const ten = await app.tenant();
      const deployed = await cli("plugin", "deploy", dir, "--url", app.url, "--tenant", ten.slug, "--token", ten.admin);
      assert.equal(deployed.code, 0, deployed.err);
      assert.match(deployed.out, new RegExp(`greeter 0\\.1\\.0 installed for tenant ${ten.slug}`));
      assert.deepEqual(await ok(await ten.request("GET", "/ext/greeter/hello")), { message: "Hello from greeter", tenant: ten.slug });

      const again = await cli("plugin", "deploy", dir, "--url", app.url, "--tenant", ten.slug, "--token", ten.admin);
      assert.equal(again.code, 1, "the same version again is refused");
      assert.match(again.err, /409 version_conflict/);
    } finally {
      await app.close();
    }
  });
});

describe("plugin command errors", () => {
  test("validate prints every problem with its path, as upload reports them, and exits 1", async () => {
    const dir = path.join(work, "broken");
    assert.equal((await cli("plugin", "init", dir)).code, 0);
    writeFileSync(path.join(dir, "plugin.json"), JSON.stringify({ slug: "Bad Slug", version: "1" }));
    const r = await cli("plugin", "validate", dir);
    assert.equal(r.code, 1);
    assert.match(r.err, /The plugin package is invalid:/);
    assert.match(r.err, /^ {2}slug: /m);
    assert.match(r.err, /^ {2}name: is required/m);
    assert.match(r.err, /^ {2}version: /m);
  });

  test("a manifest that disagrees with the code is reported like an upload would", async () => {
    const dir = path.join(work, "mismatch");
    assert.equal((await cli("plugin", "init", dir)).code, 0);
    const manifest = JSON.parse(readFileSync(path.join(dir, "plugin.json"), "utf8"));
    writeFileSync(path.join(dir, "plugin.json"), JSON.stringify({ ...manifest, events: [] }));
    const r = await cli("plugin", "validate", dir);
    assert.equal(r.code, 1);
    assert.match(r.err, /hook\("auth\.user\.created"\) is registered but "auth\.user\.created" is not declared in events/);
  });

  test("init refuses a non-empty folder and a bad slug; bad arguments exit 2 with usage", async () => {
    const dir = path.join(work, "taken");
    assert.equal((await cli("plugin", "init", dir)).code, 0);
    assert.equal((await cli("plugin", "init", dir)).code, 1);
    assert.equal((await cli("plugin", "init", path.join(work, "x"), "--slug", "Not OK")).code, 2);
    const none = await cli("plugin", "validate");
    assert.equal(none.code, 2);
    assert.match(none.err, /usage: npm run cli -- plugin init/);
    assert.equal((await cli("plugin", "frobnicate", dir)).code, 2);
    assert.equal((await cli("plugin", "deploy", dir)).code, 2, "deploy without --url/--tenant");
    assert.equal((await cli("plugin", "validate", path.join(work, "nowhere"))).code, 1);
  });

  test("deploy to an unreachable server or without a token fails clearly", async () => {
    const dir = path.join(work, "taken");
    const saved = process.env.SBH_TOKEN;
    delete process.env.SBH_TOKEN;
    try {
      const noToken = await cli("plugin", "deploy", dir, "--url", "http://127.0.0.1:1", "--tenant", "demo");
      assert.equal(noToken.code, 2);
      assert.match(noToken.err, /--token or SBH_TOKEN/);
    } finally {
      if (saved !== undefined) process.env.SBH_TOKEN = saved;
    }
    const down = await cli("plugin", "deploy", dir, "--url", "http://127.0.0.1:1", "--tenant", "demo", "--token", "x");
    assert.equal(down.code, 1);
    assert.match(down.err, /cannot reach http:\/\/127\.0\.0\.1:1/);
  });
});
