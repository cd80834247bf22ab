import { parseArgs } from "node:util";
import { adminLink } from "../admin/admin-link.ts";
import { MAX_TOKEN_LIFETIME_DAYS, ROLES, signToken, type Claims, type Role } from "../auth/tokens.ts";
import type { CliIo } from "./main.ts";

export const TOKEN_USAGE = [
  "usage: npm run cli -- token --tenant <slug> --role admin|member [--sub <user id>] [--expires-in 30d] [--link [--url <base>]]",
  "       npm run cli -- token --role platform_admin [--sub <user id>] [--expires-in 30d] [--link [--url <base>]]",
  `       --expires-in: seconds, or a span like 12h or 30d (default 30d, at most ${MAX_TOKEN_LIFETIME_DAYS}d: every token expires)`,
  "       --link prints the admin UI sign-in link <base>/admin/#token=<token> instead (base: http://localhost:<PORT>)",
].join("\n");

const DEFAULT_SUB: Record<Role, string> = { admin: "cli-admin", member: "cli-member", platform_admin: "platform" };

/**
 * `token`: prints a bare signed token (or with `--link`, the admin UI sign-in link) and a newline
 * on stdout (so `$(npm run -s cli -- token …)` works); everything else goes to stderr. Exit 2 for
 * bad arguments, 1 for bad configuration.
 */
export async function tokenCommand(args: string[], io: CliIo): Promise<number> {
  let values: { tenant?: string; role?: string; sub?: string; "expires-in"?: string; link?: boolean; url?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        tenant: { type: "string" },
        role: { type: "string" },
        sub: { type: "string" },
        "expires-in": { type: "string" },
        link: { type: "boolean" },
        url: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    return usageError(io, (err as Error).message);
  }
  if (values.help) {
    io.stdout.write(`${TOKEN_USAGE}\n`);
    return 0;
  }

  const role = values.role;
  if (!isRole(role)) return usageError(io, `--role must be one of ${ROLES.join(", ")}`);
  const tenant = values.tenant?.trim() || undefined;
  if (role !== "platform_admin" && tenant === undefined) {
    return usageError(io, `--tenant <slug> is required for role ${role}`);
  }
  if (role === "platform_admin" && tenant !== undefined) {
    return usageError(io, "a platform_admin token is not tied to a tenant; name one per request with X-Tenant-Slug");
  }
  if (values.url !== undefined && !values.link) return usageError(io, "--url is only used with --link");
  const url = values.url === undefined ? undefined : baseUrl(values.url);
  if (url === null) return usageError(io, "--url must be an http(s) URL like https://sbh.example.com");
  const sub = values.sub ?? DEFAULT_SUB[role];
  const claims: Claims = tenant === undefined ? { sub, role } : { sub, tenant, role };

  let secret: string;
  let port: number;
  try {
    ({ jwtSecret: secret, port } = io.loadConfig());
  } catch (err) {
    io.stderr.write(`error: ${(err as Error).message}\n`);
    return 1;
  }

  let token: string;
  try {
    token = signToken(claims, secret, { expiresIn: expiresIn(values["expires-in"]) });
  } catch (err) {
    return usageError(io, (err as Error).message);
  }
  io.stdout.write(values.link ? `${adminLink(url ?? `http://localhost:${port}`, token)}\n` : `${token}\n`);
  return 0;
}

// The platform's base URL as typed, without a trailing slash (the link appends /admin/); null
// when it is not an absolute http(s) URL, so a typo fails here rather than in the browser.
function baseUrl(value: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(value.trim());
  } catch {
    return null;
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return null;
  if (parsed.search || parsed.hash) return null;
  return parsed.href.replace(/\/+$/, "");
}

// A bare number on the command line means seconds, as the flag's help implies.
function expiresIn(value: string | undefined): string | number | undefined {
  if (value === undefined) return undefined;
  return /^\d+$/.test(value.trim()) ? Number(value.trim()) : value;
}

function isRole(value: unknown): value is Role {
  return (ROLES as readonly unknown[]).includes(value);
}

function usageError(io: CliIo, message: string): number {
  io.stderr.write(`error: ${message}\n${TOKEN_USAGE}\n`);
  return 2;
}
