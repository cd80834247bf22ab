import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import { buildOpenApiDocument } from "../../src/api/openapi.ts";
import { buildApp } from "../../src/app.ts";
import { eventually } from "../support/eventually.ts";
import { fixtureZip, startTestApp, type TestApp, type TestTenant } from "../support/test-app.ts";
import { adminAt } from "./admin-fixture.ts";

// GET /openapi.json against the app it describes: (1) the document lists exactly the routes
// the Express app mounts, (2) real answers of a running app — successes and errors — validate
// against the document's schema for their path, method and status, and (3) the document hangs
// together (3.1.0, every $ref resolves, every path parameter declared).

type Doc = {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, any>>;
  components: Record<string, Record<string, any>>;
};

const METHODS = ["get", "post", "put", "patch", "delete"] as const;
const doc = buildOpenApiDocument() as Doc;

// ---------------------------------------------------------------------------------------------
// The document's operations, and how a request URL finds its path.

interface Operation {
  path: string;
  method: string;
  op: any;
  regex: RegExp;
  params: number;
}

const operations: Operation[] = Object.entries(doc.paths).flatMap(([path, item]) =>
  METHODS.filter((m) => item[m]).map((method) => {
    const segments = path.split("/").map((seg) => {
      if (seg === "{path}") return ".*"; // the plugin route's own path may hold slashes
      if (/^\{\w+\}$/.test(seg)) return "[^/]+";
      return seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    });
    return { path, method, op: item[method], regex: new RegExp(`^${segments.join("/")}$`), params: (path.match(/\{/g) ?? []).length };
  }),
);

/** The operation a request hits: a literal segment wins over a parameter (/api/plugins/upload). */
function operationFor(method: string, url: string): Operation {
  const path = new URL(url, "http://x").pathname;
  const found = operations.filter((o) => o.method === method.toLowerCase() && o.regex.test(path)).sort((a, b) => a.params - b.params)[0];
  assert.ok(found, `${method} ${path}: no operation in the document`);
  return found;
}

// ---------------------------------------------------------------------------------------------
// ajv over the whole document: refs like #/components/schemas/Plugin resolve inside it.

const DOC_ID = "https://sbh.invalid/openapi.json";
const ajv = new Ajv2020({ strict: false, allErrors: true });
const FORMATS: Record<string, (s: string) => boolean> = {
  "date-time": (s) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/i.test(s) && !Number.isNaN(Date.parse(s)),
  date: (s) => /^\d{4}-\d\d-\d\d$/.test(s),
  uuid: (s) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s),
  email: (s) => /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(s),
};
for (const [name, validate] of Object.entries(FORMATS)) ajv.addFormat(name, { type: "string", validate });
ajv.addSchema(doc, DOC_ID);

const pointer = (parts: (string | number)[]) => "#/" + parts.map((p) => String(p).replaceAll("~", "~0").replaceAll("/", "~1")).join("/");
const validators = new Map<string, ValidateFunction>();
function validatorAt(ptr: string): ValidateFunction {
  let v = validators.get(ptr);
  if (!v) {
    v = ajv.compile({ $ref: DOC_ID + ptr });
    validators.set(ptr, v);
  }
  return v;
}

function resolve(ref: string): any {
  assert.ok(ref.startsWith("#/"), `only local refs are used: ${ref}`);
  let node: any = doc;
  for (const raw of ref.slice(2).split("/")) {
    node = node?.[raw.replaceAll("~1", "/").replaceAll("~0", "~")];
  }
  return node;
}

// ---------------------------------------------------------------------------------------------
// Calls: each answer is checked against the document, and its operation counted as exercised.

const exercised = new Set<string>();

interface CallOptions {
  token?: string | null;
  tenant?: string | null;
  json?: unknown;
  body?: string | FormData;
  headers?: Record<string, string>;
  /** The body breaks the request schema too (the router's zod schema and the document agree). */
  invalidBody?: boolean;
}

let app: TestApp;

/** Sends the request, asserts the status, validates the answer against the document; returns the parsed JSON (or the text). */
async function call(method: string, url: string, status: number, opts: CallOptions = {}): Promise<any> {
  const o = operationFor(method, url);
  const name = `${method.toUpperCase()} ${o.path} (${o.op.operationId})`;
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.tenant) headers["x-tenant-slug"] = opts.tenant;
  let body = opts.body;
  if (opts.json !== undefined) {
    body = JSON.stringify(opts.json);
    headers["content-type"] = "application/json";
  }

  if (opts.json !== undefined) {
    // The request body against the document's schema: the same zod schema the router parses with.
    const media = o.op.requestBody?.content?.["application/json"];
    assert.ok(media, `${name}: the document has no JSON request body`);
    const v = validatorAt(pointer(["paths", o.path, o.method, "requestBody", "content", "application/json", "schema"]));
    const valid = v(opts.json);
    if (opts.invalidBody) assert.equal(valid, false, `${name}: the document accepts a body the API refuses: ${JSON.stringify(opts.json)}`);
    else if (status < 300) assert.ok(valid, `${name}: the request body ${JSON.stringify(opts.json)} does not match the document: ${ajv.errorsText(v.errors)}`);
  }

  const res = await fetch(app.url + url, { method, headers, body });
  const text = await res.text();
  assert.equal(res.status, status, `${name}: expected ${status}, got ${res.status}: ${text.slice(0, 500)}`);

  const key = String(res.status);
  const responses = o.op.responses;
  let response = responses[key] ?? responses[`${key[0]}XX`] ?? responses.default;
  assert.ok(response, `${name}: status ${key} is not described (described: ${Object.keys(responses).join(", ")})`);
  let base = ["paths", o.path, o.method, "responses", responses[key] ? key : responses[`${key[0]}XX`] ? `${key[0]}XX` : "default"];
  if (response.$ref) {
    base = response.$ref.slice(2).split("/").map((p: string) => p.replaceAll("~1", "/").replaceAll("~0", "~"));
    response = resolve(response.$ref);
    assert.ok(response, `${name}: ${key} refers to a missing response`);
  }
  exercised.add(`${o.method} ${o.path}`);

  if (!response.content) {
    assert.equal(text, "", `${name}: ${key} is described without a body, but one came`);
    return undefined;
  }
  const type = (res.headers.get("content-type") ?? "").split(";")[0].trim();
  const mediaType = response.content[type] ? type : response.content["*/*"] ? "*/*" : undefined;
  assert.ok(mediaType, `${name}: ${key} answered ${type}; described: ${Object.keys(response.content).join(", ")}`);
  if (type !== "application/json") return text;

  const parsed = JSON.parse(text);
  const v = validatorAt(pointer([...base, "content", mediaType, "schema"]));
  if (!v(parsed)) {
    assert.fail(`${name} → ${key}: the answer does not match the document:\n${JSON.stringify(v.errors, null, 2)}\nbody: ${text.slice(0, 2000)}`);
  }
  return parsed;
}

/** A request as the tenant's admin (or `token`), naming the tenant. */
const as = (t: TestTenant, token?: string | null) => (method: string, url: string, status: number, opts: CallOptions = {}) =>
  call(method, url, status, { token: token === undefined ? t.admin : token, tenant: t.slug, ...opts });

function zipForm(zip: Buffer, field = "file"): FormData {
  const form = new FormData();
  form.append(field, new Blob([new Uint8Array(zip)], { type: "application/zip" }), "plugin.zip");
  return form;
}

// ---------------------------------------------------------------------------------------------
// (3) The document itself.

describe("the document", () => {
  test("is OpenAPI 3.1.0 with a title, a version and unique operation ids", () => {
    assert.equal(doc.openapi, "3.1.0");
    assert.ok(doc.info.title && doc.info.version);
    const ids = operations.map((o) => o.op.operationId);
    assert.deepEqual(ids.filter((id, i) => ids.indexOf(id) !== i), [], "duplicate operationIds");
    for (const o of operations) assert.ok(Object.keys(o.op.responses).length > 0, `${o.method} ${o.path} has no responses`);
  });

  test("every $ref resolves, every format is known, and every schema compiles", () => {
    const refs: string[] = [];
    const formats = new Set<string>();
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(walk);
      else if (node && typeof node === "object") {
        for (const [k, v] of Object.entries(node)) {
          if (k === "$ref" && typeof v === "string") refs.push(v);
          else if (k === "format" && typeof v === "string") formats.add(v);
          walk(v);
        }
      }
    };
    walk(doc);
    assert.ok(refs.length > 50, `only ${refs.length} $refs: is the walk broken?`);
    for (const r of new Set(refs)) assert.notEqual(resolve(r), undefined, `unresolved $ref ${r}`);
    for (const f of formats) assert.ok(FORMATS[f], `format "${f}" is not checked by this test`);
    for (const name of Object.keys(doc.components.schemas)) validatorAt(pointer(["components", "schemas", name]));
    for (const o of operations) {
      for (const [type, media] of Object.entries<any>(o.op.requestBody?.content ?? {})) {
        validatorAt(pointer(["paths", o.path, o.method, "requestBody", "content", type, "schema"]));
        assert.ok(media.schema, `${o.method} ${o.path}: request ${type} has no schema`);
      }
      for (const [status, r] of Object.entries<any>(o.op.responses)) {
        for (const type of Object.keys(r.content ?? {})) validatorAt(pointer(["paths", o.path, o.method, "responses", status, "content", type, "schema"]));
      }
    }
  });

  test("every {parameter} of a path is declared on each of its operations, in the path", () => {
    for (const o of operations) {
      const declared = (o.op.parameters ?? []).filter((p: any) => p.in === "path").map((p: any) => p.name).sort();
      const inPath = [...o.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      assert.deepEqual(declared, inPath, `${o.method} ${o.path}`);
    }
  });

  test("tenant-scoped /api operations take X-Tenant-Slug and are secured by the bearer JWT", () => {
    assert.deepEqual(doc.components.securitySchemes.bearerAuth, { ...doc.components.securitySchemes.bearerAuth, type: "http", scheme: "bearer", bearerFormat: "JWT" });
    for (const o of operations.filter((x) => x.path.startsWith("/api/") && !x.path.startsWith("/api/tenants"))) {
      assert.ok(o.op.parameters?.some((p: any) => p.$ref === "#/components/parameters/TenantSlug"), `${o.method} ${o.path}: no X-Tenant-Slug`);
      assert.equal(o.op.security, undefined, `${o.method} ${o.path}: the document's default (bearer) applies`);
    }
    for (const p of ["/healthz", "/readyz", "/openapi.json"]) assert.deepEqual(doc.paths[p].get.security, [], p);
  });
});

// ---------------------------------------------------------------------------------------------
// (1) and (2) against a running app.

before(async () => {
  app = await startTestApp();
});
after(() => app?.close());

// Express 5 keeps each layer's path as written (`rawPath`) and nested routers in `handle.stack`.
function mountedRoutes(expressApp: unknown): { method: string; path: string }[] {
  const out: { method: string; path: string }[] = [];
  const join = (a: string, b: string) => (a + b).replace(/\/+/g, "/").replace(/(.)\/$/, "$1");
  const walk = (stack: any[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        const methods = layer.route.methods._all ? ["all"] : Object.keys(layer.route.methods).filter((m) => layer.route.methods[m]);
        for (const p of [layer.route.path].flat()) for (const m of methods) out.push({ method: m, path: join(prefix, p) });
      } else if (Array.isArray(layer.handle?.stack)) {
        assert.ok(layer.rawPath !== undefined, "a mounted router without rawPath: Express's internals changed; update mountedRoutes");
        for (const p of [layer.rawPath].flat()) walk(layer.handle.stack, layer.slash ? prefix : join(prefix, p));
      }
    }
  };
  walk((expressApp as { router: { stack: any[] } }).router.stack, "");
  return out;
}

// The app's paths in the document's spelling: `:id` → `{id}`; every form of the plugin routes
// (`/ext/:slug`, `/ext/:slug/{*rest}` and the `/t/:tenant/…` variants) is the one generic path.
function documented(path: string): string {
  if (/^(\/t\/:tenant)?\/ext\/:slug(\/|$)/.test(path)) return "/ext/{slug}/{path}";
  return path.replace(/:(\w+)/g, "{$1}");
}

describe("routes", () => {
  test("every route the app mounts is in the document, and the document has no other", () => {
    const routes = mountedRoutes(buildApp(app.services));
    assert.ok(routes.filter((r) => r.path.startsWith("/api/")).length >= 40, `only ${routes.length} routes found: is the walk broken?`);
    const fromApp = new Set(routes.flatMap((r) => (r.method === "all" ? METHODS.map((m) => `${m} ${documented(r.path)}`) : [`${r.method} ${documented(r.path)}`])));
    const fromDoc = new Set(operations.map((o) => `${o.method} ${o.path}`));
    assert.deepEqual([...fromApp].filter((r) => !fromDoc.has(r)).sort(), [], "mounted but not in the document");
    assert.deepEqual([...fromDoc].filter((r) => !fromApp.has(r)).sort(), [], "in the document but not mounted");
  });

  test("GET /openapi.json serves the document, publicly, the same on every call", async () => {
    const first = await call("GET", "/openapi.json", 200);
    assert.deepEqual(first, JSON.parse(JSON.stringify(doc)));
    const again = await fetch(app.url + "/openapi.json");
    assert.equal(await again.text(), JSON.stringify(first));
  });
});

describe("answers validate against the document", () => {
  let t: TestTenant;
  let other: TestTenant;
  let api: ReturnType<typeof as>;
  before(async () => {
    t = await app.tenant("oa");
    other = await app.tenant("oa");
    api = as(t);
  });

  test("health, readiness, metrics", async () => {
    await call("GET", "/healthz", 200);
    await call("GET", "/readyz", 200);
    const metrics = await call("GET", "/metrics", 200);
    assert.match(metrics, /# HELP/);
  });

  test("me: every role, with and without a tenant, and the refusals", async () => {
    assert.equal((await api("GET", "/api/me", 200)).tenant.slug, t.slug);
    assert.equal((await as(t, t.member)("GET", "/api/me", 200)).role, "member");
    assert.equal((await call("GET", "/api/me", 200, { token: app.platformToken() })).tenant, null);
    assert.equal((await call("GET", "/api/me", 200, { token: app.platformToken(), tenant: t.slug })).tenant.id, t.id);
    await call("GET", "/api/me", 401, {});
    await call("GET", "/api/me", 401, { token: "not.a.jwt" });
    await call("GET", "/api/me", 403, { token: t.admin, tenant: other.slug });
    await call("GET", "/api/me", 404, { token: app.platformToken(), tenant: "no-such-tenant" });
  });

  test("tenants: create, list, conflicts and refusals", async () => {
    const platform = app.platformToken();
    const slug = `oa-${randomUUID().slice(0, 8)}`;
    await call("POST", "/api/tenants", 201, { token: platform, json: { slug, name: "OpenAPI" } });
    await call("POST", "/api/tenants", 409, { token: platform, json: { slug, name: "Again" } });
    await call("POST", "/api/tenants", 400, { token: platform, json: { slug: "Not A Slug", name: "x" }, invalidBody: true });
    await call("POST", "/api/tenants", 400, { token: platform, body: "{", headers: { "content-type": "application/json" } });
    const list = await call("GET", "/api/tenants", 200, { token: platform });
    assert.ok(list.tenants.some((x: any) => x.slug === slug));
    await call("GET", "/api/tenants", 403, { token: t.admin });
    await call("GET", "/api/tenants", 401, {});
  });

  test("plugins: upload, upgrade, list, get, lifecycle and their errors", async () => {
    const good = await api("POST", "/api/plugins/upload", 201, { body: zipForm(fixtureZip("good")) });
    assert.equal(good.plugin.slug, "good");
    await api("POST", "/api/plugins/upload", 409, { body: zipForm(fixtureZip("good")) });
    const bad = await api("POST", "/api/plugins/upload", 422, { body: zipForm(fixtureZip("bad-slug")) });
    assert.ok(Array.isArray(bad.error.details));
    await api("POST", "/api/plugins/upload", 400, { body: zipForm(fixtureZip("good"), "zip") });

    await api("POST", "/api/plugins/upload", 201, { body: zipForm(fixtureZip("api-admin")) });
    const upgraded = await api("POST", "/api/plugins/upload", 200, { body: zipForm(adminAt("1.1.0", "v2")) });
    assert.equal(upgraded.previous_version, "1.0.0");
    const rolled = await api("POST", "/api/plugins/api-admin/rollback", 200);
    assert.equal(rolled.rolled_back_from, "1.1.0");
    await api("POST", "/api/plugins/good/rollback", 409);

    const list = await api("GET", "/api/plugins", 200);
    assert.deepEqual(list.plugins.map((p: any) => p.slug).sort(), ["api-admin", "good"]);
    await api("GET", `/api/plugins/${good.plugin.id}`, 200);
    await api("GET", "/api/plugins/no-such-plugin", 404);
    assert.equal((await api("POST", "/api/plugins/good/disable", 200)).plugin.status, "disabled");
    await api("POST", "/api/plugins/good/jobs/daily_cleanup/run-now", 409);
    assert.equal((await api("POST", "/api/plugins/good/enable", 200)).plugin.status, "enabled");
    await api("DELETE", "/api/plugins/good?purge=maybe", 400);

    await as(t, t.member)("GET", "/api/plugins", 403);
    await as(t, null)("GET", "/api/plugins", 401);
    await call("GET", "/api/plugins", 403, { token: t.admin, tenant: other.slug });
    await call("GET", "/api/plugins", 404, { token: app.platformToken(), tenant: "no-such-tenant" });
    await call("GET", "/api/plugins", 401, { token: "not.a.jwt", tenant: t.slug });
  });

  test("config, secrets, logs and plugin routes", async () => {
    const config = await api("GET", "/api/plugins/api-admin/config", 200);
    assert.equal(config.configuration.limit.type, "integer");
    await api("PUT", "/api/plugins/api-admin/config", 200, { json: { limit: 20, greeting: "hi" } });
    await api("PUT", "/api/plugins/api-admin/config", 422, { json: { limit: "twenty", nope: 1 } });
    await api("PUT", "/api/plugins/api-admin/config", 400, { body: "{not json", headers: { "content-type": "application/json" } });

    await api("PUT", "/api/plugins/api-admin/secrets/API_KEY", 204, { json: { value: "k-123" } });
    await api("PUT", "/api/plugins/api-admin/secrets/API_KEY", 400, { json: { val: "k" }, invalidBody: true });
    const secrets = await api("GET", "/api/plugins/api-admin/secrets", 200);
    assert.deepEqual(secrets.secrets.map((s: any) => s.name), ["API_KEY"]);
    await api("DELETE", "/api/plugins/api-admin/secrets/API_KEY", 204);
    await api("DELETE", "/api/plugins/api-admin/secrets/API_KEY", 404);
    await api("DELETE", "/api/plugins/api-admin/secrets/not-a-name", 400);

    await api("GET", "/ext/good/ping", 200);
    await api("GET", "/ext/api-admin/log?n=7", 200);
    await api("GET", "/ext/no-such-plugin/x", 404);
    const logs = await api("GET", "/api/plugins/api-admin/logs?limit=5", 200);
    assert.ok(logs.logs.some((l: any) => l.invocation?.kind === "route"), JSON.stringify(logs));
    await api("GET", "/api/plugins/api-admin/logs?before=abc", 400);
    const tail = await api("GET", `/api/plugins/api-admin/logs?after=${logs.logs.at(-1).id}`, 200);
    assert.equal(tail.next_before, null);
    await api("GET", "/api/plugins/api-admin/logs?after=1&before=2", 400);
  });

  test("jobs: list, run now, runs, a run, and their errors", async () => {
    const jobs = await api("GET", "/api/plugins/good/jobs", 200);
    assert.equal(jobs.jobs[0].name, "daily_cleanup");
    const { run } = await api("POST", "/api/plugins/good/jobs/daily_cleanup/run-now", 202);
    const done = await eventually("the run finishes", async () => {
      const r = await fetch(`${app.url}/api/plugins/good/jobs/daily_cleanup/runs/${run.id}`, { headers: { authorization: `Bearer ${t.admin}`, "x-tenant-slug": t.slug } });
      const body = (await r.json()) as any;
      return body.run.finished_at ? body : undefined;
    });
    assert.equal(done.run.status, "succeeded");
    await api("GET", `/api/plugins/good/jobs/daily_cleanup/runs/${run.id}`, 200);
    await api("GET", "/api/plugins/good/jobs/daily_cleanup/runs?limit=1", 200);
    await api("GET", `/api/plugins/good/jobs/daily_cleanup/runs/${randomUUID()}`, 404);
    await api("GET", "/api/plugins/good/jobs/daily_cleanup/runs?before=yesterday", 400);
    await api("POST", "/api/plugins/good/jobs/no_such_job/run-now", 404);

    // A run still going: the second run-now is 409 job_running with the skipped run in details.
    await api("POST", "/api/plugins/upload", 201, { body: zipForm(fixtureZip("job-manual")) });
    await api("POST", "/api/plugins/job-manual/jobs/hang/run-now", 202);
    const busy = await api("POST", "/api/plugins/job-manual/jobs/hang/run-now", 409);
    assert.equal(busy.error.code, "job_running");
    assert.equal(busy.error.details.run.status, "skipped");
  });

  test("events: test-event, publish, list, get", async () => {
    const waited = await api("POST", "/api/plugins/test-event?wait=true", 200, { json: { event_type: "auth.user.created", event_data: { user: { email: "x@example.com" } } } });
    assert.equal(waited.complete, true);
    assert.ok(waited.hooks.some((h: any) => h.plugin === "good"));
    await api("POST", "/api/plugins/test-event", 202, { json: { event_type: "auth.user.created" } });
    await api("POST", "/api/plugins/test-event", 400, { json: { event_data: {} }, invalidBody: true });

    const published = await api("POST", "/api/events", 202, { json: { type: "build.completed", data: { build: 7 } } });
    await api("POST", "/api/events", 400, { json: { data: {} }, invalidBody: true });
    const list = await api("GET", "/api/events?type=build.completed&limit=5", 200);
    assert.equal(list.events[0].id, published.event.id);
    await api("GET", `/api/events/${published.event.id}`, 200);
    await api("GET", `/api/events/${randomUUID()}`, 404);
  });

  test("users: create, list, get, change, delete", async () => {
    const created = await api("POST", "/api/users", 201, { json: { email: "ada@example.com", name: "Ada", data: { plan: "pro" } } });
    await api("POST", "/api/users", 400, { json: { email: "ada@example.com" } });
    await api("POST", "/api/users", 400, { json: { email: "not-an-email" }, invalidBody: true });
    const id = created.user.id;
    await as(t, t.member)("GET", "/api/users", 200);
    await as(t, t.member)("GET", `/api/users/${id}`, 200);
    await as(t, t.member)("POST", "/api/users", 403, { json: { email: "member@example.com" } });
    await api("PATCH", `/api/users/${id}`, 200, { json: { name: "Ada Lovelace" } });
    await api("PATCH", `/api/users/${id}`, 400, { json: { name: 42 }, invalidBody: true });
    await api("DELETE", `/api/users/${id}`, 200);
    await api("GET", `/api/users/${id}`, 404);
  });

  test("files: upload, replace, list, get, content, delete", async () => {
    const form = () => {
      const f = new FormData();
      f.append("path", "docs/hello.txt");
      f.append("file", new Blob(["hello"], { type: "text/plain" }), "hello.txt");
      return f;
    };
    const created = await api("POST", "/api/files", 201, { body: form() });
    await api("POST", "/api/files", 200, { body: form() });
    const noFile = new FormData();
    noFile.append("path", "x.txt");
    await api("POST", "/api/files", 400, { body: noFile });
    const id = created.file.id;
    await as(t, t.member)("GET", "/api/files?prefix=docs/", 200);
    await as(t, t.member)("GET", `/api/files/${id}`, 200);
    assert.equal(await as(t, t.member)("GET", `/api/files/${id}/content`, 200), "hello");
    await api("DELETE", `/api/files/${id}`, 200);
    await api("GET", `/api/files/${id}`, 404);
  });

  test("deliveries: list, one with its attempts, replay", async () => {
    await api("POST", "/api/plugins/upload", 201, { body: zipForm(fixtureZip("wh-plain")) });
    // No WEBHOOK_URL secret is set, so the delivery fails at once with the reason.
    await api("POST", "/api/events", 202, { json: { type: "order.created", data: { id: 1 } } });
    const failed = await eventually("the delivery fails", async () => {
      const r = await fetch(`${app.url}/api/plugins/wh-plain/deliveries`, { headers: { authorization: `Bearer ${t.admin}`, "x-tenant-slug": t.slug } });
      const body = (await r.json()) as any;
      return body.deliveries.find((d: any) => d.status === "failed");
    });
    const list = await api("GET", "/api/plugins/wh-plain/deliveries?status=failed&event=order.created&limit=10", 200);
    assert.equal(list.deliveries[0].id, failed.id);
    await api("GET", `/api/plugins/wh-plain/deliveries/${failed.id}`, 200);
    const replayed = await api("POST", `/api/plugins/wh-plain/deliveries/${failed.id}/retry`, 202);
    assert.equal(replayed.delivery.id, failed.id);
    await api("GET", "/api/plugins/wh-plain/deliveries?status=bogus", 400);
    await api("GET", `/api/plugins/wh-plain/deliveries/${randomUUID()}`, 404);
    await api("POST", `/api/plugins/wh-plain/deliveries/${randomUUID()}/retry`, 404);
  });

  test("emails and usage", async () => {
    await api("POST", "/api/plugins/upload", 201, { body: zipForm(fixtureZip("cap-email-basic")) });
    const sent = await api("POST", "/ext/cap-email-basic/run", 200, { json: { args: [{ to: "ada@example.com", subject: "Hi", text: "Hello" }] } });
    assert.equal(sent.error, undefined, JSON.stringify(sent));
    const list = await api("GET", "/api/plugins/cap-email-basic/emails?limit=5", 200);
    assert.equal(list.emails.length, 1);
    await api("GET", `/api/plugins/cap-email-basic/emails/${list.emails[0].id}`, 200);
    await api("GET", `/api/plugins/cap-email-basic/emails/${randomUUID()}`, 404);
    await api("GET", "/api/plugins/cap-email-basic/emails?status=lost", 400);

    const usage = await api("GET", "/api/plugins/cap-email-basic/usage?days=7", 200);
    assert.ok(usage.usage.length > 0, JSON.stringify(usage));
    await api("GET", "/api/plugins/cap-email-basic/usage?days=0", 400);
    await api("GET", "/api/plugins/cap-email-basic/usage?weeks=1", 400);
  });

  test("audit log, and uninstall", async () => {
    const audit = await api("GET", "/api/audit?limit=50", 200);
    const actions = new Set(audit.entries.map((e: any) => e.action));
    for (const a of ["plugin.installed", "plugin.upgraded", "plugin.rolled_back", "secret.set", "config.changed", "job.run_now", "delivery.replayed"]) {
      assert.ok(actions.has(a), `${a} in ${[...actions].join(", ")}`);
    }
    await api("GET", "/api/audit?limit=0", 400);
    await api("GET", "/api/audit?before=last-week", 400);
    await api("DELETE", "/api/plugins/good?purge=true", 204);
    await api("DELETE", "/api/plugins/good", 404);
  });

  test("every operation of the document was exercised above", () => {
    // The plugin route is one operation under five methods; GET and POST stand for the rest.
    const sameAsOthers = new Set(["put /ext/{slug}/{path}", "patch /ext/{slug}/{path}", "delete /ext/{slug}/{path}"]);
    const missing = operations.map((o) => `${o.method} ${o.path}`).filter((k) => !exercised.has(k) && !sameAsOthers.has(k));
    assert.deepEqual(missing, []);
  });
});
