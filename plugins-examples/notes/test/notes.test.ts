import assert from "node:assert/strict";
import { after, test } from "node:test";
import { createTestContext, loadPlugin } from "@sbh/sdk/testing";

const dir = new URL("..", import.meta.url).pathname;
const ctx = createTestContext({ tenant: "acme", user: "ada" });
const plugin = await loadPlugin(dir, ctx);
after(() => plugin.close());

type Note = { id: string; title: string; body: string; tags: string[]; owner: string; created_at: string; updated_at: string };
type ErrorBody = { error: { code: string; message: string } };

async function create(body: unknown, user?: string): Promise<Note> {
  const res = await plugin.route("POST", "/notes", { body, user });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body as Note;
}

test("create, read, list, update and delete a note", async () => {
  const note = await create({ title: "  Groceries ", body: "eggs, milk", tags: ["Home", "todo"] });
  assert.equal(note.title, "Groceries");
  assert.deepEqual(note.tags, ["home", "todo"]);
  assert.equal(note.owner, "ada");
  assert.equal("tag_set" in note, false);
  assert.deepEqual(ctx.collection("notes")[0].tag_set, { home: true, todo: true });

  assert.deepEqual((await plugin.route("GET", `/notes/${note.id}`)).body, note);
  const list = (await plugin.route("GET", "/notes")).body as { notes: Note[]; count: number };
  assert.deepEqual(list.notes.map((n) => n.id), [note.id]);

  const patched = await plugin.route("PATCH", `/notes/${note.id}`, { body: { tags: ["home"] } });
  assert.equal(patched.status, 200);
  assert.deepEqual((patched.body as Note).tags, ["home"]);
  assert.equal((patched.body as Note).body, "eggs, milk");
  assert.deepEqual(ctx.collection("notes")[0].tag_set, { home: true });

  const deleted = await plugin.route("DELETE", `/notes/${note.id}`);
  assert.deepEqual(deleted.body, { deleted: true, id: note.id });
  assert.equal((await plugin.route("GET", `/notes/${note.id}`)).status, 404);
});

test("search by tag (database filter) and by text in title or body", async () => {
  const a = await create({ title: "Sprint planning", body: "Agenda", tags: ["work", "meeting"] });
  const b = await create({ title: "Dentist", body: "Tuesday meeting at 9", tags: ["personal"] });
  await create({ title: "Ideas", tags: ["work"] });

  const byTag = (await plugin.route("GET", "/search?tag=meeting")).body as { results: Note[] };
  assert.deepEqual(byTag.results.map((n) => n.id), [a.id]);
  const byText = (await plugin.route("GET", "/search", { query: { q: "MEETING" } })).body as { results: Note[] };
  assert.deepEqual(byText.results.map((n) => n.id), [b.id]);
  const both = (await plugin.route("GET", "/search?q=sprint&tag=work")).body as { results: Note[]; count: number };
  assert.deepEqual([both.count, both.results[0].id], [1, a.id]);
  const listByTag = (await plugin.route("GET", "/notes?tag=work")).body as { count: number };
  assert.equal(listByTag.count, 2);
});

test("GET /stats counts the caller's notes and tags", async () => {
  const stats = (await plugin.route("GET", "/stats")).body as { total_notes: number; total_tags: number; tag_frequency: Record<string, number> };
  assert.equal(stats.total_notes, 3);
  assert.deepEqual(stats.tag_frequency, { work: 2, meeting: 1, personal: 1 });
  assert.equal(stats.total_tags, 3);
});

test("another user sees none of it: their note ids are 404s", async () => {
  const mine = await create({ title: "Secret plan" });
  assert.equal((await plugin.route("GET", `/notes/${mine.id}`, { user: "grace" })).status, 404);
  assert.equal((await plugin.route("DELETE", `/notes/${mine.id}`, { user: "grace" })).status, 404);
  assert.equal(((await plugin.route("GET", "/notes", { user: "grace" })).body as { count: number }).count, 0);
  assert.equal(((await plugin.route("GET", "/stats", { user: "grace" })).body as { total_notes: number }).total_notes, 0);
});

test("bad input is a 400 with a useful message; unknown ids are 404", async () => {
  const cases: [string, string, unknown, RegExp][] = [
    ["POST", "/notes", { body: "no title" }, /title is required/],
    ["POST", "/notes", { title: "x", tags: "work" }, /tags must be a list/],
    ["POST", "/notes", { title: "x", tags: ["to do"] }, /Bad tag "to do"/],
    ["POST", "/notes", { title: "x", color: "red" }, /Unknown field\(s\): color/],
    ["POST", "/notes", "just text", /Send a JSON object/],
  ];
  for (const [method, path, body, message] of cases) {
    const res = await plugin.route(method, path, { body });
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.match((res.body as ErrorBody).error.message, message);
  }
  assert.equal((await plugin.route("GET", "/search")).status, 400);
  assert.equal((await plugin.route("GET", "/notes?limit=1000")).status, 400);
  const note = await create({ title: "x" });
  assert.match(((await plugin.route("PATCH", `/notes/${note.id}`, { body: {} })).body as ErrorBody).error.message, /at least one/);
  assert.equal((await plugin.route("GET", "/notes/00000000-0000-0000-0000-000000000000")).status, 404);
  assert.equal((await plugin.route("PATCH", "/notes/not-an-id", { body: { title: "y" } })).status, 404);
});

test("without db.write creating a note is a 500 and the denial is in the plugin's log", async () => {
  const readOnly = createTestContext({ permissions: ["db.read"] });
  const p = await loadPlugin(dir, readOnly);
  try {
    const res = await p.route("POST", "/notes", { body: { title: "x" } });
    assert.equal(res.status, 500);
    assert.equal((res.body as ErrorBody).error.code, "plugin_error");
    assert.ok(readOnly.logs.some((l) => l.level === "warn" && /needs the "db.write" permission/.test(l.message)));
    assert.equal(readOnly.collection("notes").length, 0);
  } finally {
    await p.close();
  }
});
