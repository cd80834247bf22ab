import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { pino } from "pino";
import { loadConfig } from "../../src/config.ts";
import { createServices, type Services } from "../../src/services.ts";

// services.close() on a real embedded platform (PGlite in DATA_DIR, sandbox processes): every
// shutdown step runs even when an earlier one fails, and closing twice closes once.

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function start(): Promise<{ services: Services; logged: { step?: string; msg: string }[] }> {
  const dataDir = mkdtempSync(path.join(tmpdir(), "sbh-close-"));
  dirs.push(dataDir);
  const logged: { step?: string; msg: string }[] = [];
  const logger = pino({ level: "error" }, { write: (line: string) => void logged.push(JSON.parse(line)) });
  const config = loadConfig({ NODE_ENV: "test", DATA_DIR: dataDir, SANDBOX_PROCESSES: "1", LOG_LEVEL: "error" });
  return { services: await createServices(config, logger), logged };
}

/** Counts calls of `obj[name]` and still runs the original. */
function spy<T extends object>(obj: T, name: keyof T): { calls: number } {
  const counter = { calls: 0 };
  const original = (obj[name] as (...a: unknown[]) => unknown).bind(obj);
  (obj as Record<keyof T, unknown>)[name] = (...args: unknown[]) => {
    counter.calls++;
    return original(...args);
  };
  return counter;
}

describe("services.close()", () => {
  test("a step that throws or rejects does not stop the later ones; the failures are logged and thrown together", async () => {
    const { services, logged } = await start();
    const closeSchedules = services.schedules.close.bind(services.schedules);
    services.schedules.close = async () => {
      await closeSchedules();
      throw new Error("scheduler lost");
    };
    const closeExecutor = services.executor.close.bind(services.executor);
    services.executor.close = () => {
      void closeExecutor();
      throw new Error("queue gone");
    };
    const sandbox = spy(services.sandbox, "close");
    const flush = spy(services.recorder, "flush");

    await assert.rejects(services.close(), (err: unknown) => {
      assert.ok(err instanceof AggregateError, `not an AggregateError: ${String(err)}`);
      assert.deepEqual(err.errors.map((e: Error) => e.message), ["schedules: scheduler lost", "executor: queue gone"]);
      return true;
    });
    assert.equal(flush.calls, 1, "the invocation recorder was flushed");
    assert.equal(sandbox.calls, 1, "the sandbox processes were closed");
    await assert.rejects(services.db.sql.query("SELECT 1"), "the database was closed");
    assert.deepEqual(logged.map((l) => l.step), ["schedules", "executor"]);
  });

  test("a second close() returns the same promise and closes nothing twice", async () => {
    const { services } = await start();
    const sandbox = spy(services.sandbox, "close");
    const first = services.close();
    const second = services.close();
    assert.equal(first, second);
    await first;
    await services.close();
    assert.equal(sandbox.calls, 1);
  });
});
