import assert from "node:assert/strict";
import type { Config, PlatformLimits } from "../../src/config.ts";
import { AppError } from "../../src/errors.ts";
import type { Problem } from "../../src/packaging/problem.ts";

// The platform defaults from config.ts, so tests see the limits a fresh install has.
export const upload: Config["upload"] = {
  maxBytes: 5 * 1024 * 1024,
  maxUnpackedBytes: 20 * 1024 * 1024,
  maxEntries: 500,
  maxRatio: 100,
  maxModuleBytes: 2 * 1024 * 1024,
  maxCodeBytes: 5 * 1024 * 1024,
};

export const limits: PlatformLimits = {
  timeoutMs: 5000,
  jobTimeoutMs: 30_000,
  memoryMb: 128,
  maxDiskMb: 100,
  maxDbDocuments: 100_000,
  maxDbMb: 100,
  maxFiles: 10_000,
  rateLimit: { calls: 6000, periodSeconds: 60 },
  maxJobs: 20,
  allowSecondSchedules: false,
};

/** Runs `fn`, which must throw AppError(code), and returns the problems in its details. */
export function problemsThrown(fn: () => unknown, code = "invalid_plugin"): Problem[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof AppError, `expected an AppError, got ${String(err)}`);
    assert.equal(err.code, code);
    return (err.details ?? []) as Problem[];
  }
  assert.fail("expected an AppError to be thrown");
}

/** Asserts one problem has exactly `path` and a message containing `fragment`. */
export function assertProblem(problems: Problem[], path: string, fragment: string): void {
  const hit = problems.find((p) => p.path === path && p.message.includes(fragment));
  assert.ok(hit, `no problem at ${path} mentioning "${fragment}" in:\n${JSON.stringify(problems, null, 2)}`);
}
