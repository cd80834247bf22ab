// fetch, Request and Response (Fetch Standard §5.3–5.6) over ctx.http.fetch: the request goes
// out as the current call's ctx.http.fetch (runtime.js, `currentCall`), so it needs the same
// `outbound_http` permission and passes the same allowlist and egress guard on the host.
//
// What ctx.http carries shapes what fetch can do: bodies are text both ways (a binary request
// body must be UTF-8; a response's arrayBuffer() is its text encoded as UTF-8), redirects are
// always followed, and there are no streams (no `body` getter). An aborted fetch rejects at
// once; the host's exchange finishes in the background and its answer is dropped.

const { utf8Encode, utf8Decode, utf8DecodeWithoutBOM } = internals;
const { parse, stringify } = internals.calls;
const calls = internals.calls;

// The families this one needs are installed by now; what it uses of their classes is taken
// here, when it installs (a plugin that rewrote one of these before only changes its own fetch).
const Headers = exposed.Headers;
const Blob = exposed.Blob;
const HeadersHas = uncurry(Headers.prototype.has);
const HeadersAppend = uncurry(Headers.prototype.append);
const HeadersSet = uncurry(Headers.prototype.set);
const SignalGetReason = getterOf(ObjectGetPrototypeOf(internals.newSignal()), "reason");
const BlobPrototypeBytes = uncurry(Blob.prototype.bytes);
const BlobPrototypeGetType = getterOf(Blob.prototype, "type");
const SearchParamsToString = uncurry(ObjectGetPrototypeOf(internals.searchParamsOf(null, "")).toString);

// RFC 9110 reason phrases: ctx.http does not pass the server's, and HTTP/2 has none anyway.
const REASONS = {
  __proto__: null,
  200: "OK", 201: "Created", 202: "Accepted", 203: "Non-Authoritative Information", 204: "No Content",
  205: "Reset Content", 206: "Partial Content", 300: "Multiple Choices", 301: "Moved Permanently",
  302: "Found", 303: "See Other", 304: "Not Modified", 307: "Temporary Redirect", 308: "Permanent Redirect",
  400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden", 404: "Not Found",
  405: "Method Not Allowed", 406: "Not Acceptable", 408: "Request Timeout", 409: "Conflict", 410: "Gone",
  411: "Length Required", 412: "Precondition Failed", 413: "Content Too Large", 414: "URI Too Long",
  415: "Unsupported Media Type", 416: "Range Not Satisfiable", 417: "Expectation Failed", 418: "I'm a teapot",
  421: "Misdirected Request", 422: "Unprocessable Content", 425: "Too Early", 426: "Upgrade Required",
  428: "Precondition Required", 429: "Too Many Requests", 431: "Request Header Fields Too Large",
  451: "Unavailable For Legal Reasons", 500: "Internal Server Error", 501: "Not Implemented",
  502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout", 505: "HTTP Version Not Supported",
};
const NULL_BODY_STATUS = [101, 103, 204, 205, 304];
const NORMALIZED_METHODS = ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"];
const FORBIDDEN_METHODS = ["CONNECT", "TRACE", "TRACK"];
const METHOD_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function isSearchParams(v) {
  try {
    internals.searchParamsList(v);
    return true;
  } catch {
    return false;
  }
}

/**
 * BodyInit "extract": { source, type } where source is a string, a Uint8Array copy or a Blob
 * (read when consumed), or null for no body.
 */
function extractBody(body) {
  if (body === undefined || body === null) return { source: null, type: null };
  if (isObjectLike(body)) {
    if (internals.isBlob(body)) {
      const blob = internals.cloneBlob(body);
      const type = BlobPrototypeGetType(blob);
      return { source: blob, type: type === "" ? null : type };
    }
    const bytes = bytesOf(body, false);
    if (bytes !== undefined) return { source: copyBytes(bytes), type: null };
    if (isSearchParams(body)) return { source: SearchParamsToString(body), type: "application/x-www-form-urlencoded;charset=UTF-8" };
  }
  return { source: toUSVString(body), type: "text/plain;charset=UTF-8" };
}

/** A body source as bytes (a Blob's are read). */
function sourceBytes(source) {
  if (source === null) return PromiseResolve(new Uint8ArrayCtor(0));
  if (typeof source === "string") return PromiseResolve(utf8Encode(source));
  if (internals.isBlob(source)) return BlobPrototypeBytes(source);
  return PromiseResolve(copyBytes(source));
}

/** A body source as text, UTF-8 decoded as Body's text() does (a leading BOM dropped). */
function sourceText(source) {
  if (typeof source === "string") return PromiseResolve(source);
  return PromisePrototypeThen(sourceBytes(source), (bytes) => utf8Decode(bytes));
}

/** The text ctx.http sends: bytes only when they are UTF-8 exactly (the text round-trips). */
function sourceForHost(source) {
  if (source === null || typeof source === "string") return PromiseResolve(source);
  return PromisePrototypeThen(sourceBytes(source), (bytes) => {
    const text = utf8DecodeWithoutBOM(bytes);
    const back = utf8Encode(text);
    const n = TypedArrayPrototypeGetLength(bytes);
    let same = TypedArrayPrototypeGetLength(back) === n;
    for (let i = 0; same && i < n; i++) same = back[i] === bytes[i];
    if (!same) throw new TypeErrorCtor("Failed to execute 'fetch': the body is not UTF-8 text; ctx.http sends text bodies only.");
    return text;
  });
}

/** Body mixin state shared by Request and Response. */
class BodyState {
  constructor(source) {
    this.source = source;
    this.used = false;
  }
}

function consume(state, what, read) {
  if (state.used) return PromiseReject(new TypeErrorCtor(`Failed to execute '${what}': body stream already read`));
  state.used = true;
  try {
    return read(state.source);
  } catch (err) {
    return PromiseReject(err);
  }
}

function bodyMethods(Ctor, stateOf, name) {
  const proto = Ctor.prototype;
  const methods = {
    text() {
      return consume(stateOf(this), `text' on '${name}`, sourceText);
    },
    json() {
      return PromisePrototypeThen(consume(stateOf(this), `json' on '${name}`, sourceText), (text) => parse(text));
    },
    arrayBuffer() {
      return PromisePrototypeThen(consume(stateOf(this), `arrayBuffer' on '${name}`, sourceBytes), (bytes) => TypedArrayPrototypeGetBuffer(bytes));
    },
    bytes() {
      return consume(stateOf(this), `bytes' on '${name}`, sourceBytes);
    },
    blob() {
      const self = this;
      return PromisePrototypeThen(consume(stateOf(this), `blob' on '${name}`, sourceBytes), (bytes) => {
        const type = headerGet(self.headers, "content-type");
        return new Blob([bytes], { type: type === null ? "" : type });
      });
    },
  };
  const keys = ReflectOwnKeys(methods);
  for (let i = 0; i < keys.length; i++) {
    ObjectDefineProperty(proto, keys[i], { __proto__: null, value: methods[keys[i]], writable: true, enumerable: false, configurable: true });
  }
  ObjectDefineProperty(proto, "bodyUsed", {
    __proto__: null,
    get() {
      return stateOf(this).used;
    },
    enumerable: false,
    configurable: true,
  });
}

function newHeaders(init) {
  return new Headers(init);
}

function headerGet(headers, name) {
  const pairs = internals.headerPairs(headers);
  for (let i = 0; i < pairs.length; i++) if (pairs[i][0] === name) return pairs[i][1];
  return null;
}

function parseUrl(input, what) {
  const parts = hostSync("url.parse", toUSVString(input));
  if (parts === null) throw new TypeErrorCtor(`${what}: Failed to parse URL from ${toUSVString(input)}`);
  return parts[0];
}

function normalizeMethod(v) {
  const method = toByteString(v);
  if (RegExpPrototypeExec(METHOD_TOKEN, method) === null) throw new TypeErrorCtor(`Failed to construct 'Request': '${method}' is not a valid HTTP method.`);
  const upper = asciiUpperCase(method);
  if (ArrayPrototypeIncludes(FORBIDDEN_METHODS, upper)) throw new TypeErrorCtor(`Failed to construct 'Request': '${method}' HTTP method is unsupported.`);
  return ArrayPrototypeIncludes(NORMALIZED_METHODS, upper) ? upper : method;
}

function toByteString(v) {
  const s = toDOMString(v);
  for (let i = 0; i < s.length; i++) if (StringPrototypeCharCodeAt(s, i) > 0xff) throw new TypeErrorCtor("Cannot convert argument to a ByteString.");
  return s;
}

function optionsOf(init, what) {
  if (init === undefined || init === null) return null;
  if (!isObjectLike(init)) throw new TypeErrorCtor(`${what}: The provided value is not of type '${what === "Failed to construct 'Response'" ? "ResponseInit" : "RequestInit"}'.`);
  return init;
}

let requestState; // (request) → its BodyState, from Request's static block

class Request {
  #url;
  #method = "GET";
  #headers;
  #signal;
  #body;

  constructor(input, init = undefined) {
    const what = "Failed to construct 'Request'";
    requireArgs(arguments.length, 1, what);
    const options = optionsOf(init, what);
    let source = null;
    let headersInit;
    if (isObjectLike(input) && #url in input) {
      this.#url = input.#url;
      this.#method = input.#method;
      headersInit = input.#headers;
      this.#signal = input.#signal;
      if (input.#body.source !== null) {
        if (input.#body.used) throw new TypeErrorCtor(`${what}: Cannot construct a Request with a Request object that has already been used.`);
        source = input.#body.source;
      }
    } else {
      this.#url = parseUrl(input, what);
    }
    let type = null;
    if (options !== null) {
      if (options.method !== undefined) this.#method = normalizeMethod(options.method);
      if (options.headers !== undefined) headersInit = options.headers;
      if (options.signal !== undefined && options.signal !== null) {
        if (!internals.isAbortSignal(options.signal)) throw new TypeErrorCtor(`${what}: member signal is not of type AbortSignal.`);
        this.#signal = options.signal;
      }
      if (options.body !== undefined) {
        const extracted = extractBody(options.body);
        source = extracted.source;
        type = extracted.type;
      }
    }
    this.#headers = newHeaders(headersInit);
    if (source !== null && (this.#method === "GET" || this.#method === "HEAD")) throw new TypeErrorCtor(`${what}: Request with GET/HEAD method cannot have body.`);
    if (type !== null && !HeadersHas(this.#headers, "content-type")) HeadersAppend(this.#headers, "content-type", type);
    if (this.#signal === undefined) this.#signal = internals.newSignal();
    this.#body = new BodyState(source);
  }

  get url() {
    return this.#url;
  }

  get method() {
    return this.#method;
  }

  get headers() {
    return this.#headers;
  }

  get signal() {
    return this.#signal;
  }

  clone() {
    if (this.#body.used) throw new TypeErrorCtor("Failed to execute 'clone' on 'Request': Request body is already used");
    return new Request(this);
  }

  static {
    requestState = (r) => r.#body;
    internals.requestParts = (r) => ({ url: r.#url, method: r.#method, headers: r.#headers, signal: r.#signal, body: r.#body });
  }
}
bodyMethods(Request, (r) => requestState(r), "Request");
webInterface(Request);

let responseState;

class Response {
  #type = "default";
  #url = "";
  #redirected = false;
  #status = 200;
  #statusText = "";
  #headers;
  #body;

  constructor(body = null, init = undefined) {
    const what = "Failed to construct 'Response'";
    const options = optionsOf(init, what);
    if (options !== null) {
      if (options.status !== undefined) {
        const status = +options.status;
        if (!(status >= 200 && status <= 599) || MathTrunc(status) !== status) throw new RangeErrorCtor(`${what}: The status provided (${status}) is outside the range [200, 599].`);
        this.#status = status;
      }
      if (options.statusText !== undefined) this.#statusText = toByteString(options.statusText);
    }
    this.#headers = newHeaders(options === null ? undefined : options.headers);
    const extracted = extractBody(body);
    if (extracted.source !== null && ArrayPrototypeIncludes(NULL_BODY_STATUS, this.#status)) {
      throw new TypeErrorCtor(`${what}: Response with null body status cannot have body`);
    }
    if (extracted.type !== null && !HeadersHas(this.#headers, "content-type")) HeadersAppend(this.#headers, "content-type", extracted.type);
    this.#body = new BodyState(extracted.source);
  }

  static error() {
    const r = new Response(null);
    r.#type = "error";
    r.#status = 0;
    return r;
  }

  static json(data, init = undefined) {
    const text = stringify(data);
    if (text === undefined) throw new TypeErrorCtor("Failed to execute 'json' on 'Response': The data is not JSON-serializable");
    const r = new Response(text, init);
    HeadersSet(r.#headers, "content-type", "application/json");
    return r;
  }

  get type() {
    return this.#type;
  }

  get url() {
    return this.#url;
  }

  get redirected() {
    return this.#redirected;
  }

  get status() {
    return this.#status;
  }

  get ok() {
    return this.#status >= 200 && this.#status <= 299;
  }

  get statusText() {
    return this.#statusText;
  }

  get headers() {
    return this.#headers;
  }

  clone() {
    if (this.#body.used) throw new TypeErrorCtor("Failed to execute 'clone' on 'Response': Response body is already used");
    const r = new Response(null);
    r.#type = this.#type;
    r.#url = this.#url;
    r.#redirected = this.#redirected;
    r.#status = this.#status;
    r.#statusText = this.#statusText;
    r.#headers = newHeaders(this.#headers);
    r.#body = new BodyState(this.#body.source);
    return r;
  }

  static {
    responseState = (r) => r.#body;
    // What ctx.http.fetch answered ({ status, headers, body, url, redirected }), as a Response.
    internals.responseFrom = (answer) => {
      const r = new Response(null);
      r.#type = "basic";
      r.#status = answer.status;
      r.#statusText = REASONS[answer.status] || "";
      r.#url = answer.url;
      r.#redirected = answer.redirected === true;
      r.#headers = newHeaders(answer.headers);
      r.#body = new BodyState(typeof answer.body === "string" ? answer.body : "");
      return r;
    };
  }
}
bodyMethods(Response, (r) => responseState(r), "Response");
webInterface(Response);

function headersForHost(headers) {
  const out = {};
  const pairs = internals.headerPairs(headers);
  for (let i = 0; i < pairs.length; i++) {
    const name = pairs[i][0];
    out[name] = out[name] === undefined ? pairs[i][1] : out[name] + ", " + pairs[i][1];
  }
  return out;
}

function fetch(input, init = undefined) {
  let request;
  try {
    requireArgs(arguments.length, 1, "Failed to execute 'fetch'");
    request = internals.requestParts(new Request(input, init));
  } catch (err) {
    return PromiseReject(err);
  }
  // The call is taken now, as the request is made: code after an await may resume for another.
  const call = calls.current();
  if (call === null) return PromiseReject(new TypeErrorCtor("Failed to execute 'fetch': a request is made for a call, and none is running (module top-level code has none)."));
  const signal = request.signal;
  if (internals.isAborted(signal)) return PromiseReject(SignalGetReason(signal));
  return new PromiseCtor((resolve, reject) => {
    let settled = false;
    const finish = (fn, value) => {
      if (settled) return;
      settled = true;
      fn(value);
    };
    internals.onAbort(signal, () => finish(reject, SignalGetReason(signal)));
    const sent = PromisePrototypeThen(sourceForHost(request.body.source), (body) => {
      if (settled) return undefined;
      if (body !== null) request.body.used = true;
      const options = { method: request.method, headers: headersForHost(request.headers) };
      if (body !== null) options.body = body;
      return calls.host(call, "http.fetch", [request.url, options]);
    });
    PromisePrototypeThen(
      sent,
      (answer) => {
        if (!settled) finish(resolve, internals.responseFrom(answer));
      },
      (err) => finish(reject, err),
    );
  });
}

exposeGlobal("fetch", fetch);
exposeGlobal("Request", Request);
exposeGlobal("Response", Response);
