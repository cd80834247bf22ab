import zlib from "node:zlib";
import AdmZip from "adm-zip";
import type { Config } from "../config.ts";
import { AppError } from "../errors.ts";
import { pathProblems } from "./package-path.ts";
import type { Problem } from "./problem.ts";

// adm-zip parses the central directory for us but has no caps and trusts every header, so
// all limits are checked on the declared values first, and the inflating is done here with
// an output cap equal to the declared size: a header that lies cannot make us inflate more.

type Limits = Config["upload"];
type Entry = AdmZip.IZipEntry;

const STORED = 0;
const DEFLATED = 8;
const ENCRYPTED_FLAGS = 0x0001 | 0x0040; // traditional and strong encryption
const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const LOCAL_HEADER_SIG = 0x04034b50;
// Below this size a high ratio is harmless (a 4 KiB file of spaces) and common in real code.
const RATIO_FLOOR_BYTES = 8 * 1024;
// macOS Finder adds AppleDouble files here; they are metadata, never plugin content.
const MACOS_METADATA = /^__MACOSX\//;

/** Reads a plugin ZIP in memory with every safety limit; returns file name → content. */
export function readPluginZip(buf: Buffer, limits: Limits): Map<string, Buffer> {
  if (buf.length > limits.maxBytes) {
    throw new AppError("payload_too_large", `The upload is larger than ${limits.maxBytes} bytes`);
  }
  const entries = listEntries(buf, limits);
  const files = entries.filter((e) => !e.isDirectory && !MACOS_METADATA.test(e.entryName));
  const prefix = rootPrefix(files.map((e) => e.entryName));
  const out = new Map<string, Buffer>();
  const problems: Problem[] = [];
  let total = 0;
  for (const entry of files) {
    const result = inflate(buf, entry);
    if (typeof result === "string") {
      problems.push({ path: entry.entryName, message: result });
      continue;
    }
    total += result.length;
    if (total > limits.maxUnpackedBytes) {
      fail([{ path: "zip", message: `the files unpack to more than ${limits.maxUnpackedBytes} bytes` }]);
    }
    out.set(entry.entryName.slice(prefix.length), result);
  }
  if (problems.length) fail(problems);
  return out;
}

// Reads the central directory and refuses anything unsafe before a single byte is inflated.
function listEntries(buf: Buffer, limits: Limits): Entry[] {
  const sig = buf.length >= 4 ? buf.readUInt32LE(0) : 0;
  if (sig !== LOCAL_HEADER_SIG && sig !== 0x06054b50) fail([{ path: "zip", message: notZip() }]);
  let zip: AdmZip;
  let entries: Entry[];
  try {
    zip = new AdmZip(buf, { noSort: true, readEntries: false });
    // The count comes from the end-of-directory record, before any entry is parsed.
    const count = zip.getEntryCount();
    if (count > limits.maxEntries) {
      fail([{ path: "zip", message: `the archive has ${count} entries; at most ${limits.maxEntries} are allowed` }]);
    }
    entries = zip.getEntries();
  } catch (err) {
    if (err instanceof AppError) throw err;
    fail([{ path: "zip", message: `${notZip()} (${(err as Error).message})` }]);
  }
  if (entries.length === 0) fail([{ path: "zip", message: "the archive is empty" }]);

  const problems: Problem[] = [];
  const seen = new Set<string>();
  let declaredTotal = 0;
  for (const entry of entries) {
    const name = entry.entryName;
    const h = entry.header;
    const report = (message: string) => problems.push({ path: name, message });
    if (!entry.rawEntryName.equals(Buffer.from(name, "utf8"))) report("the name is not valid UTF-8");
    for (const reason of pathProblems(name)) report(reason);
    if (seen.has(name)) report("the name appears more than once in the archive");
    seen.add(name);
    if (((h.attr >>> 16) & S_IFMT) === S_IFLNK) report("symbolic links are not allowed");
    if (h.flags & ENCRYPTED_FLAGS) report("encrypted entries are not allowed");
    if (entry.isDirectory) continue;
    if (h.method !== STORED && h.method !== DEFLATED) {
      report(`compression method ${h.method} is not supported; use deflate or store`);
    }
    if (h.size > limits.maxUnpackedBytes) {
      report(`the entry declares ${h.size} bytes unpacked; at most ${limits.maxUnpackedBytes} are allowed`);
    }
    if (h.size > RATIO_FLOOR_BYTES && h.size / Math.max(h.compressedSize, 1) > limits.maxRatio) {
      const ratio = Math.round(h.size / Math.max(h.compressedSize, 1));
      report(`compression ratio ${ratio}:1 is above the limit of ${limits.maxRatio}:1 (zip bomb?)`);
    }
    declaredTotal += h.size;
  }
  if (declaredTotal > limits.maxUnpackedBytes) {
    problems.push({
      path: "zip",
      message: `the entries declare ${declaredTotal} bytes unpacked; at most ${limits.maxUnpackedBytes} are allowed`,
    });
  }
  if (problems.length) fail(problems);
  return entries;
}

// plugin.json sits at the root, or every file sits in one top folder that holds it
// (what zipping a folder produces); that folder is then dropped from every name.
function rootPrefix(names: string[]): string {
  if (names.includes("plugin.json")) return "";
  const tops = new Set(names.map((n) => (n.includes("/") ? n.slice(0, n.indexOf("/") + 1) : "")));
  const [top] = tops;
  if (tops.size === 1 && top && names.includes(`${top}plugin.json`)) return top;
  fail([{ path: "plugin.json", message: "plugin.json must be at the root of the ZIP or inside a single top folder" }]);
}

// Inflates one entry from its raw bytes; returns the content or why it was refused.
function inflate(buf: Buffer, entry: Entry): Buffer | string {
  const h = entry.header;
  let raw: Buffer;
  let localFlags: number;
  let localMethod: number;
  try {
    raw = entry.getCompressedData();
    // Some tools read local headers, not the central directory: both must tell the same story.
    localFlags = buf.readUInt16LE(h.offset + 6);
    localMethod = buf.readUInt16LE(h.offset + 8);
  } catch (err) {
    return `the local header is unreadable (${(err as Error).message})`;
  }
  if (localFlags & ENCRYPTED_FLAGS) return "encrypted entries are not allowed";
  if (localMethod !== h.method) return "the local header and the central directory disagree on the compression method";
  if (raw.length !== h.compressedSize) return "the entry's data is truncated";

  let data: Buffer;
  if (h.method === STORED) {
    data = raw;
  } else {
    try {
      data = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(h.size, 1) });
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE"
        ? `the data inflates to more than the ${h.size} bytes its header declares`
        : `the data cannot be inflated (${(err as Error).message})`;
    }
  }
  if (data.length !== h.size) return `the data is ${data.length} bytes but its header declares ${h.size}`;
  if (zlib.crc32(data) >>> 0 !== h.crc >>> 0) return "the CRC-32 checksum does not match; the archive is corrupt";
  return data;
}

function notZip(): string {
  return "the upload is not a ZIP archive";
}

function fail(problems: Problem[]): never {
  throw new AppError("invalid_plugin", "The plugin ZIP is unsafe or malformed", problems);
}
