import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { IsolatePool } from "../../src/sandbox/child/isolate-pool.ts";
import { RUNTIME_SOURCE, WEB_FAMILIES } from "../../src/sandbox/child/isolate-sources.ts";
import type { CallMessage, CallOutcome, LogLine } from "../../src/sandbox/protocol.ts";
import { eventually } from "../support/eventually.ts";
import { sameAsNode, SLUG, startWebStage, valueOf, type WebStage } from "./web-harness.ts";

// The smaller Web globals in a plugin's isolate, through the real platform, against Node's:
// structuredClone, queueMicrotask, AbortController/AbortSignal, Event/EventTarget, Headers,
// Blob, performance and DOMException; the shape of the globals; and the host primitives behind
// them, called by plugin code that holds them outright.

let stage: WebStage;
before(async () => {
  stage = await startWebStage();
});
after(() => stage.close());

const ALL_GLOBALS = WEB_FAMILIES.flatMap((f) => f.globals);

describe("the globals", () => {
  test("every one is there, shaped as WebIDL defines globals (writable, configurable, not enumerable)", async () => {
    const got = valueOf(
      await stage.inIsolate(`
        const names = ${JSON.stringify(ALL_GLOBALS)};
        const out = {};
        for (const n of names) {
          const type = typeof globalThis[n];
          const d = Object.getOwnPropertyDescriptor(globalThis, n);
          out[n] = [type, "value" in d, d.writable, d.configurable, d.enumerable];
        }
        return { out, listed: names.every((n) => Object.getOwnPropertyNames(globalThis).includes(n)), keys: Object.keys(globalThis).filter((k) => names.includes(k)) };`),
    );
    for (const name of ALL_GLOBALS) {
      const type = name === "crypto" || name === "performance" ? "object" : "function";
      assert.deepEqual(got.out[name], [type, true, true, true, false], name);
    }
    assert.equal(got.listed, true);
    assert.deepEqual(got.keys, []);
  });

  test("a global the plugin replaces or deletes before first use stays as the plugin left it", async () => {
    const other = await stage.newTenant();
    const got = valueOf(
      await stage.inIsolate(
        `TextEncoder = "mine"; delete globalThis.URLSearchParams;
         const u = new URL("https://a.example/?x=1");
         return { encoder: TextEncoder, decoder: typeof TextDecoder, params: typeof URLSearchParams, own: "URLSearchParams" in globalThis, x: u.searchParams.get("x") };`,
        other,
      ),
    );
    // new URL installs the url family and the encoding family it needs; neither puts back what the plugin changed.
    assert.deepEqual(got, { encoder: "mine", decoder: "function", params: "undefined", own: false, x: "1" });
  });

  test("families set up after the plugin tampered with Object.prototype, Array.prototype and globals still work", async () => {
    const other = await stage.newTenant();
    const got = valueOf(
      await stage.inIsolate(
        `Object.defineProperty(Object.prototype, "get", { value: () => "tampered", configurable: true, writable: true });
         Object.prototype.value = "tampered";
         Object.prototype.set = () => {};
         Array.prototype[Symbol.iterator] = function* () { yield "tampered"; };
         Array.prototype.push = () => { throw new Error("tampered push"); };
         globalThis.Symbol = function () { throw new Error("tampered Symbol"); };
         globalThis.Error = function () { throw new Error("tampered Error"); };
         Uint8Array.prototype.slice = () => { throw new Error("tampered slice"); };
         String.prototype.indexOf = () => -1;
         const u = new URL("https://a.example/p?x=1&y=2");
         u.searchParams.append("z", "3");
         const hd = new Headers({ A: "1" });
         const digest = new Uint8Array(await crypto.subtle.digest("SHA-1", new TextEncoder().encode("abc")));
         const m = new Map(); m.set(1, 2);
         const clone = structuredClone({ e: new RangeError("r"), m });
         return { href: u.href, z: u.searchParams.get("z"), a: hd.get("a"), digest: digest.length, clone: [clone.e instanceof RangeError, clone.m.get(1)], b64: atob(btoa("ok")) };`,
        other,
      ),
    );
    assert.deepEqual(got, { href: "https://a.example/p?x=1&y=2&z=3", z: "3", a: "1", digest: 20, clone: [true, 2], b64: "ok" });
  });

  test("interfaces carry their names: Symbol.toStringTag, and illegal constructors throw TypeError", async () => {
    await sameAsNode(
      stage,
      `const tag = (v) => Object.prototype.toString.call(v);
       const attempt = (f) => { try { f(); return "constructed"; } catch (e) { return e.name; } };
       return [
         tag(new URL("https://a/")), tag(new URLSearchParams()), tag(new TextEncoder()), tag(new TextDecoder()), tag(new Headers()),
         tag(new Blob()), tag(new AbortController()), tag(new AbortController().signal), tag(new Event("x")), tag(new EventTarget()),
         tag(crypto), tag(crypto.subtle), tag(performance), tag(new DOMException()), tag(new CustomEvent("c")),
         attempt(() => new AbortSignal()), attempt(() => new Performance()), attempt(() => URL("https://a/")),
         typeof URL.prototype.toJSON, Object.keys(URL.prototype).includes("href"),
       ];`,
    );
  });

  test("prototype walks from every Web global reach nothing but the isolate's own objects", async () => {
    const got = valueOf(
      await stage.inIsolate(`
        const roots = ${JSON.stringify(ALL_GLOBALS)}.map((n) => globalThis[n]);
        roots.push(new URL("https://a/?b=c").searchParams.entries(), new Headers().keys(), new AbortController(), new Blob(["x"]), new TextDecoder());
        const seen = new Set();
        const queue = [...roots];
        const hostLike = [];
        while (queue.length) {
          const v = queue.shift();
          if ((typeof v !== "object" && typeof v !== "function") || v === null || seen.has(v)) continue;
          seen.add(v);
          for (const name of ["applySync", "applySyncPromise", "derefInto", "copySync", "copyInto"]) if (name in v) hostLike.push(name);
          if (typeof v === "function" && v !== Function && v.constructor !== Function && v.constructor !== (async () => {}).constructor) hostLike.push("foreign function " + v.name);
          queue.push(Object.getPrototypeOf(v));
          for (const k of Reflect.ownKeys(v)) {
            const d = Object.getOwnPropertyDescriptor(v, k);
            queue.push(d.value, d.get, d.set);
          }
        }
        return { objects: seen.size, hostLike, global: URL.constructor("return this")() === globalThis };`),
    );
    assert.ok(got.objects > 200, `${got.objects} objects walked`);
    assert.deepEqual(got.hostLike, []);
    assert.equal(got.global, true);
  });
});

describe("structuredClone", () => {
  const DESCRIBE = `
    function describe(v, seen = new Map(), path = "$") {
      if (typeof v === "bigint") return { bigint: String(v) };
      if (typeof v === "number") return Object.is(v, -0) ? { number: "-0" } : Number.isNaN(v) ? { number: "NaN" } : v;
      if (v === undefined) return { undefined: true };
      if (typeof v !== "object" || v === null) return v;
      if (seen.has(v)) return { ref: seen.get(v) };
      seen.set(v, path);
      const tag = Object.prototype.toString.call(v);
      const proto = Object.getPrototypeOf(v);
      const base = { tag, proto: proto === null ? null : proto.constructor && proto.constructor.name };
      if (v instanceof Date) return { ...base, time: v.getTime() };
      if (v instanceof RegExp) return { ...base, source: v.source, flags: v.flags, lastIndex: v.lastIndex };
      if (v instanceof Map) return { ...base, entries: [...v].map(([k, x], i) => [describe(k, seen, path + ".k" + i), describe(x, seen, path + ".v" + i)]) };
      if (v instanceof Set) return { ...base, values: [...v].map((x, i) => describe(x, seen, path + ".s" + i)) };
      if (v instanceof ArrayBuffer) return { ...base, bytes: [...new Uint8Array(v)] };
      if (ArrayBuffer.isView(v)) return { ...base, offset: v.byteOffset, length: v.byteLength, buffer: describe(v.buffer, seen, path + ".buffer") };
      if (v instanceof Error) return { ...base, name: v.name, message: v.message, ownMessage: Object.hasOwn(v, "message"), stack: typeof v.stack };
      if (tag === "[object Boolean]" || tag === "[object Number]" || tag === "[object String]" || tag === "[object BigInt]") return { ...base, value: String(v.valueOf()) };
      const own = {};
      for (const k of Object.keys(v)) own[k] = describe(v[k], seen, path + "." + k);
      return { ...base, isArray: Array.isArray(v), length: Array.isArray(v) ? v.length : undefined, holes: Array.isArray(v) ? Array.from(v.keys()).filter((i) => !(i in v)).length : 0, own };
    }`;

  test("copies what HTML says it copies, as Node does: cycles, shared references, Maps, Sets, buffers, views, errors, wrappers", async () => {
    await sameAsNode(
      stage,
      `${DESCRIBE}
       const shared = { s: 1 };
       const buf = new ArrayBuffer(8);
       new Uint8Array(buf).set([1, 2, 3, 4, 5, 6, 7, 8]);
       const arr = [1, , 3];
       arr.extra = "x";
       const re = /a+b/giu; re.lastIndex = 3;
       class Point { constructor() { this.x = 1; } get y() { return 2; } }
       const withGetter = { get g() { return "got"; } };
       Object.defineProperty(withGetter, "hidden", { value: 1, enumerable: false });
       withGetter[Symbol("s")] = 1;
       const custom = new TypeError("bad"); custom.extra = 1;
       const named = new Error("n"); named.name = "MyError";
       const value = {
         a: [shared, shared], cyc: null, date: new Date(86400000), re, map: new Map([[shared, "v"], ["k", shared]]), set: new Set([1, "1", shared]),
         buf, u8: new Uint8Array(buf, 2, 4), u16: new Uint16Array(buf, 4, 2), dv: new DataView(buf, 1, 3), f64: new Float64Array([1.5, -0, NaN]),
         big: 10n ** 30n, bigObj: Object(5n), bool: new Boolean(false), num: new Number(-0), str: new String("s"), arr, point: new Point(), withGetter,
         errors: [custom, named, new RangeError("r"), new SyntaxError()], nums: [-0, NaN, Infinity], undef: undefined, nul: null,
       };
       value.cyc = value;
       const copy = structuredClone(value);
       return { copy: describe(copy), distinct: copy !== value && copy.a[0] !== shared, selfRef: copy.cyc === copy, sameShared: copy.a[0] === copy.a[1] && copy.map.get("k") === copy.a[0] };`,
    );
  });

  test("what HTML refuses is a DataCloneError, as in Node", async () => {
    for (const v of ["() => 1", "Symbol('s')", "{ f() {} }", "new WeakMap()", "new WeakSet()", "Promise.resolve(1)", "[1, function g() {}]", "new WeakRef({})", "Object(Symbol('o'))"]) {
      await sameAsNode(stage, `return structuredClone(${v});`, `structuredClone(${v})`);
    }
    await sameAsNode(stage, `return structuredClone();`, "structuredClone()");
  });

  test("platform objects: Blob, DOMException and CryptoKey copy; URL, Headers, events and the rest refuse; transfer lists are refused", async () => {
    const got = valueOf(
      await stage.inIsolate(`
        const attempt = (f) => { try { return f(); } catch (e) { return e.name; } };
        const blob = structuredClone(new Blob(["héllo"], { type: "text/plain" }));
        const ex = structuredClone(new DOMException("m", "NotFoundError"));
        const key = structuredClone(await crypto.subtle.importKey("raw", new Uint8Array([1, 2]), { name: "HMAC", hash: "SHA-256" }, true, ["sign"]));
        const sig = h.hex(await crypto.subtle.sign("HMAC", key, new Uint8Array(1)));
        return {
          blob: [blob instanceof Blob, blob.type, await blob.text()],
          ex: [ex instanceof DOMException, ex.name, ex.message, ex.code],
          key: [key instanceof CryptoKey, key.algorithm.hash.name, sig],
          refused: [new URL("https://a/"), new URLSearchParams(), new Headers(), new Event("x"), new EventTarget(), new AbortController(), AbortSignal.abort(), new TextEncoder(), new TextDecoder(), crypto, crypto.subtle, performance].map((v) => attempt(() => structuredClone(v))),
          transfer: attempt(() => structuredClone(new ArrayBuffer(1), { transfer: [new ArrayBuffer(1)] })),
          emptyTransfer: attempt(() => structuredClone(1, { transfer: [] })),
        };`),
    );
    assert.deepEqual(got.blob, [true, "text/plain", "héllo"]);
    assert.deepEqual(got.ex, [true, "NotFoundError", "m", 8]);
    assert.deepEqual(got.key, [true, "SHA-256", createHmac("sha256", Buffer.from([1, 2])).update(Buffer.from([0])).digest("hex")]);
    assert.deepEqual(got.refused, Array(12).fill("DataCloneError"));
    assert.equal(got.transfer, "DataCloneError");
    assert.equal(got.emptyTransfer, 1);
  });
});

describe("queueMicrotask", () => {
  test("runs callbacks as microtasks, in order with promise reactions, as Node does", async () => {
    await sameAsNode(
      stage,
      `const order = [];
       queueMicrotask(() => order.push("m1"));
       Promise.resolve().then(() => order.push("p1"));
       queueMicrotask(() => { order.push("m2"); queueMicrotask(() => order.push("m3")); });
       order.push("sync");
       await null; await null; await null;
       const attempt = (f) => { try { f(); return "ok"; } catch (e) { return e.name; } };
       return { order, notFn: attempt(() => queueMicrotask("x")), none: attempt(() => queueMicrotask()) };`,
    );
  });

  test("a throwing callback is reported to the plugin's log and the call still answers", async () => {
    const marker = `boom-${Date.now()}`;
    const got = valueOf(await stage.inIsolate(`queueMicrotask(() => { throw new Error(${JSON.stringify(marker)}); }); await null; await null; return "answered";`));
    assert.equal(got, "answered");
    await eventually("the uncaught microtask error in the plugin's log", async () => {
      const res = await stage.tenant.request("GET", `/api/plugins/${SLUG}/logs?level=error`);
      const body = (await res.json()) as { logs: { message: string; level: string }[] };
      return body.logs.some((l) => l.message.startsWith(`Uncaught Error: ${marker}`) && l.level === "error");
    });
  });
});

describe("AbortController and AbortSignal", () => {
  test("abort fires one trusted abort event after the algorithms, with the reason; as in Node", async () => {
    await sameAsNode(
      stage,
      `const log = [];
       const c = new AbortController();
       const s = c.signal;
       s.addEventListener("abort", (e) => log.push(["listener", e.type, e.isTrusted, e.target === s, s.aborted, s.reason.name]));
       s.onabort = (e) => log.push(["onabort", e.type]);
       log.push(["before", s.aborted, s.reason]);
       c.abort();
       c.abort("again");
       log.push(["after", s.reason instanceof DOMException, s.reason.name, s.reason.code, s.reason.message]);
       try { s.throwIfAborted(); } catch (e) { log.push(["threw", e === s.reason]); }
       const custom = new AbortController();
       custom.abort({ why: "mine" });
       log.push(["custom", custom.signal.reason]);
       const pre = AbortSignal.abort(42);
       log.push(["static", pre.aborted, pre.reason, AbortSignal.abort().reason.name]);
       const a = new AbortController(), b = new AbortController();
       const any = AbortSignal.any([a.signal, b.signal]);
       const anyOfAny = AbortSignal.any([any]);
       any.addEventListener("abort", () => log.push(["any", any.reason]));
       b.abort("b");
       a.abort("a");
       log.push(["anyOfAny", anyOfAny.reason, AbortSignal.any([pre]).reason, AbortSignal.any([]).aborted]);
       const removed = new AbortController();
       const target = new EventTarget();
       target.addEventListener("ping", () => log.push(["ping"]), { signal: removed.signal });
       target.dispatchEvent(new Event("ping"));
       removed.abort();
       target.dispatchEvent(new Event("ping"));
       target.addEventListener("ping", () => log.push(["never"]), { signal: removed.signal });
       target.dispatchEvent(new Event("ping"));
       return log;`,
    );
  });
});

describe("Event and EventTarget", () => {
  test("dispatch order, once, handleEvent, stopImmediatePropagation, cancelation and passive listeners, as in Node", async () => {
    await sameAsNode(
      stage,
      `const log = [];
       const t = new EventTarget();
       const obj = { handleEvent(e) { log.push(["object", this === obj]); } };
       t.addEventListener("x", (e) => log.push(["first", e.currentTarget === t, e.target === t, this === undefined]));
       t.addEventListener("x", obj);
       t.addEventListener("x", obj);
       t.addEventListener("x", () => log.push(["once"]), { once: true });
       t.addEventListener("x", (e) => { log.push(["cancel", e.cancelable]); e.preventDefault(); });
       t.addEventListener("x", (e) => { e.preventDefault(); log.push(["passive", e.defaultPrevented]); }, { passive: true });
       const e1 = new Event("x", { cancelable: true, bubbles: true });
       log.push(["result", t.dispatchEvent(e1), e1.defaultPrevented, e1.eventPhase, e1.currentTarget, e1.target === t, e1.isTrusted, e1.composedPath().length]);
       log.push(["again", t.dispatchEvent(new Event("x"))]);
       const t2 = new EventTarget();
       const second = () => log.push(["second"]);
       t2.addEventListener("y", (e) => { log.push(["first"]); e.stopImmediatePropagation(); });
       t2.addEventListener("y", second);
       t2.dispatchEvent(new Event("y"));
       const t3 = new EventTarget();
       const late = () => log.push(["late"]);
       t3.addEventListener("z", () => { log.push(["remover"]); t3.removeEventListener("z", late); t3.addEventListener("z", () => log.push(["added during"])); });
       t3.addEventListener("z", late);
       t3.dispatchEvent(new Event("z"));
       const ce = new CustomEvent("c", { detail: { d: 1 } });
       log.push(["custom", ce.detail, new CustomEvent("c").detail, ce instanceof Event]);
       const attempt = (f) => { try { f(); return "ok"; } catch (e) { return e.name; } };
       log.push(["errors", attempt(() => new Event()), attempt(() => t.dispatchEvent({ type: "x" })), attempt(() => t.addEventListener("x", 5)), attempt(() => t.addEventListener("x", null))]);
       log.push(["constants", Event.NONE, Event.CAPTURING_PHASE, Event.AT_TARGET, Event.BUBBLING_PHASE]);
       return log;`,
    );
  });

  test("at the target, capturing listeners run before the others (DOM Standard; Node's EventTarget has no capture order)", async () => {
    const got = valueOf(
      await stage.inIsolate(`
        const t = new EventTarget(); const log = [];
        t.addEventListener("x", (e) => log.push(["bubble", e.eventPhase]));
        t.addEventListener("x", (e) => log.push(["capture", e.eventPhase]), true);
        t.addEventListener("x", (e) => { log.push(["capture-stop", e.eventPhase]); e.stopPropagation(); }, { capture: true });
        t.addEventListener("x", () => log.push(["capture-after-stop"]), { capture: true });
        const e = new Event("x");
        t.dispatchEvent(e);
        t.removeEventListener("x", () => {}, true);
        return [log, e.eventPhase, e.cancelBubble];`),
    );
    assert.deepEqual(got, [[["capture", 2], ["capture-stop", 2], ["capture-after-stop"]], 0, false]);
  });

  test("what the DOM Standard says where Node 20 differs: re-dispatch, constants on instances, dependent signals", async () => {
    const got = valueOf(
      await stage.inIsolate(`
        const nested = new Event("n"); const t = new EventTarget(); const log = [];
        t.addEventListener("n", () => { try { t.dispatchEvent(nested); } catch (e) { log.push([e.name, e.code, e instanceof DOMException]); } });
        t.dispatchEvent(nested);
        const a = new AbortController();
        const any = AbortSignal.any([a.signal]);
        const anyOfAny = AbortSignal.any([any]);
        // Every dependent is aborted before the first abort event runs.
        any.addEventListener("abort", () => log.push(["dependent aborted", anyOfAny.aborted, anyOfAny.reason]));
        a.abort("why");
        log.push(new Event("q").AT_TARGET, new Event("q").BUBBLING_PHASE);
        return log;`),
    );
    assert.deepEqual(got, [["InvalidStateError", 11, true], ["dependent aborted", true, "why"], 2, 3]);
  });

  test("a listener that throws is reported to the plugin's log; dispatch goes on to the next listener", async () => {
    const marker = `listener-${Date.now()}`;
    const got = valueOf(
      await stage.inIsolate(`
        const t = new EventTarget(); const log = [];
        t.addEventListener("x", () => { throw new TypeError(${JSON.stringify(marker)}); });
        t.addEventListener("x", () => log.push("next"));
        return [t.dispatchEvent(new Event("x")), log];`),
    );
    assert.deepEqual(got, [true, ["next"]]);
    await eventually("the listener's error in the plugin's log", async () => {
      const res = await stage.tenant.request("GET", `/api/plugins/${SLUG}/logs?level=error`);
      const body = (await res.json()) as { logs: { message: string }[] };
      return body.logs.some((l) => l.message.startsWith(`Uncaught TypeError: ${marker}`));
    });
  });
});

describe("Headers", () => {
  test("case-insensitive names, combined values, Set-Cookie kept apart, sorted iteration: as Node's Headers", async () => {
    await sameAsNode(
      stage,
      `const hd = new Headers({ "Content-Type": " text/plain\\t", "X-B": "1" });
       hd.append("x-b", "2");
       hd.append("X-A", "a");
       hd.append("Set-Cookie", "a=1");
       hd.append("set-cookie", "b=2");
       const out = { entries: [...hd], get: [hd.get("x-b"), hd.get("CONTENT-type"), hd.get("set-cookie"), hd.get("missing")], cookies: hd.getSetCookie(), has: [hd.has("X-A"), hd.has("nope")] };
       hd.set("X-B", "3"); hd.delete("x-a");
       out.after = [...hd];
       const each = []; hd.forEach((v, k, self) => each.push([k, v, self === hd])); out.each = each;
       out.keys = [...hd.keys()]; out.values = [...hd.values()];
       out.fromPairs = [...new Headers([["b", "2"], ["a", "1"], ["A", "0"]])];
       out.fromHeaders = [...new Headers(hd)];
       out.empty = [...new Headers()];
       const it = hd.entries(); const first = it.next().value; hd.append("aaa", "first"); out.live = [first, it.next().value];
       return out;`,
    );
  });

  test("invalid names and values are TypeErrors; values lose surrounding whitespace; as in Node", async () => {
    for (const call of [
      `new Headers({ "bad name": "x" })`, `new Headers({ "x": "a\\nb" })`, `new Headers({ "x": "a\\rb" })`, `new Headers({ "x": "a\\u0000b" })`,
      `new Headers({ "é": "x" })`, `new Headers({ "x": "\\u0100" })`, `new Headers([["a"]])`, `new Headers([["a", "b", "c"]])`, `new Headers(5)`,
      `new Headers({ [Symbol("s")]: "x" })`, `new Headers().append("x")`, `new Headers().get("bad name")`,
    ]) {
      await sameAsNode(stage, `return [...${call}];`, call);
    }
    await sameAsNode(stage, `const hd = new Headers(); hd.append("x", " \\t v a l \\r\\n "); hd.append("y", "é"); return [hd.get("x"), hd.get("y"), hd.get("Y")];`);
  });
});

describe("Blob", () => {
  test("size, type, text, arrayBuffer and slice over mixed parts, as Node's Blob", async () => {
    await sameAsNode(
      stage,
      `const bytes = new Uint8Array([0xf0, 0x9f, 0x98, 0x80, 0xff]);
       const inner = new Blob(["inner"]);
       const b = new Blob(["héllo ", "😀", "\\ud800", bytes, bytes.subarray(1, 3), bytes.buffer, new DataView(bytes.buffer, 4), inner, 42], { type: "Text/Plain;Charset=UTF-8" });
       const out = { size: b.size, type: b.type, text: h.units(await b.text()), bytes: h.hex(await b.arrayBuffer()) };
       out.slices = [];
       for (const [s, e] of [[0, 5], [-3, undefined], [2, -1], [undefined, undefined], [100, 200], [5, 2], [-1000, 3]]) {
         const part = b.slice(s, e, "application/X-Thing");
         out.slices.push([part.size, part.type, h.hex(await part.arrayBuffer())]);
       }
       out.types = ["", "a/b", "A/B", "é/x", "a\\u0001b"].map((type) => new Blob([], { type }).type);
       out.native = h.hex(await new Blob(["a\\r\\nb\\n"], { endings: "native" }).arrayBuffer());
       out.transparent = h.hex(await new Blob(["a\\r\\nb"], { endings: "transparent" }).arrayBuffer());
       out.empty = [new Blob().size, new Blob().type, await new Blob().text()];
       out.bom = h.units(await new Blob([new Uint8Array([0xef, 0xbb, 0xbf, 0x61])]).text());
       return out;`,
    );
    // A lone CR is a line ending too (File API); Node 20 keeps it.
    assert.equal(valueOf(await stage.inIsolate(`return h.hex(await new Blob(["a\\rb"], { endings: "native" }).arrayBuffer());`)), "610a62");
    for (const call of [`new Blob("not a sequence")`, `new Blob([], { endings: "bogus" })`, `new Blob([], 5)`]) {
      await sameAsNode(stage, `return ${call}.size;`, call);
    }
  });
});

describe("performance and DOMException", () => {
  test("performance.now() never goes back, counts from the isolate's start, in whole milliseconds", async () => {
    const got = valueOf(
      await stage.inIsolate(`
        const samples = [];
        const end = Date.now() + 30;
        while (Date.now() < end) samples.push(performance.now());
        return { monotonic: samples.every((v, i) => i === 0 || v >= samples[i - 1]), whole: samples.every(Number.isInteger), first: samples[0], last: samples.at(-1),
          origin: performance.timeOrigin, now: Date.now(), json: performance.toJSON() };`),
    );
    assert.equal(got.monotonic, true);
    assert.equal(got.whole, true);
    assert.ok(got.last - got.first >= 20, "the clock advanced");
    assert.ok(got.origin <= got.now && got.origin > got.now - 600_000, "timeOrigin is when the isolate booted");
    assert.deepEqual(got.json, { timeOrigin: got.origin });
  });

  test("DOMException: names, legacy codes, constants and its place among Errors, as in Node", async () => {
    await sameAsNode(
      stage,
      `const names = ["IndexSizeError", "HierarchyRequestError", "InvalidCharacterError", "NotFoundError", "NotSupportedError", "InvalidStateError", "SyntaxError",
         "InvalidAccessError", "TypeMismatchError", "SecurityError", "NetworkError", "AbortError", "QuotaExceededError", "TimeoutError", "DataCloneError",
         "EncodingError", "DataError", "OperationError", "NotAllowedError", "Whatever"];
       const out = names.map((n) => { const e = new DOMException("msg", n); return [e.name, e.message, e.code, e instanceof Error, e instanceof DOMException, typeof e.stack, Object.keys(e).length]; });
       const d = new DOMException();
       out.push([d.name, d.message, d.code, String(d), Object.prototype.toString.call(d)]);
       out.push([DOMException.ABORT_ERR, DOMException.prototype.DATA_CLONE_ERR, DOMException.INDEX_SIZE_ERR, DOMException.length]);
       out.push([new DOMException(undefined, undefined).name, new DOMException(null, null).message, Object.getPrototypeOf(DOMException.prototype) === Error.prototype]);
       return out;`,
    );
  });
});

describe("the host primitives, called by plugin code that holds them", () => {
  // The worst case: the runtime hands its third closure argument (the web primitives) to
  // plugin code, which calls it with any values and transfer options it likes.
  const COMPROMISED = RUNTIME_SOURCE.replace('"use strict";', '"use strict";\nglobalThis.__web = $2;');
  const logged: LogLine[] = [];
  const pool = new IsolatePool({
    idleMs: 60_000,
    maxIsolates: 4,
    runtimeSource: COMPROMISED,
    onCatastrophe: () => undefined,
    relay: async () => JSON.stringify({ ok: true, value: null }),
    sink: (_token, line) => logged.push(line),
  });
  after(() => pool.evict(""));
  let seq = 0;
  const call = (source: string): Promise<CallOutcome> => {
    const versionId = `hostile-${++seq}`;
    pool.rememberCode({ versionId, entry: "main.js", files: { "main.js": `import { route } from "@sbh/sdk";\nroute("/", async () => { ${source} });` } });
    const msg: CallMessage = {
      t: "call", id: seq, token: `token-${seq}-0123456789abcdef`, key: "hostile", versionId, memoryMb: 64, timeoutMs: 5000, kind: "route", name: "0",
      argsJson: JSON.stringify([{ method: "GET", path: "/", params: {}, query: {}, headers: {}, body: null }]),
      infoJson: JSON.stringify({ tenantId: "t", userId: null, plugin: { slug: "s", version: "1.0.0", installId: "i" }, config: {} }),
    };
    return pool.run(msg);
  };
  const answer = (o: CallOutcome) => {
    assert.equal(o.status, "ok", JSON.stringify(o));
    const body = JSON.parse((o as { json: string }).json) as { ok: boolean; value: unknown; error?: unknown };
    assert.equal(body.ok, true, JSON.stringify(body.error));
    return body.value as any;
  };

  test("wrong types, sizes and operations are refused with null, never an error carrying host details", async () => {
    const got = answer(
      await call(`
        const copy = { arguments: { copy: true }, result: { copy: true } };
        const sync = (...args) => { try { return __web.applySync(undefined, args, copy); } catch (e) { return "threw: " + e.message; } };
        const shared = new Uint8Array(new SharedArrayBuffer(4));
        return {
          random: [sync("crypto.random", 70000), sync("crypto.random", -1), sync("crypto.random", 1.5), sync("crypto.random", "8"), sync("crypto.random", NaN), sync("crypto.random", 2 ** 53)],
          ops: [sync("nope"), sync(42), sync({ op: "crypto.random" }), sync("__proto__"), sync("constructor")],
          url: [sync("url.parse", 42), sync("url.parse", { href: "https://a/" }), sync("url.parse", "https://a/", 5), sync("url.parse", "x".repeat(3 * 1024 * 1024)), sync("url.parse", "not a url")],
          set: [sync("url.set", "https://a/", "__proto__", "x"), sync("url.set", "https://a/", "href", "https://b/"), sync("url.set", "https://a/", "constructor", "x"), sync("url.set", "nope", "host", "b"), sync("url.set", "https://a/", "host", 7)],
          teq: [sync("crypto.timingSafeEqual", "ab", "ab"), sync("crypto.timingSafeEqual", new Uint8Array(2), new Uint8Array(3)), sync("crypto.timingSafeEqual", shared, shared), sync("crypto.timingSafeEqual", [1], [1])],
          asyncAsSync: typeof sync("crypto.digest", "SHA-256", new Uint8Array(1)),
        };`),
    );
    assert.deepEqual(got.random, [null, null, null, null, null, null]);
    assert.deepEqual(got.ops, [null, null, null, null, null]);
    assert.deepEqual(got.url, [null, null, null, null, null]);
    assert.deepEqual(got.set, [null, null, null, null, null]);
    assert.deepEqual(got.teq, [null, null, null, null]);
    assert.equal(got.asyncAsSync, "string", "a promise cannot be copied back: isolated-vm says so, in the isolate");
  });

  test("asynchronous primitives refuse bad hashes, keys and data; references in and out reach nothing", async () => {
    const got = answer(
      await call(`
        const opts = { arguments: { copy: true }, result: { promise: true, copy: true } };
        const run = async (...args) => { try { return await __web.apply(undefined, args, opts); } catch (e) { return "threw: " + e.message; } };
        const shared = new Uint8Array(new SharedArrayBuffer(4));
        const refs = await __web.apply(undefined, ["crypto.digest", "SHA-256", new Uint8Array(1)], { arguments: { reference: true }, result: { promise: true, copy: true } }).catch((e) => "threw");
        const out = __web.applySync(undefined, ["url.parse", "https://a/"], { arguments: { copy: true }, result: { reference: true } });
        let deref;
        try { deref = typeof out.deref(); } catch (e) { deref = "refused"; }
        return {
          digest: [await run("crypto.digest", "MD5", new Uint8Array(1)), await run("crypto.digest", "SHA-256", "text"), await run("crypto.digest", "SHA-256", shared), await run("crypto.digest", "SHA-256", [1, 2])],
          sign: [await run("crypto.hmacSign", "SHA-256", new Uint8Array(0), new Uint8Array(1)), await run("crypto.hmacSign", "SHA-256", "key", new Uint8Array(1)), await run("crypto.hmacSign", "SHA-999", new Uint8Array(1), new Uint8Array(1))],
          verify: [await run("crypto.hmacVerify", "SHA-256", new Uint8Array(1), "sig", new Uint8Array(1)), await run("crypto.hmacVerify", "SHA-256", new Uint8Array(1), new Uint8Array(32), new Uint8Array(1))],
          ok: (await run("crypto.digest", "SHA-1", new Uint8Array(0))).byteLength,
          refs,
          resultRef: { typeof: out.typeof, constructor: String(out.getSync("constructor")), map: String(out.getSync("map")), deref },
        };`),
    );
    assert.deepEqual(got.digest, [null, null, null, null]);
    assert.deepEqual(got.sign, [null, null, null]);
    assert.deepEqual(got.verify, [null, false]);
    assert.equal(got.ok, 20);
    assert.equal(got.refs, null, "References passed in are not bytes");
    assert.deepEqual(got.resultRef, { typeof: "object", constructor: "undefined", map: "undefined", deref: "refused" }, "a Reference to a host answer holds only its own data");
  });

  test("after every hostile call the sandbox process still serves", async () => {
    const got = answer(await call(`return { url: new URL("/x", "https://a.example/").href, rnd: crypto.getRandomValues(new Uint8Array(4)).length };`));
    assert.deepEqual(got, { url: "https://a.example/x", rnd: 4 });
    assert.equal(logged.filter((l) => /\/work\/|node_modules|\.ts\b/.test(l.message)).length, 0, "no host path in any log line");
  });
});
