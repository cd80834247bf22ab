// `node --import <this file>`: lets plugin tests import "@sbh/sdk/testing" (this folder's
// index.ts) from anywhere, as they would import an installed package. Load tsx first.
import { register } from "node:module";

register("./resolve-hook.mjs", import.meta.url);
