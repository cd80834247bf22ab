import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { openDatabase } from "../../src/db/database.ts";
import { DataDirInUse } from "../../src/db/data-dir-lock.ts";

// Embedded PGlite is one backend in one process: a second process (a second `npm start`) on the
// same DATA_DIR would write the same files. The data directory's lock refuses it, with a reason.

const REPO_ROOT = path.resolve(import.meta.dirname, "../..");
const dirs: string[] = [];
const freshDir = () => {
  const d = mkdtempSync(path.join(tmpdir(), "sbh-lock-"));
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test("a second open of the same data directory is refused while the first is open, and allowed after close", async () => {
  const dir = freshDir();
  const first = await openDatabase({ dataDir: dir });
  try {
    assert.equal(readFileSync(path.join(dir, "pglite.lock"), "utf8"), String(process.pid));
    await assert.rejects(openDatabase({ dataDir: dir }), (err: Error) => {
      assert.ok(err instanceof DataDirInUse);
      assert.match(err.message, new RegExp(`in use by process ${process.pid}`));
      assert.match(err.message, /DATABASE_URL/);
      return true;
    });
    // The refused open left the holder's lock alone.
    assert.equal(readFileSync(path.join(dir, "pglite.lock"), "utf8"), String(process.pid));
  } finally {
    await first.close();
  }
  const again = await openDatabase({ dataDir: dir });
  await again.prisma.tenant.count();
  // Closing the first one again (close is idempotent) must not release the second one's lock.
  await first.close();
  await assert.rejects(openDatabase({ dataDir: dir }), DataDirInUse);
  await again.close();
  await again.close();
});

test("a lock left by a process that died is taken over", async () => {
  const dir = freshDir();
  const gone = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
  writeFileSync(path.join(dir, "pglite.lock"), gone.stdout);
  const db = await openDatabase({ dataDir: dir });
  assert.equal(readFileSync(path.join(dir, "pglite.lock"), "utf8"), String(process.pid));
  await db.close();
});

test("npm start on a data directory another process holds exits 1 with the reason, not a stack", async () => {
  const dir = freshDir();
  const holder = await openDatabase({ dataDir: dir });
  try {
    const child = spawn(process.execPath, ["--no-node-snapshot", "--import", "tsx", path.join(REPO_ROOT, "src/main.ts")], {
      cwd: REPO_ROOT,
      env: { ...process.env, NODE_ENV: "development", DATA_DIR: dir, PORT: "0", LOG_LEVEL: "silent", DATABASE_URL: "", REDIS_URL: "" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    assert.equal(code, 1, stderr);
    assert.match(stderr, new RegExp(`is in use by process ${process.pid}`));
    assert.doesNotMatch(stderr, /\n\s+at /, "no stack trace");
  } finally {
    await holder.close();
  }
});
