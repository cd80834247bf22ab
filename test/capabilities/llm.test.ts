import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { chatCompletion, completionsUrl, MAX_RESPONSE_BYTES } from "../../src/capabilities/llm-provider.ts";
import { CapabilityError } from "../../src/capabilities/capability-error.ts";
import { ok } from "../support/http-assert.ts";
import { fixtureZip, startTestApp, type TestApp, type TestTenant } from "../support/test-app.ts";

// ctx.llm.run against a fake OpenAI-compatible server on 127.0.0.1: what the provider receives,
// what the plugin gets back, the tokens counted per install, and every way it can fail.

interface Seen {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: any;
}

interface Reply {
  status?: number;
  body?: string;
  delayMs?: number;
}

interface FakeProvider {
  url: string;
  seen: Seen[];
  /** The next requests get these replies, in order; afterwards a normal completion. */
  script(...replies: Reply[]): void;
  close(): Promise<void>;
}

/** A completion as OpenAI answers it, echoing the model it was asked for. */
function completion(model: string, text = "Hello from the fake model.") {
  return {
    id: "chatcmpl-1",
    object: "chat.completion",
    model,
    choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }],
    usage: { prompt_tokens: 12, completion_tokens: 7, total_tokens: 19 },
  };
}

async function startFakeProvider(): Promise<FakeProvider> {
  const seen: Seen[] = [];
  const replies: Reply[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      let body: any = raw;
      try {
        body = JSON.parse(raw);
      } catch {
        // kept as text
      }
      seen.push({ method: req.method ?? "", path: req.url ?? "", headers: req.headers, body });
      const r = replies.shift() ?? {};
      const answer = () => {
        if (res.destroyed) return;
        res.writeHead(r.status ?? 200, { "content-type": "application/json" });
        res.end(r.body ?? JSON.stringify(completion(body?.model ?? "unknown")));
      };
      if (r.delayMs) setTimeout(answer, r.delayMs).unref();
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    script: (...r) => replies.push(...r),
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

const API_KEY = "sk-test-0123456789";
let provider: FakeProvider;
let app: TestApp;
let bare: TestApp;

before(async () => {
  provider = await startFakeProvider();
  [app, bare] = await Promise.all([
    startTestApp({
      env: {
        // With a trailing slash: the client must not produce "//chat/completions".
        LLM_BASE_URL: `${provider.url}/v1/`,
        LLM_API_KEY: API_KEY,
        LLM_MODEL: "default-model",
        LLM_TIMEOUT_MS: "800",
      },
    }),
    startTestApp(),
  ]);
});
after(async () => {
  await Promise.all([app?.close(), bare?.close()]);
  await provider?.close();
});

async function install(a: TestApp, fixture = "cap-llm-basic"): Promise<{ t: TestTenant; id: string }> {
  const t = await a.tenant();
  const body = await ok(await t.upload(fixtureZip(fixture)), 201);
  return { t, id: body.plugin.id };
}

/** Calls ctx.llm.run(...args) in the plugin; answers {result} or {error: {name, message}}. */
async function run(t: TestTenant, args: unknown[], fixture = "cap-llm-basic"): Promise<any> {
  return ok(await t.request("POST", `/ext/${fixture}/run`, { json: { args } }));
}

async function totals(t: TestTenant, id: string): Promise<Record<string, number>> {
  return (await ok(await t.request("GET", `/api/plugins/${id}/usage`))).totals;
}

describe("ctx.llm.run", () => {
  test("sends the chat completion the plugin asked for and returns the answer", async () => {
    const { t } = await install(app);
    const before = provider.seen.length;
    const out = await run(t, ["Summarise: the sky is blue.", { system: "You are terse.", model: "gpt-4o-mini", max_tokens: 50 }]);
    assert.deepEqual(out, {
      result: {
        text: "Hello from the fake model.",
        model: "gpt-4o-mini",
        usage: { prompt_tokens: 12, completion_tokens: 7, total_tokens: 19 },
        finish_reason: "stop",
      },
    });
    assert.equal(provider.seen.length, before + 1);
    const req = provider.seen.at(-1)!;
    assert.equal(req.method, "POST");
    assert.equal(req.path, "/v1/chat/completions");
    assert.equal(req.headers.authorization, `Bearer ${API_KEY}`);
    assert.match(String(req.headers["content-type"]), /application\/json/);
    assert.deepEqual(req.body, {
      model: "gpt-4o-mini",
      messages: [
        { role: "system", content: "You are terse." },
        { role: "user", content: "Summarise: the sky is blue." },
      ],
      max_tokens: 50,
    });
  });

  test("without options: the configured model, no system message, the default max_tokens", async () => {
    const { t } = await install(app);
    const out = await run(t, ["Hi"]);
    assert.equal(out.result.model, "default-model");
    assert.deepEqual(provider.seen.at(-1)!.body, { model: "default-model", messages: [{ role: "user", content: "Hi" }], max_tokens: 1024 });
  });

  test("tokens are counted per install, next to the call counts", async () => {
    const { t, id } = await install(app);
    await run(t, ["one"]);
    await run(t, ["two", { max_tokens: 10 }]);
    const sums = await totals(t, id);
    assert.equal(sums["llm.prompt_tokens"], 24);
    assert.equal(sums["llm.completion_tokens"], 14);
    assert.equal(sums["ctx.llm.run:ok"], 2);
    // Another install of the same platform counts nothing of these.
    const other = await install(app);
    assert.equal((await totals(other.t, other.id))["llm.prompt_tokens"], undefined);
  });

  test("a provider error is LlmError with the status and the provider's message", async () => {
    const { t, id } = await install(app);
    provider.script({ status: 500, body: JSON.stringify({ error: { message: "The model is overloaded", type: "server_error" } }) });
    const out = await run(t, ["Hi"]);
    assert.equal(out.error.name, "LlmError");
    assert.match(out.error.message, /500/);
    assert.match(out.error.message, /The model is overloaded/);
    const sums = await totals(t, id);
    assert.equal(sums["ctx.llm.run:error"], 1);
    assert.equal(sums["llm.prompt_tokens"], undefined);
  });

  test("the API key never comes back in an error, even when the provider echoes it", async () => {
    const { t } = await install(app);
    provider.script({ status: 401, body: JSON.stringify({ error: { message: `Incorrect API key provided: ${API_KEY}` } }) });
    const out = await run(t, ["Hi"]);
    assert.equal(out.error.name, "LlmError");
    assert.match(out.error.message, /401/);
    assert.ok(!out.error.message.includes(API_KEY), out.error.message);
  });

  test("a provider slower than LLM_TIMEOUT_MS is a Timeout", async () => {
    const { t } = await install(app);
    provider.script({ delayMs: 3000 });
    const started = Date.now();
    const out = await run(t, ["Hi"]);
    assert.equal(out.error.name, "Timeout");
    assert.match(out.error.message, /800 ms/);
    assert.ok(Date.now() - started < 2500, "the call ended at the LLM deadline, not the provider's pace");
  });

  test("bad arguments are refused before anything is sent", async () => {
    const { t } = await install(app);
    const before = provider.seen.length;
    const cases: [unknown[], RegExp][] = [
      [[], /prompt must be a non-empty string/],
      [[""], /prompt must be a non-empty string/],
      [[42], /prompt must be a non-empty string/],
      [["x".repeat(100_001)], /longer than 100000/],
      [["Hi", "terse"], /options must be an object/],
      [["Hi", { max_tokens: 0 }], /max_tokens must be an integer from 1 to 32000/],
      [["Hi", { max_tokens: 32_001 }], /max_tokens/],
      [["Hi", { max_tokens: 1.5 }], /max_tokens/],
      [["Hi", { max_tokens: "10" }], /max_tokens/],
      [["Hi", { model: "bad model; rm -rf" }], /model must be a model id/],
      [["Hi", { model: "" }], /model must be a model id/],
      [["Hi", { system: 7 }], /system must be a string/],
      [["Hi", { maxTokens: 10 }], /unknown option "maxTokens"/],
    ];
    for (const [args, message] of cases) {
      const out = await run(t, args);
      assert.equal(out.error?.name, "TypeError", JSON.stringify({ args: JSON.stringify(args).slice(0, 80), out }));
      assert.match(out.error.message, message);
    }
    assert.equal(provider.seen.length, before, "nothing reached the provider");
  });

  test("on a platform without LLM_BASE_URL: LlmNotConfigured, naming the variable", async () => {
    const { t } = await install(bare);
    const out = await run(t, ["Hi"]);
    assert.equal(out.error.name, "LlmNotConfigured");
    assert.match(out.error.message, /LLM_BASE_URL/);
  });

  test("without the llm.use permission: PermissionDenied, counted and logged", async () => {
    const { t, id } = await install(app, "cap-llm-denied");
    const before = provider.seen.length;
    const out = await run(t, ["Hi"], "cap-llm-denied");
    assert.equal(out.error.name, "PermissionDenied");
    assert.match(out.error.message, /llm\.use/);
    assert.equal(provider.seen.length, before);
    assert.equal((await totals(t, id))["ctx.llm.run:denied"], 1);
    const logs = await ok(await t.request("GET", `/api/plugins/${id}/logs`));
    assert.ok(
      logs.logs.some((l: any) => l.level === "warn" && /llm\.use/.test(l.message)),
      JSON.stringify(logs.logs),
    );
  });
});

describe("the chat-completions client", () => {
  test("joins the base URL with or without a trailing slash, keeping a query", () => {
    assert.equal(completionsUrl("http://h:1/v1"), "http://h:1/v1/chat/completions");
    assert.equal(completionsUrl("http://h:1/v1/"), "http://h:1/v1/chat/completions");
    assert.equal(completionsUrl("http://h:1"), "http://h:1/chat/completions");
    assert.equal(completionsUrl("https://h/openai/deployments/x?api-version=2024-06-01"), "https://h/openai/deployments/x/chat/completions?api-version=2024-06-01");
  });

  const body = { model: "m", messages: [{ role: "user" as const, content: "Hi" }], max_tokens: 5 };

  async function failure(p: Promise<unknown>): Promise<CapabilityError> {
    const err = await p.then(
      () => assert.fail("expected an error"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof CapabilityError, String(err));
    return err;
  }

  test("no API key: no Authorization header", async () => {
    await chatCompletion({ baseUrl: provider.url, timeoutMs: 2000 }, body);
    const req = provider.seen.at(-1)!;
    assert.equal(req.path, "/chat/completions");
    assert.equal(req.headers.authorization, undefined);
  });

  test("an answer over the size cap is refused", async () => {
    provider.script({ body: JSON.stringify(completion("m", "x".repeat(MAX_RESPONSE_BYTES))) });
    const err = await failure(chatCompletion({ baseUrl: provider.url, timeoutMs: 5000 }, body));
    assert.equal(err.name, "LlmError");
    assert.match(err.message, /larger than/);
  });

  test("an answer that is not a completion is LlmError", async () => {
    provider.script({ body: "<html>gateway</html>" }, { body: JSON.stringify({ choices: [] }) });
    assert.match((await failure(chatCompletion({ baseUrl: provider.url, timeoutMs: 2000 }, body))).message, /not JSON/);
    assert.match((await failure(chatCompletion({ baseUrl: provider.url, timeoutMs: 2000 }, body))).message, /no choices/);
  });

  test("an unreachable provider is LlmError without its address", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const { port } = closed.address() as AddressInfo;
    await new Promise((r) => closed.close(r));
    const err = await failure(chatCompletion({ baseUrl: `http://127.0.0.1:${port}/v1`, timeoutMs: 2000 }, body));
    assert.equal(err.name, "LlmError");
    assert.match(err.message, /could not be reached/);
    assert.ok(!err.message.includes(String(port)), err.message);
  });

  test("missing usage counts as zero; content given as parts is joined", async () => {
    provider.script({
      body: JSON.stringify({ choices: [{ message: { content: [{ type: "text", text: "a" }, { type: "text", text: "b" }] }, finish_reason: "length" }] }),
    });
    const r = await chatCompletion({ baseUrl: provider.url, timeoutMs: 2000 }, body);
    assert.deepEqual(r, { text: "ab", model: "m", usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 }, finish_reason: "length" });
  });
});
