import { randomUUID } from "node:crypto";
import type { Permission } from "../capabilities/ctx-members.ts";
import type { LogLine } from "../sandbox/protocol.ts";

/** A canned answer for ctx.http in tests. `body` may be a string or a value sent as JSON. */
export interface FakeHttpResponse {
  status?: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface FakeHttpRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | null;
}

export type FakeHttpHandler = FakeHttpResponse | ((req: FakeHttpRequest) => FakeHttpResponse | Promise<FakeHttpResponse>);

export type FakeLlm = (
  prompt: string,
  options: { system?: string; model?: string; max_tokens?: number },
) => string | { text: string; model?: string; usage?: { prompt_tokens: number; completion_tokens: number } } | Promise<string | { text: string; model?: string; usage?: { prompt_tokens: number; completion_tokens: number } }>;

export interface TestContextOptions {
  /** ctx.tenantId (a tenant slug). Default "test-tenant". */
  tenant?: string;
  /** ctx.userId on routes. Default "test-user". */
  user?: string | null;
  /** The granted permissions; default: those the plugin's manifest lists. */
  permissions?: Permission[];
  secrets?: Record<string, string>;
  /** Config values set by the tenant (manifest defaults apply to the rest). */
  config?: Record<string, unknown>;
  /** Rows of the core `users` table ctx.db reads. */
  users?: { id?: string; email: string; name?: string | null; data?: Record<string, unknown> }[];
  /** Tenant files, path → text (or {content, content_type}). */
  files?: Record<string, string | { content: string; content_type?: string }>;
  /** ctx.http answers keyed "METHOD url" or "url" (any method); unmatched requests fail. */
  http?: Record<string, FakeHttpHandler>;
  /** ctx.llm.run answers; unset → LlmNotConfigured, as on a platform without LLM_BASE_URL. */
  llm?: FakeLlm;
}

export interface StoredFakeFile {
  content: Buffer;
  contentType: string;
  updatedAt: string;
}

/**
 * What a plugin under test sees as its world, and what it did to it: in-memory collections,
 * files, the users table, recorded emits, emails, HTTP requests and log lines.
 */
export class TestContext {
  readonly tenant: string;
  readonly user: string | null;
  readonly permissions?: Permission[];
  readonly secrets: Map<string, string>;
  readonly config: Record<string, unknown>;
  readonly http: Record<string, FakeHttpHandler>;
  readonly llm?: FakeLlm;
  /** Collections by name, documents by id (what ctx.db.insert wrote). */
  readonly collections = new Map<string, Map<string, Record<string, unknown>>>();
  readonly users: Record<string, unknown>[];
  readonly files = new Map<string, StoredFakeFile>();
  readonly emitted: { type: string; data: unknown }[] = [];
  readonly emails: { id: string; to: string[]; subject: string; text?: string; html?: string }[] = [];
  readonly requests: FakeHttpRequest[] = [];
  readonly logs: LogLine[] = [];

  constructor(opts: TestContextOptions = {}) {
    this.tenant = opts.tenant ?? "test-tenant";
    this.user = opts.user === undefined ? "test-user" : opts.user;
    this.permissions = opts.permissions;
    this.secrets = new Map(Object.entries(opts.secrets ?? {}));
    this.config = { ...opts.config };
    this.http = { ...opts.http };
    this.llm = opts.llm;
    const now = new Date().toISOString();
    this.users = (opts.users ?? []).map((u) => ({
      id: u.id ?? randomUUID(),
      email: u.email,
      name: u.name ?? null,
      data: u.data ?? {},
      created_at: now,
      updated_at: now,
    }));
    for (const [p, f] of Object.entries(opts.files ?? {})) {
      const file = typeof f === "string" ? { content: f } : f;
      this.files.set(p, { content: Buffer.from(file.content), contentType: file.content_type ?? "text/plain", updatedAt: now });
    }
  }

  /** The documents of a collection, oldest first. */
  collection(name: string): Record<string, unknown>[] {
    return [...(this.collections.get(name)?.values() ?? [])];
  }

  /** A tenant file's text, or undefined. */
  fileText(p: string): string | undefined {
    return this.files.get(p)?.content.toString("utf8");
  }
}

/** The context a plugin under test runs in (seed 001 "Local Testing"). */
export function createTestContext(opts: TestContextOptions = {}): TestContext {
  return new TestContext(opts);
}
