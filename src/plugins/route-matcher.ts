import type { RegisteredRoute } from "../packaging/registered.ts";

export interface RouteMatch {
  index: number;
  route: RegisteredRoute;
  params: Record<string, string>;
}

export type MatchResult = { match: RouteMatch } | { methodNotAllowed: string[] } | null;

interface Compiled {
  index: number;
  route: RegisteredRoute;
  segments: string[];
}

/**
 * Matches a request path against a plugin's registered routes: literal segments and
 * `:param` segments, first registered wins. Compiled once per plugin version.
 */
export class RouteMatcher {
  private readonly compiled: Compiled[];

  constructor(routes: RegisteredRoute[]) {
    this.compiled = routes.map((route, index) => ({ index, route, segments: split(route.path) }));
  }

  /** `rawSegments` are the request path's segments still percent-encoded; each is decoded once here. */
  match(method: string, rawSegments: string[]): MatchResult {
    const parts: string[] = [];
    for (const raw of rawSegments) {
      try {
        parts.push(decodeURIComponent(raw));
      } catch {
        return null; // malformed percent-encoding never matches
      }
    }
    const allowed = new Set<string>();
    for (const c of this.compiled) {
      const params = matchSegments(c.segments, parts);
      if (!params) continue;
      const m = method === "HEAD" && !c.route.methods.includes("HEAD") ? "GET" : method;
      if (c.route.methods.includes(m)) return { match: { index: c.index, route: c.route, params } };
      for (const x of c.route.methods) allowed.add(x);
    }
    return allowed.size ? { methodNotAllowed: [...allowed] } : null;
  }
}

function split(path: string): string[] {
  return path.split("/").filter((s) => s !== "");
}

function matchSegments(pattern: string[], parts: string[]): Record<string, string> | null {
  if (pattern.length !== parts.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i];
    if (p.startsWith(":")) {
      params[p.slice(1)] = parts[i];
    } else if (p !== parts[i]) {
      return null;
    }
  }
  return params;
}
