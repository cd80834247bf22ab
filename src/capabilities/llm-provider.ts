import { request } from "undici";
import { CapabilityError } from "./capability-error.ts";

// One chat-completions request to the operator's OpenAI-compatible endpoint. The endpoint is
// platform configuration, not plugin input, so it is not put through the egress guard; the
// time and size bounds still hold, since a stuck or chatty provider must not hold the host.

export interface LlmEndpoint {
  baseUrl: string;
  apiKey?: string;
  timeoutMs: number;
}

export interface ChatRequest {
  model: string;
  messages: { role: "system" | "user"; content: string }[];
  max_tokens: number;
}

export interface ChatResult {
  text: string;
  model: string;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  finish_reason: string | null;
}

export const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;
const SNIPPET_CHARS = 300;

const llmError = (message: string) => new CapabilityError(`ctx.llm.run: ${message}`, "llm_error", "LlmError");

/** `${baseUrl}/chat/completions`, whether or not baseUrl ends with "/"; a query (api-version=…) is kept. */
export function completionsUrl(baseUrl: string): string {
  const url = new URL(baseUrl);
  url.pathname = `${url.pathname.replace(/\/+$/, "")}/chat/completions`;
  return url.toString();
}

export async function chatCompletion(endpoint: LlmEndpoint, body: ChatRequest): Promise<ChatResult> {
  // One deadline for the whole exchange: connecting, waiting for headers and reading the body.
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), endpoint.timeoutMs);
  try {
    const res = await request(completionsUrl(endpoint.baseUrl), {
      method: "POST",
      headers: headers(endpoint.apiKey),
      body: JSON.stringify(body),
      signal: controller.signal,
    });
    const raw = await readCapped(res.body, MAX_RESPONSE_BYTES);
    if (res.statusCode < 200 || res.statusCode >= 300) {
      throw llmError(`the LLM provider answered ${res.statusCode}: ${errorSnippet(raw, endpoint.apiKey)}`);
    }
    return parseCompletion(raw, body.model);
  } catch (err) {
    if (err instanceof CapabilityError) throw err;
    if (controller.signal.aborted) {
      throw new CapabilityError(`ctx.llm.run: the LLM provider did not answer within ${endpoint.timeoutMs} ms`, "timeout", "Timeout");
    }
    // The endpoint's address is the operator's business: the plugin gets the error code only.
    const code = (err as { code?: string }).code;
    throw llmError(`the LLM provider could not be reached${code ? ` (${code})` : ""}`);
  } finally {
    clearTimeout(timer);
  }
}

function headers(apiKey: string | undefined): Record<string, string> {
  const h: Record<string, string> = { "content-type": "application/json", accept: "application/json" };
  if (apiKey) h.authorization = `Bearer ${apiKey}`;
  return h;
}

async function readCapped(body: AsyncIterable<Buffer>, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  // Leaving the loop early (the throw) destroys the stream, so the rest is never downloaded.
  for await (const chunk of body) {
    size += chunk.length;
    if (size > max) throw llmError(`the LLM provider's answer is larger than ${max} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** The provider's own error message when it sent one (OpenAI: {error: {message}}), shortened. */
function errorSnippet(raw: string, apiKey: string | undefined): string {
  let message = raw;
  try {
    const body = JSON.parse(raw) as Record<string, unknown>;
    const e = body.error;
    const m = (e && typeof e === "object" ? (e as Record<string, unknown>).message : e) ?? body.message ?? body.detail;
    if (typeof m === "string") message = m;
  } catch {
    // Not JSON: the text itself is the best hint.
  }
  // Some providers echo the key they were given ("Incorrect API key provided: sk-…").
  if (apiKey) message = message.split(apiKey).join("***");
  message = message.replace(/\s+/g, " ").trim();
  if (message === "") return "(no error message)";
  return message.length > SNIPPET_CHARS ? `${message.slice(0, SNIPPET_CHARS)}…` : message;
}

function parseCompletion(raw: string, requestedModel: string): ChatResult {
  let body: Record<string, any>;
  try {
    body = JSON.parse(raw);
  } catch {
    throw llmError("the LLM provider's answer is not JSON");
  }
  const choice = Array.isArray(body?.choices) ? body.choices[0] : undefined;
  if (!choice || typeof choice !== "object") throw llmError("the LLM provider's answer has no choices");
  const usage = body.usage ?? {};
  const prompt_tokens = count(usage.prompt_tokens);
  const completion_tokens = count(usage.completion_tokens);
  return {
    text: contentText(choice.message?.content),
    model: typeof body.model === "string" ? body.model : requestedModel,
    usage: { prompt_tokens, completion_tokens, total_tokens: count(usage.total_tokens) || prompt_tokens + completion_tokens },
    finish_reason: typeof choice.finish_reason === "string" ? choice.finish_reason : null,
  };
}

// Content is a string, null (a refusal or tool call), or a list of parts on some servers.
function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content.map((p) => (p && typeof p.text === "string" ? p.text : "")).join("");
}

function count(v: unknown): number {
  return typeof v === "number" && Number.isFinite(v) && v > 0 ? Math.floor(v) : 0;
}
