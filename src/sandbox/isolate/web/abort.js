// AbortController and AbortSignal (DOM Standard §3.1–3.2). AbortSignal.timeout() needs timers,
// which this family does not have.

const { DOMException, Event, EventTarget } = internals;
const { addEventListener, removeEventListener } = internals;

function abortError() {
  return new DOMException("This operation was aborted", "AbortError");
}

class AbortSignal extends EventTarget {
  #aborted = false;
  #reason = undefined;
  #algorithms = [];
  #dependents = [];
  #dependent = false;
  #sources = [];
  #onabort = null;
  #onabortListener = null;

  constructor(token) {
    illegalConstructor(token);
    super();
  }

  static abort(reason = undefined) {
    const signal = new AbortSignal(ILLEGAL);
    signal.#aborted = true;
    signal.#reason = reason === undefined ? abortError() : reason;
    return signal;
  }

  static any(signals) {
    requireArgs(arguments.length, 1, "Failed to execute 'any' on 'AbortSignal'");
    const sources = toSequence(signals, "Failed to execute 'any' on 'AbortSignal'", (s) => {
      if (!internals.isAbortSignal(s)) throw new TypeErrorCtor("Failed to execute 'any' on 'AbortSignal': Failed to convert value to 'AbortSignal'.");
      return s;
    });
    const result = new AbortSignal(ILLEGAL);
    for (let i = 0; i < sources.length; i++) {
      if (sources[i].#aborted) {
        result.#aborted = true;
        result.#reason = sources[i].#reason;
        return result;
      }
    }
    result.#dependent = true;
    // A dependent signal follows the sources of the signals it was made from, never them.
    for (let i = 0; i < sources.length; i++) {
      const s = sources[i];
      const roots = s.#dependent ? s.#sources : [s];
      for (let j = 0; j < roots.length; j++) {
        if (ArrayPrototypeIncludes(result.#sources, roots[j])) continue;
        ArrayPrototypePush(result.#sources, roots[j]);
        ArrayPrototypePush(roots[j].#dependents, result);
      }
    }
    return result;
  }

  get aborted() {
    return this.#aborted;
  }

  get reason() {
    return this.#reason;
  }

  throwIfAborted() {
    if (this.#aborted) throw this.#reason;
  }

  get onabort() {
    return this.#onabort;
  }

  set onabort(handler) {
    this.#onabort = isObjectLike(handler) ? handler : null;
    if (this.#onabort === null) {
      if (this.#onabortListener !== null) ReflectApply(removeEventListener, this, ["abort", this.#onabortListener]);
      this.#onabortListener = null;
    } else if (this.#onabortListener === null) {
      // An event handler keeps the place of its first assignment among the listeners.
      this.#onabortListener = (event) => {
        const fn = this.#onabort;
        if (typeof fn === "function") ReflectApply(fn, this, [event]);
      };
      ReflectApply(addEventListener, this, ["abort", this.#onabortListener]);
    }
  }

  static {
    internals.isAbortSignal = isAbortSignal;
    internals.isAborted = (signal) => signal.#aborted;
    internals.onAbort = (signal, algorithm) => {
      if (!signal.#aborted) ArrayPrototypePush(signal.#algorithms, algorithm);
    };
    internals.newSignal = () => new AbortSignal(ILLEGAL);
    internals.signalAbort = signalAbort;

    function isAbortSignal(v) {
      return isObjectLike(v) && #aborted in v;
    }

    function signalAbort(signal, reason) {
      if (signal.#aborted) return;
      signal.#aborted = true;
      signal.#reason = reason === undefined ? abortError() : reason;
      // Dependents are marked aborted before any event runs, then each fires in order.
      const dependents = [];
      for (let i = 0; i < signal.#dependents.length; i++) {
        const d = signal.#dependents[i];
        if (!d.#aborted) {
          d.#aborted = true;
          d.#reason = signal.#reason;
          ArrayPrototypePush(dependents, d);
        }
      }
      signal.#dependents = [];
      runAbortSteps(signal);
      for (let i = 0; i < dependents.length; i++) runAbortSteps(dependents[i]);
    }

    function runAbortSteps(signal) {
      const algorithms = signal.#algorithms;
      signal.#algorithms = [];
      for (let i = 0; i < algorithms.length; i++) {
        try {
          algorithms[i]();
        } catch (err) {
          reportException(err);
        }
      }
      internals.fire(signal, new Event("abort"));
    }
  }
}
webInterface(AbortSignal);

class AbortController {
  #signal = internals.newSignal();

  constructor() {}

  get signal() {
    return this.#signal;
  }

  abort(reason = undefined) {
    internals.signalAbort(this.#signal, reason);
  }

  static {
    ArrayPrototypePush(uncloneable, (v) => isObjectLike(v) && #signal in v);
  }
}
webInterface(AbortController);

exposeGlobal("AbortSignal", AbortSignal);
exposeGlobal("AbortController", AbortController);
