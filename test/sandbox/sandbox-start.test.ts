import assert from "node:assert/strict";
import { test } from "node:test";
import { AppError } from "../../src/errors.ts";
import { createLogger } from "../../src/logger.ts";
import { SandboxProcess, type SandboxRequest } from "../../src/sandbox/sandbox-process.ts";

// A sandbox process that never gets ready must fail the calls waiting for it, in bounded time.

const entry = (name: string) => new URL(`../fixtures/sandbox/${name}`, import.meta.url);

function request(timeoutMs: number): SandboxRequest {
  return {
    key: "k",
    versionId: "v",
    memoryMb: 16,
    timeoutMs,
    kind: "route",
    name: "0",
    args: [],
    info: { tenantId: "t", userId: null, plugin: { slug: "s", version: "1.0.0", installId: "k" }, config: {} },
    code: () => ({ versionId: "v", entry: "main.js", files: { "main.js": "" } }),
    capability: async () => null,
  };
}

function sandbox(name: string): SandboxProcess {
  return new SandboxProcess(0, { idleMs: 60_000, maxIsolates: 1, graceMs: 100, logger: createLogger("silent"), entry: entry(name) });
}

test("a sandbox process that exits before it is ready fails start() and the call, and is tried again", async () => {
  const proc = sandbox("exit-before-ready.mjs");
  try {
    await assert.rejects(proc.start(), (err: unknown) => err instanceof AppError && err.code === "sandbox_unavailable");
    const started = Date.now();
    await assert.rejects(proc.call(request(5000)), (err: unknown) => err instanceof AppError && err.code === "sandbox_unavailable");
    assert.ok(Date.now() - started < 5000, "the call failed with its process, not at its deadline");
    // Each early exit counts as a restart (and a crash loop backs off instead of spinning).
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(proc.restarts >= 1, `restarted ${proc.restarts} times`);
  } finally {
    await proc.close();
  }
});

test("a sandbox process that never gets ready fails the call at its watchdog deadline", async () => {
  const proc = sandbox("never-ready.mjs");
  try {
    const started = Date.now();
    await assert.rejects(proc.call(request(200)), (err: unknown) => err instanceof AppError && err.code === "sandbox_unavailable");
    const took = Date.now() - started;
    // The watchdog is armed before the call waits for the process: 2 × timeout + grace.
    assert.ok(took >= 450 && took < 3000, `failed after ${took} ms`);
  } finally {
    await proc.close();
  }
});
