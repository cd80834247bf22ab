// The files `plugin init` writes: a working plugin with one route, one hook and its own test.

export function scaffoldFiles(o: { slug: string; name: string; sdkTypes: string }): Record<string, string> {
  const manifest = {
    slug: o.slug,
    name: o.name,
    version: "0.1.0",
    description: `${o.name}: describe what it does for a tenant.`,
    entry: "main.js",
    permissions: ["db.read", "db.write"],
    routes: true,
    events: ["auth.user.created"],
    jobs: [],
  };
  return {
    "plugin.json": `${JSON.stringify(manifest, null, 2)}\n`,
    "main.js": `import { hook, route } from "@sbh/sdk";

// GET /ext/${o.slug}/hello → {"message": "Hello from ${o.slug}", "tenant": "<your tenant>"}
route("/hello", async (ctx) => ({ message: "Hello from ${o.slug}", tenant: ctx.tenantId }));

// GET /ext/${o.slug}/signups → the users this plugin saw being created, newest first
route("/signups", async (ctx) => ({ signups: await ctx.db.query("signups", {}, { order_by: "-created_at" }) }));

// Every new user of the tenant is noted in this plugin's own collection.
hook("auth.user.created", async (ctx, event) => {
  await ctx.db.insert("signups", { email: event.data.user.email, event_id: event.id });
  ctx.log.info("noted a signup", { email: event.data.user.email });
});
`,
    "test/plugin.test.mjs": `import assert from "node:assert/strict";
import { after, test } from "node:test";
import { createTestContext, loadPlugin } from "@sbh/sdk/testing";

// Runs the plugin in a real sandbox with an in-memory ctx: npm run cli -- plugin test <this folder>
const ctx = createTestContext({ tenant: "test-tenant", user: "test-user" });
const plugin = await loadPlugin(new URL("..", import.meta.url).pathname, ctx);
after(() => plugin.close());

test("GET /hello answers", async () => {
  const res = await plugin.route("GET", "/hello");
  assert.equal(res.status, 200);
  assert.deepEqual(res.body, { message: "Hello from ${o.slug}", tenant: "test-tenant" });
});

test("a new user is noted and listed", async () => {
  await plugin.emit("auth.user.created", { user: { id: "u1", email: "ada@example.com" } });
  assert.equal(ctx.collection("signups")[0].email, "ada@example.com");
  const res = await plugin.route("GET", "/signups");
  assert.equal(res.body.signups[0].email, "ada@example.com");
});
`,
    // Editors resolve "@sbh/sdk" to the platform's type declarations through this file.
    "jsconfig.json": `${JSON.stringify({ compilerOptions: { module: "NodeNext", moduleResolution: "NodeNext", target: "ES2022", checkJs: true, paths: { "@sbh/sdk": [o.sdkTypes] } } }, null, 2)}\n`,
    "README.md": `# ${o.name}

A plugin for the SBH extension platform.

- \`npm run cli -- plugin test <dir>\`: run its tests (a real sandbox, an in-memory ctx)
- \`npm run cli -- plugin validate <dir>\`: check it exactly as an upload would
- \`npm run cli -- plugin pack <dir>\`: a reproducible ZIP to upload
- \`npm run cli -- plugin deploy <dir> --url http://localhost:3000 --tenant <slug> --token <admin token>\`
`,
  };
}
