import assert from "node:assert/strict";

// Waiting in tests: poll with a deadline instead of sleeping a guessed time.

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns something truthy, or fails after `timeoutMs` saying what it waited for. */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 10_000, explain?: () => unknown): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms${explain ? `; last seen: ${JSON.stringify(explain())}` : ""}`);
    await sleep(50);
  }
}
