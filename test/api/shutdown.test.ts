import assert from "node:assert/strict";
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { after, test } from "node:test";
import { Agent, request } from "undici";
import { eventually } from "../support/eventually.ts";
import { fixtureZip } from "../support/test-app.ts";

// SIGTERM to a real `npm start` process (src/main.ts) while requests are in flight: it stops
// accepting, every request it had accepted is answered, then it exits 0.

const ROOT = path.resolve(import.meta.dirname, "../..");
const run = promisify(execFile);

test("SIGTERM under load: accepted requests all succeed, new connections are refused, exit code 0", async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), "sbh-shutdown-"));
  after(() => rmSync(dataDir, { recursive: true, force: true }));
  const { NODE_TEST_CONTEXT: _ignored, ...env } = process.env;
  // A random port below Linux's ephemeral range (32768+), where client sockets of other test
  // files live; should it still be taken, the server exits with EADDRINUSE and another is tried.
  let child!: ChildProcess;
  let output = "";
  let exited!: Promise<number | null>;
  let origin = "";
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    output = "";
    child = spawn(process.execPath, ["--no-node-snapshot", "--import", "tsx", "src/main.ts"], {
      cwd: ROOT,
      env: { ...env, NODE_ENV: "test", DATA_DIR: dataDir, PORT: String(port), HOST: "127.0.0.1", LOG_LEVEL: "warn", SANDBOX_PROCESSES: "2" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const started = child;
    started.stdout!.on("data", (d) => (output += d));
    started.stderr!.on("data", (d) => (output += d));
    exited = new Promise<number | null>((resolve) => started.once("exit", (code) => resolve(code)));
    after(() => started.kill("SIGKILL"));
    origin = `http://127.0.0.1:${port}`;
    const target = origin;
    const listening = await eventually(
      "the server to listen",
      async () => (output.includes("EADDRINUSE") ? "taken" : fetch(`${target}/healthz`).then((r) => (r.ok ? "up" : undefined)).catch(() => undefined)),
      60_000,
      () => output,
    );
    if (listening === "up") break;
    started.kill("SIGKILL");
    await exited;
  }
  assert.ok(!output.includes("EADDRINUSE"), "five random ports were all taken");

  const { stdout } = await run(process.execPath, ["--no-warnings", "--import", "tsx", "src/cli/main.ts", "token", "--tenant", "demo", "--role", "admin"], {
    cwd: ROOT,
    env: { ...env, DATA_DIR: dataDir },
  });
  const token = stdout.trim();
  const form = new FormData();
  form.append("file", new Blob([new Uint8Array(fixtureZip("api-slow"))]), "plugin.zip");
  const up = await fetch(`${origin}/api/plugins/upload`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: form });
  assert.equal(up.status, 201, await up.text());

  // One connection per request, so "accepted" is unambiguous: the request was sent before SIGTERM.
  const agent = new Agent({ pipelining: 0, connections: 64 });
  const calls = Array.from({ length: 8 }, (_, n) =>
    request(`${origin}/ext/api-slow/busy?ms=300&n=${n}`, { dispatcher: agent, headers: { authorization: `Bearer ${token}` } }).then(
      async (res) => ({ status: res.statusCode, body: (await res.body.json()) as { done: boolean } }),
      (err: Error) => ({ status: 0, error: err.message }),
    ),
  );
  await new Promise((r) => setTimeout(r, 150));
  child.kill("SIGTERM");
  // Draining: still listening, but not ready, and answers close their connection.
  const draining = await eventually("readiness to report draining", async () => {
    const res = await request(`${origin}/readyz`);
    const body = (await res.body.json()) as { checks: { shutdown?: string } };
    return res.statusCode === 503 ? { body, connection: res.headers.connection } : undefined;
  }, 900);
  assert.equal(draining.body.checks.shutdown, "draining");
  assert.equal(draining.connection, "close");
  const results = await Promise.all(calls);
  assert.deepEqual(
    results.map((r) => r.status),
    results.map(() => 200),
    `${JSON.stringify(results)}\n--- server output ---\n${output}`,
  );
  await eventually("a new connection to be refused while stopping", async () =>
    fetch(`${origin}/healthz`).then(() => false, () => true), 10_000);
  assert.equal(await exited, 0, output);
  await agent.close();
});
