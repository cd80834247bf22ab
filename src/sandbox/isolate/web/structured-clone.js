// structuredClone: HTML's structured serialize and deserialize, in one pass. It runs here rather
// than through V8's serializer in the sandbox process: a copy made here costs the plugin's own
// heap, while a serialized one is written outside it (a value holding one long string many
// times would be written out in full each time), on the process's shared main thread.
// Transferring is not offered (this V8 cannot detach an ArrayBuffer from script).

const { DOMException, isDOMException, cloneDOMException } = internals;

/** True when `fn(v)` accepts v: the brand checks of built-ins throw for anything else. */
function hasBrand(fn, v, arg) {
  try {
    fn(v, arg);
    return true;
  } catch {
    return false;
  }
}

function cloneError(what) {
  return new DOMException(`${what} could not be cloned.`, "DataCloneError");
}

function describe(v) {
  if (typeof v === "symbol") return SymbolPrototypeToString(v);
  if (typeof v === "function") {
    try {
      return FunctionPrototypeToString(v);
    } catch {
      return "function";
    }
  }
  return "#<Object>";
}

function defineData(target, key, value) {
  ObjectDefineProperty(target, key, { __proto__: null, value, writable: true, enumerable: true, configurable: true });
}

function copyOwnEnumerable(source, target, memory) {
  const keys = ReflectOwnKeys(source);
  const enumerable = [];
  for (let i = 0; i < keys.length; i++) {
    if (typeof keys[i] === "symbol") continue;
    const desc = ObjectGetOwnPropertyDescriptor(source, keys[i]);
    if (desc !== undefined && desc.enumerable) ArrayPrototypePush(enumerable, keys[i]);
  }
  for (let i = 0; i < enumerable.length; i++) {
    // A getter run earlier may have deleted a later property: it is skipped then.
    if (ObjectGetOwnPropertyDescriptor(source, enumerable[i]) === undefined) continue;
    defineData(target, enumerable[i], cloneValue(source[enumerable[i]], memory));
  }
}

function cloneArrayBuffer(buffer, memory) {
  const copy = copyBytes(new Uint8ArrayCtor(buffer));
  const out = TypedArrayPrototypeGetBuffer(copy);
  MapPrototypeSet(memory, buffer, out);
  return out;
}

function cloneValue(value, memory) {
  const type = typeof value;
  if (type === "symbol") throw cloneError(describe(value));
  if (type !== "object" && type !== "function") return value;
  if (value === null) return value;
  if (MapPrototypeHas(memory, value)) return MapPrototypeGet(memory, value);
  if (type === "function") throw cloneError(describe(value));

  if (hasBrand(BooleanPrototypeValueOf, value)) return remember(memory, value, ObjectCtor(BooleanPrototypeValueOf(value)));
  if (hasBrand(NumberPrototypeValueOf, value)) return remember(memory, value, ObjectCtor(NumberPrototypeValueOf(value)));
  if (hasBrand(BigIntPrototypeValueOf, value)) return remember(memory, value, ObjectCtor(BigIntPrototypeValueOf(value)));
  if (hasBrand(StringPrototypeValueOf, value)) return remember(memory, value, ObjectCtor(StringPrototypeValueOf(value)));
  if (hasBrand(SymbolPrototypeValueOf, value)) throw cloneError("Symbol object");
  if (hasBrand(DatePrototypeGetTime, value)) return remember(memory, value, new DateCtor(DatePrototypeGetTime(value)));
  if (value !== RegExpPrototype && hasBrand(RegExpPrototypeGetSource, value)) {
    let flags = "";
    for (let i = 0; i < REGEXP_FLAG_GETTERS.length; i++) if (REGEXP_FLAG_GETTERS[i][0](value)) flags += REGEXP_FLAG_GETTERS[i][1];
    return remember(memory, value, new RegExpCtor(RegExpPrototypeGetSource(value), flags));
  }
  if (isArrayBuffer(value)) return cloneArrayBuffer(value, memory);
  if (isSharedArrayBuffer(value)) throw cloneError("SharedArrayBuffer");
  if (ArrayBufferIsView(value)) {
    const kind = typedArrayKind(value);
    const buffer = kind === undefined ? DataViewPrototypeGetBuffer(value) : TypedArrayPrototypeGetBuffer(value);
    if (isSharedArrayBuffer(buffer)) throw cloneError("SharedArrayBuffer");
    const bufferCopy = MapPrototypeHas(memory, buffer) ? MapPrototypeGet(memory, buffer) : cloneArrayBuffer(buffer, memory);
    if (kind === undefined) {
      return remember(memory, value, new DataViewCtor(bufferCopy, DataViewPrototypeGetByteOffset(value), DataViewPrototypeGetByteLength(value)));
    }
    return remember(memory, value, new VIEW_CONSTRUCTORS[kind](bufferCopy, TypedArrayPrototypeGetByteOffset(value), TypedArrayPrototypeGetLength(value)));
  }
  if (hasBrand(MapPrototypeGetSize, value)) {
    const out = remember(memory, value, new MapCtor());
    const entries = [];
    MapPrototypeForEach(value, (v, k) => ArrayPrototypePush(entries, k, v));
    for (let i = 0; i < entries.length; i += 2) MapPrototypeSet(out, cloneValue(entries[i], memory), cloneValue(entries[i + 1], memory));
    return out;
  }
  if (hasBrand(SetPrototypeGetSize, value)) {
    const out = remember(memory, value, new SetCtor());
    const entries = [];
    SetPrototypeForEach(value, (v) => ArrayPrototypePush(entries, v));
    for (let i = 0; i < entries.length; i++) SetPrototypeAdd(out, cloneValue(entries[i], memory));
    return out;
  }
  // Families not installed yet cannot have made any objects.
  if (internals.isBlob !== undefined && internals.isBlob(value)) return remember(memory, value, internals.cloneBlob(value));
  if (isDOMException(value)) return remember(memory, value, cloneDOMException(value));
  if (internals.isCryptoKey !== undefined && internals.isCryptoKey(value)) return remember(memory, value, internals.cloneCryptoKey(value));
  for (let i = 0; i < uncloneable.length; i++) if (uncloneable[i](value)) throw cloneError(describe(value));
  if (hasBrand(WeakMapPrototypeHas, value, ObjectPrototype) || hasBrand(WeakSetPrototypeHas, value, ObjectPrototype) ||
      hasBrand(WeakRefPrototypeDeref, value) || hasBrand(FinalizationRegistryPrototypeUnregister, value, ObjectPrototype) ||
      isNativePromise(value)) {
    throw cloneError(describe(value));
  }
  if (ObjectPrototypeToString(value) === "[object Error]") return cloneErrorObject(value, memory);
  if (ArrayIsArray(value)) {
    const out = remember(memory, value, new ArrayCtor(value.length));
    copyOwnEnumerable(value, out, memory);
    return out;
  }
  const out = remember(memory, value, {});
  copyOwnEnumerable(value, out, memory);
  return out;
}

function isNativePromise(value) {
  try {
    return PromiseResolve(value) === value;
  } catch {
    return false;
  }
}

function remember(memory, value, copy) {
  MapPrototypeSet(memory, value, copy);
  return copy;
}

/** An Error keeps its kind (by name, else plain Error), its own message and its stack. */
function cloneErrorObject(value, memory) {
  const name = value.name;
  const Ctor = (typeof name === "string" && ERROR_CONSTRUCTORS[name]) || ERROR_CONSTRUCTORS.Error;
  const out = remember(memory, value, new Ctor());
  const message = ownDescriptor(value, "message");
  if (message !== undefined && "value" in message) {
    ObjectDefineProperty(out, "message", { __proto__: null, value: toDOMString(message.value), writable: true, enumerable: false, configurable: true });
  }
  const stack = ownDescriptor(value, "stack");
  if (stack !== undefined && "value" in stack && typeof stack.value === "string") {
    ObjectDefineProperty(out, "stack", { __proto__: null, value: stack.value, writable: true, enumerable: false, configurable: true });
  }
  return out;
}

function structuredClone(value, options = undefined) {
  requireArgs(arguments.length, 1, "Failed to execute 'structuredClone'");
  if (options !== undefined && options !== null) {
    if (!isObjectLike(options)) throw new TypeErrorCtor("Failed to execute 'structuredClone': The provided value is not of type 'StructuredSerializeOptions'.");
    if (options.transfer !== undefined) {
      const transfer = toSequence(options.transfer, "Failed to execute 'structuredClone'", (v) => v);
      if (transfer.length > 0) {
        throw new DOMException("Failed to execute 'structuredClone': transferring objects is not supported here; the value is copied.", "DataCloneError");
      }
    }
  }
  return cloneValue(value, new MapCtor());
}

exposeGlobal("structuredClone", structuredClone);
