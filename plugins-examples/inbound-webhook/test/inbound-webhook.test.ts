import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { after, test } from "node:test";
import { createTestContext, loadPlugin } from "@sbh/sdk/testing";

const dir = new URL("..", import.meta.url).pathname;
const SECRET = "It's a Secret to Everybody";
const ctx = createTestContext({ tenant: "acme", secrets: { WEBHOOK_SECRET: SECRET } });
const plugin = await loadPlugin(dir, ctx);
after(() => plugin.close());

// What GitHub sends: the JSON text as it wrote it, signed over exactly those bytes.
const body = '{"ref":"refs/heads/main",  "commits":[{"id":"c1","message":"Grüße ✓"}]}';
const sign = (text: string, secret = SECRET) => "sha256=" + createHmac("sha256", secret).update(text, "utf8").digest("hex");

function deliver(opts: { raw?: string; signature?: string; id?: string; event?: string } = {}) {
  const raw = opts.raw ?? body;
  const headers: Record<string, string> = { "x-github-event": opts.event ?? "push", "x-github-delivery": opts.id ?? "d-1" };
  if (opts.signature !== "") headers["x-hub-signature-256"] = opts.signature ?? sign(raw);
  return plugin.route("POST", "/github", { body: JSON.parse(raw), rawBody: raw, headers, user: null });
}

test("GitHub's documented example signature verifies (the key and payload of their docs)", async () => {
  // docs.github.com, "Validating webhook deliveries": secret "It's a Secret to Everybody",
  // payload "Hello, World!", signature 757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17.
  const answer = await plugin.route("POST", "/github", {
    body: "Hello, World!",
    rawBody: "Hello, World!",
    headers: { "x-hub-signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", "x-github-delivery": "docs", "x-github-event": "ping" },
    user: null,
  });
  assert.equal(answer.status, 202, JSON.stringify(answer));
  assert.equal((answer.body as { event: string }).event, "inbound.ping");
});

test("a signed delivery is kept once and published as inbound.<event>, with the parsed payload", async () => {
  const answer = await deliver({ id: "d-42" });
  assert.equal(answer.status, 202, JSON.stringify(answer));
  assert.deepEqual({ ...(answer.body as object), event_id: undefined }, { received: "d-42", event: "inbound.push", event_id: undefined });
  const sent = ctx.emitted.find((e) => (e.data as { delivery_id: string }).delivery_id === "d-42");
  assert.deepEqual(sent, { type: "inbound.push", data: { delivery_id: "d-42", payload: JSON.parse(body) } });
  assert.equal(ctx.collection("deliveries").filter((d) => d.delivery_id === "d-42").length, 1);
});

test("the same delivery again is acknowledged, not kept or published twice", async () => {
  await deliver({ id: "d-7" });
  const before = ctx.emitted.length;
  const again = await deliver({ id: "d-7" });
  assert.equal(again.status, 200);
  assert.deepEqual(again.body, { duplicate: true, delivery_id: "d-7" });
  assert.equal(ctx.emitted.length, before);
  assert.equal(ctx.collection("deliveries").filter((d) => d.delivery_id === "d-7").length, 1);
});

test("a wrong secret, a changed body, or a missing or malformed signature is a 401", async () => {
  const cases = [
    { signature: sign(body, "not the secret") },
    { signature: sign(body), raw: body.replace("main", "evil") },
    { signature: sign(body.replace(/ {2}/, " ")), raw: body }, // re-encoded JSON is not the signed text
    { signature: "" },
    { signature: "sha1=" + "0".repeat(40) },
    { signature: "sha256=xyz" },
  ];
  for (const c of cases) {
    const answer = await deliver({ ...c, id: `bad-${c.signature}` });
    assert.equal(answer.status, 401, JSON.stringify({ c, answer }));
  }
  assert.equal(ctx.collection("deliveries").some((d) => String(d.delivery_id).startsWith("bad-")), false);
  assert.ok(ctx.logs.some((l) => l.level === "warn" && l.message.includes("signature does not match")));
});

test("odd event names still make a valid event type", async () => {
  const answer = await deliver({ id: "d-odd", event: "Pull-Request.Review" });
  assert.equal((answer.body as { event: string }).event, "inbound.pull_request_review");
});
