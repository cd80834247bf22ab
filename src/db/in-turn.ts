// Work that takes a database lock per key (a plugin's ctx.db writes, a tenant's dependency
// changes) first waits its turn in this process, so a burst holds one pooled connection, not the
// whole pool, while the lock is contended. Keys are namespaced by their users ("db:", "deps:").

const turns = new Map<string, Promise<unknown>>();

/** Per-process, per-key FIFO: `fn` starts when the work queued before it on `key` has settled, either way. */
export async function inTurn<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const before = turns.get(key) ?? Promise.resolve();
  const mine = before.then(fn, fn);
  const settled = mine.then(() => undefined, () => undefined);
  turns.set(key, settled);
  try {
    return await mine;
  } finally {
    if (turns.get(key) === settled) turns.delete(key);
  }
}
