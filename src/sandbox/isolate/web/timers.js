// setTimeout, clearTimeout, setInterval, clearInterval (HTML §8.6), scoped to calls.
//
// The isolate has no event loop: the sandbox process keeps the clock (CallTimers in
// web-primitives.ts) and, when timers are due, calls the dispatcher with their call's token
// and ids; the callbacks run here, one after another in the order they fell due (timers due
// together run before the microtasks they queue, as in Node before version 11).
//
// A timer belongs to the call the isolate is running for when it is created (runtime.js,
// `currentCall`) and never outlives it: when the call ends (its handler settled, or it timed
// out) its timers are dropped here and on the host, and a timer whose delay reaches past the
// call's deadline is kept but never fires, the call times out first. Outside any call (module
// top-level code) there is no timer to belong to: refused.
//
// Delays follow the browsers': NaN, negative or missing is 0; a timer created by a callback
// nested more than 5 deep, and every interval, waits at least 4 ms.

const calls = internals.calls;
const MAX_PER_CALL = 1000;
const NESTING_LEVEL = 5;
const NESTED_MIN_MS = 4;

// id → { call, callback, args, repeat, nesting }; call token → { count, ids: id → true }
const timers = ObjectCreate(null);
const byCall = ObjectCreate(null);
let nextId = 1;
// The nesting level of the callback running now (0: none).
let nesting = 0;

function toDelay(v) {
  const n = +v;
  if (NumberIsNaN(n) || n < 0) return 0;
  // Beyond 2^31 - 1 ms every call has long timed out: such a timer simply never fires.
  return n === Infinity ? 2147483647 : MathMin(MathTrunc(n), 2147483647);
}

function schedule(repeat, name, callback, timeout, args) {
  if (typeof callback !== "function") {
    throw new TypeErrorCtor(`Failed to execute '${name}': parameter 1 is not a function (code strings are not run).`);
  }
  const call = calls.current();
  if (call === null) throw new TypeErrorCtor(`Failed to execute '${name}': a timer belongs to a call, and none is running (module top-level code has none).`);
  let own = byCall[call];
  if (own === undefined) own = byCall[call] = { count: 0, ids: ObjectCreate(null) };
  if (own.count >= MAX_PER_CALL) throw new RangeErrorCtor(`Failed to execute '${name}': a call may have at most ${MAX_PER_CALL} pending timers.`);
  const level = nesting + 1;
  let delay = toDelay(timeout);
  if ((repeat || level > NESTING_LEVEL) && delay < NESTED_MIN_MS) delay = NESTED_MIN_MS;
  const id = nextId++;
  const answer = hostSync(repeat ? "timer.interval" : "timer.timeout", call, id, delay);
  if (answer === "limit") throw new RangeErrorCtor(`Failed to execute '${name}': a call may have at most ${MAX_PER_CALL} pending timers.`);
  if (answer !== true) throw new TypeErrorCtor(`Failed to execute '${name}': the call this timer would belong to has ended.`);
  timers[id] = { call, callback, args, repeat, nesting: level };
  own.ids[id] = true;
  own.count++;
  return id;
}

function forget(id) {
  const timer = timers[id];
  if (timer === undefined) return undefined;
  delete timers[id];
  const own = byCall[timer.call];
  if (own !== undefined && own.ids[id] === true) {
    delete own.ids[id];
    own.count--;
  }
  return timer;
}

function cancel(id) {
  // Ids are numbers; anything else names no timer (ToNumber first, as WebIDL's long does).
  const key = +id;
  const timer = forget(key);
  if (timer !== undefined) hostSync("timer.clear", timer.call, key);
}

function setTimeout(handler, timeout = 0, ...args) {
  return schedule(false, "setTimeout", handler, timeout, args);
}

function setInterval(handler, timeout = 0, ...args) {
  return schedule(true, "setInterval", handler, timeout, args);
}

function clearTimeout(id = 0) {
  cancel(id);
}

function clearInterval(id = 0) {
  cancel(id);
}

/** Runs timer `id` for `call` (the dispatcher checked the call is still running). */
internals.fireTimer = (call, id) => {
  const timer = timers[id];
  if (timer === undefined || timer.call !== call) return;
  if (!timer.repeat) forget(id);
  const outer = nesting;
  nesting = timer.nesting;
  try {
    // As in a browser: `this` is the global object, the extra arguments follow.
    ReflectApply(timer.callback, global, timer.args);
  } catch (err) {
    reportException(err);
  } finally {
    nesting = outer;
  }
};

/** Drops a call's timers once it has ended (the host has dropped its side already). */
internals.dropTimers = (call) => {
  const own = byCall[call];
  if (own === undefined) return;
  delete byCall[call];
  for (const id in own.ids) delete timers[id];
};

exposeGlobal("setTimeout", setTimeout);
exposeGlobal("setInterval", setInterval);
exposeGlobal("clearTimeout", clearTimeout);
exposeGlobal("clearInterval", clearInterval);
