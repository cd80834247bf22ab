import { HttpError, json, route } from "@sbh/sdk";

// The sender signs the body it sends with a shared secret: X-Hub-Signature-256: sha256=<hex of
// HMAC-SHA256(secret, body)>. The route asks for rawBody, because the signature is over those
// exact bytes: re-encoding the parsed JSON would change spacing and key order.

const encoder = new TextEncoder();

// One imported key per secret value, kept while the isolate lives; a rotated secret imports anew.
let key = { secret: null, value: null };
async function signingKey(secret) {
  if (key.secret !== secret) {
    const value = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
    key = { secret, value };
  }
  return key.value;
}

/** The 32 bytes of "sha256=<64 hex digits>", or null for anything else. */
function signatureBytes(header) {
  const match = /^sha256=([0-9a-f]{64})$/i.exec(header ?? "");
  if (!match) return null;
  return Uint8Array.from(match[1].match(/../g), (pair) => parseInt(pair, 16));
}

/** Event names become the last part of an event type: lower-case letters, digits and _. */
function eventName(header) {
  const name = String(header ?? "message").toLowerCase().replace(/[^a-z0-9_]/g, "_");
  return /^[a-z0-9_]+$/.test(name) ? name : "message";
}

// POST /t/<tenant>/ext/inbound-webhook/github (no token: the signature is the credential).
route("/github", { methods: ["POST"], auth: "public", rawBody: true }, async (ctx, req) => {
  const signature = signatureBytes(req.headers["x-hub-signature-256"]);
  if (!signature) throw new HttpError(401, "Send X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>");
  // A required secret: the platform answers 409 plugin_needs_configuration until it is set.
  const secret = await ctx.secrets.get("WEBHOOK_SECRET");
  // verify compares in constant time, so the answer's timing tells a forger nothing.
  const valid = await crypto.subtle.verify("HMAC", await signingKey(secret), signature, encoder.encode(req.rawBody ?? ""));
  if (!valid) {
    ctx.log.warn("refused a delivery whose signature does not match", { delivery: req.headers["x-github-delivery"] ?? null });
    throw new HttpError(401, "The signature does not match the body");
  }

  const event = eventName(req.headers["x-github-event"]);
  const deliveryId = req.headers["x-github-delivery"] ?? crypto.randomUUID();
  const payload = req.body !== null && typeof req.body === "object" ? req.body : { text: req.body };
  try {
    await ctx.db.insert("deliveries", { delivery_id: deliveryId, event, payload });
  } catch (err) {
    // Senders retry on timeouts: a delivery seen before is acknowledged, not kept or published twice.
    if (err.name === "DuplicateKey") return { duplicate: true, delivery_id: deliveryId };
    throw err;
  }
  const published = await ctx.emit(`inbound.${event}`, { delivery_id: deliveryId, payload });
  ctx.log.info("delivery received", { delivery: deliveryId, event });
  return json({ received: deliveryId, event: `inbound.${event}`, event_id: published.id }, 202);
});

// GET /ext/inbound-webhook/deliveries?event=push — the latest deliveries, for admins.
route("/deliveries", { auth: "admin" }, async (ctx, req) => {
  const filter = req.query.event ? { event: String(req.query.event) } : {};
  const rows = await ctx.db.query("deliveries", filter, { order_by: "-created_at", limit: 20 });
  return { deliveries: rows.map((r) => ({ delivery_id: r.delivery_id, event: r.event, received_at: r.created_at })) };
});
