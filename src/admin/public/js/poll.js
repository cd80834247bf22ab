// @ts-check

/**
 * Calls `load` every `everyMs` until `done(value)` or the signal aborts; resolves with the last
 * value. The page's signal aborts when the admin navigates away, which ends every poll it started.
 * @template T
 * @param {() => Promise<T>} load @param {(value: T) => boolean} done
 * @param {{ signal: AbortSignal, everyMs?: number, limitMs?: number }} opts
 * @returns {Promise<T>}
 */
export async function pollUntil(load, done, { signal, everyMs = 400, limitMs = 120_000 }) {
  const deadline = Date.now() + limitMs;
  let value = await load();
  while (!done(value) && !signal.aborted && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, everyMs));
    value = await load();
  }
  return value;
}
