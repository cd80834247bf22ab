import { FileCountExceededError, filePathProblems, filePrefixProblems, QuotaExceededError, type StoredFile } from "../files/file-store.ts";
import type { CallScope } from "./call-scope.ts";
import { CapabilityError, InvalidArgument } from "./capability-error.ts";
import { MIB, QuotaExceeded, quotasOf } from "./quotas.ts";

// ctx.files: the tenant's file storage, the same files the host's /api/files serves. Paths are
// logical names checked by the store's one rule set (they never become disk paths); writes
// record the install and count against its resources.max_disk_mb and max_files. Plugin writes raise no
// files.uploaded / files.deleted events: a plugin that reacts to uploads by writing a file
// (a thumbnail, an export) would otherwise trigger itself.

/** Largest file ctx.files reads or writes (the JSON crossing the isolate boundary holds it whole). */
export const MAX_FILE_BYTES = 10 * 1024 * 1024;

type Encoding = "utf8" | "base64";

export interface FileEntry {
  path: string;
  size: number;
  content_type: string;
  updated_at: string;
}

/** ctx.files.list(prefix = ""): the tenant's files under `prefix`, sorted by path, at most 1000. */
export async function filesList(scope: CallScope, args: unknown[]): Promise<FileEntry[]> {
  const method = "files.list";
  arity(method, args, 1);
  const prefix = args[0] ?? "";
  if (typeof prefix !== "string") throw new InvalidArgument(method, "prefix must be a string (\"\" lists every file)");
  refuseBadPath(scope, method, prefix, filePrefixProblems(prefix));
  const files = await scope.deps.files.list(scope.tenantId, prefix);
  return files.map(entry);
}

/**
 * ctx.files.read(path, {encoding}): `{path, content_type, size, content}` or null when there is
 * no such file. Content is UTF-8 text by default, base64 with `{encoding: "base64"}`.
 */
export async function filesRead(scope: CallScope, args: unknown[]): Promise<{ path: string; content_type: string; size: number; content: string } | null> {
  const method = "files.read";
  arity(method, args, 2);
  const filePath = pathArg(scope, method, args[0]);
  const { encoding } = options(method, args[1], ["encoding"]);
  const enc = encodingOf(method, encoding);
  const file = await scope.deps.files.findByPath(scope.tenantId, filePath);
  if (!file) return null;
  if (file.size > MAX_FILE_BYTES) throw tooLarge(method, filePath, file.size);
  const bytes = await scope.deps.files.contentOf(scope.tenantId, file);
  if (!bytes) return null;
  return { path: file.path, content_type: file.content_type, size: bytes.length, content: encodeContent(method, filePath, bytes, enc) };
}

/**
 * ctx.files.upload(path, content, {content_type, encoding}): creates or replaces the file.
 * `content` is a string: UTF-8 text, or base64 with `{encoding: "base64"}`. The default
 * content type is "text/plain; charset=utf-8" for text and "application/octet-stream" for base64.
 */
export async function filesUpload(scope: CallScope, args: unknown[]): Promise<FileEntry & { created: boolean }> {
  const method = "files.upload";
  arity(method, args, 3);
  const filePath = pathArg(scope, method, args[0]);
  const opts = options(method, args[2], ["content_type", "encoding"]);
  const enc = encodingOf(method, opts.encoding);
  const bytes = decodeContent(method, filePath, args[1], enc);
  const contentType = contentTypeOf(method, opts.content_type, enc);
  const quotas = quotasOf(scope.manifest.resources, scope.deps.limits);
  try {
    const { file, created } = await scope.deps.files.put(scope.tenantId, filePath, bytes, contentType, {
      installId: scope.installId,
      quotaBytes: quotas.fileBytes,
      quotaFiles: quotas.files,
    });
    return { ...entry(file), created };
  } catch (err) {
    if (err instanceof QuotaExceededError) throw quotaExceeded(scope, filePath, bytes.length, err);
    if (err instanceof FileCountExceededError) throw fileCountExceeded(scope, filePath, err);
    throw err;
  }
}

/** ctx.files.delete(path): true when a file was deleted, false when there was none. */
export async function filesDelete(scope: CallScope, args: unknown[]): Promise<boolean> {
  const method = "files.delete";
  arity(method, args, 1);
  const filePath = pathArg(scope, method, args[0]);
  return (await scope.deps.files.deleteByPath(scope.tenantId, filePath)) !== null;
}

// --- arguments ---------------------------------------------------------------------------

function arity(method: string, args: unknown[], max: number): void {
  if (args.length > max) throw new InvalidArgument(method, `takes at most ${max} argument${max === 1 ? "" : "s"}, got ${args.length}`);
}

function pathArg(scope: CallScope, method: string, value: unknown): string {
  if (typeof value !== "string") throw new InvalidArgument(method, `path must be a string like "reports/2024.csv", got ${kindOf(value)}`);
  refuseBadPath(scope, method, value, filePathProblems(value));
  return value;
}

// why: a refused path is what an escape attempt looks like, so the author (and an admin reading
// the plugin's log) sees it, not only the caller.
function refuseBadPath(scope: CallScope, method: string, value: string, problems: string[]): void {
  if (!problems.length) return;
  const shown = JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  const message = `ctx.${method}: bad path ${shown}: ${problems.join("; ")}`;
  scope.log("warn", message, { method });
  throw new CapabilityError(message, "invalid_path", "InvalidPath");
}

/** A plain options object (or nothing); unknown keys are refused so a typo is not silently ignored. */
function options(method: string, value: unknown, known: string[]): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) throw new InvalidArgument(method, `options must be an object like {${known.join(", ")}}, got ${kindOf(value)}`);
  const unknown = Object.keys(value).filter((k) => !known.includes(k));
  if (unknown.length) throw new InvalidArgument(method, `unknown option${unknown.length > 1 ? "s" : ""} ${unknown.map((k) => JSON.stringify(k)).join(", ")}; known: ${known.join(", ")}`);
  return value as Record<string, unknown>;
}

function encodingOf(method: string, value: unknown): Encoding {
  if (value === undefined || value === null || value === "utf8" || value === "utf-8") return "utf8";
  if (value === "base64") return "base64";
  throw new InvalidArgument(method, `encoding must be "utf8" (the default) or "base64", got ${shown(value)}`);
}

// type/subtype with optional parameters (RFC 9110 tokens); nothing that could split a header.
const TOKEN = "[A-Za-z0-9!#$%&'*+.^_`|~-]+";
const CONTENT_TYPE = new RegExp(`^${TOKEN}/${TOKEN}(\\s*;\\s*${TOKEN}=(${TOKEN}|"[^"\\\\\\x00-\\x1f\\x7f]*"))*$`);

function contentTypeOf(method: string, value: unknown, enc: Encoding): string {
  if (value === undefined || value === null) return enc === "utf8" ? "text/plain; charset=utf-8" : "application/octet-stream";
  if (typeof value !== "string" || value.length > 200 || !CONTENT_TYPE.test(value)) {
    throw new InvalidArgument(method, `content_type must be a media type like "text/csv" or "text/plain; charset=utf-8" (at most 200 characters), got ${shown(value)}`);
  }
  return value;
}

function decodeContent(method: string, filePath: string, value: unknown, enc: Encoding): Buffer {
  if (typeof value !== "string") throw new InvalidArgument(method, `content must be a string (UTF-8 text, or base64 with {encoding: "base64"}), got ${kindOf(value)}`);
  // why: sizes are worked out from the string before any buffer is allocated for it.
  const size = enc === "utf8" ? Buffer.byteLength(value, "utf8") : base64Size(method, value);
  if (size > MAX_FILE_BYTES) throw tooLarge(method, filePath, size);
  return Buffer.from(value, enc);
}

// why: Buffer.from(s, "base64") skips whatever is not base64, so a mangled string would be stored as other bytes.
function base64Size(method: string, value: string): number {
  if (value.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) {
    throw new InvalidArgument(method, "content is not valid base64 (A-Z a-z 0-9 + /, padded with = to a multiple of 4 characters, no spaces or line breaks)");
  }
  const padding = value.endsWith("==") ? 2 : value.endsWith("=") ? 1 : 0;
  return (value.length / 4) * 3 - padding;
}

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function encodeContent(method: string, filePath: string, bytes: Buffer, enc: Encoding): string {
  if (enc === "base64") return bytes.toString("base64");
  try {
    return UTF8.decode(bytes);
  } catch {
    // why: replacing bad bytes with U+FFFD would hand the plugin silently corrupted data.
    throw new CapabilityError(`ctx.${method}: ${JSON.stringify(filePath)} is not UTF-8 text; read it with {encoding: "base64"}`, "not_text", "EncodingError");
  }
}

// --- errors and views --------------------------------------------------------------------

function tooLarge(method: string, filePath: string, size: number): CapabilityError {
  return new CapabilityError(`ctx.${method}: ${JSON.stringify(filePath)} is ${size} bytes; ctx.files handles files of at most ${MAX_FILE_BYTES} bytes (10 MiB)`, "file_too_large", "FileTooLarge");
}

function quotaExceeded(scope: CallScope, filePath: string, size: number, err: QuotaExceededError): QuotaExceeded {
  const message =
    `ctx.files.upload refused: writing ${JSON.stringify(filePath)} (${size} bytes) would bring this plugin's files to ${mib(err.wouldUseBytes)} MiB, ` +
    `over its max_disk_mb of ${mib(err.limitBytes, 0)} MiB (${err.usedBytes} of ${err.limitBytes} bytes used); delete files or raise resources.max_disk_mb`;
  scope.log("warn", message, { path: filePath, size, quota: "max_disk_mb", used_bytes: err.usedBytes, limit_bytes: err.limitBytes });
  return new QuotaExceeded(message, "max_disk_mb", err.usedBytes, err.limitBytes);
}

function fileCountExceeded(scope: CallScope, filePath: string, err: FileCountExceededError): QuotaExceeded {
  const message =
    `ctx.files.upload refused: quota max_files exceeded: this plugin has written ${err.usedFiles} files and its limit is ${err.limitFiles}, ` +
    `so ${JSON.stringify(filePath)} cannot be added; delete files, replace an existing one, or raise resources.max_files`;
  scope.log("warn", message, { path: filePath, quota: "max_files", used: err.usedFiles, limit: err.limitFiles });
  return new QuotaExceeded(message, "max_files", err.usedFiles, err.limitFiles);
}

function mib(bytes: number, digits = 2): string {
  return (bytes / MIB).toFixed(digits);
}

function entry(f: StoredFile): FileEntry {
  return { path: f.path, size: f.size, content_type: f.content_type, updated_at: f.updated_at };
}

function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "nothing";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

/** A short rendering of a value the plugin passed, for messages. */
function shown(value: unknown): string {
  if (typeof value !== "string") return kindOf(value);
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}
