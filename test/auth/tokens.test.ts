import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { describe, it } from "node:test";
import jwt from "jsonwebtoken";
import { MAX_TOKEN_LIFETIME_DAYS, signToken, verifyToken, type Claims } from "../../src/auth/tokens.ts";
import { AppError } from "../../src/errors.ts";

const SECRET = "test-secret-0123456789abcdef";

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
const nowSeconds = () => Math.floor(Date.now() / 1000);

/** An HS256 token signed by hand: exactly the claims given, nothing added (jsonwebtoken adds iat). */
function handSigned(payload: Record<string, unknown>): string {
  const signingInput = `${b64url({ alg: "HS256", typ: "JWT" })}.${b64url(payload)}`;
  return `${signingInput}.${createHmac("sha256", SECRET).update(signingInput).digest("base64url")}`;
}

function assertInvalidToken(fn: () => unknown, message?: string) {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof AppError, `expected AppError, got ${String(err)}`);
    assert.equal(err.code, "invalid_token");
    assert.equal(err.status, 401);
    if (message) assert.equal(err.message, message);
    return true;
  });
}

describe("signToken / verifyToken", () => {
  it("round-trips the claims of a tenant token and drops registered claims", () => {
    const claims: Claims = { sub: "user-17", tenant: "acme", role: "admin" };
    const token = signToken(claims, SECRET);
    assert.deepEqual(verifyToken(token, SECRET), claims);

    const decoded = jwt.decode(token, { complete: true })!;
    assert.equal(decoded.header.alg, "HS256");
    const payload = decoded.payload as jwt.JwtPayload;
    // default expiry: 30 days
    assert.equal(payload.exp! - payload.iat!, 30 * 24 * 3600);
  });

  it("round-trips a platform_admin token without a tenant", () => {
    const token = signToken({ sub: "platform", role: "platform_admin" }, SECRET, { expiresIn: 60 });
    assert.deepEqual(verifyToken(token, SECRET), { sub: "platform", role: "platform_admin" });
    const payload = jwt.decode(token) as jwt.JwtPayload;
    assert.equal(payload.exp! - payload.iat!, 60);
  });

  it("honours expiresIn with a unit", () => {
    const payload = jwt.decode(signToken({ sub: "u", tenant: "acme", role: "member" }, SECRET, { expiresIn: "2h" }));
    assert.equal((payload as jwt.JwtPayload).exp! - (payload as jwt.JwtPayload).iat!, 7200);
  });

  it("refuses an expired token with a clear message", () => {
    const token = jwt.sign({ sub: "u", tenant: "acme", role: "admin", exp: nowSeconds() - 60 }, SECRET);
    assertInvalidToken(() => verifyToken(token, SECRET), "The token has expired");
  });

  it("refuses a token signed with another secret", () => {
    const token = signToken({ sub: "u", tenant: "acme", role: "admin" }, "another-secret-0123456789");
    assertInvalidToken(() => verifyToken(token, SECRET), "The token is invalid or expired");
  });

  it("refuses a hand-made alg:none token", () => {
    const payload = { sub: "u", tenant: "acme", role: "admin", iat: nowSeconds() };
    const token = `${b64url({ alg: "none", typ: "JWT" })}.${b64url(payload)}.`;
    assertInvalidToken(() => verifyToken(token, SECRET));
  });

  it("refuses a hand-made token with alg HS256 in the header but no signature", () => {
    const token = `${b64url({ alg: "HS256", typ: "JWT" })}.${b64url({ sub: "u", tenant: "acme", role: "admin" })}.`;
    assertInvalidToken(() => verifyToken(token, SECRET));
  });

  for (const algorithm of ["HS384", "HS512"] as const) {
    it(`refuses an ${algorithm} token signed with the same secret`, () => {
      const token = jwt.sign({ sub: "u", tenant: "acme", role: "admin" }, SECRET, { algorithm });
      assert.equal(jwt.decode(token, { complete: true })!.header.alg, algorithm);
      assertInvalidToken(() => verifyToken(token, SECRET));
    });
  }

  it("accepts a correctly hand-signed HS256 token (the crafted-token helper is sound)", () => {
    const token = handSigned({ sub: "u", tenant: "acme", role: "member", iat: nowSeconds(), exp: nowSeconds() + 60 });
    assert.deepEqual(verifyToken(token, SECRET), { sub: "u", tenant: "acme", role: "member" });
  });

  describe("every token expires, within the maximum lifetime", () => {
    const DAY = 24 * 3600;
    const NO_EXPIRY = "The token has no expiry (exp claim); tokens must expire: mint one with npm run cli -- token";
    const TOO_LONG = `The token lives longer than the ${MAX_TOKEN_LIFETIME_DAYS} days a token may; mint a new one`;
    const claims = { sub: "u", tenant: "acme", role: "admin" };

    it("refuses a validly signed token without exp, with a message saying so", () => {
      // jsonwebtoken adds iat but no exp unless asked: such a token was valid forever.
      assertInvalidToken(() => verifyToken(jwt.sign(claims, SECRET), SECRET), NO_EXPIRY);
      assertInvalidToken(() => verifyToken(jwt.sign({ sub: "p", role: "platform_admin" }, SECRET), SECRET), NO_EXPIRY);
      assertInvalidToken(() => verifyToken(handSigned(claims), SECRET), NO_EXPIRY);
    });

    it(`refuses a token that lives longer than ${MAX_TOKEN_LIFETIME_DAYS} days, and accepts one that lives exactly that long`, () => {
      const iat = nowSeconds();
      const max = MAX_TOKEN_LIFETIME_DAYS * DAY;
      assertInvalidToken(() => verifyToken(jwt.sign({ ...claims, iat, exp: iat + max + 1 }, SECRET), SECRET), TOO_LONG);
      assertInvalidToken(() => verifyToken(jwt.sign({ ...claims, iat, exp: iat + 10 * 365 * DAY }, SECRET), SECRET), TOO_LONG);
      assert.deepEqual(verifyToken(jwt.sign({ ...claims, iat, exp: iat + max }, SECRET), SECRET), claims);
    });

    it("counts the lifetime from now when iat is missing or in the future, so no claim stretches it", () => {
      const now = nowSeconds();
      const far = now + (MAX_TOKEN_LIFETIME_DAYS + 10) * DAY;
      assertInvalidToken(() => verifyToken(handSigned({ ...claims, exp: far }), SECRET), TOO_LONG);
      assertInvalidToken(() => verifyToken(jwt.sign({ ...claims, iat: far - DAY, exp: far }, SECRET), SECRET), TOO_LONG);
      assert.deepEqual(verifyToken(handSigned({ ...claims, exp: now + DAY }), SECRET), claims);
    });

    it("refuses to sign a token that would live longer than the maximum (a server would refuse it)", () => {
      for (const expiresIn of [`${MAX_TOKEN_LIFETIME_DAYS + 1}d`, "1y", MAX_TOKEN_LIFETIME_DAYS * DAY + 1]) {
        assert.throws(() => signToken(claims as Claims, SECRET, { expiresIn }), /is longer than the 90 days a token may live/, String(expiresIn));
      }
      const token = signToken(claims as Claims, SECRET, { expiresIn: `${MAX_TOKEN_LIFETIME_DAYS}d` });
      const payload = jwt.decode(token) as jwt.JwtPayload;
      assert.equal(payload.exp! - payload.iat!, MAX_TOKEN_LIFETIME_DAYS * DAY);
      assert.deepEqual(verifyToken(token, SECRET), claims);
    });
  });

  for (const garbage of ["", "garbage", "a.b.c", "...", "x".repeat(10_000), "eyJhbGciOiJIUzI1NiJ9.!!!.sig"]) {
    it(`refuses garbage ${JSON.stringify(garbage.slice(0, 20))}`, () => {
      assertInvalidToken(() => verifyToken(garbage, SECRET));
    });
  }

  const badPayloads: Array<[string, Record<string, unknown>]> = [
    ["no sub", { tenant: "acme", role: "admin" }],
    ["no role", { sub: "u", tenant: "acme" }],
    ["unknown role", { sub: "u", tenant: "acme", role: "owner" }],
    ["anonymous role", { sub: "u", tenant: "acme", role: "anonymous" }],
    ["admin without tenant", { sub: "u", role: "admin" }],
    ["member without tenant", { sub: "u", role: "member" }],
    ["numeric sub", { sub: 42, tenant: "acme", role: "admin" }],
    ["empty tenant", { sub: "u", tenant: "", role: "member" }],
  ];
  for (const [name, payload] of badPayloads) {
    it(`refuses a validly signed token with ${name}`, () => {
      assertInvalidToken(() => verifyToken(jwt.sign(payload, SECRET), SECRET));
    });
  }

  it("refuses a validly signed token whose payload is not an object", () => {
    assertInvalidToken(() => verifyToken(jwt.sign("just a string", SECRET), SECRET));
  });

  it("refuses to sign admin or member claims without a tenant", () => {
    for (const role of ["admin", "member"] as const) {
      assert.throws(() => signToken({ sub: "u", role }, SECRET), /tenant: tenant is required unless the role is platform_admin/);
    }
  });

  it("refuses to sign with an empty secret, an unknown role or an ambiguous expiry", () => {
    assert.throws(() => signToken({ sub: "u", tenant: "acme", role: "admin" }, ""), /JWT secret is empty/);
    assert.throws(() => signToken({ sub: "u", tenant: "acme", role: "owner" as never }, SECRET), /cannot sign token: role/);
    assert.throws(() => signToken({ sub: "", tenant: "acme", role: "admin" }, SECRET), /cannot sign token: sub/);
    assert.throws(() => signToken({ sub: "u", tenant: "acme", role: "admin" }, SECRET, { expiresIn: "3600" }), /must be seconds/);
    assert.throws(() => signToken({ sub: "u", tenant: "acme", role: "admin" }, SECRET, { expiresIn: -5 }), /positive/);
  });

  it("treats an empty verification secret as a wiring bug, not a bad token", () => {
    const token = signToken({ sub: "u", tenant: "acme", role: "admin" }, SECRET);
    assert.throws(() => verifyToken(token, ""), (err: unknown) => !(err instanceof AppError) && /JWT secret is empty/.test(String(err)));
  });
});
