// Shared by the Web-globals conformance tests: the web-conformance fixture installed on a real
// platform, and code run two ways — in a plugin's isolate over HTTP, and here in Node with
// Node's own globals — so each test compares the isolate against Node's implementation.
import assert from "node:assert/strict";
import { fixtureZip, startTestApp, type TestApp, type TestTenant } from "../support/test-app.ts";

export const SLUG = "web-conformance";

export interface Outcome {
  ok: boolean;
  value?: any;
  error?: ErrorRecord;
}

export interface ErrorRecord {
  name: string;
  message: string;
  code?: number;
  isDOMException: boolean;
  isError: boolean;
  isTypeError: boolean;
  isRangeError: boolean;
}

export interface WebStage {
  app: TestApp;
  tenant: TestTenant;
  /** Runs `source` (an async function body of `h` and `state`) in the plugin's isolate. */
  inIsolate(source: string, tenant?: TestTenant): Promise<Outcome>;
  /** Installs the fixture for another tenant (its own isolate). */
  newTenant(): Promise<TestTenant>;
  close(): Promise<void>;
}

export async function startWebStage(): Promise<WebStage> {
  const app = await startTestApp();
  const install = async () => {
    const t = await app.tenant("web");
    const res = await t.upload(fixtureZip(SLUG));
    assert.equal(res.status, 201, await res.clone().text());
    return t;
  };
  const tenant = await install();
  const inIsolate = async (source: string, t = tenant): Promise<Outcome> => {
    const res = await t.request("POST", `/ext/${SLUG}/eval`, { json: { source } });
    const text = await res.text();
    assert.equal(res.status, 200, text.slice(0, 2000));
    return JSON.parse(text) as Outcome;
  };
  return { app, tenant, inIsolate, newTenant: install, close: () => app.close() };
}

/** The fixture's helpers (main.js `h`), for running the same code in Node. */
const h = {
  hex(bytes: ArrayBuffer | ArrayBufferView): string {
    const view = bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return Buffer.from(view).toString("hex");
  },
  bytes(hex: string): Uint8Array {
    return new Uint8Array(Buffer.from(hex, "hex"));
  },
  units(s: string): number[] {
    const out: number[] = [];
    for (let i = 0; i < s.length; i++) out.push(s.charCodeAt(i));
    return out;
  },
  error(err: any): ErrorRecord {
    return {
      name: err && err.name,
      message: err && String(err.message),
      code: err && err.code,
      isDOMException: err instanceof DOMException,
      isError: err instanceof Error,
      isTypeError: err instanceof TypeError,
      isRangeError: err instanceof RangeError,
    };
  },
};

const AsyncFunction = (async () => {}).constructor as new (...args: string[]) => (...a: unknown[]) => Promise<unknown>;

/** The same source in this process, with Node's globals; the answer goes through JSON as the isolate's does. */
export async function inNode(source: string): Promise<Outcome> {
  const run = new AsyncFunction("h", "state", source);
  let outcome: Outcome;
  try {
    outcome = { ok: true, value: await run(h, {}) };
  } catch (err) {
    outcome = { ok: false, error: h.error(err) };
  }
  return JSON.parse(JSON.stringify(outcome)) as Outcome;
}

/** The value, or a failure naming the error the code threw. */
export function valueOf(outcome: Outcome, what = "the code"): any {
  if (!outcome.ok) assert.fail(`${what} threw ${outcome.error?.name}: ${outcome.error?.message}`);
  return outcome.value;
}

/**
 * Runs `source` in the isolate and in Node and asserts the same answer. Error messages differ
 * between implementations, so errors are compared by name and kind only.
 */
export async function sameAsNode(stage: WebStage, source: string, what = source.slice(0, 80)): Promise<Outcome> {
  const [mine, node] = await Promise.all([stage.inIsolate(source), inNode(source)]);
  assert.deepEqual(comparable(mine), comparable(node), what);
  return mine;
}

function comparable(o: Outcome): unknown {
  if (o.ok) return { ok: true, value: o.value };
  const { name, code, isDOMException, isError, isTypeError, isRangeError } = o.error!;
  // Node's own errors carry string codes (ERR_…); a DOMException's numeric code is the standard's.
  return { ok: false, error: { name, isDOMException, isError, isTypeError, isRangeError, ...(isDOMException ? { code } : {}) } };
}
