import { randomFillSync } from "node:crypto";

// A call's token names it to the sandbox process and the host (see IsolatePool.running): 18
// random bytes, never reused. They are drawn from a buffer refilled 4.5 KiB at a time, as
// node:crypto's randomUUID does, because one randomBytes() per call cost a system call on every
// /ext request (about 2 % of the API process's CPU under load).
const TOKEN_BYTES = 18;
const pool = Buffer.allocUnsafe(TOKEN_BYTES * 256);
let offset = pool.length;

/** 24 base64url characters (144 random bits), unique to one call. */
export function callToken(): string {
  if (offset + TOKEN_BYTES > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const token = pool.toString("base64url", offset, offset + TOKEN_BYTES);
  offset += TOKEN_BYTES;
  return token;
}
