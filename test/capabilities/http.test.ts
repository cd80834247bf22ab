import assert from "node:assert/strict";
import dns from "node:dns/promises";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import { after, before, describe, test } from "node:test";
import { readFileSync } from "node:fs";
import path from "node:path";
import AdmZip from "adm-zip";
import { MockAgent } from "undici";
import type { CallScope } from "../../src/capabilities/call-scope.ts";
import { httpFetch, httpGet } from "../../src/capabilities/http.ts";
import { blockedAddressReason } from "../../src/net/egress-guard.ts";
import { hostPatternProblem } from "../../src/packaging/field-checks.ts";
import { ok } from "../support/http-assert.ts";
import { FIXTURES, fixtureZip, startTestApp, type TestApp, type TestTenant } from "../support/test-app.ts";

/** The probe's code under the SSRF fixture's manifest (its allowlist names every private host tried). */
function ssrfZip(): Buffer {
  const zip = new AdmZip(fixtureZip("cap-http-probe"));
  zip.updateFile("plugin.json", readFileSync(path.join(FIXTURES, "cap-http-ssrf/plugin.json")));
  return zip.toBuffer();
}

// ctx.http through the whole platform: plugin code in a sandbox calls ctx.http, the host
// checks arguments, allowlist and egress guard, and a local server plays the outside world.
// One app allows private egress (so the local server is reachable and the plugin-facing
// behaviour can be tested); one does not (the SSRF matrix: the guard must refuse every hop).

const TIMEOUT_MS = 1500;
const MAX_RESPONSE = 64 * 1024;

interface Hit {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

interface World {
  url: string;
  port: number;
  hits(path?: string): Hit[];
  close(): Promise<void>;
}

/** The outside world: a few behaviours selected by path, every request recorded. */
async function startWorld(): Promise<World> {
  const hits: Hit[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://world");
      const hit = { method: req.method ?? "", path: url.pathname, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") };
      hits.push(hit);
      answer(url, hit, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    hits: (path) => hits.filter((h) => path === undefined || h.path === path),
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

function answer(url: URL, hit: Hit, res: import("node:http").ServerResponse): void {
  const q = url.searchParams;
  const hop = /^\/hop\/(\d+)$/.exec(url.pathname);
  if (hop) {
    const n = Number(hop[1]);
    if (n === 0) return void res.end("end of the chain");
    res.writeHead(302, { location: `/hop/${n - 1}` });
    return void res.end();
  }
  switch (url.pathname) {
    case "/echo":
      res.writeHead(Number(q.get("status") ?? 200), { "content-type": "application/json", "x-test": "yes", "set-cookie": ["a=1", "b=2"] });
      return void res.end(JSON.stringify({ method: hit.method, headers: hit.headers, body: hit.body }));
    case "/text":
      res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
      return void res.end("héllo ✓");
    case "/redirect":
      res.writeHead(Number(q.get("status") ?? 302), { location: q.get("to") ?? "/echo" });
      return void res.end("moved");
    case "/big": {
      const bytes = Number(q.get("bytes"));
      // Declared: refused from Content-Length; chunked: refused while reading.
      res.writeHead(200, q.has("declared") ? { "content-length": String(bytes) } : {});
      const chunk = "y".repeat(4096);
      let left = bytes;
      while (left > 0) {
        res.write(chunk.slice(0, Math.min(left, chunk.length)));
        left -= chunk.length;
      }
      return void res.end();
    }
    case "/hang":
      return; // never answers
    default:
      res.end("ok");
  }
}

let world: World;
let other: World;
let privateApp: TestApp;
let guardedApp: TestApp;
let probe: TestTenant;
let ssrf: TestTenant;
let ssrfInstallId: string;

before(async () => {
  [world, other] = await Promise.all([startWorld(), startWorld()]);
  [privateApp, guardedApp] = await Promise.all([
    startTestApp({ env: { ALLOW_PRIVATE_EGRESS: "true", HTTP_TIMEOUT_MS: String(TIMEOUT_MS), HTTP_MAX_RESPONSE_BYTES: String(MAX_RESPONSE) } }),
    startTestApp({ env: { HTTP_TIMEOUT_MS: String(TIMEOUT_MS) } }),
  ]);
  probe = await privateApp.tenant("http");
  await ok(await probe.upload(fixtureZip("cap-http-probe")), 201);
  ssrf = await guardedApp.tenant("ssrf");
  ssrfInstallId = (await ok(await ssrf.upload(ssrfZip()), 201)).plugin.id;
});

after(async () => {
  await Promise.all([privateApp?.close(), guardedApp?.close()]);
  await Promise.all([world?.close(), other?.close()]);
});

/** What the plugin got from ctx.http[fn](...args): the response it saw, or the error it caught. */
async function call(t: TestTenant, slug: string, fn: string, args: unknown[], extra: Record<string, unknown> = {}): Promise<any> {
  return ok(await t.request("POST", `/ext/${slug}/call`, { json: { fn, args, ...extra } }));
}

const probeCall = (fn: string, ...args: unknown[]) => call(probe, "cap-http-probe", fn, args);

/** Runs `fn` and asserts the outside world received no request meanwhile. */
async function unreached<T>(fn: () => Promise<T>): Promise<T> {
  const before = world.hits().length;
  const value = await fn();
  assert.deepEqual(world.hits().slice(before), [], "the outside world was reached");
  return value;
}

describe("ctx.http round trips", () => {
  test("get: status, headers, text() and json() of a JSON answer", async () => {
    const r = await probeCall("get", `${world.url}/echo?q=1`, { headers: { "X-Api-Key": "k1" } });
    assert.equal(r.status, 200);
    assert.equal(r.ok, true);
    assert.equal(r.url, `${world.url}/echo?q=1`);
    assert.equal(r.redirected, false);
    assert.equal(r.headers["x-test"], "yes");
    assert.equal(r.headers["content-type"], "application/json");
    assert.equal(r.headers["set-cookie"], "a=1, b=2", "repeated headers are joined");
    assert.equal(r.json.method, "GET");
    assert.equal(r.json.headers["x-api-key"], "k1");
    assert.equal(r.json.headers["user-agent"], "SBH-Plugins/1");
    assert.equal(r.text, JSON.stringify(r.json));
  });

  test("post: an object body is sent as JSON with its content type", async () => {
    const r = await probeCall("post", `${world.url}/echo`, { hello: "wörld", list: [1, 2] });
    assert.equal(r.status, 200);
    assert.equal(r.json.method, "POST");
    assert.equal(r.json.headers["content-type"], "application/json");
    assert.deepEqual(JSON.parse(r.json.body), { hello: "wörld", list: [1, 2] });
  });

  test("fetch: method, a string body and the plugin's own content type", async () => {
    const r = await probeCall("fetch", `${world.url}/echo`, { method: "put", body: "a=1&b=2", headers: { "Content-Type": "application/x-www-form-urlencoded" } });
    assert.equal(r.json.method, "PUT");
    assert.equal(r.json.body, "a=1&b=2");
    assert.equal(r.json.headers["content-type"], "application/x-www-form-urlencoded");
  });

  test("a 404 is an answer, not an error", async () => {
    const r = await probeCall("get", `${world.url}/echo?status=404`);
    assert.equal(r.status, 404);
    assert.equal(r.ok, false);
  });

  test("text is UTF-8; json() of a non-JSON body throws SyntaxError in the plugin", async () => {
    const r = await probeCall("get", `${world.url}/text`);
    assert.equal(r.text, "héllo ✓");
    assert.equal(r.jsonError, "SyntaxError");
  });

  test("HEAD answers with an empty body", async () => {
    const r = await probeCall("fetch", `${world.url}/echo`, { method: "HEAD" });
    assert.equal(r.status, 200);
    assert.equal(r.text, "");
  });

  test("a 1 MiB body is accepted", async () => {
    // /sink answers "ok": /echo would send the MiB back, over this app's response cap.
    const r = await call(probe, "cap-http-probe", "post", [`${world.url}/sink`], { fill: 1024 * 1024 });
    assert.equal(r.status, 200, JSON.stringify(r));
    assert.equal(world.hits("/sink").at(-1)!.body.length, 1024 * 1024);
  });
});

describe("http_allowlist", () => {
  for (const host of ["evil.com", "good.com.evil.com", "evilgood.com", "good.invalid", "localhost"]) {
    test(`${host} is not allowed (allowlist: 127.0.0.1, good.com, *.good.invalid)`, async () => {
      const r = await unreached(() => probeCall("get", `http://${host}:${world.port}/echo`));
      assert.equal(r.error, "HostNotAllowed", JSON.stringify(r));
      assert.match(r.message, new RegExp(`"${host.replace(/\./g, "\\.")}".*http_allowlist`));
    });
  }

  test("a subdomain matches *.good.invalid: the call gets as far as DNS", async () => {
    const r = await probeCall("get", "http://api.good.invalid/");
    assert.equal(r.error, "NetworkError", JSON.stringify(r));
    assert.match(r.message, /ENOTFOUND|EAI_AGAIN/);
  });

  test("good.com@evil.com: credentials in the URL are refused", async () => {
    const r = await probeCall("get", "http://good.com@evil.com/");
    assert.equal(r.error, "EgressRefused");
    assert.match(r.message, /credentials/);
  });

  test("only http and https", async () => {
    const r = await probeCall("get", "ftp://127.0.0.1/file");
    assert.equal(r.error, "EgressRefused");
    assert.match(r.message, /scheme ftp/);
  });
});

describe("redirects", () => {
  test("followed, with the final url and redirected: true", async () => {
    const r = await probeCall("get", `${world.url}/redirect?to=${encodeURIComponent("/echo?after=1")}`);
    assert.equal(r.status, 200);
    assert.equal(r.redirected, true);
    assert.equal(r.url, `${world.url}/echo?after=1`);
  });

  test("every hop is checked against the allowlist: 127.0.0.1 → localhost is refused before /x", async () => {
    const to = `http://localhost:${world.port}/x`;
    const r = await probeCall("get", `${world.url}/redirect?to=${encodeURIComponent(to)}`);
    assert.equal(r.error, "HostNotAllowed", JSON.stringify(r));
    assert.match(r.message, /"localhost"/);
    assert.equal(world.hits("/x").length, 0);
  });

  test("5 redirects are followed, the 6th is refused", async () => {
    const five = await probeCall("get", `${world.url}/hop/5`);
    assert.equal(five.text, "end of the chain");
    const before = world.hits().length;
    const six = await probeCall("get", `${world.url}/hop/6`);
    assert.equal(six.error, "TooManyRedirects", JSON.stringify(six));
    assert.deepEqual(world.hits().slice(before).map((h) => h.path), ["/hop/6", "/hop/5", "/hop/4", "/hop/3", "/hop/2", "/hop/1"]);
  });

  test("303 after POST re-asks with GET and no body", async () => {
    const r = await probeCall("post", `${world.url}/redirect?status=303&to=/echo`, { a: 1 });
    assert.equal(r.json.method, "GET");
    assert.equal(r.json.body, "");
    assert.equal(r.json.headers["content-type"], undefined);
  });

  test("302 after PUT becomes GET; 307 and 308 keep method and body", async () => {
    const moved = await probeCall("fetch", `${world.url}/redirect?status=302&to=/echo`, { method: "PUT", body: "b" });
    assert.equal(moved.json.method, "GET");
    for (const status of [307, 308]) {
      const kept = await probeCall("post", `${world.url}/redirect?status=${status}&to=/echo`, "payload");
      assert.equal(kept.json.method, "POST", String(status));
      assert.equal(kept.json.body, "payload", String(status));
    }
  });

  test("authorization follows a same-origin redirect, not a cross-origin one", async () => {
    const headers = { headers: { Authorization: "Bearer s3cret", "X-Other": "kept" } };
    const same = await probeCall("get", `${world.url}/redirect?to=/echo`, headers);
    assert.equal(same.json.headers.authorization, "Bearer s3cret");
    const cross = await probeCall("get", `${world.url}/redirect?to=${encodeURIComponent(`${other.url}/echo`)}`, headers);
    assert.equal(cross.url, `${other.url}/echo`);
    assert.equal(cross.json.headers.authorization, undefined);
    assert.equal(cross.json.headers["x-other"], "kept");
  });
});

describe("limits and failures", () => {
  for (const declared of [false, true]) {
    test(`a response over HTTP_MAX_RESPONSE_BYTES is refused (${declared ? "Content-Length" : "chunked"})`, async () => {
      const r = await probeCall("get", `${world.url}/big?bytes=${MAX_RESPONSE + 1}${declared ? "&declared=1" : ""}`);
      assert.equal(r.error, "ResponseTooLarge", JSON.stringify(r).slice(0, 300));
      assert.match(r.message, new RegExp(`${MAX_RESPONSE} bytes`));
    });
  }

  test("a response of exactly the limit is read", async () => {
    const r = await probeCall("get", `${world.url}/big?bytes=${MAX_RESPONSE}`);
    assert.equal(r.text.length, MAX_RESPONSE);
  });

  test("a server that never answers ends in Timeout after HTTP_TIMEOUT_MS", async () => {
    const started = Date.now();
    const r = await probeCall("get", `${world.url}/hang`);
    assert.equal(r.error, "Timeout", JSON.stringify(r));
    assert.match(r.message, new RegExp(`${TIMEOUT_MS} ms`));
    assert.ok(Date.now() - started < TIMEOUT_MS + 2500, "the timeout bounds the call");
  });

  test("a refused connection is a NetworkError naming the cause", async () => {
    const closed = await startWorld();
    await closed.close();
    const r = await probeCall("get", `${closed.url}/`);
    assert.equal(r.error, "NetworkError");
    assert.match(r.message, /ECONNREFUSED/);
  });
});

describe("arguments are checked before anything is sent", () => {
  const u = () => `${world.url}/echo`;
  const cases: Array<[string, () => [string, unknown[]]]> = [
    ["a url that is not a string", () => ["fetch", [42]]],
    ["no url", () => ["get", []]],
    ["a url over 8 KiB", () => ["get", [`${u()}?${"a".repeat(8 * 1024)}`]]],
    ["a relative url", () => ["get", ["/echo"]]],
    ["init that is an array", () => ["fetch", [u(), [1]]]],
    ["init that is a string", () => ["fetch", [u(), "POST"]]],
    ["an unknown method", () => ["fetch", [u(), { method: "TRACE" }]]],
    ["an unsupported init key", () => ["fetch", [u(), { redirect: "manual" }]]],
    ["headers that are an array", () => ["get", [u(), { headers: [["x-a", "b"]] }]]],
    ["a Host header", () => ["get", [u(), { headers: { Host: "evil.com" } }]]],
    ["a Content-Length header", () => ["post", [u(), "x", { headers: { "Content-Length": "0" } }]]],
    ["a Transfer-Encoding header", () => ["post", [u(), "x", { headers: { "transfer-encoding": "chunked" } }]]],
    ["a Connection header", () => ["get", [u(), { headers: { Connection: "close" } }]]],
    ["CR/LF in a header value", () => ["get", [u(), { headers: { "x-a": "b\r\nx-injected: 1" } }]]],
    ["a header name with a space", () => ["get", [u(), { headers: { "x a": "b" } }]]],
    ["a header name with CR/LF", () => ["get", [u(), { headers: { "x-a\r\nx-b": "b" } }]]],
    ["a header value that is a number", () => ["get", [u(), { headers: { "x-a": 1 } }]]],
    ["the same header twice", () => ["get", [u(), { headers: { "x-a": "1", "X-A": "2" } }]]],
    ["a GET with a body", () => ["get", [u(), { body: "x" }]]],
    ["a HEAD with a body", () => ["fetch", [u(), { method: "HEAD", body: "x" }]]],
    ["a body that is a number", () => ["post", [u(), 42]]],
    ["post with another method", () => ["post", [u(), "x", { method: "PUT" }]]],
    ["post with the body in init too", () => ["post", [u(), "x", { body: "y" }]]],
  ];
  for (const [name, make] of cases) {
    test(name, async () => {
      const [fn, args] = make();
      const r = await unreached(() => probeCall(fn, ...args));
      assert.equal(r.error, "TypeError", JSON.stringify(r));
      assert.match(r.message, new RegExp(`^ctx\\.http\\.${fn}: `));
    });
  }

  test("a body over 1 MiB", async () => {
    const r = await unreached(() => call(probe, "cap-http-probe", "post", [`${world.url}/echo`], { fill: 1024 * 1024 + 1 }));
    assert.equal(r.error, "TypeError");
    assert.match(r.message, /body is larger than 1048576 bytes/);
  });
});

describe("the egress guard (ALLOW_PRIVATE_EGRESS off; the allowlist lists these hosts)", () => {
  const targets = (port: number) => [
    `http://127.0.0.1:${port}/echo`,
    `http://127.1:${port}/echo`,
    `http://0x7f000001:${port}/echo`,
    `http://0177.0.0.1:${port}/echo`,
    `http://[::1]:${port}/echo`,
    `http://[::ffff:127.0.0.1]:${port}/echo`,
    `http://localhost:${port}/echo`,
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/",
  ];
  for (const i of targets(0).keys()) {
    test(`refused: ${targets(0)[i].replace(":0/", ":<port>/")}`, async () => {
      const url = targets(world.port)[i];
      const r = await unreached(() => call(ssrf, "cap-http-ssrf", "get", [url]));
      assert.equal(r.error, "EgressRefused", JSON.stringify(r));
      assert.match(r.message, /loopback|private|metadata|link-local/);
    });
  }

  test("a hostname that resolves to a blocked address is refused at connect time", async (t) => {
    const host = os.hostname().toLowerCase();
    const answers = await dns.lookup(host, { all: true }).catch(() => []);
    if (hostPatternProblem(host) !== undefined || answers.length === 0 || answers.some((a) => !blockedAddressReason(a.address))) {
      return t.skip(`this machine's hostname (${host}) does not resolve to blocked addresses only`);
    }
    const tenant = await guardedApp.tenant("dns");
    const zip = new AdmZip(ssrfZip());
    const manifest = JSON.parse(zip.readAsText("plugin.json"));
    zip.updateFile("plugin.json", Buffer.from(JSON.stringify({ ...manifest, http_allowlist: [host] })));
    await ok(await tenant.upload(zip.toBuffer()), 201);
    const r = await unreached(() => call(tenant, "cap-http-ssrf", "get", [`http://${host}:${world.port}/echo`]));
    assert.equal(r.error, "EgressRefused", JSON.stringify(r));
    assert.match(r.message, /resolves to a blocked address/);
  });

  test("refusals are in the plugin's log", async () => {
    const { logs } = await ok(await ssrf.request("GET", `/api/plugins/${ssrfInstallId}/logs?level=warn`));
    assert.ok(
      logs.some((l: { message: string }) => /ctx\.http\.get refused: 169\.254\.169\.254: metadata/.test(l.message)),
      JSON.stringify(logs.map((l: { message: string }) => l.message)),
    );
  });
});

describe("without the outbound_http permission", () => {
  test("PermissionDenied, counted as ctx.http.get:denied and logged", async () => {
    const t = await privateApp.tenant("denied");
    const { plugin } = await ok(await t.upload(fixtureZip("cap-http-denied")), 201);
    const r = await unreached(async () => ok(await t.request("POST", "/ext/cap-http-denied/call", { json: { url: `${world.url}/echo` } })));
    assert.equal(r.error, "PermissionDenied");
    assert.match(r.message, /outbound_http/);
    const usage = await ok(await t.request("GET", `/api/plugins/${plugin.id}/usage`));
    assert.equal(usage.totals["ctx.http.get:denied"], 1);
    assert.equal(usage.totals["ctx.http.get:ok"], undefined);
    const { logs } = await ok(await t.request("GET", `/api/plugins/${plugin.id}/logs`));
    assert.ok(logs.some((l: { level: string; message: string }) => l.level === "warn" && /outbound_http/.test(l.message)));
  });
});

// The capability alone, with a scripted dispatcher: no DNS, no sockets.
describe("httpFetch with a mock dispatcher", () => {
  function scope(dispatcher: MockAgent, allowlist: string[]): CallScope & { lines: string[] } {
    const lines: string[] = [];
    const s = {
      manifest: { http_allowlist: allowlist },
      deps: { http: { dispatcher, allowPrivate: false, timeoutMs: 1000, maxResponseBytes: 1024 } },
      log: (_level: string, message: string) => lines.push(message),
      lines,
    };
    return s as unknown as CallScope & { lines: string[] };
  }

  test("*.example.com matches a subdomain, and the answer is plain data", async () => {
    const agent = new MockAgent();
    agent.disableNetConnect();
    agent.get("https://api.example.com").intercept({ path: "/v1/items?page=2", method: "GET" }).reply(200, { items: [1] }, { headers: { "content-type": "application/json" } });
    const s = scope(agent, ["*.example.com"]);
    const res = await httpGet(s, ["https://api.example.com/v1/items?page=2"]);
    assert.deepEqual({ ...res, headers: { ...res.headers } }, {
      status: 200,
      headers: { "content-type": "application/json" },
      body: '{"items":[1]}',
      url: "https://api.example.com/v1/items?page=2",
      redirected: false,
    });
    await agent.close();
  });

  test("the apex is not matched by *.example.com, and the refusal is logged", async () => {
    const agent = new MockAgent();
    agent.disableNetConnect();
    const s = scope(agent, ["*.example.com"]);
    await assert.rejects(httpFetch(s, ["https://example.com/"]), { name: "HostNotAllowed" });
    assert.match(s.lines.join("\n"), /host "example\.com" is not allowed/);
    await agent.close();
  });

  test("an empty allowlist allows nothing", async () => {
    const agent = new MockAgent();
    agent.disableNetConnect();
    await assert.rejects(httpFetch(scope(agent, []), ["https://api.example.com/"]), { name: "HostNotAllowed" });
    await agent.close();
  });
});
