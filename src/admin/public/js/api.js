// @ts-check
// The admin API client: the Bearer token (kept for this browser tab only) and, for a platform
// admin, the tenant it acts on. Errors come back as ApiError with the API's code and details.

const TOKEN_KEY = "sbh.admin.token";
const TENANT_KEY = "sbh.admin.tenant";

/** Dispatched on window when a call with a token is answered 401. */
export const UNAUTHORIZED = "sbh:unauthorized";

export class ApiError extends Error {
  /** @param {number} status @param {string} code @param {string} message @param {unknown} details */
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  /** @param {string} token */
  signIn(token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.removeItem(TENANT_KEY);
  },
  signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(TENANT_KEY);
  },
  get tenant() {
    return sessionStorage.getItem(TENANT_KEY);
  },
  /** @param {string | null} slug */
  set tenant(slug) {
    if (slug) sessionStorage.setItem(TENANT_KEY, slug);
    else sessionStorage.removeItem(TENANT_KEY);
  },
};

/** Headers every call carries. @returns {Record<string, string>} */
export function authHeaders() {
  /** @type {Record<string, string>} */
  const headers = {};
  if (session.token) headers.authorization = `Bearer ${session.token}`;
  if (session.tenant) headers["x-tenant-slug"] = session.tenant;
  return headers;
}

/**
 * Calls the API. `body`: a FormData goes as multipart, anything else as JSON.
 * Resolves with the parsed JSON (null for 204); rejects with ApiError.
 * @param {string} method @param {string} path @param {unknown} [body]
 * @returns {Promise<any>}
 */
export async function api(method, path, body) {
  /** @type {RequestInit & { headers: Record<string, string> }} */
  const init = { method, headers: authHeaders() };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, "network_error", "The platform did not answer; check that it is running", null);
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON: a proxy's error page, say. Report the status rather than the page.
  }
  // An expired or revoked token: main.js sends the admin back to sign-in, whichever page asked.
  if (res.status === 401 && session.token) window.dispatchEvent(new CustomEvent(UNAUTHORIZED));
  if (!res.ok) {
    const e = parsed?.error;
    throw new ApiError(res.status, e?.code ?? "http_error", e?.message ?? `HTTP ${res.status}`, e?.details ?? null);
  }
  return parsed;
}

/** encodeURIComponent for one path segment. @param {string} s */
export const seg = (s) => encodeURIComponent(s);
