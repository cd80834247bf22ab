// Headers (Fetch Standard §5.2) with the "none" guard: a case-insensitive header list, values
// combined with ", ", iteration sorted by lower-cased name with each Set-Cookie on its own.

// RFC 9110 token characters.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function isHttpWhitespace(c) {
  return c === 0x09 || c === 0x0a || c === 0x0d || c === 0x20;
}

/** WebIDL ByteString: every code unit must fit in a byte. */
function toByteString(v, what) {
  const s = toDOMString(v);
  for (let i = 0; i < s.length; i++) {
    if (StringPrototypeCharCodeAt(s, i) > 0xff) throw new TypeErrorCtor(`${what}: Cannot convert argument to a ByteString because the character at index ${i} has a value greater than 255.`);
  }
  return s;
}

function headerName(v, what) {
  const name = toByteString(v, what);
  if (RegExpPrototypeExec(TOKEN, name) === null) throw new TypeErrorCtor(`${what}: "${name}" is an invalid header name.`);
  return asciiLower(name);
}

/** Strips leading and trailing HTTP whitespace, then refuses NUL, CR and LF. */
function headerValue(v, what) {
  const raw = toByteString(v, what);
  let start = 0;
  let end = raw.length;
  while (start < end && isHttpWhitespace(StringPrototypeCharCodeAt(raw, start))) start++;
  while (end > start && isHttpWhitespace(StringPrototypeCharCodeAt(raw, end - 1))) end--;
  const value = StringPrototypeSlice(raw, start, end);
  for (let i = 0; i < value.length; i++) {
    const c = StringPrototypeCharCodeAt(value, i);
    if (c === 0x00 || c === 0x0a || c === 0x0d) throw new TypeErrorCtor(`${what}: "${value}" is an invalid header value.`);
  }
  return value;
}

function asciiLower(s) {
  let lower = true;
  for (let i = 0; i < s.length; i++) {
    const c = StringPrototypeCharCodeAt(s, i);
    if (c >= 0x41 && c <= 0x5a) {
      lower = false;
      break;
    }
  }
  return lower ? s : StringPrototypeToLowerCase(s);
}

function pairOf(v) {
  const pair = toSequence(v, "Failed to construct 'Headers'", (x) => x);
  if (pair.length !== 2) throw new TypeErrorCtor("Failed to construct 'Headers': Invalid value: each header must be a [name, value] pair.");
  return pair;
}

class Headers {
  // [lower-cased name, value] in the order they were added.
  #list = [];
  #sorted = null;

  constructor(init = undefined) {
    if (init === undefined) return;
    if (!isObjectLike(init)) throw new TypeErrorCtor("Failed to construct 'Headers': The provided value is not of type '(record<ByteString, ByteString> or sequence<sequence<ByteString>>)'.");
    const method = init[SymbolIterator];
    if (method !== undefined && method !== null) {
      if (typeof method !== "function") throw new TypeErrorCtor("Failed to construct 'Headers': The object's iterator is not callable.");
      const pairs = toSequence(init, "Failed to construct 'Headers'", pairOf);
      for (let i = 0; i < pairs.length; i++) this.#append(pairs[i][0], pairs[i][1], "Failed to construct 'Headers'");
    } else {
      const keys = ReflectOwnKeys(init);
      for (let i = 0; i < keys.length; i++) {
        // Symbol keys count too: an enumerable one fails its string conversion (a TypeError).
        const key = keys[i];
        const desc = ObjectGetOwnPropertyDescriptor(init, key);
        if (desc === undefined || !desc.enumerable) continue;
        this.#append(key, init[key], "Failed to construct 'Headers'");
      }
    }
  }

  append(name, value) {
    requireArgs(arguments.length, 2, "Failed to execute 'append' on 'Headers'");
    this.#append(name, value, "Failed to execute 'append' on 'Headers'");
  }

  delete(name) {
    requireArgs(arguments.length, 1, "Failed to execute 'delete' on 'Headers'");
    const key = headerName(name, "Failed to execute 'delete' on 'Headers'");
    const list = this.#list;
    for (let i = list.length - 1; i >= 0; i--) if (list[i][0] === key) ArrayPrototypeSplice(list, i, 1);
    this.#sorted = null;
  }

  get(name) {
    requireArgs(arguments.length, 1, "Failed to execute 'get' on 'Headers'");
    return this.#combined(headerName(name, "Failed to execute 'get' on 'Headers'"));
  }

  getSetCookie() {
    const out = [];
    const list = this.#list;
    for (let i = 0; i < list.length; i++) if (list[i][0] === "set-cookie") ArrayPrototypePush(out, list[i][1]);
    return out;
  }

  has(name) {
    requireArgs(arguments.length, 1, "Failed to execute 'has' on 'Headers'");
    const key = headerName(name, "Failed to execute 'has' on 'Headers'");
    const list = this.#list;
    for (let i = 0; i < list.length; i++) if (list[i][0] === key) return true;
    return false;
  }

  set(name, value) {
    requireArgs(arguments.length, 2, "Failed to execute 'set' on 'Headers'");
    const what = "Failed to execute 'set' on 'Headers'";
    const v = headerValue(value, what);
    const key = headerName(name, what);
    setInPairList(this.#list, key, v);
    this.#sorted = null;
  }

  forEach(callback, thisArg = undefined) {
    requireArgs(arguments.length, 1, "Failed to execute 'forEach' on 'Headers'");
    if (typeof callback !== "function") throw new TypeErrorCtor("Failed to execute 'forEach' on 'Headers': The callback provided as parameter 1 is not a function.");
    for (let i = 0; ; i++) {
      const pairs = this.#sortAndCombine();
      if (i >= pairs.length) return;
      ReflectApply(callback, thisArg, [pairs[i][1], pairs[i][0], this]);
    }
  }

  entries() {
    return new HeadersIterator(ILLEGAL, "entries", this);
  }

  keys() {
    return new HeadersIterator(ILLEGAL, "keys", this);
  }

  values() {
    return new HeadersIterator(ILLEGAL, "values", this);
  }

  #append(name, value, what) {
    const v = headerValue(value, what);
    ArrayPrototypePush(this.#list, [headerName(name, what), v]);
    this.#sorted = null;
  }

  #combined(key) {
    let value = null;
    const list = this.#list;
    for (let i = 0; i < list.length; i++) {
      if (list[i][0] === key) value = value === null ? list[i][1] : value + ", " + list[i][1];
    }
    return value;
  }

  /** "Sort and combine", kept until the list next changes. */
  #sortAndCombine() {
    if (this.#sorted !== null) return this.#sorted;
    const names = [];
    const list = this.#list;
    for (let i = 0; i < list.length; i++) if (!ArrayPrototypeIncludes(names, list[i][0])) ArrayPrototypePush(names, list[i][0]);
    ArrayPrototypeSort(names, (a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const out = [];
    for (let i = 0; i < names.length; i++) {
      if (names[i] === "set-cookie") {
        for (let j = 0; j < list.length; j++) if (list[j][0] === "set-cookie") ArrayPrototypePush(out, ["set-cookie", list[j][1]]);
      } else {
        ArrayPrototypePush(out, [names[i], this.#combined(names[i])]);
      }
    }
    return (this.#sorted = out);
  }

  static {
    ArrayPrototypePush(uncloneable, (v) => isObjectLike(v) && #list in v);
    internals.headerPairs = (headers) => headers.#sortAndCombine();
  }
}
webInterface(Headers);
ObjectDefineProperty(Headers.prototype, SymbolIterator, {
  __proto__: null,
  value: Headers.prototype.entries, writable: true, enumerable: false, configurable: true,
});

const HeadersIterator = pairIterator("Headers", (headers) => internals.headerPairs(headers));

exposeGlobal("Headers", Headers);
