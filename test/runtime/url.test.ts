import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { sameAsNode, startWebStage, valueOf, type WebStage } from "./web-harness.ts";

// URL and URLSearchParams in a plugin's isolate, through the real platform, against Node's
// WHATWG URL: a table of inputs that parsers get wrong, every setter, the searchParams live
// binding, the form encoding — and a tenant that rewrites URL.prototype, which must not reach
// another tenant.

let stage: WebStage;
before(async () => {
  stage = await startWebStage();
});
after(() => stage.close());

const PARTS = `const parts = (u) => ({ href: u.href, origin: u.origin, protocol: u.protocol, username: u.username, password: u.password,
  host: u.host, hostname: u.hostname, port: u.port, pathname: u.pathname, search: u.search, hash: u.hash,
  params: [...u.searchParams], json: u.toJSON(), string: String(u) });
const attempt = (f) => { try { return f(); } catch (e) { return { threw: e.name, type: e instanceof TypeError }; } };`;

// [input, base?]
const TABLE: [string, string?][] = [
  // relative references against a base
  ["../c/./d?x#y", "https://example.com/a/b/e"], ["?q=1", "https://example.com/p?old#f"], ["#frag", "https://example.com/p?q"],
  ["//other.example/x", "https://example.com/p"], ["/abs", "https://example.com/a/b"], ["", "https://example.com/a?b#c"],
  [".", "https://example.com/a/b/"], ["..", "https://example.com/a/b/"], ["x", "mailto:a@b"], ["x", "file:///C:/dir/file"],
  ["https:x", "https://example.com/a/"], ["http:x", "https://example.com/a/"], ["\\\\server\\x", "https://example.com/"],
  // IPv6 and IPv4
  ["http://[::1]:8080/"], ["http://[2001:DB8:0:0:0:0:0:1]/"], ["http://[::ffff:192.168.0.1]/"], ["http://[1:2:3:4:5:6:7:8:9]/"], ["http://[::1/"],
  ["http://[fe80::1%25eth0]/"], ["http://0x7f.1/"], ["http://2130706433/"], ["http://192.168.0.257/"], ["http://1.2.3.4.5/"], ["http://0300.0250.0.1/"],
  // IDN, punycode and host rules
  ["https://bücher.example/"], ["https://xn--bcher-kva.example/"], ["https://EXAMPLE.com./"], ["http://☃.net/"], ["https://ＥＸＡＭＰＬＥ．com/"],
  ["https://a b/"], ["https://a%20b/"], ["https://ex%61mple.com/"], ["https://xn--/"], ["http://a.b.c.xn--pokxncvks/"], ["https://faß.de/"],
  // percent-encoding
  ["https://a/ü?ü#ü"], ["https://a/%zz%2"], ["https://a/ a\"<>`{}|^"], ["https://a/?q='\"<> "], ["non-special://a/?q='"], ["https://a/\t\nb\r"],
  ["  https://a/  "], ["https://a/\ud800x"], ["https://user:pa ss@host/"], ["https://@host/"], ["https://:@host/"], ["https://u:p@h:1/"],
  // special and non-special schemes
  ["HTTP://Example.COM:80/"], ["https://a:443/"], ["ws://a:80/"], ["wss://a:443/x"], ["ftp://a:21/"], ["http://a:8080/"], ["http://a:99999/"], ["http://a:b/"],
  ["file:///C:/x/../y"], ["file://host/share/x"], ["file:c:\\x"], ["file://localhost/etc"], ["https:\\\\a\\b\\c"], ["http://a/b/../../../c"],
  ["mailto:x@y.example?subject=hi"], ["data:text/plain,hello world"], ["javascript:alert(1)"], ["web+demo:/.//not-a-host/"], ["sc://ñ/x"],
  ["sc://a b/"], ["blob:https://a.example/uuid"], ["blob:null/x"], ["urn:isbn:0451450523"], ["a:\t foo.com"],
  // not URLs
  [""], ["http://"], ["//x"], ["noscheme"], ["https://"], ["http://a:-1/"], ["http://[::1]x/"], ["https://a/", "not a base"], ["http://%41.com"], ["http://a\u0000b/"],
];

describe("new URL()", () => {
  test("a table of tricky inputs parses as Node's WHATWG URL does; failures are TypeErrors", async () => {
    const results = valueOf(
      await sameAsNode(
        stage,
        `${PARTS}
         return ${JSON.stringify(TABLE)}.map(([input, base]) => attempt(() => parts(base === undefined ? new URL(input) : new URL(input, base))));`,
        "the URL table",
      ),
    );
    const failures = results.filter((r: { threw?: string }) => r.threw);
    assert.ok(failures.length >= 10, "the table has invalid inputs");
    for (const f of failures) assert.deepEqual(f, { threw: "TypeError", type: true });
  });

  test("URL.canParse agrees with the constructor; URL.parse answers null instead of throwing", async () => {
    await sameAsNode(stage, `return ${JSON.stringify(TABLE)}.map(([input, base]) => URL.canParse(input, base));`);
    const got = valueOf(
      await stage.inIsolate(`return {
        good: URL.parse("/x?y", "https://a.example/b").href,
        bad: URL.parse("nope"),
        instance: URL.parse("https://a.example/") instanceof URL,
        none: (() => { try { URL.parse(); } catch (e) { return e.name; } })(),
      };`),
    );
    assert.deepEqual(got, { good: "https://a.example/x?y", bad: null, instance: true, none: "TypeError" });
  });

  test("arguments are converted as WebIDL says: objects by toString, lone surrogates to U+FFFD", async () => {
    await sameAsNode(
      stage,
      `${PARTS}
       return [
         parts(new URL({ toString: () => "https://a.example/x" })),
         parts(new URL("y", new URL("https://b.example/dir/"))),
         new URL("https://a/\\udc00").pathname,
         attempt(() => new URL()),
         attempt(() => new URL(Symbol("x"))),
       ];`,
    );
  });

  test("URLs over 2 MiB are refused, as Chromium refuses them; shorter long ones parse", async () => {
    const got = valueOf(
      await stage.inIsolate(`
        const attempt = (f) => { try { return f(); } catch (e) { return e.name; } };
        const long = new URL("https://a.example/" + "x".repeat(1024 * 1024));
        return { long: long.pathname.length, over: attempt(() => new URL("https://a.example/" + "x".repeat(2 * 1024 * 1024))), canParse: URL.canParse("https://a/" + "y".repeat(3 * 1024 * 1024)) };`),
    );
    assert.deepEqual(got, { long: 1024 * 1024 + 1, over: "TypeError", canParse: false });
  });
});

describe("setters", () => {
  const SETS: [string, string, string][] = [
    ["https://a.example/p?q#h", "protocol", "http"], ["https://a.example/", "protocol", "mailto"], ["mailto:x@y", "protocol", "https"],
    ["https://a.example/", "protocol", "ftp:"], ["http://a.example:8080/", "protocol", "https"], ["https://a.example/", "protocol", "h t"],
    ["https://a.example/", "username", "ü s:er"], ["https://a.example/", "password", "p@ss"], ["file:///x", "username", "u"],
    ["https://a.example/", "host", "b.example:81"], ["https://a.example/", "host", "[::1]:443"], ["https://a.example/", "host", ""],
    ["https://a.example:81/", "hostname", "c.example:99"], ["https://a.example/", "hostname", "bü.example"], ["https://a.example/", "hostname", "a b"],
    ["https://a.example/", "port", "8443"], ["https://a.example/", "port", "443"], ["https://a.example:1/", "port", ""], ["https://a.example/", "port", "12ab"],
    ["https://a.example/", "port", "99999"], ["file:///x", "port", "1"], ["https://a.example/", "pathname", "x y/ü?#"], ["mailto:x", "pathname", "y"],
    ["https://a.example/", "pathname", "\\\\a\\b"], ["https://a.example/?q", "search", "a=b c&d=é"], ["https://a.example/?q", "search", "?"], ["https://a.example/?q", "search", ""],
    ["https://a.example/#h", "hash", "x y"], ["https://a.example/#h", "hash", ""], ["https://a.example/#h", "hash", "#"], ["data:text/plain,x ", "hash", ""],
    ["https://a.example/", "href", "https://b.example/z"], ["https://a.example/", "href", "not a url"],
  ];

  test("every setter on a table of URLs behaves as Node's (an invalid href is a TypeError, others are ignored)", async () => {
    await sameAsNode(
      stage,
      `${PARTS}
       return ${JSON.stringify(SETS)}.map(([href, name, value]) => {
         const u = new URL(href);
         const r = attempt(() => { u[name] = value; });
         return { r: r ?? null, after: parts(u) };
       });`,
      "the setter table",
    );
  });
});

describe("URLSearchParams", () => {
  test("searchParams is live both ways: edits rewrite the URL's query, and query changes reach the params", async () => {
    await sameAsNode(
      stage,
      `const u = new URL("https://a.example/p?b=2&a=1#h");
       const p = u.searchParams;
       const steps = [];
       const log = () => steps.push([u.href, u.search, p.toString(), p.size]);
       p.append("c", "x y&z=é😀"); log();
       p.set("b", "3"); log();
       p.sort(); log();
       p.delete("a"); log();
       u.search = "?k=v&k=w"; log();
       steps.push(p.getAll("k"), p.get("k"), p.has("k", "w"), p.has("k", "nope"), p === u.searchParams);
       p.delete("k", "v"); log();
       u.href = "https://b.example/?n=1"; log();
       p.delete("n"); log();
       u.hash = "#again"; log();
       const opaque = new URL("data:text/plain,a ?x");
       opaque.searchParams.delete("x"); steps.push(opaque.href);
       return steps;`,
    );
  });

  test("constructor inits — string, pairs, record, another params — and bad pairs", async () => {
    for (const init of [
      `"?a=1&b=2&a=3"`, `"a=b=c&&=x&+%20=%zz&%e2%82%ac=%F0%9F%98%80&%FF=%C3"`, `"a"`, `"&&&"`, `[["a", "1"], ["b", "2"], ["a", "3"]]`,
      `{ z: "1", a: "2", [Symbol("s")]: "no" }`, `new URLSearchParams("x=1&y=2")`, `new Map([["m", "1"]])`, `[["only"]]`, `[["a", "b", "c"]]`, `[1]`,
      `{ "\\ud800": "\\udc00" }`, `undefined`, `""`, `Object.create({ inherited: "x" }, { own: { value: "y", enumerable: true } })`,
    ]) {
      await sameAsNode(
        stage,
        `const p = new URLSearchParams(${init}); return { entries: [...p], string: p.toString(), size: p.size, keys: [...p.keys()], values: [...p.values()] };`,
        `new URLSearchParams(${init})`,
      );
    }
  });

  test("the form serializer encodes as application/x-www-form-urlencoded says", async () => {
    await sameAsNode(
      stage,
      `let all = "";
       for (let c = 0; c < 0x250; c++) all += String.fromCharCode(c);
       const p = new URLSearchParams();
       p.append(all, "😀 \\ud800 ~!'()*-._");
       p.append("", "");
       const round = new URLSearchParams(p.toString());
       return { s: p.toString(), back: [...round].map(([k, v]) => [h.units(k), h.units(v)]) };`,
    );
  });

  test("iterators are live and forEach sees every pair", async () => {
    await sameAsNode(
      stage,
      `const p = new URLSearchParams("a=1&b=2");
       const it = p.entries();
       const seen = [it.next().value];
       p.append("c", "3");
       seen.push(it.next().value, it.next().value, it.next().done);
       const each = [];
       p.forEach((v, k, self) => each.push([k, v, self === p]));
       return { seen, each, tag: Object.prototype.toString.call(p.keys()), iter: p[Symbol.iterator] === p.entries };`,
    );
  });
});

describe("what plugin code can reach", () => {
  test("prototype walks from URL objects reach only the isolate's own functions", async () => {
    const got = valueOf(
      await stage.inIsolate(`
        const u = new URL("https://a.example/?x=1");
        const fromHref = Object.getOwnPropertyDescriptor(URL.prototype, "href").get.constructor("return this")();
        const fromParams = u.searchParams.constructor.constructor("return this")();
        const fromIterator = Object.getPrototypeOf(u.searchParams.keys()).next.constructor("return typeof $2 + typeof process")();
        const fromEncoder = new TextEncoder().encode.constructor.constructor("return this")();
        return [fromHref === globalThis, fromParams === globalThis, fromIterator, fromEncoder === globalThis, URL.prototype.constructor === URL, Object.getPrototypeOf(URL.prototype) === Object.prototype];`),
    );
    assert.deepEqual(got, [true, true, "undefinedundefined", true, true, true]);
  });

  test("a tenant that rewrites URL.prototype changes only its own isolate; another tenant's URLs are untouched", async () => {
    const attacker = await stage.newTenant();
    const other = await stage.newTenant();
    const tamper = valueOf(
      await stage.inIsolate(`
        Object.defineProperty(URL.prototype, "href", { get() { return "https://evil.example/"; } });
        URL.prototype.toString = () => "tampered";
        URLSearchParams.prototype.get = () => "tampered";
        TextEncoder.prototype.encode = () => new Uint8Array([1]);
        Uint8Array.prototype.set = () => { throw new Error("tampered"); };
        Array.prototype.push = () => { throw new Error("tampered"); };
        String.prototype.toWellFormed = () => "tampered";
        const u = new URL("https://a.example/?q=1");
        // Its own URL objects still parse and keep their components (the host still parses them).
        return { href: u.href, host: u.host, string: String(u), q: u.searchParams.get("q"), search: new URL("?z=2", "https://b.example/").search };`,
        attacker,
      ),
    );
    assert.deepEqual(tamper, { href: "https://evil.example/", host: "a.example", string: "tampered", q: "tampered", search: "?z=2" });
    const clean = valueOf(
      await stage.inIsolate(
        `const u = new URL("https://a.example/?q=1"); return { href: u.href, string: String(u), q: u.searchParams.get("q"), bytes: Array.from(new TextEncoder().encode("hi")) };`,
        other,
      ),
    );
    assert.deepEqual(clean, { href: "https://a.example/?q=1", string: "https://a.example/?q=1", q: "1", bytes: [104, 105] });
  });
});
