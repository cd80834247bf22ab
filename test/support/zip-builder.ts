import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import AdmZip from "adm-zip";

// A raw ZIP writer for hostile archives: every header field can be set to a lie, which no
// well-behaved ZIP library allows. Only what the reader under test looks at is modelled.

export interface RawEntry {
  /** A Buffer lets a test write bytes that are not valid UTF-8. */
  name: string | Buffer;
  /** The uncompressed content; the defaults of the fields below are derived from it. */
  content?: Buffer | string;
  /** 0 stored, 8 deflate (default), anything else as given. */
  method?: number;
  /** The exact bytes written as the entry's data (default: content, deflated when method is 8). */
  raw?: Buffer;
  /** Declared uncompressed size (default: content length). */
  size?: number;
  /** Declared compressed size (default: raw length). */
  compressedSize?: number;
  crc?: number;
  /** External attributes; unix mode goes in the high 16 bits. */
  attr?: number;
  flags?: number;
  /** Method written in the local header only (default: method). */
  localMethod?: number;
}

/** Builds a ZIP byte-exactly from `entries`; `declaredCount` overrides the end record's count. */
export function buildZip(entries: RawEntry[], opts: { declaredCount?: number } = {}): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = typeof e.name === "string" ? Buffer.from(e.name, "utf8") : e.name;
    const content = typeof e.content === "string" ? Buffer.from(e.content) : (e.content ?? Buffer.alloc(0));
    const method = e.method ?? 8;
    const raw = e.raw ?? (method === 8 ? zlib.deflateRawSync(content) : content);
    const size = e.size ?? content.length;
    const compressedSize = e.compressedSize ?? raw.length;
    const crc = e.crc ?? zlib.crc32(content);
    const flags = e.flags ?? 0x0800; // UTF-8 names

    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(e.localMethod ?? method, 8);
    local.writeUInt32LE(crc >>> 0, 14);
    local.writeUInt32LE(compressedSize >>> 0, 18);
    local.writeUInt32LE(size >>> 0, 22);
    local.writeUInt16LE(name.length, 26);
    locals.push(local, name, raw);

    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(0x031e, 4); // made by: unix
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(flags, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(crc >>> 0, 16);
    central.writeUInt32LE(compressedSize >>> 0, 20);
    central.writeUInt32LE(size >>> 0, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE((e.attr ?? 0o100644 << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);
    offset += local.length + name.length + raw.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  const count = opts.declaredCount ?? entries.length;
  end.writeUInt16LE(count, 8);
  end.writeUInt16LE(count, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/** Zips a folder with adm-zip, as an author's tool would; `prefix` wraps it in a top folder. */
export function zipDirectory(dir: string, prefix = ""): Buffer {
  const zip = new AdmZip();
  const walk = (rel: string) => {
    for (const name of readdirSync(path.join(dir, rel)).sort()) {
      const relName = rel ? `${rel}/${name}` : name;
      const full = path.join(dir, relName);
      if (statSync(full).isDirectory()) walk(relName);
      else zip.addFile(`${prefix}${relName}`, readFileSync(full));
    }
  };
  walk("");
  return zip.toBuffer();
}
