// URL and URLSearchParams (URL Standard). Parsing and every setter are the sandbox process's own
// WHATWG URL (Node's, Ada), reached through the host primitives: it answers with the parsed
// components, which the URL object here keeps as a copy. URLSearchParams is the standard's
// application/x-www-form-urlencoded parser and serializer, here in the isolate.

const { utf8Encode, utf8DecodeWithoutBOM } = internals;

// The order of the components in the host's answer (web-primitives.ts URL_PARTS).
const HREF = 0, ORIGIN = 1, PROTOCOL = 2, USERNAME = 3, PASSWORD = 4, HOST = 5, HOSTNAME = 6, PORT = 7, PATHNAME = 8, SEARCH = 9, HASH = 10;

/** The parsed components, or null when the input is not a URL. */
function parse(input, base) {
  const parts = hostSync("url.parse", input, base);
  return ArrayIsArray(parts) ? parts : null;
}

function isAsciiHex(c) {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

function hexValue(c) {
  return c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57;
}

/** Percent-decodes the UTF-8 bytes of a string (with + as space), then decodes them again. */
function formDecode(s) {
  let plain = true;
  for (let i = 0; i < s.length; i++) {
    const c = StringPrototypeCharCodeAt(s, i);
    if (c === 0x25 || c === 0x2b) {
      plain = false;
      break;
    }
  }
  if (plain) return s;
  const bytes = utf8Encode(s);
  const n = TypedArrayPrototypeGetLength(bytes);
  const out = new Uint8ArrayCtor(n);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const b = bytes[i];
    if (b === 0x2b) {
      out[at++] = 0x20;
    } else if (b === 0x25 && i + 2 < n && isAsciiHex(bytes[i + 1]) && isAsciiHex(bytes[i + 2])) {
      out[at++] = (hexValue(bytes[i + 1]) << 4) | hexValue(bytes[i + 2]);
      i += 2;
    } else {
      out[at++] = b;
    }
  }
  return utf8DecodeWithoutBOM(new Uint8ArrayCtor(TypedArrayPrototypeGetBuffer(out), 0, at));
}

/** The application/x-www-form-urlencoded parser: a list of [name, value]. */
function parseForm(input) {
  const list = [];
  let start = 0;
  const n = input.length;
  while (start <= n) {
    let end = StringPrototypeIndexOf(input, "&", start);
    if (end === -1) end = n;
    if (end > start) {
      const sequence = StringPrototypeSlice(input, start, end);
      const eq = StringPrototypeIndexOf(sequence, "=");
      const name = eq === -1 ? sequence : StringPrototypeSlice(sequence, 0, eq);
      const value = eq === -1 ? "" : StringPrototypeSlice(sequence, eq + 1);
      ArrayPrototypePush(list, [formDecode(name), formDecode(value)]);
    }
    start = end + 1;
  }
  return list;
}

const HEX = "0123456789ABCDEF";

/** The urlencoded serializer of one name or value: bytes outside *-._ and alphanumerics are %XX. */
function formEncode(s) {
  const bytes = utf8Encode(s);
  const n = TypedArrayPrototypeGetLength(bytes);
  let out = "";
  for (let i = 0; i < n; i++) {
    const b = bytes[i];
    if ((b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x2a || b === 0x2d || b === 0x2e || b === 0x5f) {
      out += StringFromCharCode(b);
    } else if (b === 0x20) {
      out += "+";
    } else {
      out += "%" + HEX[b >> 4] + HEX[b & 15];
    }
  }
  return out;
}

function serializeForm(list) {
  let out = "";
  for (let i = 0; i < list.length; i++) {
    if (i > 0) out += "&";
    out += formEncode(list[i][0]) + "=" + formEncode(list[i][1]);
  }
  return out;
}

let setQueryOf; // (url, serialized) → void, from URL's static block
let searchParamsFor; // (url) → its URLSearchParams
// Passed as the first argument, the second is already-parsed components (URL.parse).
const FROM_PARTS = SymbolCtor("parsed");

class URL {
  #parts;
  #searchParams = null;

  constructor(url, base = undefined) {
    if (url === FROM_PARTS) {
      this.#parts = base;
      return;
    }
    requireArgs(arguments.length, 1, "Failed to construct 'URL'");
    const parts = parse(toUSVString(url), base === undefined ? undefined : toUSVString(base));
    if (parts === null) throw new TypeErrorCtor("Failed to construct 'URL': Invalid URL");
    this.#parts = parts;
  }

  static canParse(url, base = undefined) {
    requireArgs(arguments.length, 1, "Failed to execute 'canParse' on 'URL'");
    return parse(toUSVString(url), base === undefined ? undefined : toUSVString(base)) !== null;
  }

  static parse(url, base = undefined) {
    requireArgs(arguments.length, 1, "Failed to execute 'parse' on 'URL'");
    const parts = parse(toUSVString(url), base === undefined ? undefined : toUSVString(base));
    return parts === null ? null : new URL(FROM_PARTS, parts);
  }

  get href() { return this.#parts[HREF]; }
  set href(value) {
    const parts = parse(toUSVString(value), undefined);
    if (parts === null) throw new TypeErrorCtor("Failed to set the 'href' property on 'URL': Invalid URL");
    this.#replace(parts);
  }

  toString() { return this.#parts[HREF]; }
  toJSON() { return this.#parts[HREF]; }
  get origin() { return this.#parts[ORIGIN]; }

  get protocol() { return this.#parts[PROTOCOL]; }
  set protocol(value) { this.#set("protocol", value); }
  get username() { return this.#parts[USERNAME]; }
  set username(value) { this.#set("username", value); }
  get password() { return this.#parts[PASSWORD]; }
  set password(value) { this.#set("password", value); }
  get host() { return this.#parts[HOST]; }
  set host(value) { this.#set("host", value); }
  get hostname() { return this.#parts[HOSTNAME]; }
  set hostname(value) { this.#set("hostname", value); }
  get port() { return this.#parts[PORT]; }
  set port(value) { this.#set("port", value); }
  get pathname() { return this.#parts[PATHNAME]; }
  set pathname(value) { this.#set("pathname", value); }
  get search() { return this.#parts[SEARCH]; }
  set search(value) { this.#set("search", value); }
  get hash() { return this.#parts[HASH]; }
  set hash(value) { this.#set("hash", value); }

  get searchParams() {
    if (this.#searchParams === null) this.#searchParams = searchParamsFor(this);
    return this.#searchParams;
  }

  #set(component, value) {
    const parts = hostSync("url.set", this.#parts[HREF], component, toUSVString(value));
    if (ArrayIsArray(parts)) this.#replace(parts);
  }

  #replace(parts) {
    const queryChanged = parts[SEARCH] !== this.#parts[SEARCH];
    this.#parts = parts;
    if (queryChanged && this.#searchParams !== null) internals.resetSearchParams(this.#searchParams, this.#query());
  }

  #query() {
    const search = this.#parts[SEARCH];
    return search === "" ? "" : StringPrototypeSlice(search, 1);
  }

  static {
    ArrayPrototypePush(uncloneable, (v) => isObjectLike(v) && #parts in v);
    setQueryOf = (url, serialized) => {
      // An empty list leaves no query at all ("?" goes too), as the URL Standard's update steps say.
      const parts = hostSync("url.set", url.#parts[HREF], "search", serialized);
      if (ArrayIsArray(parts)) url.#parts = parts;
    };
    searchParamsFor = (url) => internals.searchParamsOf(url, url.#query());
  }
}
webInterface(URL);

function pairOf(v) {
  const pair = toSequence(v, "Failed to construct 'URLSearchParams'", toUSVString);
  if (pair.length !== 2) throw new TypeErrorCtor("Failed to construct 'URLSearchParams': Sequence initializer must only contain pair elements");
  return pair;
}

class URLSearchParams {
  #list = [];
  #url = null;

  constructor(init = "") {
    if (isObjectLike(init)) {
      const method = init[SymbolIterator];
      if (method !== undefined && method !== null) {
        if (typeof method !== "function") throw new TypeErrorCtor("Failed to construct 'URLSearchParams': The object's iterator is not callable.");
        this.#list = toSequence(init, "Failed to construct 'URLSearchParams'", pairOf);
      } else {
        // record<USVString, USVString>: own enumerable string keys, in property order.
        const keys = ReflectOwnKeys(init);
        for (let i = 0; i < keys.length; i++) {
          // Symbol keys count too: an enumerable one fails its string conversion (a TypeError).
          const key = keys[i];
          const desc = ObjectGetOwnPropertyDescriptor(init, key);
          if (desc === undefined || !desc.enumerable) continue;
          ArrayPrototypePush(this.#list, [toUSVString(key), toUSVString(init[key])]);
        }
      }
    } else {
      let s = toUSVString(init);
      if (StringPrototypeCharCodeAt(s, 0) === 0x3f) s = StringPrototypeSlice(s, 1);
      this.#list = parseForm(s);
    }
  }

  get size() {
    return this.#list.length;
  }

  append(name, value) {
    requireArgs(arguments.length, 2, "Failed to execute 'append' on 'URLSearchParams'");
    ArrayPrototypePush(this.#list, [toUSVString(name), toUSVString(value)]);
    this.#update();
  }

  delete(name, value = undefined) {
    requireArgs(arguments.length, 1, "Failed to execute 'delete' on 'URLSearchParams'");
    name = toUSVString(name);
    const list = this.#list;
    if (value === undefined) {
      for (let i = list.length - 1; i >= 0; i--) if (list[i][0] === name) ArrayPrototypeSplice(list, i, 1);
    } else {
      value = toUSVString(value);
      for (let i = list.length - 1; i >= 0; i--) if (list[i][0] === name && list[i][1] === value) ArrayPrototypeSplice(list, i, 1);
    }
    this.#update();
  }

  get(name) {
    requireArgs(arguments.length, 1, "Failed to execute 'get' on 'URLSearchParams'");
    name = toUSVString(name);
    const list = this.#list;
    for (let i = 0; i < list.length; i++) if (list[i][0] === name) return list[i][1];
    return null;
  }

  getAll(name) {
    requireArgs(arguments.length, 1, "Failed to execute 'getAll' on 'URLSearchParams'");
    name = toUSVString(name);
    const out = [];
    const list = this.#list;
    for (let i = 0; i < list.length; i++) if (list[i][0] === name) ArrayPrototypePush(out, list[i][1]);
    return out;
  }

  has(name, value = undefined) {
    requireArgs(arguments.length, 1, "Failed to execute 'has' on 'URLSearchParams'");
    name = toUSVString(name);
    if (value !== undefined) value = toUSVString(value);
    const list = this.#list;
    for (let i = 0; i < list.length; i++) {
      if (list[i][0] === name && (value === undefined || list[i][1] === value)) return true;
    }
    return false;
  }

  set(name, value) {
    requireArgs(arguments.length, 2, "Failed to execute 'set' on 'URLSearchParams'");
    name = toUSVString(name);
    value = toUSVString(value);
    setInPairList(this.#list, name, value);
    this.#update();
  }

  sort() {
    // Stable, by code units of the names (Array.prototype.sort is stable).
    ArrayPrototypeSort(this.#list, (a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    this.#update();
  }

  toString() {
    return serializeForm(this.#list);
  }

  forEach(callback, thisArg = undefined) {
    requireArgs(arguments.length, 1, "Failed to execute 'forEach' on 'URLSearchParams'");
    if (typeof callback !== "function") throw new TypeErrorCtor("Failed to execute 'forEach' on 'URLSearchParams': The callback provided as parameter 1 is not a function.");
    const list = this.#list;
    for (let i = 0; i < list.length; i++) ReflectApply(callback, thisArg, [list[i][1], list[i][0], this]);
  }

  entries() {
    return new URLSearchParamsIterator(ILLEGAL, "entries", this);
  }

  keys() {
    return new URLSearchParamsIterator(ILLEGAL, "keys", this);
  }

  values() {
    return new URLSearchParamsIterator(ILLEGAL, "values", this);
  }

  #update() {
    if (this.#url === null) return;
    setQueryOf(this.#url, serializeForm(this.#list));
  }

  static {
    ArrayPrototypePush(uncloneable, (v) => isObjectLike(v) && #list in v);
    internals.searchParamsOf = (url, query) => {
      const params = new URLSearchParams();
      params.#list = parseForm(query);
      params.#url = url;
      return params;
    };
    internals.resetSearchParams = (params, query) => {
      params.#list = parseForm(query);
    };
    internals.searchParamsList = (params) => params.#list;
  }
}
webInterface(URLSearchParams);
ObjectDefineProperty(URLSearchParams.prototype, SymbolIterator, {
  __proto__: null,
  value: URLSearchParams.prototype.entries, writable: true, enumerable: false, configurable: true,
});

const URLSearchParamsIterator = pairIterator("URLSearchParams", (params) => internals.searchParamsList(params));

exposeGlobal("URL", URL);
exposeGlobal("URLSearchParams", URLSearchParams);
