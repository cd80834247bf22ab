import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { EventService } from "../../src/events/event-service.ts";
import { eventually } from "../support/eventually.ts";
import { ok } from "../support/http-assert.ts";
import { postgresAvailable, requireOrSkip } from "../support/services.ts";
import { fixtureZip, startTestApp, type TestApp, type TestTenant } from "../support/test-app.ts";

// A host change (user, file) and the event it raises commit together or not at all: when the
// event cannot be published, no user or file is left behind without its event, and a committed
// change never answers 500. On PGlite and on Postgres (their Prisma adapters pass raw SQL
// parameters differently).

for (const db of ["pglite", "postgres"] as const) {
  describe(`host changes and their events on ${db}`, () => {
    let app: TestApp | undefined;
    let available = true;
    before(async () => {
      if (db === "postgres") available = await postgresAvailable();
      if (available) app = await startTestApp({ db });
    });
    after(() => app?.close());

    /** A tenant with the ev-recorder plugin (hooks on every user and file event). */
    async function setup(t: Parameters<typeof requireOrSkip>[0]): Promise<TestTenant | undefined> {
      if (db === "postgres" && !(await requireOrSkip(t, "postgres", available))) return undefined;
      const tenant = await app!.tenant("atomic");
      await ok(await tenant.upload(fixtureZip("ev-recorder")), 201);
      return tenant;
    }

    /**
     * Makes the next publishes fail: `after: true` once the event rows are written (as a failure
     * late in the statement or the commit would), else before anything is written (a refusal).
     */
    function breakPublish(opts: { after?: boolean } = {}): () => void {
      const events = app!.services.events;
      const original = events.publish;
      events.publish = async function (this: EventService, ...args: Parameters<EventService["publish"]>) {
        if (opts.after) await original.apply(this, args);
        throw new Error("the event store is unavailable");
      };
      return () => {
        events.publish = original;
      };
    }

    /** The tenant's host events (the platform's own plugin.* ones left out). */
    async function eventTypes(t: TestTenant): Promise<string[]> {
      const { events } = await ok(await t.request("GET", "/api/events?limit=200"));
      return events.map((e: { type: string }) => e.type).filter((type: string) => !type.startsWith("plugin."));
    }

    function upload(t: TestTenant, path: string, text: string): Promise<Response> {
      const form = new FormData();
      form.append("path", path);
      form.append("file", new Blob([text], { type: "text/plain" }), "x.txt");
      return t.request("POST", "/api/files", { body: form });
    }

    test("users: a publish that fails leaves no user, no event, no hook run; then both commit and the hook runs", async (t) => {
      const tenant = await setup(t);
      if (!tenant) return;
      for (const late of [false, true]) {
        const restore = breakPublish({ after: late });
        try {
          const res = await tenant.request("POST", "/api/users", { json: { email: "ada@example.com" } });
          assert.equal(res.status, 500, await res.clone().text());
        } finally {
          restore();
        }
        assert.deepEqual((await ok(await tenant.request("GET", "/api/users"))).users, [], `a user without its event (late: ${late})`);
        assert.deepEqual(await eventTypes(tenant), []);
        assert.equal(await app!.services.db.prisma.hookRun.count({ where: { tenantId: tenant.id } }), 0);
      }

      const created = await ok(await tenant.request("POST", "/api/users", { json: { email: "ada@example.com" } }), 201);
      assert.equal(created.event.hooks, 1);
      await eventually("the hook run to succeed", async () => {
        const run = await app!.services.db.prisma.hookRun.findFirst({ where: { eventId: created.event.id } });
        return run?.status === "succeeded" ? run : undefined;
      });

      // An update and a delete whose event fails change nothing either.
      const restore = breakPublish({ after: true });
      try {
        assert.equal((await tenant.request("PATCH", `/api/users/${created.user.id}`, { json: { name: "Ada" } })).status, 500);
        assert.equal((await tenant.request("DELETE", `/api/users/${created.user.id}`)).status, 500);
      } finally {
        restore();
      }
      const { user } = await ok(await tenant.request("GET", `/api/users/${created.user.id}`));
      assert.equal(user.name, null, "the update was rolled back with its event");
      assert.deepEqual(await eventTypes(tenant), ["auth.user.created"]);
    });

    test("files: a publish that fails stores no file and keeps a replaced or deleted one as it was", async (t) => {
      const tenant = await setup(t);
      if (!tenant) return;
      const restore = breakPublish({ after: true });
      try {
        assert.equal((await upload(tenant, "notes/a.txt", "first")).status, 500);
      } finally {
        restore();
      }
      assert.deepEqual((await ok(await tenant.request("GET", "/api/files"))).files, [], "a file without its event");
      assert.deepEqual(await eventTypes(tenant), []);

      const { file } = await ok(await upload(tenant, "notes/a.txt", "first"), 201);
      const broken = breakPublish();
      try {
        assert.equal((await upload(tenant, "notes/a.txt", "second")).status, 500);
        assert.equal((await tenant.request("DELETE", `/api/files/${file.id}`)).status, 500);
      } finally {
        broken();
      }
      const content = await tenant.request("GET", `/api/files/${file.id}/content`);
      assert.equal(await content.text(), "first", "the replaced file kept its bytes");
      assert.equal((await ok(await tenant.request("GET", `/api/files/${file.id}`))).file.sha256, file.sha256);
      assert.deepEqual(await eventTypes(tenant), ["files.uploaded"]);

      await ok(await tenant.request("DELETE", `/api/files/${file.id}`));
      assert.deepEqual((await eventTypes(tenant)).sort(), ["files.deleted", "files.uploaded"]);
    });
  });
}
