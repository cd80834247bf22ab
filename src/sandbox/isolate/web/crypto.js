// crypto, Crypto, SubtleCrypto and CryptoKey (Web Crypto API), backed by the sandbox process's
// node:crypto: random bytes and UUIDs synchronously, digests and HMACs through Node's
// webcrypto, which runs them on libuv's thread pool rather than the process's main thread.
// Argument conversion, algorithm normalization and key import follow the Web Crypto spec here;
// only bytes and algorithm names cross to the host.
//
// Supported: digest (SHA-1/256/384/512); HMAC keys (importKey "raw" and "jwk", exportKey,
// generateKey) with sign and verify; and Cloudflare Workers' timingSafeEqual(a, b).

const { DOMException, base64Encode, base64Decode } = internals;

const MAX_RANDOM_BYTES = 65536;
const INTEGER_ARRAYS = ["Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array", "Int32Array", "Uint32Array", "BigInt64Array", "BigUint64Array"];
const HASHES = ["SHA-1", "SHA-256", "SHA-384", "SHA-512"];
// HMAC's JWK "alg" per hash, and the default key length (the hash's block size, in bits).
const JWK_ALG = { __proto__: null, "SHA-1": "HS1", "SHA-256": "HS256", "SHA-384": "HS384", "SHA-512": "HS512" };
const BLOCK_BITS = { __proto__: null, "SHA-1": 512, "SHA-256": 512, "SHA-384": 1024, "SHA-512": 1024 };
const KEY_FORMATS = ["raw", "spki", "pkcs8", "jwk"];
const KEY_USAGES = ["encrypt", "decrypt", "sign", "verify", "deriveKey", "deriveBits", "wrapKey", "unwrapKey"];

function operationError() {
  return new DOMException("The operation failed for an operation-specific reason", "OperationError");
}

function notSupported(name) {
  return new DOMException(`Unrecognized algorithm name: ${name}`, "NotSupportedError");
}

/** "Normalize an algorithm": a string or an object with a name; returns [canonicalName, object]. */
function algorithmName(algorithm, known) {
  // AlgorithmIdentifier is (object or DOMString): anything but an object is a name.
  const dict = isObjectLike(algorithm) ? algorithm : { __proto__: null, name: toDOMString(algorithm) };
  const name = dict.name;
  if (name === undefined) throw new TypeErrorCtor("Algorithm: name is required.");
  const wanted = asciiUpperCase(toDOMString(name));
  for (let i = 0; i < known.length; i++) {
    if (asciiUpperCase(known[i]) === wanted) return [known[i], dict];
  }
  throw notSupported(toDOMString(name));
}

function hashOf(algorithm) {
  return algorithmName(algorithm, HASHES)[0];
}

/** HmacImportParams / HmacKeyGenParams: the hash (required) and an optional length in bits. */
function hmacParams(dict) {
  const hash = dict.hash;
  if (hash === undefined) throw new TypeErrorCtor("HmacImportParams: hash is required.");
  const length = dict.length;
  const normalizedHash = hashOf(hash);
  let bits;
  if (length !== undefined) {
    bits = +length;
    if (!(bits >= 0 && bits <= 0xffffffff) || NumberIsNaN(bits)) throw new TypeErrorCtor("HmacImportParams: length is outside the range of an unsigned long.");
    bits = MathTrunc(bits);
  }
  return { hash: normalizedHash, length: bits };
}

function bufferSource(v, what) {
  const bytes = bytesOf(v, false);
  if (bytes === undefined) throw new TypeErrorCtor(`${what}: the value is not of type '(ArrayBuffer or ArrayBufferView)'.`);
  return bytes;
}

function keyUsages(v) {
  return toSequence(v, "Failed to execute 'importKey' on 'SubtleCrypto'", (u) => {
    const usage = toDOMString(u);
    if (!ArrayPrototypeIncludes(KEY_USAGES, usage)) throw new TypeErrorCtor(`Failed to execute 'importKey' on 'SubtleCrypto': '${usage}' is not a valid KeyUsage.`);
    return usage;
  });
}

function checkHmacUsages(usages) {
  for (let i = 0; i < usages.length; i++) {
    if (usages[i] !== "sign" && usages[i] !== "verify") throw new DOMException("Unsupported key usage for an HMAC key", "SyntaxError");
  }
}

// Checked last, after the key material: a secret key must be good for something.
function checkNotEmpty(usages) {
  if (usages.length === 0) throw new DOMException("Usages cannot be empty when creating a key.", "SyntaxError");
}

/** Key usages as the spec keeps them: each once, in the order of the enum. */
function normalizedUsages(usages) {
  const out = [];
  for (let i = 0; i < KEY_USAGES.length; i++) if (ArrayPrototypeIncludes(usages, KEY_USAGES[i])) ArrayPrototypePush(out, KEY_USAGES[i]);
  return out;
}

class CryptoKey {
  #type;
  #extractable;
  #algorithm;
  #usages;
  #hash;
  #bytes;

  constructor(token, extractable, hash, lengthBits, usages, bytes) {
    illegalConstructor(token);
    this.#type = "secret";
    this.#extractable = extractable;
    this.#hash = hash;
    this.#algorithm = { name: "HMAC", length: lengthBits, hash: { name: hash } };
    this.#usages = normalizedUsages(usages);
    this.#bytes = bytes;
  }

  get type() { return this.#type; }
  get extractable() { return this.#extractable; }
  get algorithm() { return this.#algorithm; }
  get usages() { return this.#usages; }

  static {
    internals.isCryptoKey = (v) => isObjectLike(v) && #bytes in v;
    internals.cloneCryptoKey = (key) => new CryptoKey(ILLEGAL, key.#extractable, key.#hash, key.#algorithm.length, key.#usages, key.#bytes);
    internals.keyParts = (key, what) => {
      if (!isObjectLike(key) || !(#bytes in key)) throw new TypeErrorCtor(`${what}: the key is not of type 'CryptoKey'.`);
      return { hash: key.#hash, bytes: key.#bytes, extractable: key.#extractable, usages: key.#usages, length: key.#algorithm.length };
    };
  }
}
webInterface(CryptoKey);

function importHmacJwk(jwk, hash, extractable, usages) {
  if (!isObjectLike(jwk)) throw new TypeErrorCtor("Failed to execute 'importKey' on 'SubtleCrypto': the key data is not a JsonWebKey.");
  // JsonWebKey's members, read in the dictionary's (lexicographic) order.
  const alg = jwk.alg === undefined ? undefined : toDOMString(jwk.alg);
  const ext = jwk.ext === undefined ? undefined : !!jwk.ext;
  const k = jwk.k === undefined ? undefined : toDOMString(jwk.k);
  const keyOps = jwk.key_ops === undefined ? undefined : toSequence(jwk.key_ops, "JsonWebKey.key_ops", toDOMString);
  const kty = jwk.kty === undefined ? undefined : toDOMString(jwk.kty);
  const use = jwk.use === undefined ? undefined : toDOMString(jwk.use);
  if (kty !== "oct") throw new DOMException("The JWK 'kty' member was not 'oct'", "DataError");
  if (k === undefined) throw new DOMException("The JWK 'k' member is missing", "DataError");
  const bytes = base64Decode(k, true);
  if (bytes === null) throw new DOMException("The JWK 'k' member is not base64url", "DataError");
  if (alg !== undefined && alg !== JWK_ALG[hash]) throw new DOMException("The JWK 'alg' member does not match the hash", "DataError");
  if (usages.length > 0 && use !== undefined && use !== "sig") throw new DOMException("The JWK 'use' member was not 'sig'", "DataError");
  if (keyOps !== undefined) {
    for (let i = 0; i < usages.length; i++) {
      if (!ArrayPrototypeIncludes(keyOps, usages[i])) throw new DOMException("The JWK 'key_ops' member does not allow the requested usages", "DataError");
    }
  }
  if (ext === false && extractable) throw new DOMException("The JWK 'ext' member was false and the key is extractable", "DataError");
  return bytes;
}

function keyLength(bytes, requested) {
  const bits = TypedArrayPrototypeGetLength(bytes) * 8;
  if (bits === 0) throw new DOMException("Zero-length key is not supported", "DataError");
  if (requested === undefined) return bits;
  if (requested > bits || requested <= bits - 8) throw new DOMException("Invalid key length", "DataError");
  return requested;
}

// At most this many digests or HMACs of one isolate run in the sandbox process at a time (the
// size of libuv's thread pool); the rest wait here. Each one holds a copy of its input in the
// sandbox process, outside the isolate's memory limit, so a loop that does not await them must
// not turn one buffer of the plugin's into thousands of copies there.
const MAX_HOST_JOBS = 4;
let hostJobs = 0;
const waiting = [];
let waitingHead = 0;

/**
 * Bytes as the operation must see them: Web Crypto reads its input when it is called, so bytes
 * that wait for a turn are copied now (into the isolate's own memory), and the others go as
 * they are (isolated-vm copies them when the call starts, which is now).
 */
function inputOf(v, waits) {
  if (typedArrayKind(v) !== "Uint8Array") return v;
  return waits ? copyBytes(v) : hostBytes(v);
}

async function hostResult(op, a, b, c, d) {
  const waits = hostJobs >= MAX_HOST_JOBS;
  a = inputOf(a, waits);
  b = inputOf(b, waits);
  c = inputOf(c, waits);
  d = inputOf(d, waits);
  while (hostJobs >= MAX_HOST_JOBS) {
    await new PromiseCtor((resolve) => ArrayPrototypePush(waiting, resolve));
  }
  hostJobs++;
  let out;
  try {
    out = await hostAsync(op, a, b, c, d);
  } catch {
    out = null;
  } finally {
    hostJobs--;
    if (waitingHead < waiting.length) {
      const next = waiting[waitingHead];
      waiting[waitingHead++] = undefined;
      if (waitingHead === waiting.length) waiting.length = waitingHead = 0;
      next();
    }
  }
  if (out === null || out === undefined) throw operationError();
  return out;
}

class SubtleCrypto {
  #brand = true;

  constructor(token) {
    illegalConstructor(token);
  }

  async digest(algorithm, data) {
    this.#brand;
    requireArgs(arguments.length, 2, "Failed to execute 'digest' on 'SubtleCrypto'");
    const bytes = bufferSource(data, "Failed to execute 'digest' on 'SubtleCrypto'");
    const hash = hashOf(algorithm);
    return hostResult("crypto.digest", hash, bytes);
  }

  async importKey(format, keyData, algorithm, extractable, keyUsages_) {
    this.#brand;
    requireArgs(arguments.length, 5, "Failed to execute 'importKey' on 'SubtleCrypto'");
    format = toDOMString(format);
    if (!ArrayPrototypeIncludes(KEY_FORMATS, format)) throw new TypeErrorCtor(`Failed to execute 'importKey' on 'SubtleCrypto': '${format}' is not a valid KeyFormat.`);
    let raw;
    if (format !== "jwk") {
      raw = bufferSource(keyData, "Failed to execute 'importKey' on 'SubtleCrypto'");
    } else if ((!isObjectLike(keyData) && keyData !== undefined && keyData !== null) || bytesOf(keyData, true) !== undefined) {
      throw new TypeErrorCtor("Failed to execute 'importKey' on 'SubtleCrypto': the key data is not a JsonWebKey.");
    }
    extractable = !!extractable;
    const usages = keyUsages(keyUsages_);
    const params = hmacParams(algorithmName(algorithm, ["HMAC"])[1]);
    checkHmacUsages(usages);
    let bytes;
    if (format === "raw") bytes = copyBytes(raw);
    else if (format === "jwk") bytes = importHmacJwk(isObjectLike(keyData) ? keyData : {}, params.hash, extractable, usages);
    else throw new DOMException(`Unsupported key format for an HMAC key: ${format}`, "NotSupportedError");
    const bits = keyLength(bytes, params.length);
    checkNotEmpty(usages);
    return new CryptoKey(ILLEGAL, extractable, params.hash, bits, usages, bytes);
  }

  async exportKey(format, key) {
    this.#brand;
    requireArgs(arguments.length, 2, "Failed to execute 'exportKey' on 'SubtleCrypto'");
    format = toDOMString(format);
    if (!ArrayPrototypeIncludes(KEY_FORMATS, format)) throw new TypeErrorCtor(`Failed to execute 'exportKey' on 'SubtleCrypto': '${format}' is not a valid KeyFormat.`);
    const k = internals.keyParts(key, "Failed to execute 'exportKey' on 'SubtleCrypto'");
    if (!k.extractable) throw new DOMException("key is not extractable", "InvalidAccessError");
    if (format === "raw") return TypedArrayPrototypeGetBuffer(copyBytes(k.bytes));
    if (format !== "jwk") throw new DOMException(`Unsupported key format for an HMAC key: ${format}`, "NotSupportedError");
    return { key_ops: ArrayPrototypeSlice(k.usages), ext: true, kty: "oct", k: base64Encode(k.bytes, true), alg: JWK_ALG[k.hash] };
  }

  async generateKey(algorithm, extractable, keyUsages_) {
    this.#brand;
    requireArgs(arguments.length, 3, "Failed to execute 'generateKey' on 'SubtleCrypto'");
    extractable = !!extractable;
    const usages = keyUsages(keyUsages_);
    const params = hmacParams(algorithmName(algorithm, ["HMAC"])[1]);
    checkHmacUsages(usages);
    const bits = params.length === undefined ? BLOCK_BITS[params.hash] : params.length;
    if (bits === 0) throw new DOMException("HMAC key length must not be zero", "OperationError");
    const size = MathFloor((bits + 7) / 8);
    if (size > MAX_RANDOM_BYTES) throw operationError();
    const random = hostSync("crypto.random", size);
    if (!isArrayBuffer(random)) throw operationError();
    checkNotEmpty(usages);
    return new CryptoKey(ILLEGAL, extractable, params.hash, bits, usages, new Uint8ArrayCtor(random));
  }

  async sign(algorithm, key, data) {
    this.#brand;
    requireArgs(arguments.length, 3, "Failed to execute 'sign' on 'SubtleCrypto'");
    const k = internals.keyParts(key, "Failed to execute 'sign' on 'SubtleCrypto'");
    const bytes = bufferSource(data, "Failed to execute 'sign' on 'SubtleCrypto'");
    algorithmName(algorithm, ["HMAC"]);
    if (!ArrayPrototypeIncludes(k.usages, "sign")) throw new DOMException("key does not support the 'sign' operation", "InvalidAccessError");
    return hostResult("crypto.hmacSign", k.hash, k.bytes, bytes);
  }

  async verify(algorithm, key, signature, data) {
    this.#brand;
    requireArgs(arguments.length, 4, "Failed to execute 'verify' on 'SubtleCrypto'");
    const k = internals.keyParts(key, "Failed to execute 'verify' on 'SubtleCrypto'");
    const sig = bufferSource(signature, "Failed to execute 'verify' on 'SubtleCrypto'");
    const bytes = bufferSource(data, "Failed to execute 'verify' on 'SubtleCrypto'");
    algorithmName(algorithm, ["HMAC"]);
    if (!ArrayPrototypeIncludes(k.usages, "verify")) throw new DOMException("key does not support the 'verify' operation", "InvalidAccessError");
    const ok = await hostResult("crypto.hmacVerify", k.hash, k.bytes, sig, bytes);
    return ok === true;
  }

  /**
   * Cloudflare Workers' extension: compares two BufferSources of the same length in time that
   * depends only on that length (node:crypto's timingSafeEqual, OpenSSL's CRYPTO_memcmp).
   */
  static {
    ArrayPrototypePush(uncloneable, (v) => isObjectLike(v) && #brand in v);
  }

  timingSafeEqual(a, b) {
    this.#brand;
    requireArgs(arguments.length, 2, "Failed to execute 'timingSafeEqual' on 'SubtleCrypto'");
    const x = bufferSource(a, "Failed to execute 'timingSafeEqual' on 'SubtleCrypto'");
    const y = bufferSource(b, "Failed to execute 'timingSafeEqual' on 'SubtleCrypto'");
    if (TypedArrayPrototypeGetLength(x) !== TypedArrayPrototypeGetLength(y)) {
      throw new TypeErrorCtor("Failed to execute 'timingSafeEqual' on 'SubtleCrypto': Input buffers must have the same byte length.");
    }
    const equal = hostSync("crypto.timingSafeEqual", hostBytes(x), hostBytes(y));
    if (typeof equal !== "boolean") throw operationError();
    return equal;
  }
}
webInterface(SubtleCrypto);

const subtle = new SubtleCrypto(ILLEGAL);

class Crypto {
  #brand = true;

  constructor(token) {
    illegalConstructor(token);
  }

  get subtle() {
    return this.#brand && subtle;
  }

  getRandomValues(array) {
    this.#brand;
    requireArgs(arguments.length, 1, "Failed to execute 'getRandomValues' on 'Crypto'");
    if (!isObjectLike(array) || !ArrayBufferIsView(array)) {
      throw new TypeErrorCtor("Failed to execute 'getRandomValues' on 'Crypto': parameter 1 is not of type 'ArrayBufferView'.");
    }
    if (!ArrayPrototypeIncludes(INTEGER_ARRAYS, typedArrayKind(array))) {
      throw new DOMException("Failed to execute 'getRandomValues' on 'Crypto': The provided ArrayBufferView is not an integer array type.", "TypeMismatchError");
    }
    const size = TypedArrayPrototypeGetByteLength(array);
    if (size > MAX_RANDOM_BYTES) {
      throw new DOMException(`Failed to execute 'getRandomValues' on 'Crypto': The ArrayBufferView's byte length (${size}) exceeds the number of bytes of entropy available via this API (${MAX_RANDOM_BYTES}).`, "QuotaExceededError");
    }
    if (size === 0) return array;
    const random = hostSync("crypto.random", size);
    if (!isArrayBuffer(random) || ArrayBufferPrototypeGetByteLength(random) !== size) throw operationError();
    TypedArrayPrototypeSet(new Uint8ArrayCtor(TypedArrayPrototypeGetBuffer(array), TypedArrayPrototypeGetByteOffset(array), size), new Uint8ArrayCtor(random));
    return array;
  }

  static {
    ArrayPrototypePush(uncloneable, (v) => isObjectLike(v) && #brand in v);
  }

  randomUUID() {
    this.#brand;
    const uuid = hostSync("crypto.randomUUID");
    if (typeof uuid !== "string") throw operationError();
    return uuid;
  }
}
webInterface(Crypto);

exposeGlobal("crypto", new Crypto(ILLEGAL));
exposeGlobal("Crypto", Crypto);
exposeGlobal("SubtleCrypto", SubtleCrypto);
exposeGlobal("CryptoKey", CryptoKey);
