import type { AppError } from "../errors.ts";
import type { Role } from "./tokens.ts";

/** The tenant a request acts on, as resolved by `authenticate`. */
export interface AuthTenant {
  id: string;
  slug: string;
  name: string;
}

/** A caller with a valid token. */
export interface UserAuth {
  userId: string;
  role: Role;
  tenant?: AuthTenant;
}

/** A caller without a (valid) token on a route mounted with `authenticate(…, { optional: true })`. */
export interface AnonymousAuth {
  userId?: undefined;
  role: "anonymous";
  tenant?: AuthTenant;
  /**
   * Why a Bearer token that was sent did not count. Public routes ignore it (a third party may
   * send its own Bearer secret); a non-public route should answer with it instead of
   * `missing_token`, so an expired token is reported as expired.
   */
  tokenError?: AppError;
}

/** What `authenticate` puts on `req.auth`; narrow on `role` to get `userId` as a string. */
export type RequestAuth = UserAuth | AnonymousAuth;

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      auth?: RequestAuth;
    }
  }
}
