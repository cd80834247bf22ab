import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

export interface SecretCipher {
  /** `aad` names the owner (`${installId}:${name}`), so a blob copied to another row fails to decrypt. */
  encrypt(plaintext: string, aad: string): Buffer<ArrayBuffer>;
  decrypt(blob: Buffer, aad: string): string;
}

const ALGORITHM = "aes-256-gcm";
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** AES-256-GCM for plugin secrets at rest; the stored blob is iv | tag | ciphertext. */
export function createSecretCipher(key: Buffer): SecretCipher {
  if (!Buffer.isBuffer(key) || key.length !== 32) throw new Error("secret key must be 32 bytes");
  // A private copy: a caller zeroing or reusing its buffer must not change our key.
  const ownKey = Buffer.from(key);

  function encrypt(plaintext: string, aad: string): Buffer<ArrayBuffer> {
    // A fresh random IV per encryption: reusing one under the same key breaks GCM entirely.
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, ownKey, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(aad, "utf8"));
    const ciphertext = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), ciphertext]);
  }

  function decrypt(blob: Buffer, aad: string): string {
    try {
      if (blob.length < IV_BYTES + TAG_BYTES) throw new Error("too short");
      const iv = blob.subarray(0, IV_BYTES);
      const tag = blob.subarray(IV_BYTES, IV_BYTES + TAG_BYTES);
      // authTagLength pinned: otherwise Node accepts a truncated tag, which weakens the check.
      const decipher = createDecipheriv(ALGORITHM, ownKey, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(aad, "utf8"));
      decipher.setAuthTag(tag);
      const plain = Buffer.concat([decipher.update(blob.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
      return plain.toString("utf8");
    } catch {
      // One message for every cause: which check failed is of no use to anyone but an attacker.
      throw new Error("secret could not be decrypted");
    }
  }

  return { encrypt, decrypt };
}
