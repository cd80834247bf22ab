import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { eventually } from "../support/eventually.ts";
import { expectError, ok } from "../support/http-assert.ts";
import { fixtureZip, startTestApp, type TestApp, type TestTenant } from "../support/test-app.ts";
import { zipDirectory } from "../support/zip-builder.ts";

// The product's plugin guide (seed 001) tells users to run these curl lines. They are copied here
// as printed, from its "Installing Plugin" and "Debug Commands" blocks, and run with the real curl
// (and again as the same bytes from node:http, which is how they run where there is no curl).
// Its `-d '…'` carries no Content-Type, so curl labels the JSON application/x-www-form-urlencoded.
const SEED_INSTALL = String.raw`
# Upload plugin via API
curl -X POST https://api.example.com/api/plugins/upload \
  -H "Authorization: Bearer <token>" \
  -H "X-Tenant-Slug: <tenant>" \
  -F "file=@my-plugin.zip"
`;
const SEED_DEBUG = String.raw`
# Check plugin status
curl -H "Authorization: Bearer <token>" \
  -H "X-Tenant-Slug: <tenant>" \
  https://api.example.com/api/plugins/

# Test plugin route
curl -H "Authorization: Bearer <token>" \
  -H "X-Tenant-Slug: <tenant>" \
  https://api.example.com/ext/my-plugin/ping

# Run plugin job
curl -X POST https://api.example.com/api/plugins/<id>/jobs/daily_cleanup/run-now \
  -H "Authorization: Bearer <token>" \
  -H "X-Tenant-Slug: <tenant>"

# Test event
curl -X POST https://api.example.com/api/plugins/test-event \
  -H "Authorization: Bearer <token>" \
  -H "X-Tenant-Slug: <tenant>" \
  -d '{"event_type": "auth.user.created", "event_data": {...}}'
`;

// The seed's manifest with `main.js` for its `main.py`, and its main.py in the platform's SDK.
const MANIFEST = {
  slug: "my-plugin",
  name: "My Plugin",
  version: "1.0.0",
  description: "A description of what this plugin does",
  author: "Your Name",
  repo_url: "https://github.com/your-org/my-plugin",
  entry: "main.js",
  permissions: ["db.read", "outbound_http"],
  routes: true,
  events: ["auth.user.created", "build.completed"],
  jobs: [{ name: "daily_cleanup", schedule: "0 2 * * *" }],
};
const MAIN_JS = `import { hook, route, job } from "@sbh/sdk";

hook("auth.user.created", async (ctx, event) => {
  const userEmail = event.data?.user?.email;
  console.log(\`New user created: \${userEmail}\`);
  await ctx.emit("email.welcome_sent", { user_email: userEmail });
});

hook("build.completed", async (ctx, event) => {
  const type = event.data?.status === "success" ? "build_success" : "build_failure";
  await ctx.emit("notification.sent", { type, build_id: event.data?.build_id, project: event.data?.project_name });
});

route("/ping", { methods: ["GET"] }, async (ctx) => ({ status: "ok", plugin: "my-plugin", tenant: ctx.tenantId }));

route("/webhook", { methods: ["POST"] }, async (ctx, req) => ({ status: "processed", data: req.body }));

job("daily_cleanup", async (ctx) => {
  console.log("Running daily cleanup...");
  return { status: "cleanup_completed" };
});
`;

// What the seed's `event_data: {...}` stands for: the user its auth.user.created hook reads.
const EVENT_DATA = '{"user": {"email": "ada@example.com"}}';

/** A bash command line split into words the way bash does for these lines: quotes, `\` escapes and continuations. */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === "\\" && line[i + 1] === "\n") {
      i++;
    } else if (c === " " || c === "\t" || c === "\n") {
      if (word !== null) words.push(word);
      word = null;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      assert.ok(end > i, `unterminated ' in ${line}`);
      word = (word ?? "") + line.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      word ??= "";
      for (i++; line[i] !== '"'; i++) {
        assert.ok(i < line.length, `unterminated " in ${line}`);
        if (line[i] === "\\" && '"\\$`'.includes(line[i + 1])) i++;
        word += line[i];
      }
    } else if (c === "\\") {
      word = (word ?? "") + line[++i];
    } else {
      word = (word ?? "") + c;
    }
  }
  if (word !== null) words.push(word);
  return words;
}

/** The commands of a bash block (comments and blank lines dropped), each as its words. */
function commands(block: string): string[][] {
  return block
    .split(/(?<!\\)\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map(shellWords);
}

interface Sent {
  status: number;
  body: string;
  /** The request headers as they went out, lower-case names. */
  headers: Record<string, string>;
  /** The answer's Content-Type (node:http only). */
  answerType?: string;
}

/** Runs a curl command's words (`curl` first) in `cwd`. */
type Runner = (words: string[], cwd: string) => Promise<Sent>;

const curlBinary = (() => {
  const found = spawnSync("sh", ["-c", "command -v curl"], { encoding: "utf8" });
  return found.status === 0 ? found.stdout.trim() : null;
})();

// -sS hides the progress meter, -v prints the request headers (`> Name: value`) on stderr, -w the status.
const viaCurl: Runner = (words, cwd) =>
  new Promise((resolve, reject) => {
    assert.equal(words[0], "curl");
    const child = spawn(curlBinary!, [...words.slice(1), "-sS", "-v", "-w", "\n%{http_code}"], { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) return reject(new Error(`curl exited ${code}: ${err}`));
      const cut = out.lastIndexOf("\n");
      const headers: Record<string, string> = {};
      for (const line of err.split(/\r?\n/)) {
        const m = /^> ([^:\s]+): (.*)$/.exec(line);
        if (m) headers[m[1].toLowerCase()] = m[2];
      }
      resolve({ status: Number(out.slice(cut + 1)), body: out.slice(0, cut), headers });
    });
  });

// The same request curl builds from these options (-X, -H, -d, -F name=@file), sent with node:http.
const viaNodeHttp: Runner = (words, cwd) => {
  assert.equal(words[0], "curl");
  let method: string | undefined;
  let url: string | undefined;
  let body: Buffer | undefined;
  const headers: Record<string, string> = { "user-agent": "curl", accept: "*/*" };
  const given: Record<string, string> = {};
  for (let i = 1; i < words.length; i++) {
    const w = words[i];
    if (w === "-X") method = words[++i];
    else if (w === "-H") {
      const h = words[++i];
      const colon = h.indexOf(":");
      given[h.slice(0, colon).trim().toLowerCase()] = h.slice(colon + 1).trim();
    } else if (w === "-d") {
      body = Buffer.from(words[++i]);
      headers["content-type"] = "application/x-www-form-urlencoded";
    } else if (w === "-F") {
      const [, name, file] = /^([^=]+)=@(.+)$/.exec(words[++i])!;
      const boundary = "------------------------" + Date.now().toString(16);
      body = Buffer.concat([
        Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${path.basename(file)}"\r\nContent-Type: application/octet-stream\r\n\r\n`),
        readFileSync(path.join(cwd, file)),
        Buffer.from(`\r\n--${boundary}--\r\n`),
      ]);
      headers["content-type"] = `multipart/form-data; boundary=${boundary}`;
    } else if (w.startsWith("-")) assert.fail(`the node:http runner does not know curl's ${w}`);
    else url = w;
  }
  Object.assign(headers, given);
  if (body) headers["content-length"] = String(body.length);
  return raw(method ?? (body ? "POST" : "GET"), url!, headers, body);
};

/** One request with exactly these headers (node adds Host and Connection only). */
function raw(method: string, url: string, headers: Record<string, string>, body?: Buffer | string): Promise<Sent> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode!, body: text, headers, answerType: res.headers["content-type"] }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** A node:http answer as a fetch Response, for the shared assertions. */
const asResponse = (sent: Sent) => new Response(sent.body, { status: sent.status, headers: sent.answerType ? { "content-type": sent.answerType } : {} });

function parsed(sent: Sent, status: number): any {
  assert.equal(sent.status, status, sent.body);
  return JSON.parse(sent.body);
}

let app: TestApp;
let work: string;
before(async () => {
  app = await startTestApp();
  work = mkdtempSync(path.join(tmpdir(), "seed-commands-"));
  mkdirSync(path.join(work, "my-plugin"));
  writeFileSync(path.join(work, "my-plugin", "plugin.json"), JSON.stringify(MANIFEST, null, 2));
  writeFileSync(path.join(work, "my-plugin", "main.js"), MAIN_JS);
  writeFileSync(path.join(work, "my-plugin.zip"), zipDirectory(path.join(work, "my-plugin")));
});
after(async () => {
  rmSync(work, { recursive: true, force: true });
  await app.close();
});

/** The seed's placeholders filled in for this app and tenant. */
function fill(words: string[], t: TestTenant, id = "<id>", eventData = EVENT_DATA): string[] {
  return words.map((w) =>
    w
      .replaceAll("https://api.example.com", app.url)
      .replaceAll("<token>", t.admin)
      .replaceAll("<tenant>", t.slug)
      .replaceAll("<id>", id)
      .replaceAll("{...}", eventData),
  );
}

describe("the seed's curl lines, as printed", () => {
  test("the blocks split into the five commands bash would run", () => {
    const all = [...commands(SEED_INSTALL), ...commands(SEED_DEBUG)];
    assert.equal(all.length, 5);
    assert.ok(all.every((c) => c[0] === "curl"));
    assert.deepEqual(all[4].slice(-2), ["-d", '{"event_type": "auth.user.created", "event_data": {...}}']);
    assert.deepEqual(all[0].slice(-2), ["-F", "file=@my-plugin.zip"]);
  });

  const runners: [string, Runner][] = [["node:http, as curl would send them", viaNodeHttp]];
  if (curlBinary) runners.unshift([`the real curl (${curlBinary})`, viaCurl]);
  else test("the real curl", (t) => t.skip("curl is not on PATH: the lines run through node:http only"));

  for (const [name, run] of runners) {
    test(`upload, list, ping, run-now and test-event through ${name}`, async () => {
      const t = await app.tenant("seed");
      const [upload] = commands(SEED_INSTALL);
      const [list, ping, runNow, testEvent] = commands(SEED_DEBUG);

      const installed = parsed(await run(fill(upload, t), work), 201);
      assert.equal(installed.plugin.slug, "my-plugin");
      const id: string = installed.plugin.id;

      const listed = parsed(await run(fill(list, t), work), 200);
      assert.deepEqual(listed.plugins.map((p: { slug: string; status: string }) => [p.slug, p.status]), [["my-plugin", "enabled"]]);

      assert.deepEqual(parsed(await run(fill(ping, t), work), 200), { status: "ok", plugin: "my-plugin", tenant: t.slug });

      const queued = parsed(await run(fill(runNow, t, id), work), 202);
      const done = await eventually("the manual run of daily_cleanup to finish", async () => {
        const body = await ok(await t.request("GET", `/api/plugins/${id}/jobs/daily_cleanup/runs/${queued.run.id}`));
        return body.run.status === "succeeded" || body.run.status === "failed" ? body.run : null;
      });
      assert.equal(done.status, "succeeded", JSON.stringify(done));
      assert.deepEqual(done.result, { status: "cleanup_completed" });

      const fired = await run(fill(testEvent, t), work);
      assert.equal(fired.headers["content-type"], "application/x-www-form-urlencoded", "the seed's -d line is sent form-labelled");
      const answer = parsed(fired, 202);
      assert.equal(answer.hooks, 1);
      // The hook got event_data as an object: it read the user's email out of it.
      const welcomed = await eventually("the hook's email.welcome_sent event", async () => {
        const events = (await ok(await t.request("GET", "/api/events?type=email.welcome_sent"))).events;
        return events.length ? events[0] : null;
      });
      assert.deepEqual(welcomed.data, { user_email: "ada@example.com" });

      // The seed's own route, called the same way: the plugin sees the object, not its text.
      const posted = await run(["curl", "-X", "POST", `${app.url}/ext/my-plugin/webhook`, "-H", `Authorization: Bearer ${t.admin}`, "-H", `X-Tenant-Slug: ${t.slug}`, "-d", '{"a":1}'], work);
      assert.equal(posted.headers["content-type"], "application/x-www-form-urlencoded");
      assert.deepEqual(parsed(posted, 200), { status: "processed", data: { a: 1 } });
    });
  }

  test("the line with its placeholder `{...}` left in is a clear 400 invalid_json", async () => {
    const t = await app.tenant("seed");
    const testEvent = commands(SEED_DEBUG)[3];
    const sent = await viaNodeHttp(fill(testEvent, t, "<id>", "{...}"), work);
    const body = await expectError(asResponse(sent), 400, "invalid_json");
    assert.equal(body.error.message, "The request body is not valid JSON");
  });
});

describe("JSON endpoints read an unlabelled body as JSON", () => {
  let t: TestTenant;
  let userId: string;
  before(async () => {
    t = await app.tenant("body");
    await ok(await t.upload(readFileSync(path.join(work, "my-plugin.zip"))), 201);
    userId = (await ok(await t.request("POST", "/api/users", { json: { email: "first@example.com" } }), 201)).user.id;
  });

  const send = (method: string, urlPath: string, contentType: string | null, body: string, token?: string) =>
    raw(method, app.url + urlPath, {
      authorization: `Bearer ${token ?? t.admin}`,
      "x-tenant-slug": t.slug,
      "content-length": String(Buffer.byteLength(body)),
      ...(contentType === null ? {} : { "content-type": contentType }),
    }, body);

  for (const [label, type] of [["form-urlencoded", "application/x-www-form-urlencoded"], ["no Content-Type", null]] as const) {
    test(`every JSON endpoint takes a JSON body sent ${label}`, async () => {
      const n = `${label === "no Content-Type" ? "b" : "a"}${Date.now().toString(36)}`;
      const tenant = parsed(await send("POST", "/api/tenants", type, JSON.stringify({ slug: `seed-${n}`, name: "Acme" }), app.platformToken()), 201);
      assert.equal(tenant.tenant.name, "Acme");
      assert.equal((await send("PUT", "/api/plugins/my-plugin/secrets/API_KEY", type, '{"value":"k"}')).status, 204);
      assert.deepEqual(parsed(await send("PUT", "/api/plugins/my-plugin/config", type, "{}"), 200), { config: {} });
      assert.equal(parsed(await send("POST", "/api/events", type, '{"type":"build.completed","data":{"status":"success"}}'), 202).event.type, "build.completed");
      assert.equal(parsed(await send("POST", "/api/plugins/test-event", type, '{"event_type":"auth.user.created","event_data":{}}'), 202).hooks, 1);
      assert.equal(parsed(await send("POST", "/api/users", type, JSON.stringify({ email: `${n}@example.com` })), 201).user.email, `${n}@example.com`);
      assert.equal(parsed(await send("PATCH", `/api/users/${userId}`, type, `{"name":"${n}"}`), 200).user.name, n);
    });
  }

  test("a form-urlencoded body that is not JSON is the same 400 invalid_json as malformed JSON", async () => {
    const malformed = parsed(await send("POST", "/api/plugins/test-event", "application/json", '{"event_type":'), 400);
    const form = parsed(await send("POST", "/api/plugins/test-event", "application/x-www-form-urlencoded", "event_type=auth.user.created"), 400);
    const bare = parsed(await send("PUT", "/api/plugins/my-plugin/secrets/API_KEY", null, "value=k"), 400);
    assert.equal(malformed.error.code, "invalid_json");
    assert.deepEqual(form, malformed);
    assert.deepEqual(bare, malformed);
    // A JSON scalar is refused as express.json's strict mode refuses it: the endpoints want objects.
    assert.deepEqual(parsed(await send("POST", "/api/events", "application/x-www-form-urlencoded", '"build.completed"'), 400), malformed);
  });

  test("text/plain is not read as JSON, as before: 400 invalid_request saying what to send", async () => {
    const json = '{"event_type":"auth.user.created","event_data":{}}';
    const body = await expectError(asResponse(await send("POST", "/api/plugins/test-event", "text/plain", json)), 400, "invalid_request");
    assert.match(body.error.message, /event_type/);
    await expectError(asResponse(await send("PUT", "/api/plugins/my-plugin/secrets/API_KEY", "text/plain", '{"value":"k"}')), 400, "invalid_request");
    await expectError(asResponse(await send("POST", "/api/users", "text/plain", '{"email":"plain@example.com"}')), 400, "invalid_request");
  });

  test("an empty body where one is required is a clear error, whatever its label", async () => {
    for (const type of ["application/json", "application/x-www-form-urlencoded", null]) {
      const body = await expectError(asResponse(await send("POST", "/api/plugins/test-event", type, "")), 400, "invalid_request");
      assert.match(body.error.message, /event_type/, String(type));
      // Not read as `{}`, which would store an empty config: an empty PUT is a mistake, not a reset.
      const config = await expectError(asResponse(await send("PUT", "/api/plugins/my-plugin/config", type, "")), 422, "invalid_config");
      assert.equal(config.error.message, "Config must be a JSON object");
    }
  });

  test("each endpoint keeps its size limit for unlabelled bodies (tenants: 16 kB)", async () => {
    const big = JSON.stringify({ slug: "too-big", name: "x".repeat(20_000) });
    await expectError(asResponse(await send("POST", "/api/tenants", "application/x-www-form-urlencoded", big, app.platformToken())), 413, "payload_too_large");
    await expectError(asResponse(await send("POST", "/api/tenants", null, big, app.platformToken())), 413, "payload_too_large");
  });
});

describe("plugin routes: an unlabelled JSON body arrives parsed", () => {
  let t: TestTenant;
  before(async () => {
    t = await app.tenant("ext");
    await ok(await t.upload(fixtureZip("api-routes")), 201);
  });
  const echo = (contentType: string | null, body: string) =>
    raw("POST", `${app.url}/ext/api-routes/echo`, {
      authorization: `Bearer ${t.admin}`,
      "x-tenant-slug": t.slug,
      "content-length": String(Buffer.byteLength(body)),
      ...(contentType === null ? {} : { "content-type": contentType }),
    }, body);

  test("form-urlencoded or unlabelled JSON is the object", async () => {
    assert.deepEqual(parsed(await echo("application/x-www-form-urlencoded", '{"a":1}'), 200), { body: { a: 1 }, type: "object", content_type: "application/x-www-form-urlencoded" });
    assert.deepEqual(parsed(await echo(null, '[1,2]'), 200), { body: [1, 2], type: "object", content_type: null });
  });

  test("a real form body, or text that only looks like JSON, stays text for the plugin", async () => {
    assert.deepEqual(parsed(await echo("application/x-www-form-urlencoded", "a=1&b=2"), 200), { body: "a=1&b=2", type: "string", content_type: "application/x-www-form-urlencoded" });
    assert.deepEqual(parsed(await echo("application/x-www-form-urlencoded", '{"a":'), 200), { body: '{"a":', type: "string", content_type: "application/x-www-form-urlencoded" });
    assert.deepEqual(parsed(await echo("text/plain", '{"a":1}'), 200), { body: '{"a":1}', type: "string", content_type: "text/plain" });
    assert.deepEqual(parsed(await echo(null, "42"), 200), { body: "42", type: "string", content_type: null });
  });
});
