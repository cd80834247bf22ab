// TextEncoder and TextDecoder (Encoding Standard, UTF-8 only), atob and btoa (HTML's forgiving
// base64). These run here, in the isolate, not in the sandbox process: their cost grows with
// the plugin's input, and a host callback would spend it on the process's one main thread,
// which every tenant of that process shares. The algorithms are the standards' own, step by
// step; test/runtime/encoding.test.ts holds them to Node's implementations.

const { DOMException } = internals;

// --- UTF-8 ----------------------------------------------------------------------------------

/** UTF-8 bytes of a well-formed string (callers convert to USVString first). */
function utf8Encode(s) {
  const n = s.length;
  let size = 0;
  for (let i = 0; i < n; i++) {
    const c = StringPrototypeCharCodeAt(s, i);
    if (c < 0x80) size += 1;
    else if (c < 0x800) size += 2;
    else if (c >= 0xd800 && c <= 0xdbff) { size += 4; i++; }
    else size += 3;
  }
  const out = new Uint8ArrayCtor(size);
  let at = 0;
  for (let i = 0; i < n; i++) {
    let c = StringPrototypeCharCodeAt(s, i);
    if (c < 0x80) {
      out[at++] = c;
    } else if (c < 0x800) {
      out[at++] = 0xc0 | (c >> 6);
      out[at++] = 0x80 | (c & 0x3f);
    } else if (c >= 0xd800 && c <= 0xdbff) {
      c = 0x10000 + ((c - 0xd800) << 10) + (StringPrototypeCharCodeAt(s, ++i) - 0xdc00);
      out[at++] = 0xf0 | (c >> 18);
      out[at++] = 0x80 | ((c >> 12) & 0x3f);
      out[at++] = 0x80 | ((c >> 6) & 0x3f);
      out[at++] = 0x80 | (c & 0x3f);
    } else {
      out[at++] = 0xe0 | (c >> 12);
      out[at++] = 0x80 | ((c >> 6) & 0x3f);
      out[at++] = 0x80 | (c & 0x3f);
    }
  }
  return out;
}

const FATAL = "The encoded data was not valid for encoding utf-8";
const CHUNK = 8192;

/** The UTF-8 decoder's state between chunks of a stream. */
function newDecoderState() {
  return { needed: 0, seen: 0, codePoint: 0, lower: 0x80, upper: 0xbf, bomSeen: false };
}

/**
 * Runs the Encoding Standard's UTF-8 decoder over `bytes` and serializes what it produced.
 * `flush` is end-of-queue (a trailing partial sequence is an error); `fatal` throws on errors
 * instead of emitting U+FFFD; `ignoreBOM` keeps a leading U+FEFF.
 */
function utf8DecodeChunk(state, bytes, flush, fatal, ignoreBOM) {
  const n = TypedArrayPrototypeGetLength(bytes);
  const units = [];
  let len = 0;
  let out = "";
  let { needed, seen, codePoint, lower, upper, bomSeen } = state;
  const emit = (cp) => {
    if (!bomSeen) {
      bomSeen = true;
      if (cp === 0xfeff && !ignoreBOM) return;
    }
    if (cp > 0xffff) {
      cp -= 0x10000;
      units[len++] = 0xd800 + (cp >> 10);
      units[len++] = 0xdc00 + (cp & 0x3ff);
    } else {
      units[len++] = cp;
    }
    if (len >= CHUNK) {
      out += charCodesToString(units, len);
      len = 0;
    }
  };
  const error = () => {
    if (fatal) throw new TypeErrorCtor(FATAL);
    emit(0xfffd);
  };
  for (let i = 0; i < n; i++) {
    const b = bytes[i];
    if (needed === 0) {
      if (b < 0x80) {
        if (bomSeen) {
          units[len++] = b;
          if (len >= CHUNK) {
            out += charCodesToString(units, len);
            len = 0;
          }
        } else {
          emit(b);
        }
      } else if (b >= 0xc2 && b <= 0xdf) {
        needed = 1;
        codePoint = b & 0x1f;
      } else if (b >= 0xe0 && b <= 0xef) {
        if (b === 0xe0) lower = 0xa0;
        if (b === 0xed) upper = 0x9f;
        needed = 2;
        codePoint = b & 0xf;
      } else if (b >= 0xf0 && b <= 0xf4) {
        if (b === 0xf0) lower = 0x90;
        if (b === 0xf4) upper = 0x8f;
        needed = 3;
        codePoint = b & 0x7;
      } else {
        error();
      }
      continue;
    }
    if (b < lower || b > upper) {
      // The byte is not part of the sequence: an error, then the byte is read again.
      needed = seen = codePoint = 0;
      lower = 0x80;
      upper = 0xbf;
      i--;
      error();
      continue;
    }
    lower = 0x80;
    upper = 0xbf;
    codePoint = (codePoint << 6) | (b & 0x3f);
    if (++seen !== needed) continue;
    const cp = codePoint;
    needed = seen = codePoint = 0;
    emit(cp);
  }
  if (flush && needed !== 0) {
    needed = seen = codePoint = 0;
    lower = 0x80;
    upper = 0xbf;
    error();
  }
  state.needed = needed;
  state.seen = seen;
  state.codePoint = codePoint;
  state.lower = lower;
  state.upper = upper;
  state.bomSeen = bomSeen;
  return len === 0 ? out : out + charCodesToString(units, len);
}

/** "UTF-8 decode": replacement characters for errors, a leading BOM dropped. */
function utf8Decode(bytes) {
  return utf8DecodeChunk(newDecoderState(), bytes, true, false, false);
}

/** "UTF-8 decode without BOM": the same, keeping a leading U+FEFF. */
function utf8DecodeWithoutBOM(bytes) {
  return utf8DecodeChunk(newDecoderState(), bytes, true, false, true);
}

// --- TextEncoder / TextDecoder -------------------------------------------------------------

class TextEncoder {
  #brand = true;

  constructor() {}

  get encoding() {
    return this.#brand && "utf-8";
  }

  static {
    ArrayPrototypePush(uncloneable, (v) => isObjectLike(v) && #brand in v);
  }

  encode(input = "") {
    this.#brand;
    return utf8Encode(toUSVString(input));
  }

  encodeInto(source, destination) {
    this.#brand;
    requireArgs(arguments.length, 2, "Failed to execute 'encodeInto' on 'TextEncoder'");
    const s = toUSVString(source);
    if (typedArrayKind(destination) !== "Uint8Array") {
      throw new TypeErrorCtor("Failed to execute 'encodeInto' on 'TextEncoder': parameter 2 is not of type 'Uint8Array'.");
    }
    const room = TypedArrayPrototypeGetLength(destination);
    let read = 0;
    let written = 0;
    const n = s.length;
    while (read < n) {
      let c = StringPrototypeCharCodeAt(s, read);
      let units = 1;
      let size;
      if (c < 0x80) size = 1;
      else if (c < 0x800) size = 2;
      else if (c >= 0xd800 && c <= 0xdbff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (StringPrototypeCharCodeAt(s, read + 1) - 0xdc00);
        size = 4;
        units = 2;
      } else size = 3;
      if (written + size > room) break;
      if (size === 1) {
        destination[written] = c;
      } else if (size === 2) {
        destination[written] = 0xc0 | (c >> 6);
        destination[written + 1] = 0x80 | (c & 0x3f);
      } else if (size === 3) {
        destination[written] = 0xe0 | (c >> 12);
        destination[written + 1] = 0x80 | ((c >> 6) & 0x3f);
        destination[written + 2] = 0x80 | (c & 0x3f);
      } else {
        destination[written] = 0xf0 | (c >> 18);
        destination[written + 1] = 0x80 | ((c >> 12) & 0x3f);
        destination[written + 2] = 0x80 | ((c >> 6) & 0x3f);
        destination[written + 3] = 0x80 | (c & 0x3f);
      }
      read += units;
      written += size;
    }
    return { read, written };
  }
}
webInterface(TextEncoder);

// The labels of UTF-8 in the Encoding Standard; every other encoding is refused.
const UTF8_LABELS = ["unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8", "utf-8", "utf8", "x-unicode20utf8"];

function trimAsciiWhitespace(s) {
  let start = 0;
  let end = s.length;
  while (start < end && isAsciiWhitespace(StringPrototypeCharCodeAt(s, start))) start++;
  while (end > start && isAsciiWhitespace(StringPrototypeCharCodeAt(s, end - 1))) end--;
  return StringPrototypeSlice(s, start, end);
}

function isAsciiWhitespace(c) {
  return c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d || c === 0x20;
}

function dictionary(v, what, type) {
  if (v === undefined || v === null) return undefined;
  if (!isObjectLike(v)) throw new TypeErrorCtor(`${what}: The provided value is not of type '${type}'.`);
  return v;
}

class TextDecoder {
  #fatal;
  #ignoreBOM;
  #doNotFlush = false;
  #state = newDecoderState();

  constructor(label = "utf-8", options = undefined) {
    const name = asciiLowerCase(trimAsciiWhitespace(toDOMString(label)));
    if (!ArrayPrototypeIncludes(UTF8_LABELS, name)) {
      throw new RangeErrorCtor(`Failed to construct 'TextDecoder': The encoding label provided ('${toDOMString(label)}') is invalid or not supported.`);
    }
    const dict = dictionary(options, "Failed to construct 'TextDecoder'", "TextDecoderOptions");
    this.#fatal = dict === undefined ? false : !!dict.fatal;
    this.#ignoreBOM = dict === undefined ? false : !!dict.ignoreBOM;
  }

  get encoding() {
    this.#fatal;
    return "utf-8";
  }

  static {
    ArrayPrototypePush(uncloneable, (v) => isObjectLike(v) && #state in v);
  }

  get fatal() {
    return this.#fatal;
  }

  get ignoreBOM() {
    return this.#ignoreBOM;
  }

  decode(input = undefined, options = undefined) {
    let bytes;
    if (input === undefined) {
      bytes = new Uint8ArrayCtor(0);
    } else {
      bytes = bytesOf(input, true);
      if (bytes === undefined) {
        throw new TypeErrorCtor("Failed to execute 'decode' on 'TextDecoder': The provided value is not of type '(ArrayBuffer or ArrayBufferView)'.");
      }
    }
    const dict = dictionary(options, "Failed to execute 'decode' on 'TextDecoder'", "TextDecodeOptions");
    const stream = dict === undefined ? false : !!dict.stream;
    if (!this.#doNotFlush) this.#state = newDecoderState();
    this.#doNotFlush = stream;
    // A shared buffer may change under the decoder: it reads a copy.
    if (isSharedArrayBuffer(TypedArrayPrototypeGetBuffer(bytes))) bytes = copyBytes(bytes);
    return utf8DecodeChunk(this.#state, bytes, !stream, this.#fatal, this.#ignoreBOM);
  }
}
webInterface(TextDecoder);

// --- base64 ---------------------------------------------------------------------------------

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
let decodeTables = null;

function decodeTable(url) {
  if (decodeTables === null) {
    const std = new Uint8ArrayCtor(128);
    const safe = new Uint8ArrayCtor(128);
    for (let i = 0; i < 128; i++) std[i] = safe[i] = 255;
    for (let i = 0; i < 64; i++) {
      std[StringPrototypeCharCodeAt(BASE64, i)] = i;
      safe[StringPrototypeCharCodeAt(BASE64URL, i)] = i;
    }
    decodeTables = [std, safe];
  }
  return decodeTables[url ? 1 : 0];
}

/** Base64 of some bytes, padded (RFC 4648 §4), or unpadded in the URL alphabet (§5). */
function base64Encode(bytes, url) {
  const alphabet = url ? BASE64URL : BASE64;
  const n = TypedArrayPrototypeGetLength(bytes);
  const codes = [];
  let at = 0;
  let i = 0;
  for (; i + 2 < n; i += 3) {
    const v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    codes[at++] = StringPrototypeCharCodeAt(alphabet, v >> 18);
    codes[at++] = StringPrototypeCharCodeAt(alphabet, (v >> 12) & 63);
    codes[at++] = StringPrototypeCharCodeAt(alphabet, (v >> 6) & 63);
    codes[at++] = StringPrototypeCharCodeAt(alphabet, v & 63);
  }
  if (i < n) {
    const two = i + 1 < n;
    const v = (bytes[i] << 16) | (two ? bytes[i + 1] << 8 : 0);
    codes[at++] = StringPrototypeCharCodeAt(alphabet, v >> 18);
    codes[at++] = StringPrototypeCharCodeAt(alphabet, (v >> 12) & 63);
    if (two) codes[at++] = StringPrototypeCharCodeAt(alphabet, (v >> 6) & 63);
    if (!url) {
      if (!two) codes[at++] = 0x3d;
      codes[at++] = 0x3d;
    }
  }
  return charCodesToString(codes, at);
}

/**
 * HTML's forgiving-base64 decode: ASCII whitespace is ignored, padding is optional but must be
 * right when present. `url` reads the URL alphabet, without padding or whitespace (as JWK's
 * base64url). Returns the bytes, or null for input that is not base64.
 */
function base64Decode(s, url) {
  const table = decodeTable(url);
  let n = s.length;
  const chars = new Uint8ArrayCtor(n);
  let count = 0;
  for (let i = 0; i < n; i++) {
    const c = StringPrototypeCharCodeAt(s, i);
    if (!url && isAsciiWhitespace(c)) continue;
    if (c > 0x7f) return null;
    chars[count++] = c;
  }
  if (!url && count % 4 === 0 && count > 0 && chars[count - 1] === 0x3d) {
    count -= chars[count - 2] === 0x3d ? 2 : 1;
  }
  if (count % 4 === 1) return null;
  const out = new Uint8ArrayCtor((count * 3) >> 2);
  let at = 0;
  let buffer = 0;
  let bits = 0;
  for (let i = 0; i < count; i++) {
    const v = table[chars[i]];
    if (v === 255) return null;
    buffer = (buffer << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[at++] = (buffer >> bits) & 0xff;
    }
  }
  return out;
}

function btoa(data) {
  requireArgs(arguments.length, 1, "Failed to execute 'btoa'");
  const s = toDOMString(data);
  const n = s.length;
  const bytes = new Uint8ArrayCtor(n);
  for (let i = 0; i < n; i++) {
    const c = StringPrototypeCharCodeAt(s, i);
    if (c > 0xff) throw new DOMException("Invalid character", "InvalidCharacterError");
    bytes[i] = c;
  }
  return base64Encode(bytes, false);
}

function atob(data) {
  requireArgs(arguments.length, 1, "Failed to execute 'atob'");
  const bytes = base64Decode(toDOMString(data), false);
  if (bytes === null) throw new DOMException("The string to be decoded is not correctly encoded.", "InvalidCharacterError");
  return bytesToBinaryString(bytes);
}

internals.utf8Encode = utf8Encode;
internals.utf8Decode = utf8Decode;
internals.utf8DecodeWithoutBOM = utf8DecodeWithoutBOM;
internals.base64Encode = base64Encode;
internals.base64Decode = base64Decode;
exposeGlobal("TextEncoder", TextEncoder);
exposeGlobal("TextDecoder", TextDecoder);
exposeGlobal("atob", atob);
exposeGlobal("btoa", btoa);
