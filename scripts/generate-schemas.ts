// `npm run schemas`: writes schemas/plugin.schema.json and schemas/webhook.schema.json from the
// validators uploads use (with the platform's default limits). test/packaging/json-schemas.test.ts
// fails when the committed files and the validators disagree.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { schemaFiles } from "../src/packaging/json-schemas.ts";

const dir = path.resolve(import.meta.dirname, "../schemas");
mkdirSync(dir, { recursive: true });
for (const [name, content] of Object.entries(schemaFiles())) {
  writeFileSync(path.join(dir, name), content);
  process.stdout.write(`wrote schemas/${name}\n`);
}
