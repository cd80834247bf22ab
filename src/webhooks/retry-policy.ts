/** Longest wait between two attempts, whatever the backoff or a Retry-After asks for. */
export const MAX_RETRY_DELAY_MS = 60 * 60 * 1000;

/**
 * Delay before attempt `attempt + 1`: `base · 2^(attempt-1)` (exponential) or `base` (fixed),
 * ±20 % jitter so the retries of one burst spread out, capped at one hour.
 */
export function retryDelayMs(backoff: "exponential" | "fixed", baseMs: number, attempt: number, random = Math.random): number {
  const raw = backoff === "fixed" ? baseMs : baseMs * 2 ** (attempt - 1);
  return Math.min(MAX_RETRY_DELAY_MS, Math.round(raw * (0.8 + random() * 0.4)));
}

/** `Retry-After` as delay-seconds or an HTTP date, in ms from `now`; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return undefined;
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return Math.min(MAX_RETRY_DELAY_MS, Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.min(MAX_RETRY_DELAY_MS, Math.max(0, at - now));
}
