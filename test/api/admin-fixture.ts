import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import AdmZip from "adm-zip";
import { FIXTURES, fixtureZip } from "../support/test-app.ts";

const ADMIN_MAIN = readFileSync(path.join(FIXTURES, "api-admin/main.js"), "utf8");

/** api-admin at `version`, its /version route answering `behaviour` (for upgrade/rollback tests). */
export function adminAt(version: string, behaviour: string): Buffer {
  const zip = new AdmZip(fixtureZip("api-admin"));
  const manifest = { ...JSON.parse(zip.readAsText("plugin.json")), version };
  const main = ADMIN_MAIN.replace('const BEHAVIOUR = "v1";', `const BEHAVIOUR = ${JSON.stringify(behaviour)};`);
  assert.notEqual(main, ADMIN_MAIN, "api-admin/main.js no longer has the BEHAVIOUR line");
  zip.updateFile("plugin.json", Buffer.from(JSON.stringify(manifest)));
  zip.updateFile("main.js", Buffer.from(main));
  return zip.toBuffer();
}
