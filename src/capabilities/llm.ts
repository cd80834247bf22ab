import type { CallScope } from "./call-scope.ts";
import { CapabilityError } from "./capability-error.ts";
import { parseLlmArgs, type LlmRequest } from "./llm-args.ts";
import { chatCompletion, type ChatRequest, type ChatResult } from "./llm-provider.ts";

const notConfigured = (message: string) => new CapabilityError(`ctx.llm.run: ${message}`, "llm_not_configured", "LlmNotConfigured");

/**
 * ctx.llm.run(prompt, {system, model, max_tokens}): one chat completion from the platform's
 * OpenAI-compatible endpoint. Tokens are counted per install and day (llm.prompt_tokens,
 * llm.completion_tokens), so admins see what each plugin spends.
 */
export async function llmRun(scope: CallScope, args: unknown[]): Promise<ChatResult> {
  const { baseUrl, apiKey, model: defaultModel, timeoutMs } = scope.deps.llm;
  // Configuration first: on a platform without an LLM no argument could make the call work.
  if (!baseUrl) throw notConfigured("no LLM is configured on this platform; the operator sets LLM_BASE_URL (and LLM_API_KEY, LLM_MODEL)");
  const req = parseLlmArgs(args);
  const model = req.model ?? defaultModel;
  if (!model) throw notConfigured("no model given and no default model is configured; pass {model} or have the operator set LLM_MODEL");
  const result = await chatCompletion({ baseUrl, apiKey, timeoutMs }, chatRequest(req, model));
  recordUsage(scope, result);
  return result;
}

function chatRequest(req: LlmRequest, model: string): ChatRequest {
  const messages: ChatRequest["messages"] = [];
  if (req.system !== undefined) messages.push({ role: "system", content: req.system });
  messages.push({ role: "user", content: req.prompt });
  return { model, messages, max_tokens: req.maxTokens };
}

function recordUsage(scope: CallScope, result: ChatResult): void {
  scope.deps.usage.add(scope.tenantId, scope.installId, "llm.prompt_tokens", result.usage.prompt_tokens);
  scope.deps.usage.add(scope.tenantId, scope.installId, "llm.completion_tokens", result.usage.completion_tokens);
}
