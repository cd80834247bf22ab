import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { createCapabilityHandler, IMPLEMENTED, type CapabilityTable } from "../../src/capabilities/capability-handler.ts";
import type { CapabilityError } from "../../src/capabilities/capability-error.ts";
import { CTX_MEMBERS, PERMISSIONS, type CtxMethod, type Permission } from "../../src/capabilities/ctx-members.ts";
import { loadPlugin, type LoadedPlugin } from "../../src/testing/index.ts";
import { FIXTURES, fixtureZip, startTestApp, type TestApp, type TestTenant } from "../support/test-app.ts";
import { ok } from "../support/http-assert.ts";

// The ctx member registry is what plugins get: the ctx built in a real isolate, the permission
// check and the author test kit are all read off CTX_MEMBERS here, on the platform and the kit.
// The fixture asks for no permission.

const SLUG = "ctx-probe";
const METHODS = Object.keys(CTX_MEMBERS) as CtxMethod[];
const LOCAL = { tenantId: "string", userId: "string", "plugin.slug": "string", "plugin.version": "string", "plugin.installId": "string" };

type Outcome = { value?: any; error?: { name: string; message: string; code: string | null } };

let app: TestApp;
let t: TestTenant;
let kit: LoadedPlugin;
before(async () => {
  app = await startTestApp();
  t = await app.tenant("ctx-probe");
  await ok(await t.upload(fixtureZip(SLUG)), 201);
  kit = await loadPlugin(path.join(FIXTURES, SLUG));
});
after(() => Promise.all([app?.close(), kit?.close()]));

const runs: Record<string, (method: string, args: unknown[]) => Promise<Outcome>> = {
  platform: async (method, args) => ok(await t.request("POST", `/ext/${SLUG}/call`, { json: { method, args } })),
  "test kit": async (method, args) => {
    const answer = await kit.route("POST", "/call", { body: { method, args } });
    assert.equal(answer.status, 200, JSON.stringify(answer));
    return answer.body as Outcome;
  },
};

describe("the ctx in an isolate is the registry's", () => {
  test("on the platform: every registered member is a function, nothing else is served, ctx is frozen", async () => {
    const { shape, frozen } = await ok(await t.request("GET", `/ext/${SLUG}/shape`));
    const expected: Record<string, string> = { ...LOCAL };
    for (const m of METHODS) expected[m] = "function";
    for (const m of ["config.get", "config.all", "log.debug", "log.info", "log.warn", "log.error"]) expected[m] = "function";
    // ctx.request is an object on routes: its own fields are the request's, not ctx members.
    assert.equal(shape["request.method"], "string");
    for (const key of Object.keys(shape)) if (key.startsWith("request.")) delete shape[key];
    assert.deepEqual(shape, expected);
    assert.equal(frozen, true);
  });

  test("in the test kit: the same members", async () => {
    const answer = await kit.route("GET", "/shape");
    const platform = await ok(await t.request("GET", `/ext/${SLUG}/shape`));
    const members = (shape: Record<string, string>) => Object.keys(shape).filter((k) => !k.startsWith("request.")).sort();
    assert.deepEqual(members((answer.body as { shape: Record<string, string> }).shape), members(platform.shape));
  });
});

for (const [where, call] of Object.entries(runs)) {
  describe(`permissions come from the registry (${where})`, () => {
    test("every member that needs a permission refuses a plugin without it, naming the permission", async () => {
      const gated = METHODS.filter((m) => CTX_MEMBERS[m].permission !== null);
      assert.ok(gated.length >= 14, `${gated.length} gated members`);
      for (const method of gated) {
        const out = await call(method, []);
        const permission = CTX_MEMBERS[method].permission!;
        assert.ok(PERMISSIONS.includes(permission));
        assert.equal(out.error?.name, "PermissionDenied", `${method}: ${JSON.stringify(out)}`);
        assert.equal(out.error?.code, "permission_denied");
        assert.ok(out.error?.message.includes(`ctx.${method} needs the "${permission}" permission`), out.error?.message);
      }
    });

    test("members without a permission work for a plugin that asks for none", async () => {
      assert.deepEqual(await call("secrets.get", ["NOT_SET"]), { value: null });
      assert.deepEqual((await call("assets.list", [])).value, ["plugin.json"]);
      assert.equal(typeof JSON.parse((await call("assets.read", ["plugin.json"])).value).slug, "string");
      const emitted = await call("emit", ["probe.ran", { n: 1 }]);
      assert.equal(emitted.error, undefined, JSON.stringify(emitted));
      assert.equal(typeof emitted.value.id, "string");
    });
  });
}

describe("names the registry does not hold", () => {
  test("in plugin code, a member ctx does not have is undefined (a TypeError when called), and /ext still answers", async () => {
    const out = await ok(await t.request("POST", `/ext/${SLUG}/call`, { json: { method: "db.drop", args: [] } }));
    assert.equal(out.error?.name, "TypeError", JSON.stringify(out));
    assert.equal((await ok(await t.request("GET", `/ext/${SLUG}/shape`))).frozen, true);
  });

  test("on the host, any other name an isolate sends is refused as unknown_method, inherited names included", async () => {
    const counted: string[] = [];
    const scope = { permissions: new Set<Permission>(PERMISSIONS), log: () => {}, count: (m: string, outcome: string) => counted.push(`${m}:${outcome}`) };
    const handler = createCapabilityHandler(scope, IMPLEMENTED as unknown as CapabilityTable<typeof scope>);
    for (const name of ["db.drop", "__proto__", "constructor", "toString", "hasOwnProperty", "db", ""]) {
      await assert.rejects(handler(name, []), (err: CapabilityError) => err.code === "unknown_method" && err.message === `ctx.${name} does not exist`, name);
    }
    assert.deepEqual(counted, ["db.drop:error", "__proto__:error", "constructor:error", "toString:error", "hasOwnProperty:error", "db:error", ":error"]);
  });
});
