import { createHmac } from "node:crypto";

/**
 * Standard Webhooks signing (https://www.standardwebhooks.com): the signed content is
 * `<webhook-id>.<webhook-timestamp>.<body>`, the signature `v1,<base64 HMAC-SHA256>`.
 * A secret in the spec's `whsec_<base64>` form is used as the decoded bytes, as the spec's
 * libraries do; any other string is used as its UTF-8 bytes, so both kinds of receivers verify.
 */
export function signingKey(secret: string): Buffer {
  if (secret.startsWith("whsec_")) {
    const bytes = Buffer.from(secret.slice("whsec_".length), "base64");
    if (bytes.length > 0) return bytes;
  }
  return Buffer.from(secret, "utf8");
}

export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string): string {
  const mac = createHmac("sha256", signingKey(secret)).update(`${id}.${timestampSeconds}.${body}`).digest("base64");
  return `v1,${mac}`;
}
