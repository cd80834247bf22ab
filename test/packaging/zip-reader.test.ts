import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { describe, test } from "node:test";
import { AppError } from "../../src/errors.ts";
import { readPluginZip } from "../../src/packaging/zip-reader.ts";
import { buildZip, zipDirectory, type RawEntry } from "../support/zip-builder.ts";
import { assertProblem, problemsThrown, upload } from "./helpers.ts";

const GOOD = path.resolve(import.meta.dirname, "../fixtures/plugins/good");
const manifest: RawEntry = { name: "plugin.json", content: '{"slug":"x"}' };
const read = (entries: RawEntry[], limits = upload) => () => readPluginZip(buildZip(entries), limits);

describe("readPluginZip: well-formed archives", () => {
  test("reads a folder zipped at the root, file by file", () => {
    const files = readPluginZip(zipDirectory(GOOD), upload);
    assert.deepEqual([...files.keys()].sort(), ["lib/util.js", "main.js", "plugin.json"]);
    assert.match(files.get("main.js")!.toString(), /from "@sbh\/sdk"/);
  });

  test("strips a single top folder that holds plugin.json", () => {
    const files = readPluginZip(zipDirectory(GOOD, "good-1.0.0/"), upload);
    assert.deepEqual([...files.keys()].sort(), ["lib/util.js", "main.js", "plugin.json"]);
  });

  test("skips directory entries and macOS metadata, and reads stored entries", () => {
    const files = readPluginZip(
      buildZip([
        { name: "lib/", content: "", attr: 0o40755 << 16 },
        { name: "__MACOSX/._plugin.json", content: "junk" },
        { name: "plugin.json", content: "{}", method: 0 },
        { name: "lib/a.js", content: "export const a = 1;\n".repeat(50) },
      ]),
      upload,
    );
    assert.deepEqual([...files.keys()], ["plugin.json", "lib/a.js"]);
    assert.equal(files.get("lib/a.js")!.length, 20 * 50);
  });
});

describe("readPluginZip: refused before anything is inflated", () => {
  test("bytes that are not a ZIP", () => {
    const problems = problemsThrown(() => readPluginZip(Buffer.from("definitely not a zip archive"), upload));
    assertProblem(problems, "zip", "not a ZIP archive");
  });

  test("a local header without an end-of-directory record", () => {
    const truncated = buildZip([manifest]).subarray(0, 40);
    assertProblem(problemsThrown(() => readPluginZip(truncated, upload)), "zip", "not a ZIP archive");
  });

  test("more entries than allowed, counted from the end record", () => {
    const entries = [manifest, { name: "a.js", content: "1" }, { name: "b.js", content: "2" }];
    assertProblem(problemsThrown(read(entries, { ...upload, maxEntries: 2 })), "zip", "3 entries; at most 2");
    // The end record claims 60,000 entries: refused without parsing a directory that size.
    const lying = buildZip([manifest], { declaredCount: 60_000 });
    assertProblem(problemsThrown(() => readPluginZip(lying, upload)), "zip", "60000 entries");
  });

  test("every unsafe name in one answer", () => {
    const problems = problemsThrown(
      read([
        manifest,
        { name: "../evil.js", content: "x" },
        { name: "/etc/passwd", content: "x" },
        { name: "C:\\Windows\\x.js", content: "x" },
        { name: "C:/x.js", content: "x" },
        { name: "lib\\a.js", content: "x" },
        { name: "a\0.js", content: "x" },
        { name: "lib//a.js", content: "x" },
        { name: "lib/../../b.js", content: "x" },
      ]),
    );
    assertProblem(problems, "../evil.js", '".." segment');
    assertProblem(problems, "/etc/passwd", "absolute path");
    assertProblem(problems, "C:\\Windows\\x.js", "absolute Windows path");
    assertProblem(problems, "C:/x.js", "absolute Windows path");
    assertProblem(problems, "lib\\a.js", "backslash");
    assertProblem(problems, "a\0.js", "NUL byte");
    assertProblem(problems, "lib//a.js", "empty segment");
    assertProblem(problems, "lib/../../b.js", '".." segment');
  });

  test("a name that is not UTF-8", () => {
    const problems = problemsThrown(read([manifest, { name: Buffer.from([0x61, 0xff, 0x2e, 0x6a, 0x73]), content: "x" }]));
    assertProblem(problems, "a\uFFFD.js", "not valid UTF-8");
  });

  test("a symbolic link entry", () => {
    const problems = problemsThrown(read([manifest, { name: "link.js", content: "/etc/passwd", attr: 0o120777 << 16 }]));
    assertProblem(problems, "link.js", "symbolic links");
  });

  test("the same name twice", () => {
    const problems = problemsThrown(read([manifest, { name: "main.js", content: "a" }, { name: "main.js", content: "b" }]));
    assertProblem(problems, "main.js", "more than once");
  });

  test("an encrypted entry", () => {
    assertProblem(problemsThrown(read([manifest, { name: "main.js", content: "x", flags: 0x0801 }])), "main.js", "encrypted");
  });

  test("a compression method other than store or deflate", () => {
    const problems = problemsThrown(read([manifest, { name: "main.js", content: "x", method: 12 }]));
    assertProblem(problems, "main.js", "compression method 12");
  });

  test("a bomb: a few KiB that declare 10 MiB of zeros", () => {
    const zeros = Buffer.alloc(10 * 1024 * 1024);
    const problems = problemsThrown(read([manifest, { name: "bomb.js", content: zeros }]));
    assertProblem(problems, "bomb.js", "compression ratio");
  });

  test("a declared size above the limit, refused on the header alone", () => {
    // The data is garbage: had it been inflated, the message would be about the data instead.
    const entry = { name: "huge.js", raw: randomBytes(64 * 1024), size: 0xfffffff0, crc: 0 };
    assertProblem(problemsThrown(read([manifest, entry])), "huge.js", "declares 4294967280 bytes");
  });

  test("a total above the limit, even when each entry is below it", () => {
    const small = { ...upload, maxUnpackedBytes: 10_000 };
    const entries = [manifest, { name: "a.js", content: randomBytes(6000) }, { name: "b.js", content: randomBytes(6000) }];
    assertProblem(problemsThrown(read(entries, small)), "zip", "declare 12012 bytes");
  });
});

describe("readPluginZip: headers that lie", () => {
  test("a deflate stream that inflates past its declared size is cut at that size", () => {
    // Declares 1000 bytes (so the ratio check passes) but holds a megabyte of zeros.
    const entry = { name: "liar.js", content: Buffer.alloc(1024 * 1024), size: 1000 };
    assertProblem(problemsThrown(read([manifest, entry])), "liar.js", "more than the 1000 bytes its header declares");
  });

  test("data shorter than declared", () => {
    const entry = { name: "short.js", content: "x".repeat(100), method: 0, size: 200 };
    assertProblem(problemsThrown(read([manifest, entry])), "short.js", "100 bytes but its header declares 200");
  });

  test("a wrong CRC", () => {
    assertProblem(problemsThrown(read([manifest, { name: "main.js", content: "x", crc: 1234 }])), "main.js", "CRC-32");
  });

  test("a local header that names another method than the central directory", () => {
    const entry = { name: "main.js", content: "export {};", localMethod: 0 };
    assertProblem(problemsThrown(read([manifest, entry])), "main.js", "disagree on the compression method");
  });
});

describe("readPluginZip: layout", () => {
  test("plugin.json missing", () => {
    assertProblem(problemsThrown(read([{ name: "main.js", content: "x" }])), "plugin.json", "must be at the root");
  });

  test("plugin.json inside one of two top folders", () => {
    const entries = [{ name: "a/plugin.json", content: "{}" }, { name: "b/main.js", content: "x" }];
    assertProblem(problemsThrown(read(entries)), "plugin.json", "single top folder");
  });

  test("an upload above the raw size limit is 413, not 422", () => {
    const buf = buildZip([manifest, { name: "big.js", content: randomBytes(4096), method: 0 }]);
    assert.throws(
      () => readPluginZip(buf, { ...upload, maxBytes: 2048 }),
      (err) => err instanceof AppError && err.code === "payload_too_large" && err.status === 413,
    );
  });
});
