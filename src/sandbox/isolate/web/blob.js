// Blob (File API §3) over bytes held in the isolate. stream() is not offered: there is no
// ReadableStream here.

const { utf8Encode, utf8Decode } = internals;

/** A Blob's type: lower-cased, or "" when it has a character outside U+0020–U+007E. */
function blobType(v) {
  const s = toDOMString(v);
  for (let i = 0; i < s.length; i++) {
    const c = StringPrototypeCharCodeAt(s, i);
    if (c < 0x20 || c > 0x7e) return "";
  }
  return StringPrototypeToLowerCase(s);
}

/** endings: "native" turns CR LF and lone CR into LF (the line ending of this platform). */
function nativeEndings(s) {
  let out = "";
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    if (StringPrototypeCharCodeAt(s, i) !== 0x0d) continue;
    out += StringPrototypeSlice(s, from, i) + "\n";
    if (StringPrototypeCharCodeAt(s, i + 1) === 0x0a) i++;
    from = i + 1;
  }
  return from === 0 ? s : out + StringPrototypeSlice(s, from);
}

/** WebIDL's relative index into [0, size]: negative counts from the end. */
function clampIndex(v, size) {
  let n = +v;
  if (NumberIsNaN(n)) n = 0;
  n = MathTrunc(n);
  return n < 0 ? MathMax(size + n, 0) : MathMin(n, size);
}

class Blob {
  #bytes;
  #type;

  constructor(blobParts = undefined, options = undefined) {
    if (options !== undefined && options !== null && !isObjectLike(options)) {
      throw new TypeErrorCtor("Failed to construct 'Blob': The provided value is not of type 'BlobPropertyBag'.");
    }
    let parts = [];
    if (blobParts !== undefined) {
      parts = toSequence(blobParts, "Failed to construct 'Blob'", (part) => {
        if (isObjectLike(part)) {
          if (#bytes in part) return part.#bytes;
          const bytes = bytesOf(part, true);
          if (bytes !== undefined) return copyBytes(bytes);
        }
        return toUSVString(part);
      });
    }
    let endings = "transparent";
    let type = "";
    if (options !== undefined && options !== null) {
      // BlobPropertyBag's members in dictionary order: endings, type.
      if (options.endings !== undefined) {
        endings = toDOMString(options.endings);
        if (endings !== "transparent" && endings !== "native") {
          throw new TypeErrorCtor(`Failed to construct 'Blob': The provided value '${endings}' is not a valid enum value of type EndingType.`);
        }
      }
      if (options.type !== undefined) type = blobType(options.type);
    }
    let size = 0;
    for (let i = 0; i < parts.length; i++) {
      if (typeof parts[i] === "string") parts[i] = utf8Encode(endings === "native" ? nativeEndings(parts[i]) : parts[i]);
      size += TypedArrayPrototypeGetLength(parts[i]);
    }
    const bytes = new Uint8ArrayCtor(size);
    let at = 0;
    for (let i = 0; i < parts.length; i++) {
      TypedArrayPrototypeSet(bytes, parts[i], at);
      at += TypedArrayPrototypeGetLength(parts[i]);
    }
    this.#bytes = bytes;
    this.#type = type;
  }

  get size() {
    return TypedArrayPrototypeGetLength(this.#bytes);
  }

  get type() {
    return this.#type;
  }

  slice(start = undefined, end = undefined, contentType = undefined) {
    const size = TypedArrayPrototypeGetLength(this.#bytes);
    const from = start === undefined ? 0 : clampIndex(start, size);
    const to = end === undefined ? size : clampIndex(end, size);
    const blob = new Blob();
    blob.#bytes = copyBytes(new Uint8ArrayCtor(TypedArrayPrototypeGetBuffer(this.#bytes), from, MathMax(to - from, 0)));
    blob.#type = contentType === undefined ? "" : blobType(contentType);
    return blob;
  }

  text() {
    try {
      return PromiseResolve(utf8Decode(this.#bytes));
    } catch (err) {
      return PromiseReject(err);
    }
  }

  arrayBuffer() {
    try {
      return PromiseResolve(TypedArrayPrototypeGetBuffer(copyBytes(this.#bytes)));
    } catch (err) {
      return PromiseReject(err);
    }
  }

  bytes() {
    try {
      return PromiseResolve(copyBytes(this.#bytes));
    } catch (err) {
      return PromiseReject(err);
    }
  }

  static {
    internals.isBlob = (v) => isObjectLike(v) && #bytes in v;
    internals.cloneBlob = (blob) => {
      const copy = new Blob();
      copy.#bytes = blob.#bytes;
      copy.#type = blob.#type;
      return copy;
    };
  }
}
webInterface(Blob);

exposeGlobal("Blob", Blob);
