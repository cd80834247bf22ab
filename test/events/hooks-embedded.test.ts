import { defineHookSuite } from "./hooks-suite.ts";

// Events and hooks on the embedded engine: PGlite, hooks run in the API process.
defineHookSuite("embedded");
