// queueMicrotask (HTML §8.7): the callback runs as a microtask; what it throws is reported to
// the plugin's log, as an uncaught exception is.

function queueMicrotask(callback) {
  requireArgs(arguments.length, 1, "Failed to execute 'queueMicrotask'");
  if (typeof callback !== "function") throw new TypeErrorCtor("Failed to execute 'queueMicrotask': The callback provided as parameter 1 is not a function.");
  PromisePrototypeThen(resolved, () => {
    try {
      callback();
    } catch (err) {
      reportException(err);
    }
  });
}

const resolved = PromiseResolve(undefined);

exposeGlobal("queueMicrotask", queueMicrotask);
