// The one registry of error codes. Code throws `new AppError("code", message?, details?)`;
// one middleware turns it into `{"error": {code, message, details}}` via errorToHttp.
// Codes are part of the API contract: docs/errors.md lists them, test/errors.test.ts checks it.

export const ERROR_CODES = {
  // 400
  invalid_json: { status: 400, message: "The request body is not valid JSON" },
  invalid_request: { status: 400, message: "The request is invalid" },
  missing_file: { status: 400, message: "Send the plugin ZIP in the multipart field `file`" },
  // 401
  missing_token: { status: 401, message: "An Authorization: Bearer <token> header is required" },
  invalid_token: { status: 401, message: "The token is invalid or expired" },
  // 403
  forbidden: { status: 403, message: "Your role does not allow this" },
  tenant_mismatch: { status: 403, message: "X-Tenant-Slug does not match the token's tenant" },
  // 404
  not_found: { status: 404, message: "Not found" },
  tenant_not_found: { status: 404, message: "No such tenant" },
  plugin_not_found: { status: 404, message: "No such plugin is installed for this tenant" },
  route_not_found: { status: 404, message: "No such plugin route" },
  secret_not_found: { status: 404, message: "No such secret" },
  job_not_found: { status: 404, message: "The plugin has no such job" },
  // 405
  method_not_allowed: { status: 405, message: "The route does not accept this method" },
  // 409
  version_conflict: { status: 409, message: "That version is not newer than the installed one" },
  version_content_conflict: { status: 409, message: "That version was uploaded before with other content" },
  tenant_exists: { status: 409, message: "A tenant with that slug exists" },
  no_previous_version: { status: 409, message: "There is no previous version to roll back to" },
  plugin_disabled: { status: 409, message: "The plugin is disabled" },
  // A conflict with the install's state, not an outage: retrying does not help until an admin sets
  // the values named in details.missing (the install then enables itself).
  plugin_needs_configuration: { status: 409, message: "The plugin misses required configuration values or secrets" },
  job_running: { status: 409, message: "A run of this job is still running" },
  delivery_pending: { status: 409, message: "The delivery is still being attempted" },
  dependency_conflict: { status: 409, message: "Enabled plugins depend on this plugin" },
  dependencies_unmet: { status: 409, message: "The plugin's dependencies are not installed and enabled at a matching version" },
  // 413
  payload_too_large: { status: 413, message: "The upload is too large" },
  // 422
  invalid_plugin: { status: 422, message: "The plugin package is invalid" },
  invalid_config: { status: 422, message: "The configuration does not match the manifest" },
  // 429
  rate_limited: { status: 429, message: "Too many calls; retry later" },
  plugin_busy: { status: 429, message: "The plugin has too many calls in progress; retry later" },
  // 500
  internal: { status: 500, message: "Internal error" },
  plugin_error: { status: 500, message: "The plugin failed to handle the request" },
  plugin_bad_response: { status: 500, message: "The plugin returned a value that cannot be sent" },
  plugin_out_of_memory: { status: 500, message: "The plugin exceeded its memory limit" },
  // 503
  sandbox_unavailable: { status: 503, message: "The plugin sandbox was restarted; retry" },
  plugin_paused: { status: 503, message: "The plugin's calls keep timing out; it is paused for a while" },
  // 504
  plugin_timeout: { status: 504, message: "The plugin did not answer in time" },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class AppError extends Error {
  override name = "AppError";
  readonly status: number;
  readonly headers: Record<string, string>;

  constructor(
    readonly code: ErrorCode,
    message?: string,
    readonly details?: unknown,
    options: { cause?: unknown; headers?: Record<string, string>; status?: number } = {},
  ) {
    super(message ?? ERROR_CODES[code].message, { cause: options.cause });
    this.status = options.status ?? ERROR_CODES[code].status;
    this.headers = options.headers ?? {};
  }
}

export interface HttpErrorResponse {
  status: number;
  headers: Record<string, string>;
  body: { error: { code: string; message: string; details: unknown } };
}

/** Pure: any thrown value → the HTTP answer. Unknown errors become a generic 500. */
export function errorToHttp(err: unknown): HttpErrorResponse {
  if (err instanceof AppError) {
    return {
      status: err.status,
      headers: err.headers,
      body: { error: { code: err.code, message: err.message, details: err.details ?? null } },
    };
  }
  // Express's router throws a URIError (status 400, not marked `expose`) for a bad %-escape.
  if (err instanceof URIError) return errorToHttp(new AppError("invalid_request", "The URL is not validly percent-encoded"));
  const status = httpStatusOf(err);
  if (status === 400 && (err as { type?: string }).type === "entity.parse.failed") {
    return errorToHttp(new AppError("invalid_json"));
  }
  if (status === 413) return errorToHttp(new AppError("payload_too_large"));
  if (status && status >= 400 && status < 500) {
    return errorToHttp(new AppError("invalid_request", (err as Error).message));
  }
  return errorToHttp(new AppError("internal"));
}

// body-parser and friends mark their errors with `status`/`statusCode` and `expose`.
function httpStatusOf(err: unknown): number | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const e = err as { status?: unknown; statusCode?: unknown; expose?: unknown };
  const s = typeof e.status === "number" ? e.status : typeof e.statusCode === "number" ? e.statusCode : undefined;
  return e.expose === true ? s : s === 413 ? s : undefined;
}
