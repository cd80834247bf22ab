// Shared by the hostile-plugin tests: one app with a hostile plugin on one tenant and the
// hello example on another, and the checks every hostile call is followed by.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { ERROR_CODES, type ErrorCode } from "../../src/errors.ts";
import { EXAMPLES, fixtureZip, startTestApp, type TestApp, type TestTenant } from "../support/test-app.ts";

export interface HostileStage {
  app: TestApp;
  /** The tenant running the hostile fixture. */
  hostile: TestTenant;
  /** Another tenant with the well-behaved hello example. */
  other: TestTenant;
  slug: string;
  installId: string;
}

/** Starts an app, installs `fixture` for one tenant and hello for another. */
export async function startHostileStage(fixture: string, env?: Record<string, string>): Promise<HostileStage> {
  const app = await startTestApp({ env });
  const other = await app.tenant("other");
  const hello = await other.upload(fixtureZip("hello", EXAMPLES));
  assert.equal(hello.status, 201, await hello.clone().text());
  const hostile = await app.tenant("hostile");
  const up = await hostile.upload(fixtureZip(fixture));
  assert.equal(up.status, 201, await up.clone().text());
  const { plugin } = (await up.json()) as { plugin: { id: string; slug: string } };
  return { app, hostile, other, slug: plugin.slug, installId: plugin.id };
}

// What a client must never see: stack frames, host paths, source files of the platform.
const LEAK = /\n\s+at |\bat [\w$.<>]+ \(|\/work\/|\/home\/|node_modules|file:\/\/|plugin:\/\/|sbh:runtime|\.ts\b/;

/** Asserts a clean error answer: one of `codes`, with that code's documented status, and no leak. */
export async function expectFailure(res: Response, codes: ErrorCode[]): Promise<{ code: ErrorCode; message: string }> {
  const text = await res.text();
  let body: { error?: { code?: string; message?: string } };
  try {
    body = JSON.parse(text);
  } catch {
    assert.fail(`expected a JSON error body, got ${res.status}: ${text.slice(0, 200)}`);
  }
  const code = body.error?.code as ErrorCode;
  assert.ok(codes.includes(code), `expected one of ${codes.join(", ")}, got ${res.status} ${text.slice(0, 300)}`);
  assert.equal(res.status, ERROR_CODES[code].status, `status of ${code}`);
  assert.doesNotMatch(text, LEAK, "the error body leaks host details");
  return { code, message: body.error!.message! };
}

export interface OkAnswer {
  ok: true;
  boot: string;
  calls: number;
}

/** Calls the hostile plugin's well-behaved `/ok` route. */
export async function callOk(stage: HostileStage): Promise<OkAnswer> {
  const res = await stage.hostile.request("GET", `/ext/${stage.slug}/ok`);
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as OkAnswer;
}

/**
 * After a hostile call: the server answers, another tenant's plugin answers, and the hostile
 * plugin's own well-behaved route answers. Returns that route's answer.
 */
export async function expectStillServing(stage: HostileStage): Promise<OkAnswer> {
  const health = await fetch(`${stage.app.url}/healthz`);
  assert.equal(health.status, 200);
  const ping = await stage.other.request("GET", "/ext/hello/ping");
  assert.equal(ping.status, 200, await ping.clone().text());
  assert.deepEqual(await ping.json(), { status: "ok", plugin: "hello", version: "1.0.0", tenant: stage.other.slug });
  return callOk(stage);
}

/** The sandbox processes this test process started (children running sandbox-main). */
export function sandboxChildren(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Field 4 of /proc/<pid>/stat is the parent pid; the name before it may hold spaces.
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid !== process.pid) continue;
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes("sandbox-main")) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}
