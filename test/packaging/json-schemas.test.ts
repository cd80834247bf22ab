import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { Ajv2020 } from "ajv/dist/2020.js";
import { parse } from "yaml";
import { schemaFiles } from "../../src/packaging/json-schemas.ts";

// The editor schemas in schemas/ are generated from the upload validators (npm run schemas):
// they must match what the validators say today, and accept every real plugin in the repo.

const ROOT = path.resolve(import.meta.dirname, "../..");
const committed = (name: string) => readFileSync(path.join(ROOT, "schemas", name), "utf8");

describe("schemas/*.schema.json", () => {
  test("the committed files are what the validators generate (run npm run schemas after changing them)", () => {
    for (const [name, content] of Object.entries(schemaFiles())) assert.equal(committed(name), content, name);
  });

  const ajv = new Ajv2020({ strict: false, allErrors: true });
  const pluginSchema = ajv.compile(JSON.parse(committed("plugin.schema.json")));
  const webhookSchema = ajv.compile(JSON.parse(committed("webhook.schema.json")));

  test("every example's plugin.json and webhook YAML is valid by the schemas", () => {
    const examples = path.join(ROOT, "plugins-examples");
    let webhooks = 0;
    for (const name of readdirSync(examples)) {
      const manifest = JSON.parse(readFileSync(path.join(examples, name, "plugin.json"), "utf8"));
      assert.ok(pluginSchema(manifest), `${name}/plugin.json: ${JSON.stringify(pluginSchema.errors)}`);
      const hooks = path.join(examples, name, "webhooks");
      for (const file of safeList(hooks)) {
        webhooks++;
        const def = parse(readFileSync(path.join(hooks, file), "utf8"));
        assert.ok(webhookSchema(def), `${name}/webhooks/${file}: ${JSON.stringify(webhookSchema.errors)}`);
      }
    }
    assert.ok(webhooks >= 1, "at least one example defines a webhook");
  });

  test("they refuse what uploads refuse: unknown keys, bad slugs, unknown permissions, bad signing", () => {
    const base = { slug: "ok-slug", name: "Ok", version: "1.0.0" };
    assert.ok(pluginSchema(base));
    assert.equal(pluginSchema({ ...base, permisions: [] }), false, "a typo is an unknown key");
    assert.equal(pluginSchema({ ...base, slug: "Not OK" }), false);
    assert.equal(pluginSchema({ ...base, permissions: ["root"] }), false);
    assert.equal(pluginSchema({ ...base, resources: { memory_mb: 100_000 } }), false, "above the platform maximum");
    const hook = { api_version: "v1", on: ["build.completed"], delivery: { url: "https://x.example/h", signing: { alg: "HMAC-SHA256", secret: "${SECRET:KEY}" } } };
    assert.ok(webhookSchema(hook), JSON.stringify(webhookSchema.errors));
    assert.equal(webhookSchema({ ...hook, delivery: { ...hook.delivery, signing: { alg: "HMAC-SHA256", secret: "hard-coded" } } }), false);
    assert.equal(webhookSchema({ ...hook, on: [] }), false);
  });
});

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir).filter((f) => /\.ya?ml$/.test(f));
  } catch {
    return [];
  }
}
