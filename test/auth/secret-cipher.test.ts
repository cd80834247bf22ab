import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { createSecretCipher } from "../../src/plugins/secret-cipher.ts";

const UNREADABLE = { name: "Error", message: "secret could not be decrypted" };

describe("createSecretCipher", () => {
  const key = randomBytes(32);
  const cipher = createSecretCipher(key);
  const aad = "install-1:API_KEY";

  it("round-trips text, including empty and non-ASCII values", () => {
    for (const value of ["sk_live_123", "", "pässwörd ✓ 密码"]) {
      const blob = cipher.encrypt(value, aad);
      assert.equal(blob.length, 12 + 16 + Buffer.byteLength(value));
      assert.equal(cipher.decrypt(blob, aad), value);
    }
  });

  it("decrypts with a second cipher built from the same key bytes", () => {
    const blob = cipher.encrypt("shared", aad);
    assert.equal(createSecretCipher(Buffer.from(key)).decrypt(blob, aad), "shared");
  });

  it("throws when any single byte of the blob is changed", () => {
    const blob = cipher.encrypt("sk_live_123", aad);
    // one byte in the iv, one in the tag, one in the ciphertext
    for (const index of [0, 12, blob.length - 1]) {
      const tampered = Buffer.from(blob);
      tampered[index] ^= 0x01;
      assert.throws(() => cipher.decrypt(tampered, aad), UNREADABLE);
    }
  });

  it("throws for the wrong aad (a blob copied to another install or name)", () => {
    const blob = cipher.encrypt("sk_live_123", aad);
    assert.throws(() => cipher.decrypt(blob, "install-2:API_KEY"), UNREADABLE);
    assert.throws(() => cipher.decrypt(blob, "install-1:OTHER"), UNREADABLE);
  });

  it("throws for the wrong key, a truncated blob or an empty one", () => {
    const blob = cipher.encrypt("sk_live_123", aad);
    assert.throws(() => createSecretCipher(randomBytes(32)).decrypt(blob, aad), UNREADABLE);
    assert.throws(() => cipher.decrypt(blob.subarray(0, 20), aad), UNREADABLE);
    assert.throws(() => cipher.decrypt(Buffer.alloc(0), aad), UNREADABLE);
  });

  it("gives different blobs for the same plaintext (random iv)", () => {
    const a = cipher.encrypt("same", aad);
    const b = cipher.encrypt("same", aad);
    assert.notDeepEqual(a, b);
    assert.notDeepEqual(a.subarray(0, 12), b.subarray(0, 12));
    assert.equal(cipher.decrypt(a, aad), cipher.decrypt(b, aad));
  });

  it("refuses a key that is not 32 bytes", () => {
    assert.throws(() => createSecretCipher(randomBytes(16)), /32 bytes/);
  });

  it("keeps working when the caller zeroes its key buffer", () => {
    const own = randomBytes(32);
    const c = createSecretCipher(own);
    const blob = c.encrypt("v", aad);
    own.fill(0);
    assert.equal(c.decrypt(blob, aad), "v");
  });
});
