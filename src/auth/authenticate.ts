import type { NextFunction, Request, RequestHandler, Response } from "express";
import { AppError } from "../errors.ts";
import type { AuthTenant, RequestAuth } from "./request-auth.ts";
import { verifyToken, type Claims, type Role } from "./tokens.ts";

export interface AuthenticateDeps {
  jwtSecret: string;
  /** Looks a tenant up by slug; pass a tenant cache's `find` on hot paths. */
  findTenant: (slug: string) => Promise<AuthTenant | null>;
}

export interface AuthenticateOptions {
  /** Public routes: a request without a valid token goes on as `role: "anonymous"`. */
  optional?: boolean;
}

// Tenant slugs are short; anything longer is not looked up at all (it cannot exist, and a
// flood of long random slugs should not reach the database or fill the tenant cache).
const MAX_SLUG_LENGTH = 128;

/**
 * Verifies the Bearer token, resolves the tenant (X-Tenant-Slug, else the route's `:tenant`,
 * else the token's own) and sets `req.auth`. Non-platform roles may only act on their own tenant.
 */
export function authenticate(deps: AuthenticateDeps, opts: AuthenticateOptions = {}): RequestHandler {
  return async (req: Request, _res: Response, next: NextFunction) => {
    try {
      req.auth = await resolveAuth(req, deps, opts.optional === true);
      next();
    } catch (err) {
      next(err);
    }
  };
}

async function resolveAuth(req: Request, deps: AuthenticateDeps, optional: boolean): Promise<RequestAuth> {
  const requested = requestedTenant(req);
  const header = req.get("authorization");
  const token = header === undefined ? undefined : bearerToken(header);

  if (token === undefined) {
    // A non-Bearer Authorization header is not ours (e.g. a third party's Basic auth on a public
    // route), so optional mode treats it like no header at all.
    if (!optional) throw new AppError("missing_token");
    return { role: "anonymous", tenant: await anonymousTenant(requested, deps) };
  }

  let claims: Claims;
  try {
    claims = verifyToken(token, deps.jwtSecret);
  } catch (err) {
    if (!optional || !(err instanceof AppError)) throw err;
    return { role: "anonymous", tenant: await anonymousTenant(requested, deps), tokenError: err };
  }

  if (claims.role !== "platform_admin" && requested !== undefined && requested !== claims.tenant) {
    throw new AppError("tenant_mismatch");
  }
  const slug = requested ?? claims.tenant;
  if (slug === undefined) return { userId: claims.sub, role: claims.role };

  const tenant = await lookup(slug, deps);
  if (tenant) return { userId: claims.sub, role: claims.role, tenant };
  if (claims.role === "platform_admin") throw new AppError("tenant_not_found");
  // Here slug is the token's own tenant: the tenant was deleted, so the token is dead too.
  throw new AppError("invalid_token", "The token's tenant no longer exists");
}

// `Bearer` is case-insensitive (RFC 7235); the token itself is one run of non-space characters.
function bearerToken(header: string): string | undefined {
  const m = /^\s*bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1] : undefined;
}

function requestedTenant(req: Request): string | undefined {
  const fromHeader = req.get("x-tenant-slug")?.trim() || undefined;
  const param = (req.params as Record<string, unknown> | undefined)?.tenant;
  const fromPath = typeof param === "string" && param !== "" ? param : undefined;
  // Two different tenants in one request is a caller bug; picking either would be a guess.
  if (fromHeader !== undefined && fromPath !== undefined && fromHeader !== fromPath) {
    throw new AppError("tenant_mismatch", "X-Tenant-Slug and the URL name different tenants");
  }
  return fromHeader ?? fromPath;
}

async function anonymousTenant(slug: string | undefined, deps: AuthenticateDeps): Promise<AuthTenant | undefined> {
  if (slug === undefined) return undefined;
  const tenant = await lookup(slug, deps);
  if (!tenant) throw new AppError("tenant_not_found");
  return tenant;
}

async function lookup(slug: string, deps: AuthenticateDeps): Promise<AuthTenant | null> {
  if (slug.length > MAX_SLUG_LENGTH) return null;
  return deps.findTenant(slug);
}

/**
 * Lets the request through only for the listed roles. `platform_admin` also passes wherever
 * `admin` is listed: it administers every tenant, so a tenant-admin route is its route too.
 * Roles are a list, not a ladder: `admin` does not pass `requireRole("member")` unless listed.
 */
export function requireRole(...roles: Role[]): RequestHandler {
  const allowed = new Set<string>(roles);
  if (allowed.has("admin")) allowed.add("platform_admin");
  return (req, _res, next) => {
    const auth = req.auth;
    if (!auth || auth.role === "anonymous") {
      next((auth?.role === "anonymous" && auth.tokenError) || new AppError("missing_token"));
      return;
    }
    next(allowed.has(auth.role) ? undefined : new AppError("forbidden"));
  };
}

/**
 * For routes that act on one tenant: a platform_admin token carries no tenant of its own, so
 * such a call must name one with X-Tenant-Slug (or the URL), else 403.
 */
export const requireTenant: RequestHandler = (req, _res, next) => {
  const auth = req.auth;
  if (!auth) {
    next(new AppError("missing_token"));
    return;
  }
  if (!auth.tenant) {
    next(new AppError("forbidden", "This call acts on one tenant: name it with the X-Tenant-Slug header"));
    return;
  }
  next();
};
