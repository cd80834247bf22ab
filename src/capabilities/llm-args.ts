import { InvalidArgument } from "./capability-error.ts";

export const MAX_PROMPT_CHARS = 100_000;
export const MAX_TOKENS_LIMIT = 32_000;
// A bound on what one call may cost when the plugin does not say; the plugin may raise it.
export const DEFAULT_MAX_TOKENS = 1024;
// Provider model ids look like "gpt-4o-mini", "meta-llama/Llama-3.1-8B", "qwen2.5:7b", "org/model@v2".
const MODEL = /^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$/;
const OPTIONS = new Set(["system", "model", "max_tokens"]);

/** ctx.llm.run(prompt, options), checked. */
export interface LlmRequest {
  prompt: string;
  system?: string;
  model?: string;
  maxTokens: number;
}

const bad = (message: string) => new InvalidArgument("llm.run", message);

export function parseLlmArgs(args: unknown[]): LlmRequest {
  const [prompt, options] = args;
  if (typeof prompt !== "string" || prompt.trim() === "") throw bad("prompt must be a non-empty string");
  if (prompt.length > MAX_PROMPT_CHARS) throw bad(`prompt is longer than ${MAX_PROMPT_CHARS} characters`);
  const o = parseOptions(options);
  return { prompt, ...o, maxTokens: o.maxTokens ?? DEFAULT_MAX_TOKENS };
}

function parseOptions(options: unknown): Omit<LlmRequest, "prompt" | "maxTokens"> & { maxTokens?: number } {
  if (options === undefined || options === null) return {};
  if (typeof options !== "object" || Array.isArray(options)) throw bad("options must be an object like {system, model, max_tokens}");
  const o = options as Record<string, unknown>;
  // Refusing unknown keys turns a typo (maxTokens, temprature) into an error instead of a silent default.
  const unknown = Object.keys(o).filter((k) => !OPTIONS.has(k));
  if (unknown.length) throw bad(`unknown option ${JSON.stringify(unknown[0])}; known: ${[...OPTIONS].join(", ")}`);
  return { system: system(o.system), model: model(o.model), maxTokens: maxTokens(o.max_tokens) };
}

function system(v: unknown): string | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string") throw bad("system must be a string");
  if (v.length > MAX_PROMPT_CHARS) throw bad(`system is longer than ${MAX_PROMPT_CHARS} characters`);
  return v;
}

function model(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string" || !MODEL.test(v)) throw bad("model must be a model id like \"gpt-4o-mini\" (letters, digits, . _ : / @ + -)");
  return v;
}

function maxTokens(v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > MAX_TOKENS_LIMIT) {
    throw bad(`max_tokens must be an integer from 1 to ${MAX_TOKENS_LIMIT}`);
  }
  return v;
}
