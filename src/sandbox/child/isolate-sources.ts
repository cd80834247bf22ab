import { readFileSync } from "node:fs";
import { CTX_LAYOUT } from "../../capabilities/ctx-members.ts";

const read = (file: string) => readFileSync(new URL(`../isolate/${file}`, import.meta.url), "utf8");

// The in-isolate runtime and SDK are plain JavaScript files compiled inside each isolate. The
// runtime builds ctx from the platform's member registry, written into its source here.
export const RUNTIME_SOURCE = withCtxLayout(read("runtime.js"));
export const SDK_SOURCE = read("sdk.js");

/**
 * The Web globals, one family per file under isolate/web/: the globals each defines and the
 * families whose `internals` it reads (they install first).
 */
export const WEB_FAMILIES: readonly { file: string; globals: string[]; needs: string[] }[] = [
  { file: "dom-exception", globals: ["DOMException"], needs: [] },
  { file: "events", globals: ["Event", "CustomEvent", "EventTarget"], needs: ["dom-exception"] },
  { file: "abort", globals: ["AbortController", "AbortSignal"], needs: ["dom-exception", "events"] },
  { file: "encoding", globals: ["TextEncoder", "TextDecoder", "atob", "btoa"], needs: ["dom-exception"] },
  { file: "url", globals: ["URL", "URLSearchParams"], needs: ["encoding"] },
  { file: "crypto", globals: ["crypto", "Crypto", "SubtleCrypto", "CryptoKey"], needs: ["dom-exception", "encoding"] },
  { file: "headers", globals: ["Headers"], needs: [] },
  { file: "blob", globals: ["Blob"], needs: ["encoding"] },
  { file: "structured-clone", globals: ["structuredClone"], needs: ["dom-exception"] },
  { file: "microtask", globals: ["queueMicrotask"], needs: [] },
  { file: "performance", globals: ["Performance", "performance"], needs: ["events"] },
  { file: "timers", globals: ["setTimeout", "clearTimeout", "setInterval", "clearInterval"], needs: [] },
  { file: "fetch", globals: ["fetch", "Request", "Response"], needs: ["dom-exception", "abort", "headers", "encoding", "url", "blob"] },
];

/**
 * Runs in the runtime's closure before runtime.js: one block holding the shared primordials,
 * and in it each family's file as the body of the function that installs it on first use. That
 * function is left for V8 to compile lazily: booting an isolate does not parse a family's code,
 * the first plugin to use it in that isolate does.
 */
export const WEB_SOURCE = [
  "{",
  read("web/primordials.js"),
  "declareFamilies([",
  ...WEB_FAMILIES.map((f) => `[${JSON.stringify(f.file)}, ${JSON.stringify(f.globals)}, ${JSON.stringify(f.needs)}, () => {\n${read(`web/${f.file}.js`)}\n}],`),
  "]);",
  // The one name the block leaves to runtime.js (a var is the closure's): timers and fetch act
  // for a call, which only the runtime's dispatcher knows; it puts its hooks on `internals`.
  "var webInternals = internals;",
  "}",
].join("\n");

function withCtxLayout(runtime: string): string {
  const marker = "__CTX_LAYOUT__";
  if (runtime.split(marker).length !== 2) throw new Error(`runtime.js must hold ${marker} exactly once`);
  return runtime.replace(marker, () => JSON.stringify(CTX_LAYOUT));
}
