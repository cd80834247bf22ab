import { request, type Dispatcher } from "undici";
import { parseRetryAfter } from "./retry-policy.ts";

const RESPONSE_SNIPPET_BYTES = 1024;
const USER_AGENT = "SBH-Webhooks/1";

export interface OutgoingWebhook {
  url: string;
  id: string;
  timestampSeconds: number;
  signature: string;
  headers: Record<string, string>;
  body: string;
}

/** What one attempt produced: an answer (any status) or a transport error. */
export interface AttemptResult {
  statusCode: number | null;
  error: string | null;
  /** The first KiB of the response body. */
  response: string | null;
  durationMs: number;
  /** From `Retry-After` on a 429 or 503. */
  retryAfterMs?: number;
  /** The error was a refused destination (SSRF guard): retrying cannot help. */
  refused?: boolean;
}

/**
 * POSTs one signed delivery. Redirects are not followed (a 3xx is an answer like any other
 * non-2xx), and the whole exchange, body included, must finish within `timeoutMs`.
 */
export async function sendWebhook(
  dispatcher: Dispatcher,
  msg: OutgoingWebhook,
  opts: { timeoutMs: number; isRefusal: (err: unknown) => Error | undefined },
): Promise<AttemptResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  try {
    const res = await request(msg.url, {
      method: "POST",
      dispatcher,
      body: msg.body,
      headers: {
        ...msg.headers,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": msg.id,
        "webhook-timestamp": String(msg.timestampSeconds),
        "webhook-signature": msg.signature,
      },
      signal: AbortSignal.timeout(opts.timeoutMs),
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
    });
    const response = await readSnippet(res.body);
    const retryAfterMs = res.statusCode === 429 || res.statusCode === 503 ? parseRetryAfter(res.headers["retry-after"]) : undefined;
    return { statusCode: res.statusCode, error: null, response, durationMs: elapsed(), ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
  } catch (err) {
    const refusal = opts.isRefusal(err);
    if (refusal) return { statusCode: null, error: refusal.message, response: null, durationMs: elapsed(), refused: true };
    return { statusCode: null, error: describeNetworkError(err, opts.timeoutMs), response: null, durationMs: elapsed() };
  }
}

// Keeps the first KiB; a longer body is abandoned (its connection closed) rather than read.
async function readSnippet(body: Dispatcher.ResponseData["body"]): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
    if (size >= RESPONSE_SNIPPET_BYTES) {
      body.destroy();
      break;
    }
  }
  if (size === 0) return null;
  return Buffer.concat(chunks).subarray(0, RESPONSE_SNIPPET_BYTES).toString("utf8").replaceAll("\0", "\uFFFD");
}

function describeNetworkError(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; code?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.name === "TimeoutError" || e.code === "UND_ERR_HEADERS_TIMEOUT" || e.code === "UND_ERR_BODY_TIMEOUT") {
    return `no complete answer within ${timeoutMs} ms`;
  }
  const code = e.cause?.code ?? e.code;
  const message = e.cause?.message ?? e.message ?? String(err);
  return code ? `${code}: ${message}` : message;
}
