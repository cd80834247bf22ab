import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { inNode, sameAsNode, startWebStage, valueOf, type WebStage } from "./web-harness.ts";

// atob/btoa and TextEncoder/TextDecoder in a plugin's isolate, through the real platform,
// against Node's implementations of the same standards: every byte value, astral text, lone
// surrogates, every one- and two-byte sequence and thousands of random malformed ones.

let stage: WebStage;
before(async () => {
  stage = await startWebStage();
});
after(() => stage.close());

/** Deterministic bytes, weighted towards the ones UTF-8 decoders get wrong. */
function fuzzCases(count: number, seed: number): number[][] {
  let x = seed;
  const next = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 8) & 0xff;
  const interesting = [0x00, 0x7f, 0x80, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0x9f, 0xa0, 0x8f, 0x90];
  const out: number[][] = [];
  for (let i = 0; i < count; i++) {
    const len = 1 + (next() % 9);
    const bytes: number[] = [];
    for (let j = 0; j < len; j++) bytes.push(next() % 3 === 0 ? interesting[next() % interesting.length] : 0x80 + (next() & 0x7f));
    out.push(bytes);
  }
  return out;
}

describe("btoa and atob", () => {
  test("btoa of every byte value, alone and all together, is Node's; atob gives each back", async () => {
    await sameAsNode(
      stage,
      `const singles = [];
       for (let i = 0; i < 256; i++) singles.push(btoa(String.fromCharCode(i)));
       let all = "";
       for (let i = 0; i < 256; i++) all += String.fromCharCode(i);
       const pairs = [];
       for (let i = 0; i < 256; i += 7) for (let j = 0; j < 256; j += 5) pairs.push(btoa(String.fromCharCode(i, j)));
       const back = singles.map((s) => atob(s).charCodeAt(0));
       return { singles, all: btoa(all), pairs, back, allBack: atob(btoa(all)) === all };`,
    );
  });

  test("atob is forgiving as HTML says: whitespace, missing padding; and strict where it must be", async () => {
    const inputs = [
      "", "YQ", "YQ=", "YQ==", "YQ===", "YWI", "YWI=", "YWJj", " Y W J j ", "\tYW\nJj\f\r", "YWJj=", "Y", "=", "==", "YQ==YQ==",
      "YW=J", "Y=Q=", "YQ*=", "-_-_", "YWJj\u00a0", "\u0100", "YWJjZA", "YWJjZA=", "YWJjZA==", "YWJjZA===", "AAAA", "////", "++++", "ab\u0000c",
    ];
    for (const input of inputs) {
      await sameAsNode(stage, `return h.units(atob(${JSON.stringify(input)}));`, `atob(${JSON.stringify(input)})`);
    }
  });

  test("btoa refuses a character above U+00FF with InvalidCharacterError; both convert their argument to a string", async () => {
    for (const call of [`btoa("ā")`, `btoa("😀")`, `btoa(12345)`, `btoa(null)`, `atob(undefined)`, `atob(null)`, `btoa()`, `atob({ toString() { return "YQ==" } })`]) {
      await sameAsNode(stage, `return ${call};`, call);
    }
    const err = await stage.inIsolate(`return btoa("é€");`);
    assert.deepEqual([err.error?.name, err.error?.code, err.error?.isDOMException], ["InvalidCharacterError", 5, true]);
  });
});

describe("TextEncoder", () => {
  const STRINGS = ["", "abc", "é", "€", "😀", "𝄞𠜎", "a\u0000b", "\ud800", "\udc00", "a\ud800b", "\udc00\ud800", "\ud83d\ude00\ud83d", "ünïcødé 😀 𝄞 — \u{10FFFF}\uFFFF\uFEFF"];

  test("encode is Node's on astral text and lone surrogates (U+FFFD)", async () => {
    await sameAsNode(
      stage,
      `const strings = ${JSON.stringify(STRINGS)};
       const enc = new TextEncoder();
       return { encoding: enc.encoding, out: strings.map((s) => Array.from(enc.encode(s))), empty: enc.encode().length, number: Array.from(enc.encode(42)) };`,
    );
  });

  test("encodeInto writes whole characters only, into every room size, and says what it read and wrote", async () => {
    await sameAsNode(
      stage,
      `const strings = ${JSON.stringify(STRINGS)};
       const enc = new TextEncoder();
       const out = [];
       for (const s of strings) for (let room = 0; room <= 12; room++) {
         const dest = new Uint8Array(room + 2).fill(0xaa);
         const r = enc.encodeInto(s, dest.subarray(1, room + 1));
         out.push([r.read, r.written, Array.from(dest)]);
       }
       return out;`,
    );
  });

  test("encodeInto wants a Uint8Array", async () => {
    for (const call of [`new TextEncoder().encodeInto("a", new Uint16Array(4))`, `new TextEncoder().encodeInto("a", [0, 0])`, `new TextEncoder().encodeInto("a")`]) {
      await sameAsNode(stage, `return ${call};`, call);
    }
  });
});

describe("TextDecoder", () => {
  test("every one- and two-byte sequence decodes as Node decodes it, replacing and fatal", async () => {
    const source = `
      const dec = new TextDecoder();
      const fatal = new TextDecoder("utf-8", { fatal: true });
      const out = [];
      const bytes = new Uint8Array(2);
      for (let a = 0; a < 256; a++) {
        out.push(dec.decode(new Uint8Array([a])));
        for (let b = 0; b < 256; b++) {
          bytes[0] = a; bytes[1] = b;
          let f;
          try { f = fatal.decode(bytes).length; } catch (e) { f = e.name; }
          out.push(dec.decode(bytes), f);
        }
      }
      return JSON.stringify(out);`;
    const [mine, node] = await Promise.all([stage.inIsolate(source), inNode(source)]);
    const a = JSON.parse(valueOf(mine)) as unknown[];
    const b = JSON.parse(valueOf(node)) as unknown[];
    assert.equal(a.length, b.length);
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) assert.fail(`entry ${i}: ${JSON.stringify(a[i])} in the isolate, ${JSON.stringify(b[i])} in Node`);
  });

  test("random malformed sequences up to nine bytes decode as Node's, whole and streamed in pieces", async () => {
    const cases = fuzzCases(3000, 7);
    await sameAsNode(
      stage,
      `const cases = ${JSON.stringify(cases)};
       const out = [];
       for (const c of cases) {
         const bytes = new Uint8Array(c);
         const whole = new TextDecoder().decode(bytes);
         // The same bytes fed one at a time, then in two pieces, to one streaming decoder.
         const s = new TextDecoder();
         let oneByOne = "";
         for (let i = 0; i < bytes.length; i++) oneByOne += s.decode(bytes.subarray(i, i + 1), { stream: true });
         oneByOne += s.decode();
         const cut = bytes.length >> 1;
         const halves = s.decode(bytes.subarray(0, cut), { stream: true }) + s.decode(bytes.subarray(cut));
         let fatal;
         try { fatal = h.units(new TextDecoder("utf8", { fatal: true }).decode(bytes)); } catch (e) { fatal = e.name; }
         out.push(h.units(whole), oneByOne === whole, halves === whole, fatal);
       }
       return out;`,
      "3000 random sequences",
    );
  });

  test("the BOM: dropped once at the start (also split across chunks), kept with ignoreBOM", async () => {
    await sameAsNode(
      stage,
      `const bom = [0xef, 0xbb, 0xbf];
       const cases = [[...bom], [...bom, 0x61], [...bom, ...bom, 0x61], [0x61, ...bom], [0xef, 0xbb], [0xef, 0xbb, 0x61]];
       const out = [];
       for (const c of cases) for (const ignoreBOM of [false, true]) {
         const d = new TextDecoder("utf-8", { ignoreBOM });
         out.push(h.units(d.decode(new Uint8Array(c))));
         const parts = [d.decode(new Uint8Array([0xef]), { stream: true }), d.decode(new Uint8Array([0xbb]), { stream: true }), d.decode(new Uint8Array([0xbf, 0x62]), { stream: true }), d.decode(new Uint8Array([0xef, 0xbb, 0xbf]))];
         out.push(parts.map(h.units));
         // A new decode without stream starts afresh: the BOM is dropped again.
         out.push(h.units(d.decode(new Uint8Array(c))));
         out.push(d.ignoreBOM, d.fatal, d.encoding);
       }
       return out;`,
    );
  });

  test("astral text round-trips through TextEncoder and any BufferSource", async () => {
    await sameAsNode(
      stage,
      `const s = "😀 𝄞 𠜎 ünïcødé".repeat(500);
       const bytes = new TextEncoder().encode(s);
       const dec = new TextDecoder();
       const shared = new Uint8Array(new SharedArrayBuffer(bytes.length));
       shared.set(bytes);
       return [
         dec.decode(bytes) === s,
         dec.decode(bytes.buffer) === s,
         dec.decode(new DataView(bytes.buffer)) === s,
         dec.decode(shared) === s,
         h.units(dec.decode(new Uint16Array([0x6261, 0x6463]))),
         dec.decode().length,
         dec.decode(undefined).length,
       ];`,
    );
  });

  test("labels: UTF-8's names in any case and with whitespace; other encodings and bad arguments are refused", async () => {
    await sameAsNode(
      stage,
      `return ["utf-8", "UTF8", " utf-8\\n", "unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8", "x-unicode20utf8"].map((l) => new TextDecoder(l).encoding);`,
    );
    for (const call of [`new TextDecoder("nope")`, `new TextDecoder("utf-8", 5)`, `new TextDecoder().decode("text")`, `new TextDecoder().decode([1, 2])`]) {
      await sameAsNode(stage, `return ${call};`, call);
    }
    // A dictionary argument that is not an object is WebIDL's TypeError (Node ignores it).
    const options = await stage.inIsolate(`return new TextDecoder().decode(new Uint8Array(1), 3);`);
    assert.equal(options.error?.name, "TypeError");
    // Node (with ICU) also has the legacy encodings; here only UTF-8 is offered.
    const legacy = await stage.inIsolate(`return new TextDecoder("latin1");`);
    assert.equal(legacy.error?.name, "RangeError");
  });

  test("a large input decodes whole and in time", async () => {
    const got = valueOf(
      await stage.inIsolate(`
        const bytes = new Uint8Array(8 * 1024 * 1024);
        for (let i = 0; i < bytes.length; i++) bytes[i] = 0x61 + (i % 26);
        bytes.set([0xf0, 0x9f, 0x98, 0x80], 1000);
        const t = Date.now();
        const s = new TextDecoder().decode(bytes);
        const back = new TextEncoder().encode(s);
        return { length: s.length, same: back.length === bytes.length && back[1003] === 0x80, ms: Date.now() - t };`),
    );
    assert.equal(got.length, 8 * 1024 * 1024 - 2);
    assert.equal(got.same, true);
    assert.ok(got.ms < 3000, `8 MiB took ${got.ms} ms`);
  });
});
