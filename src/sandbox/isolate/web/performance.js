// performance (High Resolution Time): now() and timeOrigin on the isolate's clock (primordials.js:
// whole milliseconds, never going back).

const { EventTarget } = internals;

class Performance extends EventTarget {
  #brand = true;

  constructor(token) {
    illegalConstructor(token);
    super();
  }

  get timeOrigin() {
    return this.#brand && timeOrigin;
  }

  now() {
    return this.#brand && monotonicNow();
  }

  toJSON() {
    return this.#brand && { timeOrigin };
  }
}
webInterface(Performance);

exposeGlobal("Performance", Performance);
exposeGlobal("performance", new Performance(ILLEGAL));
