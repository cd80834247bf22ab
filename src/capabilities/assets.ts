import { pathProblems } from "../packaging/package-path.ts";
import type { CallScope } from "./call-scope.ts";
import { CapabilityError, InvalidArgument } from "./capability-error.ts";
import { MAX_FILE_BYTES } from "./files.ts";

// ctx.assets: the plugin's own package files that are not code (templates/, static/,
// plugin.json…), read from the version the call runs. No permission: they are the plugin's
// own, and the scope only ever holds the files of the install's current version. Names are
// package names, never disk paths; they are still checked, so an author passing on a request
// path sees a clear refusal instead of a silent null.

// A segment that percent-decodes to "." or "..": refused like the dot segment it stands for,
// for code that decodes names later (or passes them on in a URL).
const ENCODED_DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i;

/** ctx.assets.read(path, {encoding}): the file's UTF-8 text (base64 with `{encoding: "base64"}`), or null. */
export async function assetsRead(scope: CallScope, args: unknown[]): Promise<string | null> {
  const method = "assets.read";
  if (args.length > 2) throw new InvalidArgument(method, `takes at most 2 arguments, got ${args.length}`);
  const name = assetPath(scope, method, args[0], false);
  const base64 = encodingOf(method, args[1]) === "base64";
  const data = (await scope.assets()).get(name);
  if (!data) return null;
  // why: the text crosses the isolate boundary whole, as ctx.files content does.
  if (data.length > MAX_FILE_BYTES) {
    throw new CapabilityError(`ctx.${method}: ${JSON.stringify(name)} is ${data.length} bytes; ctx.assets reads files of at most ${MAX_FILE_BYTES} bytes (10 MiB)`, "file_too_large", "FileTooLarge");
  }
  if (base64) return data.toString("base64");
  try {
    return UTF8.decode(data);
  } catch {
    throw new CapabilityError(`ctx.${method}: ${JSON.stringify(name)} is not UTF-8 text; read it with {encoding: "base64"}`, "not_text", "EncodingError");
  }
}

/** ctx.assets.list(prefix = ""): the asset paths starting with `prefix`, sorted. */
export async function assetsList(scope: CallScope, args: unknown[]): Promise<string[]> {
  const method = "assets.list";
  if (args.length > 1) throw new InvalidArgument(method, `takes at most 1 argument, got ${args.length}`);
  const prefix = args[0] === undefined || args[0] === "" ? "" : assetPath(scope, method, args[0], true);
  return [...(await scope.assets()).keys()].filter((name) => name.startsWith(prefix)).sort();
}

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function assetPath(scope: CallScope, method: string, value: unknown, prefix: boolean): string {
  if (typeof value !== "string") {
    throw new InvalidArgument(method, `${prefix ? "prefix" : "path"} must be a string like "templates/email.html"`);
  }
  const problems = value.length > 1024 ? ["the name is longer than 1024 characters"] : pathProblems(value);
  if (!prefix && value.endsWith("/")) problems.push("the name is a folder; give a file's path");
  if (value.split("/").some((segment) => ENCODED_DOT_SEGMENT.test(segment) && segment.includes("%"))) {
    problems.push('the name has a percent-encoded "." or ".." segment');
  }
  if (!problems.length) return value;
  const shown = JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  const message = `ctx.${method}: bad path ${shown}: ${problems.join("; ")}`;
  // why: a refused name is what an escape attempt looks like, so it is in the plugin's log too.
  scope.log("warn", message, { method });
  throw new CapabilityError(message, "invalid_path", "InvalidPath");
}

function encodingOf(method: string, options: unknown): "utf8" | "base64" {
  if (options === undefined || options === null) return "utf8";
  if (typeof options !== "object" || Array.isArray(options)) throw new InvalidArgument(method, "options must be an object like {encoding}");
  const unknown = Object.keys(options).filter((k) => k !== "encoding");
  if (unknown.length) throw new InvalidArgument(method, `unknown option ${JSON.stringify(unknown[0])}; known: encoding`);
  const { encoding } = options as { encoding?: unknown };
  if (encoding === undefined || encoding === null || encoding === "utf8" || encoding === "utf-8") return "utf8";
  if (encoding === "base64") return "base64";
  throw new InvalidArgument(method, `encoding must be "utf8" (the default) or "base64"`);
}
