import assert from "node:assert/strict";
import { after, test } from "node:test";
import { ok } from "../support/http-assert.ts";
import { fixtureZip, startTestApp } from "../support/test-app.ts";

// A cron tick delivered twice (at-least-once queues; a scheduler re-created after Redis lost its
// data) makes one run: the second trigger for the same scheduled time returns the first run.

test("the same scheduled tick triggered twice makes one run", async () => {
  const app = await startTestApp();
  after(() => app.close());
  const ten = await app.tenant();
  await ok(await ten.upload(fixtureZip("job-manual")), 201);
  const install = (await app.services.installs.find({ id: ten.id, slug: ten.slug }, "job-manual"))!;
  const job = install.version.manifest.jobs[0].name;
  const due = new Date(Math.ceil(Date.now() / 1000) * 1000 + 60_000);
  const first = await app.services.jobs.trigger(install, job, "cron", due);
  const second = await app.services.jobs.trigger(install, job, "cron", due);
  assert.equal(first.started, true);
  assert.equal(second.started, false);
  assert.equal(second.run.id, first.run.id);
  const rows = await app.services.db.prisma.jobRun.findMany({ where: { installId: install.id, scheduledFor: due } });
  assert.equal(rows.length, 1);
  // Run-now has no scheduled time and is never folded into a tick.
  await app.services.jobs.trigger(install, job, "manual").catch(() => undefined);
  assert.equal(await app.services.db.prisma.jobRun.count({ where: { installId: install.id } }), 2);
});
