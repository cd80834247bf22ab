import assert from "node:assert/strict";

// Assertions on the platform's HTTP answers, shared by the API, sandbox and event suites.

/** The parsed JSON body; fails the test with the raw text when it is not JSON. */
export async function json(res: Response): Promise<any> {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    assert.fail(`expected a JSON body, got ${res.status}: ${text.slice(0, 200)}`);
  }
}

/** A platform error: that status, a JSON body, that `error.code`, and a message. */
export async function expectError(res: Response, status: number, code: string): Promise<any> {
  const body = await json(res);
  assert.equal(res.status, status, JSON.stringify(body));
  assert.match(res.headers.get("content-type") ?? "", /application\/json/);
  assert.equal(body.error.code, code, JSON.stringify(body));
  assert.equal(typeof body.error.message, "string");
  return body;
}

/** A success with that status; returns the body. */
export async function ok(res: Response, status = 200): Promise<any> {
  const body = await json(res);
  assert.equal(res.status, status, JSON.stringify(body));
  return body;
}
