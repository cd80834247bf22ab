// Event, CustomEvent and EventTarget (DOM Standard §2), for targets without a tree: an event's
// path is its target alone, so dispatch runs the capturing listeners, then the others.

const { DOMException } = internals;

const NONE = 0;
const CAPTURING_PHASE = 1;
const AT_TARGET = 2;
const BUBBLING_PHASE = 3;

function booleanMember(dict, name) {
  return dict === undefined || dict === null ? false : !!dict[name];
}

function toEventInitDict(dict) {
  if (dict !== undefined && dict !== null && !isObjectLike(dict)) throw new TypeErrorCtor("Failed to construct 'Event': The provided value is not of type 'EventInit'.");
  return dict;
}

class Event {
  #type;
  #bubbles;
  #cancelable;
  #composed;
  #target = null;
  #currentTarget = null;
  #phase = NONE;
  #stop = false;
  #stopImmediate = false;
  #canceled = false;
  #inPassiveListener = false;
  #dispatching = false;
  #trusted = false;
  #timeStamp;

  constructor(type, eventInitDict = undefined) {
    requireArgs(arguments.length, 1, "Failed to construct 'Event'");
    this.#type = toDOMString(type);
    const dict = toEventInitDict(eventInitDict);
    this.#bubbles = booleanMember(dict, "bubbles");
    this.#cancelable = booleanMember(dict, "cancelable");
    this.#composed = booleanMember(dict, "composed");
    this.#timeStamp = monotonicNow();
  }

  get type() { return this.#type; }
  get target() { return this.#target; }
  get srcElement() { return this.#target; }
  get currentTarget() { return this.#currentTarget; }
  get eventPhase() { return this.#phase; }
  get bubbles() { return this.#bubbles; }
  get cancelable() { return this.#cancelable; }
  get composed() { return this.#composed; }
  get defaultPrevented() { return this.#canceled; }
  get isTrusted() { return this.#trusted; }
  get timeStamp() { return this.#timeStamp; }

  composedPath() {
    return this.#currentTarget === null ? [] : [this.#currentTarget];
  }

  stopPropagation() {
    this.#stop = true;
  }

  get cancelBubble() {
    return this.#stop;
  }

  set cancelBubble(value) {
    if (value) this.#stop = true;
  }

  stopImmediatePropagation() {
    this.#stop = true;
    this.#stopImmediate = true;
  }

  get returnValue() {
    return !this.#canceled;
  }

  set returnValue(value) {
    if (!value) this.#cancel();
  }

  preventDefault() {
    this.#cancel();
  }

  initEvent(type, bubbles = false, cancelable = false) {
    requireArgs(arguments.length, 1, "Failed to execute 'initEvent' on 'Event'");
    if (this.#dispatching) return;
    this.#stop = this.#stopImmediate = this.#canceled = false;
    this.#trusted = false;
    this.#target = null;
    this.#type = toDOMString(type);
    this.#bubbles = !!bubbles;
    this.#cancelable = !!cancelable;
  }

  #cancel() {
    if (this.#cancelable && !this.#inPassiveListener) this.#canceled = true;
  }

  static {
    internals.isEvent = (v) => isObjectLike(v) && #type in v;
    ArrayPrototypePush(uncloneable, internals.isEvent);
    /** The dispatch algorithm for a target with no parent; returns !canceled. */
    internals.dispatch = (target, event, listenersOf, trusted) => {
      if (event.#dispatching) throw new DOMException("The event is already being dispatched.", "InvalidStateError");
      event.#dispatching = true;
      event.#trusted = trusted;
      event.#target = target;
      event.#currentTarget = target;
      event.#phase = AT_TARGET;
      try {
        const list = listenersOf(event.#type);
        if (list !== undefined) {
          // Later additions do not run in this dispatch; removals do take effect (`removed`).
          const snapshot = ArrayPrototypeSlice(list);
          invokeAll(target, event, snapshot, list, true);
          if (!event.#stop) invokeAll(target, event, snapshot, list, false);
        }
      } finally {
        event.#dispatching = false;
        event.#phase = NONE;
        event.#currentTarget = null;
        event.#stop = event.#stopImmediate = false;
      }
      return !event.#canceled;
    };

    function invokeAll(target, event, snapshot, list, capturing) {
      for (let i = 0; i < snapshot.length; i++) {
        const listener = snapshot[i];
        if (listener.removed || listener.capture !== capturing) continue;
        if (listener.once) removeFrom(list, listener);
        if (listener.passive) event.#inPassiveListener = true;
        try {
          const cb = listener.callback;
          if (typeof cb === "function") {
            ReflectApply(cb, target, [event]);
          } else {
            const handleEvent = cb.handleEvent;
            if (typeof handleEvent !== "function") throw new TypeErrorCtor("The listener's handleEvent is not a function.");
            ReflectApply(handleEvent, cb, [event]);
          }
        } catch (err) {
          reportException(err);
        }
        event.#inPassiveListener = false;
        if (event.#stopImmediate) return;
      }
    }
  }
}

function removeFrom(list, listener) {
  listener.removed = true;
  const i = ArrayPrototypeIndexOf(list, listener);
  if (i !== -1) ArrayPrototypeSplice(list, i, 1);
}

webInterface(Event);
webConstants(Event, { NONE, CAPTURING_PHASE, AT_TARGET, BUBBLING_PHASE });

class CustomEvent extends Event {
  #detail;

  constructor(type, eventInitDict = undefined) {
    requireArgs(arguments.length, 1, "Failed to construct 'CustomEvent'");
    super(type, eventInitDict);
    const dict = toEventInitDict(eventInitDict);
    this.#detail = dict === undefined || dict === null || dict.detail === undefined ? null : dict.detail;
  }

  get detail() {
    return this.#detail;
  }
}
webInterface(CustomEvent);

function flattenOptions(options) {
  return isObjectLike(options) ? !!options.capture : !!options;
}

class EventTarget {
  #listeners = new MapCtor();

  constructor() {}

  addEventListener(type, callback, options = undefined) {
    requireArgs(arguments.length, 2, "Failed to execute 'addEventListener' on 'EventTarget'");
    type = toDOMString(type);
    if (callback !== null && !isObjectLike(callback)) throw new TypeErrorCtor("Failed to execute 'addEventListener' on 'EventTarget': The callback provided as parameter 2 is not an object.");
    let capture = false, once = false, passive = false, signal = null;
    if (isObjectLike(options)) {
      capture = !!options.capture;
      once = !!options.once;
      passive = !!options.passive;
      if (options.signal !== undefined) {
        signal = options.signal;
        // Without the abort family installed, no AbortSignal exists yet.
        if (internals.isAbortSignal === undefined || !internals.isAbortSignal(signal)) throw new TypeErrorCtor("Failed to execute 'addEventListener' on 'EventTarget': Failed to read the 'signal' property from 'AddEventListenerOptions': The provided value is not of type 'AbortSignal'.");
      }
    } else {
      capture = !!options;
    }
    if (callback === null) return;
    if (signal !== null && internals.isAborted(signal)) return;
    let list = MapPrototypeGet(this.#listeners, type);
    if (list === undefined) {
      list = [];
      MapPrototypeSet(this.#listeners, type, list);
    }
    for (let i = 0; i < list.length; i++) {
      if (list[i].callback === callback && list[i].capture === capture) return;
    }
    const listener = { callback, capture, once, passive, removed: false };
    ArrayPrototypePush(list, listener);
    if (signal !== null) internals.onAbort(signal, () => removeFrom(list, listener));
  }

  removeEventListener(type, callback, options = undefined) {
    requireArgs(arguments.length, 2, "Failed to execute 'removeEventListener' on 'EventTarget'");
    type = toDOMString(type);
    const capture = flattenOptions(options);
    const list = MapPrototypeGet(this.#listeners, type);
    if (list === undefined) return;
    for (let i = 0; i < list.length; i++) {
      if (list[i].callback === callback && list[i].capture === capture) {
        removeFrom(list, list[i]);
        return;
      }
    }
  }

  dispatchEvent(event) {
    requireArgs(arguments.length, 1, "Failed to execute 'dispatchEvent' on 'EventTarget'");
    if (!internals.isEvent(event)) throw new TypeErrorCtor("Failed to execute 'dispatchEvent' on 'EventTarget': parameter 1 is not of type 'Event'.");
    return internals.dispatch(this, event, (type) => MapPrototypeGet(this.#listeners, type), false);
  }

  static {
    internals.isEventTarget = (v) => isObjectLike(v) && #listeners in v;
    ArrayPrototypePush(uncloneable, internals.isEventTarget);
    /** Fires a trusted event at a target, as the platform does (an AbortSignal's "abort"). */
    internals.fire = (target, event) => internals.dispatch(target, event, (type) => MapPrototypeGet(target.#listeners, type), true);
  }
}
webInterface(EventTarget);

internals.Event = Event;
internals.addEventListener = EventTarget.prototype.addEventListener;
internals.removeEventListener = EventTarget.prototype.removeEventListener;
internals.EventTarget = EventTarget;
exposeGlobal("Event", Event);
exposeGlobal("CustomEvent", CustomEvent);
exposeGlobal("EventTarget", EventTarget);
