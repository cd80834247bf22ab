import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { AppError, ERROR_CODES, errorToHttp } from "../src/errors.ts";

test("docs/errors.md lists exactly the registry's codes with their statuses", () => {
  const doc = readFileSync(new URL("../docs/errors.md", import.meta.url), "utf8");
  const documented = new Map([...doc.matchAll(/^\| `(\w+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]));
  const registry = new Map(Object.entries(ERROR_CODES).map(([code, def]) => [code, def.status]));
  assert.deepEqual([...documented].sort(), [...registry].sort());
});

test("codes are snake_case and statuses are 4xx/5xx", () => {
  for (const [code, def] of Object.entries(ERROR_CODES)) {
    assert.match(code, /^[a-z]+(_[a-z]+)*$/);
    assert.ok(def.status >= 400 && def.status < 600, code);
  }
});

test("an AppError maps to its status, code, message and details", () => {
  const http = errorToHttp(new AppError("invalid_plugin", "bad", [{ path: "slug", message: "x" }]));
  assert.equal(http.status, 422);
  assert.deepEqual(http.body, { error: { code: "invalid_plugin", message: "bad", details: [{ path: "slug", message: "x" }] } });
});

test("an unknown error becomes a generic 500 without its message", () => {
  const http = errorToHttp(new Error("connection string postgres://secret@db"));
  assert.equal(http.status, 500);
  assert.equal(http.body.error.code, "internal");
  assert.doesNotMatch(JSON.stringify(http.body), /secret/);
});

test("body-parser errors map to invalid_json and payload_too_large", () => {
  const parse = Object.assign(new SyntaxError("Unexpected token"), { status: 400, expose: true, type: "entity.parse.failed" });
  assert.equal(errorToHttp(parse).body.error.code, "invalid_json");
  const big = Object.assign(new Error("request entity too large"), { status: 413, expose: true, type: "entity.too.large" });
  assert.equal(errorToHttp(big).status, 413);
  assert.equal(errorToHttp(big).body.error.code, "payload_too_large");
});

test("AppError carries extra headers (Retry-After)", () => {
  const http = errorToHttp(new AppError("rate_limited", undefined, null, { headers: { "Retry-After": "7" } }));
  assert.equal(http.status, 429);
  assert.equal(http.headers["Retry-After"], "7");
});
