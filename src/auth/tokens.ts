import { createSecretKey, type KeyObject } from "node:crypto";
import jwt from "jsonwebtoken";
import { z } from "zod";
import { AppError } from "../errors.ts";

export const ROLES = ["admin", "member", "platform_admin"] as const;
export type Role = (typeof ROLES)[number];

export interface Claims {
  sub: string;
  tenant?: string;
  role: Role;
}

const DEFAULT_EXPIRES_IN = "30d";

/**
 * The longest a token may live (exp − iat). Tokens cannot be revoked one by one (only by
 * rotating JWT_SECRET), so every token must expire, and not in years.
 */
export const MAX_TOKEN_LIFETIME_DAYS = 90;
const MAX_LIFETIME_SECONDS = MAX_TOKEN_LIFETIME_DAYS * 24 * 3600;

// A real token is a few hundred bytes; refusing huge ones keeps the HMAC and JSON parse cheap.
const MAX_TOKEN_LENGTH = 8192;

// Extra registered claims (iat, exp, …) are allowed in the token and dropped from the result.
const ClaimsSchema = z
  .object({
    sub: z.string().min(1).max(200),
    tenant: z.string().min(1).max(128).optional(),
    role: z.enum(ROLES),
  })
  .refine((c) => c.role === "platform_admin" || c.tenant !== undefined, {
    message: "tenant is required unless the role is platform_admin",
    path: ["tenant"],
  });

/** Signs an HS256 token; throws a plain Error for claims or options a caller got wrong. */
export function signToken(claims: Claims, secret: string, opts: { expiresIn?: string | number } = {}): string {
  requireSecret(secret);
  const parsed = ClaimsSchema.safeParse(claims);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".") || "claims"}: ${i.message}`);
    throw new Error(`cannot sign token: ${problems.join("; ")}`);
  }
  const expiresIn = checkExpiresIn(opts.expiresIn ?? DEFAULT_EXPIRES_IN);
  const { sub, tenant, role } = parsed.data;
  const payload = tenant === undefined ? { sub, role } : { sub, tenant, role };
  const token = jwt.sign(payload, secret, {
    algorithm: "HS256",
    expiresIn: expiresIn as jwt.SignOptions["expiresIn"],
  });
  // jsonwebtoken turned the span into exp; refusing here beats minting a token every server refuses.
  const { iat, exp } = jwt.decode(token) as jwt.JwtPayload;
  if (exp! - iat! > MAX_LIFETIME_SECONDS) {
    throw new Error(`expiresIn "${expiresIn}" is longer than the ${MAX_TOKEN_LIFETIME_DAYS} days a token may live`);
  }
  return token;
}

/**
 * Verifies signature (HS256 only), expiry and claims. Every failure is the same
 * AppError("invalid_token"): the client learns nothing about which check failed beyond expiry.
 */
export function verifyToken(token: string, secret: string): Claims {
  requireSecret(secret);
  if (typeof token !== "string" || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
    throw new AppError("invalid_token");
  }
  let payload: unknown;
  try {
    // The algorithm list is pinned: without it a token could pick `none` or another HMAC size.
    payload = jwt.verify(token, secretKey(secret), { algorithms: ["HS256"] });
  } catch (err) {
    if (err instanceof jwt.TokenExpiredError) {
      throw new AppError("invalid_token", "The token has expired", undefined, { cause: err });
    }
    throw new AppError("invalid_token", undefined, undefined, { cause: err });
  }
  const parsed = ClaimsSchema.safeParse(payload);
  if (!parsed.success) throw new AppError("invalid_token");
  const lifetime = lifetimeProblem(payload as jwt.JwtPayload);
  if (lifetime) throw new AppError("invalid_token", lifetime);
  const { sub, tenant, role } = parsed.data;
  return tenant === undefined ? { sub, role } : { sub, tenant, role };
}

// jsonwebtoken checks `exp` only when a token has one, so a token signed without it (by hand, or
// by another tool holding the secret) would be valid until the secret changes. The lifetime is
// counted from `iat`, or from now when it is missing or in the future, so no claim stretches it.
function lifetimeProblem(payload: jwt.JwtPayload): string | undefined {
  const { exp, iat } = payload;
  if (typeof exp !== "number" || !Number.isFinite(exp)) {
    return "The token has no expiry (exp claim); tokens must expire: mint one with npm run cli -- token";
  }
  const now = Math.floor(Date.now() / 1000);
  const issued = typeof iat === "number" && Number.isFinite(iat) ? Math.min(iat, now) : now;
  if (exp - issued > MAX_LIFETIME_SECONDS) {
    return `The token lives longer than the ${MAX_TOKEN_LIFETIME_DAYS} days a token may; mint a new one`;
  }
  return undefined;
}

// Given a string, jsonwebtoken first tries to parse it as a public key, which fails slowly
// (~0.5 ms a verify). A KeyObject made once per secret skips that on the hot path.
const keys = new Map<string, KeyObject>();
function secretKey(secret: string): KeyObject {
  let key = keys.get(secret);
  if (!key) {
    key = createSecretKey(Buffer.from(secret, "utf8"));
    if (keys.size > 16) keys.clear();
    keys.set(secret, key);
  }
  return key;
}

// An empty secret is a wiring bug, not a bad token: fail loudly (500) instead of answering 401.
function requireSecret(secret: string): void {
  if (typeof secret !== "string" || secret.length === 0) throw new Error("JWT secret is empty");
}

// jsonwebtoken reads a unit-less string as milliseconds ("3600" = 3.6 s), a classic surprise,
// and accepts negative spans; both are refused so a token never lives shorter than intended.
function checkExpiresIn(value: string | number): string | number {
  if (typeof value === "number") {
    if (!Number.isFinite(value) || value <= 0) throw new Error("expiresIn must be a positive number of seconds");
    return value;
  }
  if (!/^\d+(\.\d+)?\s*[a-z]+$/i.test(value.trim())) {
    throw new Error(`expiresIn "${value}" must be seconds as a number or a span with a unit, like 30d or 12h`);
  }
  return value.trim();
}
