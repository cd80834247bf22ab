import assert from "node:assert/strict";
import { createHash, createHmac, randomBytes, webcrypto } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { eventually } from "../support/eventually.ts";
import { sameAsNode, SLUG, startWebStage, valueOf, type WebStage } from "./web-harness.ts";

// crypto in a plugin's isolate, through the real platform, against node:crypto: digests, HMAC
// keys (raw and JWK) with sign and verify, random values, UUIDs, timingSafeEqual, and what a
// hostile plugin can reach from these objects.

let stage: WebStage;
before(async () => {
  stage = await startWebStage();
});
after(() => stage.close());

const HASHES = ["SHA-1", "SHA-256", "SHA-384", "SHA-512"] as const;
const nodeHash = (alg: string) => alg.replace("-", "").toLowerCase();
const ASTRAL = "😀 𝄞 𠜎 — ünïcødé\u0000\r\n";
const INPUTS: Record<string, Buffer> = {
  empty: Buffer.alloc(0),
  ascii: Buffer.from("The quick brown fox jumps over the lazy dog"),
  binary: Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
  astral: Buffer.from(ASTRAL, "utf8"),
  large: randomBytes(300 * 1024 + 3),
};

describe("crypto.subtle.digest", () => {
  test("SHA-1/256/384/512 match node:crypto on empty, binary, astral and large inputs", async () => {
    const inputs = Object.fromEntries(Object.entries(INPUTS).map(([name, data]) => [name, data.toString("hex")]));
    const got = valueOf(
      await stage.inIsolate(`
        const out = {};
        for (const [name, hex] of Object.entries(${JSON.stringify(inputs)})) {
          for (const alg of ${JSON.stringify(HASHES)}) out[alg + " " + name] = h.hex(await crypto.subtle.digest(alg, h.bytes(hex)));
        }
        return out;`),
    );
    for (const alg of HASHES) {
      for (const [name, data] of Object.entries(INPUTS)) {
        assert.equal(got[`${alg} ${name}`], createHash(nodeHash(alg)).update(data).digest("hex"), `${alg} of ${name}`);
      }
    }
  });

  test("any BufferSource: ArrayBuffer, a view into part of a buffer, a DataView; names in any case", async () => {
    const got = valueOf(
      await stage.inIsolate(`
        const all = h.bytes(${JSON.stringify(INPUTS.binary.toString("hex"))});
        return [
          h.hex(await crypto.subtle.digest("sha-256", all.buffer)),
          h.hex(await crypto.subtle.digest({ name: "Sha-256" }, all.subarray(10, 20))),
          h.hex(await crypto.subtle.digest("SHA-256", new DataView(all.buffer, 100, 50))),
          h.hex(await crypto.subtle.digest("SHA-256", new Uint32Array(all.buffer, 8, 4))),
        ];`),
    );
    const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
    assert.deepEqual(got, [sha(INPUTS.binary), sha(INPUTS.binary.subarray(10, 20)), sha(INPUTS.binary.subarray(100, 150)), sha(INPUTS.binary.subarray(8, 24))]);
  });

  test("many digests at once, not awaited one by one, all read their input when called", async () => {
    const got = valueOf(
      await stage.inIsolate(`
        const data = new Uint8Array([1, 2, 3]);
        const pending = [];
        for (let i = 0; i < 50; i++) pending.push(crypto.subtle.digest("SHA-256", data));
        const key = await crypto.subtle.importKey("raw", new Uint8Array([7]), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
        for (let i = 0; i < 20; i++) pending.push(crypto.subtle.sign("HMAC", key, data));
        data[0] = 9; // changed after the calls: none of them may see it
        return [...new Set((await Promise.all(pending)).map(h.hex))];`),
    );
    assert.deepEqual(got, [
      createHash("sha256").update(Buffer.from([1, 2, 3])).digest("hex"),
      createHmac("sha256", Buffer.from([7])).update(Buffer.from([1, 2, 3])).digest("hex"),
    ]);
  });

  test("bad algorithms and data reject as Node's webcrypto does", async () => {
    for (const call of [
      `crypto.subtle.digest("MD5", new Uint8Array(1))`,
      `crypto.subtle.digest("SHA-256", "not bytes")`,
      `crypto.subtle.digest("SHA-256", [1, 2, 3])`,
      `crypto.subtle.digest({}, new Uint8Array(1))`,
      `crypto.subtle.digest(42, new Uint8Array(1))`,
      `crypto.subtle.digest("SHA-256")`,
    ]) {
      await sameAsNode(stage, `return await ${call};`, call);
    }
  });
});

describe("HMAC", () => {
  const KEYS: Record<string, Buffer> = {
    short: Buffer.from("key"),
    binary: Buffer.from([0, 255, 1, 254, 128]),
    long: randomBytes(300), // longer than every block size: hashed first
  };

  test("importKey raw + sign equals node:crypto's createHmac; verify accepts it and refuses others", async () => {
    const cases = HASHES.flatMap((hash) =>
      Object.entries(KEYS).flatMap(([keyName, key]) =>
        ["empty", "binary", "astral", "ascii"].map((dataName) => ({ hash, keyName, key: key.toString("hex"), dataName, data: INPUTS[dataName].toString("hex") })),
      ),
    );
    const got = valueOf(
      await stage.inIsolate(`
        const out = {};
        for (const c of ${JSON.stringify(cases)}) {
          const key = await crypto.subtle.importKey("raw", h.bytes(c.key), { name: "HMAC", hash: c.hash }, false, ["sign", "verify"]);
          const data = h.bytes(c.data);
          const sig = new Uint8Array(await crypto.subtle.sign("HMAC", key, data));
          const flipped = sig.slice(); flipped[0] ^= 1;
          out[c.hash + " " + c.keyName + " " + c.dataName] = {
            sig: h.hex(sig),
            ok: await crypto.subtle.verify("HMAC", key, sig, data),
            flipped: await crypto.subtle.verify({ name: "hmac" }, key, flipped, data),
            short: await crypto.subtle.verify("HMAC", key, sig.subarray(1), data),
          };
        }
        return out;`),
    );
    for (const c of cases) {
      const mac = createHmac(nodeHash(c.hash), Buffer.from(c.key, "hex")).update(Buffer.from(c.data, "hex")).digest("hex");
      assert.deepEqual(got[`${c.hash} ${c.keyName} ${c.dataName}`], { sig: mac, ok: true, flipped: false, short: false }, `${c.hash} ${c.keyName} ${c.dataName}`);
    }
  });

  test("a JWK exported by Node imports and signs the same; keys export back as Node exports them", async () => {
    for (const hash of HASHES) {
      const key = await webcrypto.subtle.importKey("raw", KEYS.long, { name: "HMAC", hash }, true, ["sign", "verify"]);
      const jwk = await webcrypto.subtle.exportKey("jwk", key);
      const got = valueOf(
        await stage.inIsolate(`
          const key = await crypto.subtle.importKey("jwk", ${JSON.stringify(jwk)}, { name: "HMAC", hash: ${JSON.stringify(hash)} }, true, ["sign"]);
          const sig = await crypto.subtle.sign("HMAC", key, h.bytes(${JSON.stringify(INPUTS.astral.toString("hex"))}));
          return { sig: h.hex(sig), raw: h.hex(await crypto.subtle.exportKey("raw", key)), jwk: await crypto.subtle.exportKey("jwk", key) };`),
      );
      assert.equal(got.sig, createHmac(nodeHash(hash), KEYS.long).update(INPUTS.astral).digest("hex"), hash);
      assert.equal(got.raw, KEYS.long.toString("hex"));
      const signOnly = await webcrypto.subtle.importKey("jwk", jwk, { name: "HMAC", hash }, true, ["sign"]);
      assert.deepEqual(got.jwk, await webcrypto.subtle.exportKey("jwk", signOnly), `${hash}: exported JWK`);
    }
  });

  test("CryptoKey attributes are Node's for the same imports and generated keys", async () => {
    // The spec reflects usages de-duplicated, in its own order (Chromium does; Node 20 keeps the caller's list).
    const key = valueOf(
      await stage.inIsolate(`const k = await crypto.subtle.importKey("raw", new Uint8Array(20), { name: "HMAC", hash: "SHA-256" }, true, ["verify", "sign", "sign"]);
        return { usages: k.usages, same: k.usages === k.usages };`),
    );
    assert.deepEqual(key, { usages: ["sign", "verify"], same: true });
    // A length may leave off up to 7 bits of the last byte (Node 20 takes only the full length).
    const short = valueOf(await stage.inIsolate(`return (await crypto.subtle.importKey("raw", new Uint8Array(20), { name: "HMAC", hash: "SHA-256", length: 153 }, false, ["sign"])).algorithm.length;`));
    assert.equal(short, 153);
    for (const call of [
      `crypto.subtle.importKey("raw", new Uint8Array(20), { name: "HMAC", hash: "SHA-256" }, true, ["sign", "verify"])`,
      `crypto.subtle.importKey("raw", new Uint8Array(20), { name: "HMAC", hash: { name: "sha-512" }, length: 160 }, false, ["sign"])`,
      `crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-384" }, true, ["sign"])`,
      `crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-1", length: 256 }, false, ["verify"])`,
    ]) {
      await sameAsNode(
        stage,
        `const k = await ${call};
         const raw = k.extractable ? new Uint8Array(await crypto.subtle.exportKey("raw", k)).length : null;
         return { type: k.type, extractable: k.extractable, algorithm: k.algorithm, usages: k.usages, raw, tag: Object.prototype.toString.call(k), same: k.algorithm === k.algorithm };`,
        call,
      );
    }
  });

  test("import, sign and verify errors are Node's", async () => {
    const raw = `new Uint8Array([1, 2, 3])`;
    for (const call of [
      `crypto.subtle.importKey("raw", ${raw}, { name: "HMAC", hash: "SHA-256" }, false, [])`,
      `crypto.subtle.importKey("raw", ${raw}, { name: "HMAC", hash: "SHA-256" }, false, ["encrypt"])`,
      `crypto.subtle.importKey("raw", ${raw}, { name: "HMAC", hash: "SHA-256" }, false, ["bogus"])`,
      `crypto.subtle.importKey("raw", new Uint8Array(0), { name: "HMAC", hash: "SHA-256" }, false, ["sign"])`,
      `crypto.subtle.importKey("raw", ${raw}, { name: "HMAC" }, false, ["sign"])`,
      `crypto.subtle.importKey("raw", ${raw}, { name: "HMAC", hash: "MD5" }, false, ["sign"])`,
      `crypto.subtle.importKey("raw", ${raw}, { name: "HMAC", hash: "SHA-256", length: 25 }, false, ["sign"])`,
      `crypto.subtle.importKey("raw", ${raw}, { name: "HMAC", hash: "SHA-256", length: 16 }, false, ["sign"])`,
      `crypto.subtle.importKey("raw", "abc", { name: "HMAC", hash: "SHA-256" }, false, ["sign"])`,
      `crypto.subtle.importKey("nope", ${raw}, { name: "HMAC", hash: "SHA-256" }, false, ["sign"])`,
      `crypto.subtle.importKey("jwk", { kty: "RSA", k: "AQID" }, { name: "HMAC", hash: "SHA-256" }, false, ["sign"])`,
      `crypto.subtle.importKey("jwk", { kty: "oct", k: "AQID", alg: "HS512" }, { name: "HMAC", hash: "SHA-256" }, false, ["sign"])`,
      `crypto.subtle.importKey("jwk", { kty: "oct", k: "AQID", ext: false }, { name: "HMAC", hash: "SHA-256" }, true, ["sign"])`,
      `crypto.subtle.importKey("jwk", { kty: "oct", k: "AQID", key_ops: ["verify"] }, { name: "HMAC", hash: "SHA-256" }, false, ["sign"])`,
      `crypto.subtle.importKey("jwk", { kty: "oct", k: "AQID", use: "enc" }, { name: "HMAC", hash: "SHA-256" }, false, ["sign"])`,
      `crypto.subtle.importKey("raw", ${raw}, { name: "HMAC", hash: "SHA-256" }, false, ["verify"]).then((k) => crypto.subtle.sign("HMAC", k, ${raw}))`,
      `crypto.subtle.importKey("raw", ${raw}, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]).then((k) => crypto.subtle.verify("HMAC", k, ${raw}, ${raw}))`,
      `crypto.subtle.sign("HMAC", { type: "secret" }, ${raw})`,
      `crypto.subtle.importKey("raw", ${raw}, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]).then((k) => crypto.subtle.sign("HMAC", k, "text"))`,
    ]) {
      await sameAsNode(stage, `return await ${call};`, call);
    }
    // WebIDL picks BufferSource for bytes, and "jwk" then wants a dictionary: a TypeError (Node 20 says DataError).
    const jwkBytes = await stage.inIsolate(`return await crypto.subtle.importKey("jwk", ${raw}, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);`);
    assert.equal(jwkBytes.error?.name, "TypeError");
    // Node 20 names this one "InvalidAccessException"; the spec's name is InvalidAccessError.
    const locked = await stage.inIsolate(`const k = await crypto.subtle.importKey("raw", ${raw}, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]); return await crypto.subtle.exportKey("raw", k);`);
    assert.deepEqual([locked.error?.name, locked.error?.code, locked.error?.isDOMException], ["InvalidAccessError", 15, true]);
  });
});

describe("crypto.getRandomValues and randomUUID", () => {
  test("fills every integer typed array in place and returns it; other views and values are refused like Node", async () => {
    await sameAsNode(
      stage,
      `const out = {};
       for (const T of [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, BigInt64Array, BigUint64Array]) {
         const a = new T(64);
         const same = crypto.getRandomValues(a) === a;
         out[T.name] = { same, filled: a.some((v) => v != 0) };
       }
       const part = new Uint8Array(16);
       crypto.getRandomValues(part.subarray(4, 8));
       out.subarray = [part.slice(0, 4).every((v) => v === 0), part.slice(8).every((v) => v === 0)];
       out.max = crypto.getRandomValues(new Uint8Array(65536)).length;
       out.empty = crypto.getRandomValues(new Uint8Array(0)).length;
       return out;`,
    );
    for (const call of ["new Float32Array(4)", "new Float64Array(4)", "new DataView(new ArrayBuffer(4))", "new Uint8Array(65537)", "new Uint32Array(16385)"]) {
      await sameAsNode(stage, `return crypto.getRandomValues(${call});`, `getRandomValues(${call})`);
    }
    // Not an ArrayBufferView at all: WebIDL's TypeError (Node 20 answers TypeMismatchError).
    for (const call of ["[1, 2, 3]", "new ArrayBuffer(8)", "undefined"]) {
      const got = await stage.inIsolate(`return crypto.getRandomValues(${call});`);
      assert.equal(got.error?.name, "TypeError", `getRandomValues(${call})`);
    }
  });

  test("a huge array is a QuotaExceededError DOMException, not a crash, and the plugin's next call works", async () => {
    const huge = await stage.inIsolate(`state.before = 41; return crypto.getRandomValues(new Uint8Array(100 * 1024 * 1024));`);
    assert.equal(huge.ok, false);
    assert.equal(huge.error?.name, "QuotaExceededError");
    assert.equal(huge.error?.code, 22);
    assert.equal(huge.error?.isDOMException, true);
    assert.match(huge.error!.message, /65536/);
    const next = valueOf(await stage.inIsolate(`return { kept: state.before + 1, n: crypto.getRandomValues(new Uint16Array(8)).length };`));
    assert.deepEqual(next, { kept: 42, n: 8 }, "the same warm isolate answers the next call");
  });

  test("randomUUID gives distinct version 4 UUIDs", async () => {
    const ids: string[] = valueOf(await stage.inIsolate(`return Array.from({ length: 200 }, () => crypto.randomUUID());`));
    for (const id of ids) assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(new Set(ids).size, ids.length);
  });
});

describe("crypto.subtle.timingSafeEqual (as on Cloudflare Workers)", () => {
  test("compares ArrayBuffers and views of equal length; unequal lengths and non-buffers throw TypeError", async () => {
    const got = valueOf(
      await stage.inIsolate(`
        const a = new Uint8Array([1, 2, 3, 4]);
        const attempt = (f) => { try { return f(); } catch (e) { return e.name; } };
        const { timingSafeEqual } = crypto.subtle;
        return {
          equal: crypto.subtle.timingSafeEqual(a, new Uint8Array([1, 2, 3, 4])),
          differ: crypto.subtle.timingSafeEqual(a, new Uint8Array([1, 2, 3, 5])),
          mixed: crypto.subtle.timingSafeEqual(a.buffer, new DataView(new Uint8Array([1, 2, 3, 4]).buffer)),
          empty: crypto.subtle.timingSafeEqual(new ArrayBuffer(0), new Uint8Array(0)),
          lengths: attempt(() => crypto.subtle.timingSafeEqual(a, new Uint8Array(3))),
          strings: attempt(() => crypto.subtle.timingSafeEqual("abcd", "abcd")),
          detached: attempt(() => timingSafeEqual(a, a)),
          digests: crypto.subtle.timingSafeEqual(await crypto.subtle.digest("SHA-256", a), await crypto.subtle.digest("SHA-256", a)),
        };`),
    );
    assert.deepEqual(got, { equal: true, differ: false, mixed: true, empty: true, lengths: "TypeError", strings: "TypeError", detached: "TypeError", digests: true });
  });
});

describe("what plugin code can reach", () => {
  test("prototype walks from crypto objects end in this isolate's own intrinsics, with no host handle anywhere", async () => {
    const got = valueOf(
      await stage.inIsolate(`
        const key = await crypto.subtle.importKey("raw", new Uint8Array(8), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
        const roots = { crypto, subtle: crypto.subtle, key, Crypto, SubtleCrypto, CryptoKey, digest: crypto.subtle.digest("SHA-1", new Uint8Array(1)) };
        const seen = new Set();
        const queue = Object.values(roots);
        const hostLike = [];
        while (queue.length) {
          const v = queue.shift();
          if ((typeof v !== "object" && typeof v !== "function") || v === null || seen.has(v)) continue;
          seen.add(v);
          for (const name of ["applySync", "derefInto", "copySync", "copyInto", "typeof"]) if (name in v) hostLike.push(name);
          const ctor = Object.getOwnPropertyDescriptor(v, "constructor");
          if (ctor && typeof ctor.value === "function" && /^(Reference|ExternalCopy|Callback|Isolate|Context|NativeModule)$/.test(ctor.value.name)) hostLike.push(ctor.value.name);
          queue.push(Object.getPrototypeOf(v));
          for (const k of Reflect.ownKeys(v)) {
            const d = Object.getOwnPropertyDescriptor(v, k);
            queue.push(d.value, d.get, d.set);
          }
        }
        const fromDigest = await crypto.subtle.digest.constructor("return this")(); // an async method: AsyncFunction
        const fromKey = key.constructor.constructor("return this")();
        const fromUuid = crypto.randomUUID.constructor.constructor("return typeof process + typeof require + typeof $2")();
        return { objects: seen.size, hostLike, ownGlobal: fromDigest === globalThis && fromKey === globalThis, fromUuid, functionIsOwn: crypto.getRandomValues.constructor === Function };`),
    );
    assert.ok(got.objects > 50, `the walk reached the intrinsics (${got.objects} objects)`);
    assert.deepEqual(got.hostLike, []);
    assert.equal(got.ownGlobal, true, "Function('return this')() from a crypto method is the isolate's own global");
    assert.equal(got.fromUuid, "undefinedundefinedundefined");
    assert.equal(got.functionIsOwn, true);
  });

  test("algorithms beyond digests and HMAC are NotSupportedError, not a crash", async () => {
    const got = valueOf(
      await stage.inIsolate(`
        const attempt = (p) => p.then(() => "done", (e) => e.name);
        return [
          await attempt(crypto.subtle.importKey("raw", new Uint8Array(16), { name: "AES-CBC" }, false, ["encrypt"])),
          await attempt(crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign"])),
          typeof crypto.subtle.encrypt,
        ];`),
    );
    assert.deepEqual(got, ["NotSupportedError", "NotSupportedError", "undefined"]);
  });

  test("the constructors are illegal to call, as in browsers", async () => {
    await sameAsNode(
      stage,
      `const attempt = (f) => { try { f(); return "constructed"; } catch (e) { return e.name; } };
       return [attempt(() => new Crypto()), attempt(() => new SubtleCrypto()), attempt(() => new CryptoKey())];`,
    );
  });
});

test("a job gets the same globals as a route", async () => {
  const res = await stage.tenant.request("POST", `/api/plugins/${SLUG}/jobs/digest/run-now`);
  assert.equal(res.status, 202, await res.clone().text());
  const { run } = (await res.json()) as { run: { id: string } };
  const done = await eventually(`run ${run.id} to end`, async () => {
    const r = await stage.tenant.request("GET", `/api/plugins/${SLUG}/jobs/digest/runs/${run.id}`);
    const body = (await r.json()) as { run: { status: string; result: any; error: string | null } };
    return body.run.status !== "queued" && body.run.status !== "running" ? body.run : undefined;
  });
  assert.equal(done.status, "succeeded", JSON.stringify(done));
  assert.equal(done.result.sha256, createHash("sha256").update(run.id).digest("hex"));
  assert.match(done.result.uuid, /^[0-9a-f-]{36}$/);
  assert.equal(done.result.host, "example.com");
});
