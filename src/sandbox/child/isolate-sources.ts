import { readFileSync } from "node:fs";

// The in-isolate runtime and SDK are plain JavaScript files compiled inside each isolate.
export const RUNTIME_SOURCE = readFileSync(new URL("../isolate/runtime.js", import.meta.url), "utf8");
export const SDK_SOURCE = readFileSync(new URL("../isolate/sdk.js", import.meta.url), "utf8");
