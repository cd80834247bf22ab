import { closeSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import path from "node:path";

/** Another live process (or this one) has the PGlite data directory open. */
export class DataDirInUse extends Error {
  override name = "DataDirInUse";
}

/**
 * Takes `<dataDir>/pglite.lock` for this process, or throws DataDirInUse naming the holder.
 * PGlite is one Postgres backend in one process: two processes writing the same files corrupt
 * them, and nothing in PGlite stops a second `npm start` from doing so. A lock left by a process
 * that died is taken over. Returns the release function.
 */
export function lockDataDir(dataDir: string): () => void {
  const file = path.join(path.resolve(dataDir), "pglite.lock");
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(file, "wx");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const holder = Number.parseInt(readFileSync(file, "utf8"), 10);
      if (Number.isSafeInteger(holder) && holder > 0 && alive(holder)) {
        throw new DataDirInUse(
          `The data directory ${path.dirname(file)} is in use by process ${holder}: embedded PGlite serves one process. ` +
            "Stop that process, give this one another DATA_DIR, or set DATABASE_URL to share a Postgres server.",
        );
      }
      // Left by a process that is gone (or unreadable): take it over.
      rmSync(file, { force: true });
      continue;
    }
    writeSync(fd, String(process.pid));
    closeSync(fd);
    let released = false;
    // Once only (close() may be called again after a later open took the lock in this same
    // process), and only our own lock: a directory taken over after a crash belongs to its new holder.
    return () => {
      if (released) return;
      released = true;
      let holder: string;
      try {
        holder = readFileSync(file, "utf8").trim();
      } catch {
        return;
      }
      if (holder === String(process.pid)) rmSync(file, { force: true });
    };
  }
  throw new DataDirInUse(`Could not take the lock ${file}: another process keeps taking it`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else, which still means "in use".
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
