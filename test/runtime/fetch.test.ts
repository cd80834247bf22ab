import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import AdmZip from "adm-zip";
import { fixtureZip, startTestApp, type TestApp, type TestTenant } from "../support/test-app.ts";

// The global fetch on the real platform: plugin code sent over HTTP to the web-timers fixture
// (outbound_http, allowlist 127.0.0.1) fetches from a local server that plays the outside
// world; the app allows private egress so that 127.0.0.1 is reachable at all.

const SLUG = "web-timers";

interface Hit {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  bodyHex: string;
}

let app: TestApp;
let tenant: TestTenant;
let server: Server;
let base: string;
let port: number;
const hits: Hit[] = [];

function answer(path: string, hit: Hit, res: import("node:http").ServerResponse): void {
  switch (path) {
    case "/json":
      res.writeHead(200, { "content-type": "application/json", "x-custom": "yes" });
      return void res.end(JSON.stringify({ hello: "wörld", n: 1 }));
    case "/text":
      res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
      return void res.end("héllo");
    case "/missing":
      res.writeHead(404);
      return void res.end("no such thing");
    case "/redirect":
      res.writeHead(302, { location: "/json" });
      return void res.end();
    case "/slow":
      return void setTimeout(() => res.end("late"), 800);
    case "/echo":
      res.writeHead(200, { "content-type": "application/json" });
      return void res.end(JSON.stringify({ method: hit.method, contentType: hit.headers["content-type"] ?? null, custom: hit.headers["x-custom"] ?? null, body: hit.body, bodyHex: hit.bodyHex }));
    default:
      res.writeHead(500);
      res.end();
  }
}

/** The fixture under another slug and without outbound_http. */
function withoutPermissionZip(): Buffer {
  const zip = new AdmZip(fixtureZip(SLUG));
  const manifest = JSON.parse(zip.readAsText("plugin.json"));
  zip.updateFile("plugin.json", Buffer.from(JSON.stringify({ ...manifest, slug: `${SLUG}-nohttp`, permissions: [] })));
  return zip.toBuffer();
}

before(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://world");
      const body = Buffer.concat(chunks);
      const hit = { method: req.method ?? "", path: url.pathname, headers: req.headers, body: body.toString("utf8"), bodyHex: body.toString("hex") };
      hits.push(hit);
      answer(url.pathname, hit, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
  app = await startTestApp({ env: { ALLOW_PRIVATE_EGRESS: "true", HTTP_TIMEOUT_MS: "3000" } });
  tenant = await app.tenant("fetch");
  const res = await tenant.upload(fixtureZip(SLUG));
  assert.equal(res.status, 201, await res.text());
});
after(async () => {
  await app.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

/** Runs `source` (with `base`, `ctx` and `state` in scope) and answers the call's body. */
async function run(source: string, slug = SLUG): Promise<{ ok: boolean; value?: any; error?: any }> {
  const res = await tenant.request("POST", `/ext/${slug}/eval`, { json: { source: `const base = ${JSON.stringify(base)};\n${source}` } });
  const text = await res.text();
  assert.equal(res.status, 200, text.slice(0, 2000));
  return JSON.parse(text);
}

async function value(source: string, slug = SLUG): Promise<any> {
  const out = await run(source, slug);
  if (!out.ok) assert.fail(`the code threw ${out.error.name}: ${out.error.message}`);
  return out.value;
}

describe("fetch's Response", () => {
  test("status, statusText, ok, headers (a Headers), url, redirected, json() and bodyUsed", async () => {
    const v = await value(`
      const r = await fetch(base + "/json");
      const before = r.bodyUsed;
      const body = await r.json();
      let again;
      try { await r.text(); } catch (err) { again = err instanceof TypeError; }
      return {
        isResponse: r instanceof Response, status: r.status, statusText: r.statusText, ok: r.ok,
        isHeaders: r.headers instanceof Headers, type: r.headers.get("Content-Type"), custom: r.headers.get("x-custom"),
        url: r.url, redirected: r.redirected, before, after: r.bodyUsed, body, again,
      };
    `);
    assert.deepEqual(v, {
      isResponse: true, status: 200, statusText: "OK", ok: true,
      isHeaders: true, type: "application/json", custom: "yes",
      url: `${base}/json`, redirected: false, before: false, after: true, body: { hello: "wörld", n: 1 }, again: true,
    });
  });

  test("text() and arrayBuffer() (the text as UTF-8 bytes)", async () => {
    const v = await value(`
      const text = await (await fetch(base + "/text")).text();
      const buf = await (await fetch(base + "/text")).arrayBuffer();
      return { text, isBuffer: buf instanceof ArrayBuffer, bytes: Array.from(new Uint8Array(buf)) };
    `);
    assert.deepEqual(v, { text: "héllo", isBuffer: true, bytes: [...Buffer.from("héllo")] });
  });

  test("a 404 is an answer, not an error; a redirect is followed and says so", async () => {
    const v = await value(`
      const missing = await fetch(base + "/missing");
      const moved = await fetch(base + "/redirect");
      return { status: missing.status, ok: missing.ok, statusText: missing.statusText, body: await missing.text(), redirected: moved.redirected, url: moved.url };
    `);
    assert.deepEqual(v, { status: 404, ok: false, statusText: "Not Found", body: "no such thing", redirected: true, url: `${base}/json` });
  });
});

describe("fetch's request bodies and init", () => {
  test("string, URLSearchParams, ArrayBuffer, typed array, Blob, and headers as object, array or Headers", async () => {
    const v = await value(`
      const echo = async (init) => (await fetch(base + "/echo", init)).json();
      return {
        text: await echo({ method: "post", body: "plain text" }),
        form: await echo({ method: "POST", body: new URLSearchParams({ a: "1", b: "x y" }) }),
        buffer: await echo({ method: "PUT", body: new TextEncoder().encode("buffer é").buffer }),
        view: await echo({ method: "PATCH", body: new Uint8Array([104, 105]), headers: [["Content-Type", "application/octet-stream"], ["X-Custom", "arr"]] }),
        blob: await echo({ method: "POST", body: new Blob(['{"k":1}'], { type: "application/json" }), headers: new Headers({ "x-custom": "hdrs" }) }),
        object: await echo({ method: "DELETE", headers: { "X-Custom": "obj" } }),
        request: await (await fetch(new Request(base + "/echo", { method: "POST", body: "from a Request", headers: { "x-custom": "req" } }))).json(),
      };
    `);
    assert.deepEqual(v.text, { method: "POST", contentType: "text/plain;charset=UTF-8", custom: null, body: "plain text", bodyHex: Buffer.from("plain text").toString("hex") });
    assert.equal(v.form.contentType, "application/x-www-form-urlencoded;charset=UTF-8");
    assert.equal(v.form.body, "a=1&b=x+y");
    assert.equal(v.buffer.method, "PUT");
    assert.equal(v.buffer.bodyHex, Buffer.from("buffer é").toString("hex"));
    assert.deepEqual([v.view.method, v.view.contentType, v.view.custom, v.view.body], ["PATCH", "application/octet-stream", "arr", "hi"]);
    assert.deepEqual([v.blob.contentType, v.blob.custom, v.blob.body], ["application/json", "hdrs", '{"k":1}']);
    assert.deepEqual([v.object.method, v.object.custom, v.object.body], ["DELETE", "obj", ""]);
    assert.deepEqual([v.request.method, v.request.custom, v.request.body], ["POST", "req", "from a Request"]);
  });

  test("bodies that cannot be sent are refused in the isolate with a TypeError", async () => {
    const v = await value(`
      const kinds = {};
      const attempt = async (name, input, init) => {
        try { await fetch(input, init); kinds[name] = "sent"; } catch (err) { kinds[name] = err.name + (err instanceof TypeError ? ":TypeError" : ""); }
      };
      await attempt("notUtf8", base + "/echo", { method: "POST", body: new Uint8Array([0xff, 0xfe, 0x00]) });
      await attempt("getWithBody", base + "/echo", { body: "x" });
      await attempt("relative", "/echo");
      await attempt("badMethod", base + "/echo", { method: "CONNECT" });
      return kinds;
    `);
    assert.deepEqual(v, { notUtf8: "TypeError:TypeError", getWithBody: "TypeError:TypeError", relative: "TypeError:TypeError", badMethod: "TypeError:TypeError" });
    assert.equal(hits.filter((h) => h.path === "/echo" && h.bodyHex === "fffe00").length, 0, "nothing was sent");
  });
});

describe("fetch's signal", () => {
  test("aborting rejects at once with an AbortError DOMException; an aborted signal rejects before sending", async () => {
    const before = hits.filter((h) => h.path === "/slow").length;
    const started = Date.now();
    const v = await value(`
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 50);
      let during;
      try { await fetch(base + "/slow", { signal: controller.signal }); during = "resolved"; } catch (err) {
        during = { name: err.name, isDOMException: err instanceof DOMException, code: err.code };
      }
      let already;
      try { await fetch(base + "/json", { signal: AbortSignal.abort() }); already = "resolved"; } catch (err) { already = err.name; }
      let reason;
      const own = new AbortController();
      own.abort("mine");
      try { await fetch(base + "/json", { signal: own.signal }); } catch (err) { reason = err; }
      return { during, already, reason };
    `);
    const elapsed = Date.now() - started;
    assert.deepEqual(v, { during: { name: "AbortError", isDOMException: true, code: 20 }, already: "AbortError", reason: "mine" });
    assert.ok(elapsed < 700, `the call did not wait for the slow answer (${elapsed} ms)`);
    assert.equal(hits.filter((h) => h.path === "/slow").length, before + 1, "the aborted request had been sent once");
  });
});

describe("fetch's permission and allowlist are ctx.http's", () => {
  test("without outbound_http, fetch rejects with the PermissionDenied of ctx.http.fetch", async () => {
    const res = await tenant.upload(withoutPermissionZip());
    assert.equal(res.status, 201, await res.text());
    const v = await value(`
      const seen = {};
      for (const [name, go] of [["fetch", () => fetch(base + "/json")], ["ctx", () => ctx.http.fetch(base + "/json")]]) {
        try { await go(); seen[name] = "resolved"; } catch (err) { seen[name] = { name: err.name, message: err.message }; }
      }
      return seen;
    `, `${SLUG}-nohttp`);
    assert.equal(v.fetch.name, "PermissionDenied", JSON.stringify(v));
    assert.deepEqual(v.fetch, v.ctx);
  });

  test("a host outside http_allowlist is refused as ctx.http.fetch refuses it", async () => {
    const before = hits.length;
    const v = await value(`
      const seen = {};
      const url = "http://localhost:${port}/json";
      for (const [name, go] of [["fetch", () => fetch(url)], ["ctx", () => ctx.http.fetch(url)]]) {
        try { await go(); seen[name] = "resolved"; } catch (err) { seen[name] = { name: err.name, message: err.message }; }
      }
      return seen;
    `);
    assert.equal(v.fetch.name, "HostNotAllowed", JSON.stringify(v));
    assert.deepEqual(v.fetch, v.ctx);
    assert.equal(hits.length, before, "nothing reached the server");
  });
});

test("module top-level code has no call: its fetch was refused", async () => {
  const v = await value(`return state.topLevelFetch;`);
  assert.equal(v.isTypeError, true, JSON.stringify(v));
  assert.match(v.message, /none is running/);
});

describe("Response and Request constructors", () => {
  test("new Response(body, init), Response.json, clone, and their refusals", async () => {
    const v = await value(`
      const r = new Response("made here", { status: 201, statusText: "Made", headers: { "x-a": "b" } });
      const copy = r.clone();
      const bytes = new Response(new Uint8Array([1, 2, 3]));
      const json = Response.json({ a: 1 }, { status: 202 });
      const empty = new Response(null, { status: 204 });
      const refusals = {};
      for (const [name, make] of [["status", () => new Response("", { status: 99 })], ["nullBody", () => new Response("x", { status: 204 })]]) {
        try { make(); refusals[name] = "made"; } catch (err) { refusals[name] = err.name; }
      }
      const req = new Request("https://example.com/a?b=1", { method: "post", body: "hi" });
      return {
        status: r.status, statusText: r.statusText, ok: r.ok, header: r.headers.get("X-A"), type: r.headers.get("content-type"), url: r.url,
        text: await r.text(), copyText: await copy.text(),
        bytes: Array.from(new Uint8Array(await bytes.arrayBuffer())),
        json: [json.status, json.headers.get("content-type"), await json.json()],
        empty: [empty.status, await empty.text(), empty.bodyUsed],
        refusals,
        req: [req.url, req.method, req.headers.get("content-type"), await req.text(), req.signal instanceof AbortSignal],
        tags: [Object.prototype.toString.call(r), Object.prototype.toString.call(req)],
      };
    `);
    assert.deepEqual(v, {
      status: 201, statusText: "Made", ok: true, header: "b", type: "text/plain;charset=UTF-8", url: "",
      text: "made here", copyText: "made here",
      bytes: [1, 2, 3],
      json: [202, "application/json", { a: 1 }],
      empty: [204, "", true],
      refusals: { status: "RangeError", nullBody: "TypeError" },
      req: ["https://example.com/a?b=1", "POST", "text/plain;charset=UTF-8", "hi", true],
      tags: ["[object Response]", "[object Request]"],
    });
  });
});
