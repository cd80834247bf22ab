import { randomUUID } from "node:crypto";
import type { CallScope } from "../capabilities/call-scope.ts";
import { IMPLEMENTED, type Capability, type CapabilityTable } from "../capabilities/capability-handler.ts";
import { CapabilityError, InvalidArgument } from "../capabilities/capability-error.ts";
import { CTX_MEMBERS, type CtxMethod, type PlatformInTestKit } from "../capabilities/ctx-members.ts";
import { filePathProblems } from "../files/file-store.ts";
import { hostAllowed } from "../net/egress-guard.ts";
import { fakeDb } from "./fake-db.ts";
import type { FakeHttpRequest, TestContext } from "./test-context.ts";

/**
 * ctx as a plugin under test sees it: the platform's own permission check in front (the
 * invoker's), in-memory fakes behind it. The members ctx-members.ts marks testKit: "platform"
 * (secrets.get, emit, assets) run the platform's own implementations, wired to the context's
 * secrets, its list of emitted events and the files of the loaded plugin folder.
 */
export function fakeCapabilities(ctx: TestContext): CapabilityTable {
  return { ...platformOwn(), ...fakes(ctx) };
}

function platformOwn(): Record<PlatformInTestKit, Capability> {
  const own = Object.entries(CTX_MEMBERS).filter(([, member]) => "testKit" in member && member.testKit === "platform");
  return Object.fromEntries(own.map(([method]) => [method, IMPLEMENTED[method as CtxMethod]])) as Record<PlatformInTestKit, Capability>;
}

// Typed by the registry: a new member needs a fake here, or testKit: "platform" there.
function fakes(ctx: TestContext): Record<Exclude<CtxMethod, PlatformInTestKit>, Capability> {
  return {
    ...fakeDb(ctx),
    "http.fetch": (scope, [url, init]) => fakeFetch(ctx, scope, url, init),
    "http.get": (scope, [url, init]) => fakeFetch(ctx, scope, url, { ...asObject(init), method: "GET" }),
    "http.post": (scope, [url, body, init]) => fakeFetch(ctx, scope, url, { ...asObject(init), method: "POST", body }),
    "files.list": async (_scope, [prefix]) => {
      const p = prefix === undefined ? "" : text(prefix, "files.list", "prefix");
      return [...ctx.files.entries()].filter(([k]) => k.startsWith(p)).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, f]) => fileInfo(k, f));
    },
    "files.read": async (_scope, [filePath, options]) => {
      const f = ctx.files.get(text(filePath, "files.read", "path"));
      if (!f) return null;
      const base64 = asObject(options).encoding === "base64";
      return { ...fileInfo(String(filePath), f), content: f.content.toString(base64 ? "base64" : "utf8") };
    },
    "files.upload": async (scope, [filePath, content, options]) => {
      const p = checkedPath(filePath);
      const o = asObject(options);
      const bytes = Buffer.from(text(content, "files.upload", "content"), o.encoding === "base64" ? "base64" : "utf8");
      const used = [...ctx.files.entries()].reduce((n, [k, f]) => (k === p ? n : n + f.content.length), 0);
      const limit = scope.manifest.resources.max_disk_mb * 1024 * 1024;
      if (used + bytes.length > limit) {
        throw new CapabilityError(`ctx.files.upload: ${used + bytes.length} bytes would exceed the ${scope.manifest.resources.max_disk_mb} MB quota`, "quota_exceeded", "QuotaExceeded");
      }
      const file = { content: bytes, contentType: typeof o.content_type === "string" ? o.content_type : "application/octet-stream", updatedAt: new Date().toISOString() };
      ctx.files.set(p, file);
      return fileInfo(p, file);
    },
    "files.delete": async (_scope, [filePath]) => ctx.files.delete(checkedPath(filePath)),
    "llm.run": async (_scope, [prompt, options]) => {
      if (!ctx.llm) throw new CapabilityError("ctx.llm.run: no LLM is configured (give createTestContext an llm function)", "llm_not_configured", "LlmNotConfigured");
      const o = asObject(options) as { system?: string; model?: string; max_tokens?: number };
      const answer = await ctx.llm(text(prompt, "llm.run", "prompt"), o);
      const result = typeof answer === "string" ? { text: answer } : answer;
      const usage = result.usage ?? { prompt_tokens: 0, completion_tokens: 0 };
      return {
        text: result.text,
        model: result.model ?? o.model ?? "test-model",
        usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
        finish_reason: "stop",
      };
    },
    "email.send": async (_scope, [message]) => {
      const m = asObject(message);
      const to = (Array.isArray(m.to) ? m.to : [m.to]).map((t) => text(t, "email.send", "to"));
      const subject = text(m.subject, "email.send", "subject");
      if (m.text === undefined && m.html === undefined) throw new InvalidArgument("email.send", "give text or html");
      const id = randomUUID();
      ctx.emails.push({ id, to, subject, text: m.text as string | undefined, html: m.html as string | undefined });
      return { id, status: "stored", message_id: null };
    },
  };
}

async function fakeFetch(ctx: TestContext, scope: CallScope, rawUrl: unknown, init: unknown) {
  const url = new URL(text(rawUrl, "http.fetch", "url"));
  if (!hostAllowed(url.hostname, scope.manifest.http_allowlist)) {
    throw new CapabilityError(`ctx.http: ${url.hostname} is not in http_allowlist`, "host_not_allowed", "HostNotAllowed");
  }
  const o = asObject(init);
  const method = typeof o.method === "string" ? o.method.toUpperCase() : "GET";
  const body = o.body === undefined ? null : typeof o.body === "string" ? o.body : JSON.stringify(o.body);
  const req: FakeHttpRequest = { method, url: url.href, headers: (o.headers as Record<string, string>) ?? {}, body };
  ctx.requests.push(req);
  const handler = ctx.http[`${method} ${url.href}`] ?? ctx.http[url.href];
  if (!handler) throw new CapabilityError(`ctx.http: no fake answer for ${method} ${url.href}; add it to createTestContext({http})`, "no_fake", "NetworkError");
  const res = typeof handler === "function" ? await handler(req) : handler;
  const isText = typeof res.body === "string";
  return {
    status: res.status ?? 200,
    headers: { ...(isText ? {} : { "content-type": "application/json" }), ...res.headers },
    body: res.body === undefined ? "" : isText ? (res.body as string) : JSON.stringify(res.body),
    url: url.href,
    redirected: false,
  };
}

function fileInfo(p: string, f: { content: Buffer; contentType: string; updatedAt: string }) {
  return { path: p, size: f.content.length, content_type: f.contentType, updated_at: f.updatedAt };
}

// The platform's own path rules (the host API and ctx.files use the same ones).
function checkedPath(p: unknown): string {
  const s = text(p, "files", "path");
  const problems = filePathProblems(s);
  if (problems.length) throw new InvalidArgument("files", `"${s}": ${problems.join("; ")}`);
  return s;
}

function text(v: unknown, method: string, what: string): string {
  if (typeof v !== "string") throw new InvalidArgument(method, `${what} must be a string`);
  return v;
}

function asObject(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}
