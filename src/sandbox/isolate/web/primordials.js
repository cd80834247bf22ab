// Shared base of the Web globals (the files next to this one). It runs first, inside the
// runtime's strict closure, before any plugin code. Each family file after it is the body of
// a function inside this file's block (isolate-sources.ts composes them), so none of their
// names reach the runtime's scope or plugin code.
//
// A family installs itself the first time plugin code reads one of its globals: booting an
// isolate then costs only this file and one accessor per global (the cold start budget is a
// few milliseconds), and a plugin pays for the families it uses.
//
// Because families install after plugin code has started, and plugin code may rewrite any
// prototype or global of its own isolate, every builtin a family calls is captured here, at
// boot: methods as uncurried functions, getters as functions of their receiver, constructors
// by value. Family code reads no global and calls no prototype method directly. (Syntax that
// reaches prototypes by itself — for…of, spread, array destructuring — is not used. A plugin's
// tampering could only ever change its own globals anyway: each isolate is separate.)
//
// `$2` is the sandbox process's web primitives (web-primitives.ts): the only host Reference
// here. It stays in this closure; everything sent through it is a string, a number or a fresh
// exact-size byte array, and everything that comes back is a copy.

const webHost = $2;
const global = globalThis;

const uncurry = Function.prototype.call.bind(Function.prototype.bind, Function.prototype.call);
// Parenthesized, like declareFamilies below: compiled with the runtime, not parsed at boot.
const getterOf = (function getterOf(proto, name) {
  return uncurry(Object.getOwnPropertyDescriptor(proto, name).get);
});

const ObjectCtor = Object;
const ArrayCtor = Array;
const SymbolCtor = Symbol;
const DateCtor = Date;
const RegExpCtor = RegExp;
const SetCtor = Set;
const DataViewCtor = DataView;
const ObjectPrototype = Object.prototype;
const RegExpPrototype = RegExp.prototype;
const ObjectCreate = Object.create;
const ObjectDefineProperty = Object.defineProperty;
const ObjectDefineProperties = Object.defineProperties;
const ObjectFreeze = Object.freeze;
const ObjectGetPrototypeOf = Object.getPrototypeOf;
const ObjectSetPrototypeOf = Object.setPrototypeOf;
const ObjectGetOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
const ObjectPrototypeToString = uncurry(Object.prototype.toString);
const ReflectApply = Reflect.apply;
const ReflectOwnKeys = Reflect.ownKeys;
const ArrayIsArray = Array.isArray;
const ArrayPrototypePush = uncurry(Array.prototype.push);
const ArrayPrototypeSplice = uncurry(Array.prototype.splice);
const ArrayPrototypeSlice = uncurry(Array.prototype.slice);
const ArrayPrototypeSort = uncurry(Array.prototype.sort);
const ArrayPrototypeIndexOf = uncurry(Array.prototype.indexOf);
const ArrayPrototypeIncludes = uncurry(Array.prototype.includes);
const StringFromCharCode = String.fromCharCode;
const StringPrototypeCharCodeAt = uncurry(String.prototype.charCodeAt);
const StringPrototypeSlice = uncurry(String.prototype.slice);
const StringPrototypeIndexOf = uncurry(String.prototype.indexOf);
const StringPrototypeToLowerCase = uncurry(String.prototype.toLowerCase);
const StringPrototypeToWellFormed = uncurry(String.prototype.toWellFormed);
const RegExpPrototypeExec = uncurry(RegExp.prototype.exec);
const NumberIsNaN = Number.isNaN;
const MathMin = Math.min;
const MathMax = Math.max;
const MathFloor = Math.floor;
const MathTrunc = Math.trunc;
const DateNow = Date.now;
const SymbolIterator = Symbol.iterator;
const SymbolToStringTag = Symbol.toStringTag;
const MapCtor = Map;
const MapPrototypeGet = uncurry(Map.prototype.get);
const MapPrototypeSet = uncurry(Map.prototype.set);
const MapPrototypeHas = uncurry(Map.prototype.has);
const MapPrototypeForEach = uncurry(Map.prototype.forEach);
const SetPrototypeForEach = uncurry(Set.prototype.forEach);
const SetPrototypeAdd = uncurry(Set.prototype.add);
const WeakMapPrototypeHas = uncurry(WeakMap.prototype.has);
const WeakSetPrototypeHas = uncurry(WeakSet.prototype.has);
const PromiseCtor = Promise;
const PromiseResolve = (v) => ReflectApply(Promise.resolve, PromiseCtor, [v]);
const PromiseReject = (e) => ReflectApply(Promise.reject, PromiseCtor, [e]);
const PromisePrototypeThen = uncurry(Promise.prototype.then);
const ErrorCtor = Error;
const ErrorCaptureStackTrace = Error.captureStackTrace;
const TypeErrorCtor = TypeError;
const RangeErrorCtor = RangeError;
const IteratorPrototype = ObjectGetPrototypeOf(ObjectGetPrototypeOf([][SymbolIterator]()));

const ArrayBufferIsView = ArrayBuffer.isView;
const ArrayBufferPrototypeGetByteLength = getterOf(ArrayBuffer.prototype, "byteLength");
const SharedArrayBufferPrototypeGetByteLength = getterOf(SharedArrayBuffer.prototype, "byteLength");
const Uint8ArrayCtor = Uint8Array;
const TypedArrayPrototype = ObjectGetPrototypeOf(Uint8Array.prototype);
const TypedArrayPrototypeGetBuffer = getterOf(TypedArrayPrototype, "buffer");
const TypedArrayPrototypeGetByteOffset = getterOf(TypedArrayPrototype, "byteOffset");
const TypedArrayPrototypeGetByteLength = getterOf(TypedArrayPrototype, "byteLength");
const TypedArrayPrototypeGetLength = getterOf(TypedArrayPrototype, "length");
const TypedArrayPrototypeGetSymbolToStringTag = getterOf(TypedArrayPrototype, SymbolToStringTag);
const TypedArrayPrototypeSet = uncurry(TypedArrayPrototype.set);
const DataViewPrototypeGetBuffer = getterOf(DataView.prototype, "buffer");
const DataViewPrototypeGetByteOffset = getterOf(DataView.prototype, "byteOffset");
const DataViewPrototypeGetByteLength = getterOf(DataView.prototype, "byteLength");

// For structuredClone: brand checks and constructors of what it copies.
const BooleanPrototypeValueOf = uncurry(Boolean.prototype.valueOf);
const NumberPrototypeValueOf = uncurry(Number.prototype.valueOf);
const StringPrototypeValueOf = uncurry(String.prototype.valueOf);
const BigIntPrototypeValueOf = uncurry(BigInt.prototype.valueOf);
const SymbolPrototypeValueOf = uncurry(Symbol.prototype.valueOf);
const SymbolPrototypeToString = uncurry(Symbol.prototype.toString);
const DatePrototypeGetTime = uncurry(Date.prototype.getTime);
const RegExpPrototypeGetSource = getterOf(RegExp.prototype, "source");
const REGEXP_FLAG_GETTERS = [];
const REGEXP_FLAGS = ["hasIndices", "d", "global", "g", "ignoreCase", "i", "multiline", "m", "dotAll", "s", "unicode", "u", "unicodeSets", "v", "sticky", "y"];
for (let i = 0; i < REGEXP_FLAGS.length; i += 2) {
  const desc = ObjectGetOwnPropertyDescriptor(RegExp.prototype, REGEXP_FLAGS[i]);
  if (desc !== undefined) ArrayPrototypePush(REGEXP_FLAG_GETTERS, [uncurry(desc.get), REGEXP_FLAGS[i + 1]]);
}
const MapPrototypeGetSize = getterOf(Map.prototype, "size");
const SetPrototypeGetSize = getterOf(Set.prototype, "size");
const WeakRefPrototypeDeref = uncurry(WeakRef.prototype.deref);
const FinalizationRegistryPrototypeUnregister = uncurry(FinalizationRegistry.prototype.unregister);
const FunctionPrototypeToString = uncurry(Function.prototype.toString);
const ERROR_CONSTRUCTORS = { __proto__: null, Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError };
const VIEW_CONSTRUCTORS = {
  __proto__: null,
  Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
  Float32Array, Float64Array, BigInt64Array, BigUint64Array,
};

// isolated-vm reads inherited properties of its option objects: these have no prototype.
const ivmOptions = (function ivmOptions(o) {
  return ObjectFreeze(Object.assign(ObjectCreate(null), o));
});
const HOST_SYNC = ivmOptions({ arguments: ivmOptions({ copy: true }), result: ivmOptions({ copy: true }) });
const HOST_ASYNC = ivmOptions({ arguments: ivmOptions({ copy: true }), result: ivmOptions({ promise: true, copy: true }) });
const referenceApplySync = webHost.applySync;
const referenceApply = webHost.apply;

/** A synchronous host primitive; its answer is a copy (null when the host refused the input). */
function hostSync(op, a, b, c) {
  return ReflectApply(referenceApplySync, webHost, [undefined, [op, a, b, c], HOST_SYNC]);
}

/** A host primitive that runs off the sandbox process's main thread; a promise of a copy. */
function hostAsync(op, a, b, c, d) {
  return ReflectApply(referenceApply, webHost, [undefined, [op, a, b, c, d], HOST_ASYNC]);
}

// The isolate's clock for performance.now() and Event.timeStamp: milliseconds since the
// isolate booted, never going back. Date's whole milliseconds on purpose: a finer clock would
// hand tenants that share a sandbox process a timer for cache-timing (Spectre-class) attacks.
const timeOrigin = DateNow();
let lastNow = 0;
function monotonicNow() {
  const t = DateNow() - timeOrigin;
  if (t > lastNow) lastNow = t;
  return lastNow;
}

// What one family hands to the ones after it (the order is set in isolate-sources.ts).
const internals = ObjectCreate(null);

// Brand checks of the interfaces whose objects structuredClone refuses (DataCloneError).
const uncloneable = [];

/**
 * A property's descriptor with no prototype, or undefined: safe to read and to pass back to
 * defineProperty even when plugin code has put `get` or `value` on Object.prototype.
 */
function ownDescriptor(o, key) {
  const desc = ObjectGetOwnPropertyDescriptor(o, key);
  if (desc !== undefined) ObjectSetPrototypeOf(desc, null);
  return desc;
}

// --- lazily installed families ---------------------------------------------------------------

const families = ObjectCreate(null); // family → { needs, install, state: 0 new, 1 installing, 2 done }
const lazyGetters = ObjectCreate(null); // global → the accessor's getter, to know it is still ours
const exposed = ObjectCreate(null); // global → its value, once its family is installed
let pending = null; // globals the family being installed exposes, defined when it is complete

/**
 * Declares every family, from isolate-sources.ts's table of [name, globals, needs, install]:
 * each global becomes an accessor that installs its family on first read. The parentheses
 * make V8 compile this function with the runtime, so its bytecode comes from the code cache
 * and booting an isolate does not parse it (a lazily compiled function is parsed on first call).
 */
const declareFamilies = (function declareFamilies(table) {
  for (let f = 0; f < table.length; f++) {
    const name = table[f][0];
    const globals = table[f][1];
    families[name] = { needs: table[f][2], install: table[f][3], state: 0 };
    for (let i = 0; i < globals.length; i++) {
      const key = globals[i];
      const get = () => {
        useFamily(name);
        return exposed[key];
      };
      lazyGetters[key] = get;
      ObjectDefineProperty(global, key, {
        get,
        set: (value) => ObjectDefineProperty(global, key, { __proto__: null, value, writable: true, enumerable: false, configurable: true }),
        enumerable: false,
        configurable: true,
      });
    }
  }
});

/** Installs a family (after the ones it needs) unless it is already installed. */
function useFamily(name) {
  const family = families[name];
  if (family.state === 2) return;
  if (family.state === 1) throw new ErrorCtor(`web family ${name} needs itself`);
  family.state = 1;
  const outer = pending;
  pending = [];
  try {
    for (let i = 0; i < family.needs.length; i++) useFamily(family.needs[i]);
    family.install();
    // All or nothing: a family that failed half-way (a stack overflow in deep plugin code) has
    // exposed nothing, and the next read tries again from the start.
    for (let i = 0; i < pending.length; i += 2) defineExposed(pending[i], pending[i + 1]);
    family.state = 2;
  } finally {
    if (family.state !== 2) family.state = 0;
    pending = outer;
  }
}

function defineExposed(name, value) {
  exposed[name] = value;
  const desc = ownDescriptor(global, name);
  // A global the plugin replaced or deleted before its family installed stays as the plugin left it.
  if (desc !== undefined && desc.get === lazyGetters[name]) {
    ObjectDefineProperty(global, name, { __proto__: null, value, writable: true, enumerable: false, configurable: true });
  }
}

/** Defines a global the way WebIDL does (writable, configurable, not enumerable) once its family is whole. */
function exposeGlobal(name, value) {
  if (lazyGetters[name] === undefined) throw new ErrorCtor(`web global ${name} is not declared in isolate-sources.ts`);
  ArrayPrototypePush(pending, name, value);
}

/**
 * Gives a class its WebIDL shape: a Symbol.toStringTag, and enumerable operations and
 * attributes on the prototype (ECMAScript classes make them non-enumerable).
 */
function webInterface(Ctor, tag = Ctor.name) {
  const proto = Ctor.prototype;
  const keys = ReflectOwnKeys(proto);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    if (key === "constructor" || typeof key === "symbol") continue;
    const desc = ownDescriptor(proto, key);
    desc.enumerable = true;
    ObjectDefineProperty(proto, key, desc);
  }
  ObjectDefineProperty(proto, SymbolToStringTag, { __proto__: null, value: tag, writable: false, enumerable: false, configurable: true });
  return Ctor;
}

/** WebIDL constants: on the interface object and on its prototype, read-only. */
function webConstants(Ctor, table) {
  const names = ReflectOwnKeys(table);
  for (let i = 0; i < names.length; i++) {
    const desc = { __proto__: null, value: table[names[i]], writable: false, enumerable: true, configurable: false };
    ObjectDefineProperty(Ctor, names[i], desc);
    ObjectDefineProperty(Ctor.prototype, names[i], desc);
  }
}

// A token only this code holds: interfaces that scripts may not construct ("Illegal constructor").
const ILLEGAL = Symbol("illegal constructor");
function illegalConstructor(token) {
  if (token !== ILLEGAL) throw new TypeErrorCtor("Illegal constructor");
}

/**
 * A WebIDL pair iterator class (Headers, URLSearchParams): each step reads the owner's pairs,
 * through `pairsOf`, at its index, so an iterator sees changes made while iterating.
 */
function pairIterator(tag, pairsOf) {
  class PairIterator {
    #owner;
    #kind;
    #index = 0;

    constructor(token, kind, owner) {
      illegalConstructor(token);
      this.#kind = kind;
      this.#owner = owner;
    }

    next() {
      const pairs = pairsOf(this.#owner);
      if (this.#index >= pairs.length) return { value: undefined, done: true };
      const pair = pairs[this.#index++];
      const kind = this.#kind;
      return { value: kind === "keys" ? pair[0] : kind === "values" ? pair[1] : [pair[0], pair[1]], done: false };
    }
  }
  ObjectSetPrototypeOf(PairIterator.prototype, IteratorPrototype);
  ObjectDefineProperty(PairIterator.prototype, "next", { __proto__: null, enumerable: true });
  ObjectDefineProperty(PairIterator.prototype, SymbolToStringTag, { __proto__: null, value: `${tag} Iterator`, configurable: true });
  return PairIterator;
}

// ASCII case mapping, as the standards ask for names (methods, algorithms, labels): other
// characters stay as they are, unlike String.prototype.toUpperCase.
function asciiUpperCase(s) {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = StringPrototypeCharCodeAt(s, i);
    out += StringFromCharCode(c >= 0x61 && c <= 0x7a ? c - 0x20 : c);
  }
  return out;
}

function asciiLowerCase(s) {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = StringPrototypeCharCodeAt(s, i);
    out += StringFromCharCode(c >= 0x41 && c <= 0x5a ? c + 0x20 : c);
  }
  return out;
}

/** A name/value list's `set` (Headers, URLSearchParams): the first pair named `name` takes `value`, later ones go. */
function setInPairList(list, name, value) {
  let found = false;
  for (let i = 0; i < list.length; i++) {
    if (list[i][0] !== name) continue;
    if (!found) {
      list[i] = [name, value];
      found = true;
    } else {
      ArrayPrototypeSplice(list, i--, 1);
    }
  }
  if (!found) ArrayPrototypePush(list, [name, value]);
}

function requireArgs(given, needed, what) {
  if (given < needed) {
    throw new TypeErrorCtor(`${what}: ${needed} argument${needed === 1 ? "" : "s"} required, but only ${given} present.`);
  }
}

// --- WebIDL conversions ---------------------------------------------------------------------

/** DOMString: a template literal throws for symbols, as WebIDL's ToString does. */
function toDOMString(v) {
  return typeof v === "string" ? v : `${v}`;
}

/** USVString: lone surrogates become U+FFFD. */
function toUSVString(v) {
  return StringPrototypeToWellFormed(toDOMString(v));
}

function isObjectLike(v) {
  return (typeof v === "object" && v !== null) || typeof v === "function";
}

function isArrayBuffer(v) {
  try {
    ArrayBufferPrototypeGetByteLength(v);
    return true;
  } catch {
    return false;
  }
}

function isSharedArrayBuffer(v) {
  try {
    SharedArrayBufferPrototypeGetByteLength(v);
    return true;
  } catch {
    return false;
  }
}

/** The element type of a typed array ("Uint8Array", …), or undefined for anything else. */
function typedArrayKind(v) {
  return TypedArrayPrototypeGetSymbolToStringTag(v);
}

/**
 * A Uint8Array over the bytes of a BufferSource (ArrayBuffer or view), or undefined when `v` is
 * none. Shared memory counts only where the interface says [AllowShared].
 */
function bytesOf(v, allowShared) {
  if (!isObjectLike(v)) return undefined;
  if (ArrayBufferIsView(v)) {
    let buffer, offset, length;
    if (typedArrayKind(v) !== undefined) {
      buffer = TypedArrayPrototypeGetBuffer(v);
      offset = TypedArrayPrototypeGetByteOffset(v);
      length = TypedArrayPrototypeGetByteLength(v);
    } else {
      buffer = DataViewPrototypeGetBuffer(v);
      offset = DataViewPrototypeGetByteOffset(v);
      length = DataViewPrototypeGetByteLength(v);
    }
    if (!allowShared && isSharedArrayBuffer(buffer)) return undefined;
    return new Uint8ArrayCtor(buffer, offset, length);
  }
  if (isArrayBuffer(v) || (allowShared && isSharedArrayBuffer(v))) return new Uint8ArrayCtor(v);
  return undefined;
}

/** A fresh copy of some bytes, in an ArrayBuffer of exactly their size. */
function copyBytes(bytes) {
  const copy = new Uint8ArrayCtor(TypedArrayPrototypeGetLength(bytes));
  TypedArrayPrototypeSet(copy, bytes);
  return copy;
}

/**
 * Bytes as the host may receive them: a copy when the view is part of a larger buffer (only the
 * bytes themselves cross) or when the buffer is shared (the host must not see later writes).
 */
function hostBytes(bytes) {
  const buffer = TypedArrayPrototypeGetBuffer(bytes);
  if (!isSharedArrayBuffer(buffer) && TypedArrayPrototypeGetByteOffset(bytes) === 0 && TypedArrayPrototypeGetByteLength(bytes) === ArrayBufferPrototypeGetByteLength(buffer)) {
    return bytes;
  }
  return copyBytes(bytes);
}

/** Converts a WebIDL sequence<T> from any iterable, element by element. */
function toSequence(v, what, convert) {
  if (!isObjectLike(v)) throw new TypeErrorCtor(`${what}: the value is not iterable.`);
  const method = v[SymbolIterator];
  if (typeof method !== "function") throw new TypeErrorCtor(`${what}: the value is not iterable.`);
  const iterator = ReflectApply(method, v, []);
  if (!isObjectLike(iterator)) throw new TypeErrorCtor(`${what}: the iterator is not an object.`);
  const next = iterator.next;
  const out = [];
  for (;;) {
    const step = ReflectApply(next, iterator, []);
    if (!isObjectLike(step)) throw new TypeErrorCtor(`${what}: the iterator result is not an object.`);
    if (step.done) return out;
    ArrayPrototypePush(out, convert(step.value));
  }
}

/** "Report the exception": to the plugin's log, as an uncaught error of the current call. */
function reportException(err) {
  try {
    const text = err !== null && typeof err === "object" && typeof err.stack === "string" ? err.stack : toDOMString(err);
    // console is the runtime's own, defined non-writable and frozen once the runtime boots.
    global.console.error(`Uncaught ${text}`);
  } catch {
    // Nothing left to report with.
  }
}

/**
 * A string from `length` char codes held in a plain array (its length and elements are its
 * own, so no prototype is consulted), in chunks: apply has an argument-count limit.
 */
function charCodesToString(codes, length) {
  if (codes.length !== length) codes.length = length;
  if (length <= 8192) return ReflectApply(StringFromCharCode, undefined, codes);
  let out = "";
  const chunk = [];
  for (let i = 0; i < length; i += 8192) {
    const end = MathMin(i + 8192, length);
    for (let j = i; j < end; j++) chunk[j - i] = codes[j];
    chunk.length = end - i;
    out += ReflectApply(StringFromCharCode, undefined, chunk);
  }
  return out;
}

/** A "binary string": one char per byte. */
function bytesToBinaryString(bytes) {
  const n = TypedArrayPrototypeGetLength(bytes);
  let out = "";
  const chunk = [];
  for (let i = 0; i < n; i += 8192) {
    const end = MathMin(i + 8192, n);
    for (let j = i; j < end; j++) chunk[j - i] = bytes[j];
    out += charCodesToString(chunk, end - i);
  }
  return out;
}
