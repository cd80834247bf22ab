// Type declarations for "@sbh/sdk", the module plugin code imports. The runtime behind them is
// the platform's sandbox (src/sandbox/isolate/runtime.js); these types describe that contract.
// Point an editor at them with a jsconfig/tsconfig `paths` entry: {"@sbh/sdk": ["<this file>"]}.

/** System events the platform and the host raise (DESIGN §7); plugins may also use their own. */
export type SystemEventType =
  | "auth.user.created"
  | "auth.user.updated"
  | "auth.user.deleted"
  | "payments.subscription.created"
  | "payments.subscription.updated"
  | "files.uploaded"
  | "files.deleted"
  | "builder.generated"
  | "build.completed"
  | "webhook.received"
  | "analytics.rollup.completed"
  | "plugin.installed"
  | "plugin.upgraded"
  | "plugin.enabled"
  | "plugin.disabled"
  | "plugin.uninstalled"
  | "plugin.unhealthy"
  | "plugin.healthy";

/** Any event type: a system one, or a plugin's own `noun.verb` (lower-case, dotted). */
export type EventType = SystemEventType | (string & {});

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** What a hook receives. `id` is stable across retries: use it to stay idempotent. */
export interface PluginEvent<T = any> {
  id: string;
  type: EventType;
  /** The tenant's slug. */
  tenant: string;
  data: T;
  /** ISO 8601. */
  occurred_at: string;
}

/** What a route handler receives. */
export interface PluginRequest {
  method: string;
  /** The path below /ext/<slug>, e.g. "/greet/ada". */
  path: string;
  params: Record<string, string>;
  query: Record<string, string | string[]>;
  /** Lower-case names. Authorization and cookies are never passed to plugins. */
  headers: Record<string, string>;
  /** Parsed JSON when the content type says so (or is absent or form-urlencoded and the body is a JSON object or array), else the text, else null. */
  body: any;
  /**
   * Only on routes registered with `{ rawBody: true }`: the body exactly as sent, decoded as
   * UTF-8 (null when empty). Verify signatures over this, not over a re-encoded `body`.
   */
  rawBody?: string | null;
}

export interface JobRun {
  id: string;
  trigger: "cron" | "manual";
  scheduled_for: string | null;
}

/** Thrown by a route handler: that status and message answer the request. */
export declare class HttpError extends Error {
  constructor(status: number, message?: string, details?: JsonValue);
  readonly status: number;
  readonly details?: JsonValue;
}

/** Thrown inside the plugin by a ctx member whose permission the manifest does not list. */
export declare class PermissionDenied extends Error {
  readonly name: "PermissionDenied";
}

/** A route answer with a status and headers: `return json({created: true}, 201)`. */
export interface JsonResponse {
  readonly body: unknown;
  readonly status: number;
  readonly headers: Record<string, string>;
}
export declare function json(body: unknown, status?: number, headers?: Record<string, string>): JsonResponse;

export interface RouteOptions {
  /** Default ["GET"]. */
  methods?: ("GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS")[];
  /** "user" (default): any token of the tenant; "admin": admins only; "public": no token. */
  auth?: "user" | "admin" | "public";
  /** Also pass the body as sent, as `req.rawBody` (for webhook signatures). Default false. */
  rawBody?: boolean;
}

type Awaitable<T> = T | Promise<T>;
export type RouteHandler = (ctx: Context, req: PluginRequest) => Awaitable<unknown>;
export type HookHandler<T = any> = (ctx: Context, event: PluginEvent<T>) => Awaitable<void>;
export type JobHandler = (ctx: Context, run: JobRun) => Awaitable<unknown>;

export declare function route(path: string, handler: RouteHandler): void;
export declare function route(path: string, options: RouteOptions, handler: RouteHandler): void;
export declare function hook<T = any>(eventType: EventType, handler: HookHandler<T>): void;
export declare function job(name: string, handler: JobHandler): void;
export declare function health(handler: (ctx: Context) => Awaitable<{ status: "ok" | "degraded" | "error"; [key: string]: unknown }>): void;
export declare function onInstall(handler: (ctx: Context) => Awaitable<void>): void;
export declare function onUpgrade(handler: (ctx: Context, info: { from: string }) => Awaitable<void>): void;
export declare function onEnable(handler: (ctx: Context) => Awaitable<void>): void;
export declare function onDisable(handler: (ctx: Context) => Awaitable<void>): void;
export declare function onUninstall(handler: (ctx: Context) => Awaitable<void>): void;

/** A webhook transform (`transforms/x.js#fn`): the body to send, or null to send nothing. */
export type WebhookTransform<T = any> = (event: PluginEvent<T>, ctx: Context) => Awaitable<unknown>;

// --- ctx -------------------------------------------------------------------------------------

export type FilterValue = string | number | boolean | null;
export type FilterCondition =
  | FilterValue
  | { $eq?: FilterValue; $ne?: FilterValue; $gt?: FilterValue; $gte?: FilterValue; $lt?: FilterValue; $lte?: FilterValue; $in?: FilterValue[] };
/** Field (dotted paths allowed) → value (equality) or operators. */
export type Filter = Record<string, FilterCondition>;

export interface Document {
  id: string;
  created_at: string;
  updated_at: string;
  [key: string]: any;
}

export interface QueryOptions {
  /** Default 50, at most the platform's DB_MAX_QUERY_LIMIT (100). */
  limit?: number;
  /** "field" ascending or "-field" descending; default created_at. */
  order_by?: string;
  /** Documents to skip (paging), at most 10,000. */
  offset?: number;
}

/** `db.read` for query/getById (core tables users, files and the plugin's collections); `db.write` for the rest. */
export interface Db {
  query(table: string, filter?: Filter, options?: QueryOptions): Promise<Document[]>;
  getById(table: string, id: string): Promise<Document | null>;
  /** Throws `QuotaExceeded` past resources.max_db_documents or resources.max_db_mb (per tenant, over all collections). */
  insert(collection: string, doc: Record<string, unknown>): Promise<Document>;
  /** Throws `QuotaExceeded` when the merge grows the document past resources.max_db_mb. */
  update(collection: string, id: string, patch: Record<string, unknown>): Promise<Document | null>;
  delete(collection: string, id: string): Promise<boolean>;
}

export interface HttpInit {
  method?: "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS";
  headers?: Record<string, string>;
  /** A string, or a value sent as JSON. */
  body?: unknown;
}

export interface HttpResponse {
  status: number;
  ok: boolean;
  headers: Record<string, string>;
  /** The final URL after redirects. */
  url: string;
  redirected: boolean;
  text(): Promise<string>;
  json<T = any>(): Promise<T>;
}

/** `outbound_http`: hosts in the manifest's http_allowlist only; private addresses refused. */
export interface Http {
  fetch(url: string, init?: HttpInit): Promise<HttpResponse>;
  get(url: string, init?: HttpInit): Promise<HttpResponse>;
  post(url: string, body?: unknown, init?: HttpInit): Promise<HttpResponse>;
}

export interface FileInfo {
  path: string;
  size: number;
  content_type: string;
  updated_at: string;
}

/** `files.read` for list/read; `files.write` for upload/delete (quotas: resources.max_disk_mb and max_files; `QuotaExceeded` past them). */
export interface Files {
  list(prefix?: string): Promise<FileInfo[]>;
  read(path: string, options?: { encoding?: "utf8" | "base64" }): Promise<(FileInfo & { content: string }) | null>;
  upload(path: string, content: string, options?: { content_type?: string; encoding?: "utf8" | "base64" }): Promise<FileInfo>;
  delete(path: string): Promise<boolean>;
}

/**
 * No permission: the plugin's own package files that are not code (templates/, static/,
 * plugin.json…), from the version that runs. Paths are package paths like "templates/email.html";
 * `..`, absolute paths, backslashes and NUL are refused (`InvalidPath`).
 */
export interface Assets {
  /** The file as UTF-8 text (base64 with `{ encoding: "base64" }`), or null when the package has no such file. */
  read(path: string, options?: { encoding?: "utf8" | "base64" }): Promise<string | null>;
  /** The asset paths under `prefix` (all when omitted), sorted. */
  list(prefix?: string): Promise<string[]>;
}

export interface LlmResult {
  text: string;
  model: string;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  finish_reason: string | null;
}

/** `llm.use`: the operator's OpenAI-compatible endpoint. */
export interface Llm {
  run(prompt: string, options?: { system?: string; model?: string; max_tokens?: number }): Promise<LlmResult>;
}

/** `send_email`: SMTP when the operator configured it, else kept in the outbox. */
export interface Email {
  send(message: { to: string | string[]; subject: string; text?: string; html?: string }): Promise<{ id: string; status: "sent" | "stored"; message_id: string | null }>;
}

export interface Log {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export interface Context {
  /** The tenant's slug. */
  readonly tenantId: string;
  /** The token's subject on user/admin routes; null on public routes, hooks and jobs. */
  readonly userId: string | null;
  readonly plugin: { readonly slug: string; readonly version: string; readonly installId: string };
  /** The request on routes, else null. */
  readonly request: PluginRequest | null;
  readonly secrets: { get(name: string): Promise<string | null> };
  readonly config: { get<T = unknown>(key: string): T | undefined; all(): Record<string, unknown> };
  readonly log: Log;
  /** A tenant event; reserved system prefixes are refused. */
  emit(type: string, data?: unknown): Promise<{ id: string; hooks: number }>;
  readonly db: Db;
  readonly http: Http;
  readonly files: Files;
  readonly llm: Llm;
  readonly email: Email;
  readonly assets: Assets;
}

declare const sdk: {
  hook: typeof hook;
  route: typeof route;
  job: typeof job;
  json: typeof json;
  HttpError: typeof HttpError;
  PermissionDenied: typeof PermissionDenied;
  health: typeof health;
  onInstall: typeof onInstall;
  onUpgrade: typeof onUpgrade;
  onEnable: typeof onEnable;
  onDisable: typeof onDisable;
  onUninstall: typeof onUninstall;
};
export default sdk;

// --- Web globals -----------------------------------------------------------------------------
// The sandbox's Web globals (crypto, URL, TextEncoder, Headers, …; docs/plugin-guide.md
// "Globals") are the standard ones, so their types are TypeScript's lib.dom, the default lib of
// the jsconfig `plugin init` writes. One is not standard, and is declared here.
declare global {
  interface SubtleCrypto {
    /**
     * Cloudflare Workers' extension: true when `a` and `b` hold the same bytes, in time that
     * depends only on their length. Throws a TypeError when the lengths differ.
     */
    timingSafeEqual(a: ArrayBuffer | ArrayBufferView, b: ArrayBuffer | ArrayBufferView): boolean;
  }
}
