import { HttpError, json, route } from "@sbh/sdk";
import { limit, noteInput, tag } from "./validate.js";

// Each user of the tenant sees only their own notes: every query filters on owner = ctx.userId.

const NOTES = "notes";
const SCAN = 100; // the platform's largest page; search looks at the 100 newest matches
const MAX_STATS_PAGES = 10;

// The filter language matches values, not list members: tag_set {work: true} makes "has tag
// work" the filter {"tag_set.work": true}. The list in `tags` keeps the order the user gave.
function stored(fields) {
  return fields.tags ? { ...fields, tag_set: Object.fromEntries(fields.tags.map((t) => [t, true])) } : fields;
}

function view(doc) {
  const { tag_set: _index, ...note } = doc;
  return note;
}

async function ownNote(ctx, id) {
  const doc = await ctx.db.getById(NOTES, id);
  // why: another user's note answers exactly like a missing one, so ids reveal nothing.
  if (!doc || doc.owner !== ctx.userId) throw new HttpError(404, `No note ${id}`);
  return doc;
}

route("/notes", { methods: ["POST"] }, async (ctx, req) => {
  const doc = await ctx.db.insert(NOTES, stored({ ...noteInput(req.body), owner: ctx.userId }));
  return json(view(doc), 201, { Location: `notes/${doc.id}` });
});

// GET /notes?tag=work&limit=20 → the caller's notes, most recently changed first
route("/notes", { methods: ["GET"] }, async (ctx, req) => {
  const filter = { owner: ctx.userId };
  if (req.query.tag !== undefined) filter[`tag_set.${tag(req.query.tag)}`] = true;
  const docs = await ctx.db.query(NOTES, filter, { limit: limit(req.query.limit, 50, 100), order_by: "-updated_at" });
  return { notes: docs.map(view), count: docs.length };
});

route("/notes/:id", { methods: ["GET"] }, async (ctx, req) => view(await ownNote(ctx, req.params.id)));

route("/notes/:id", { methods: ["PATCH", "PUT"] }, async (ctx, req) => {
  // PUT replaces the note (title required), PATCH changes the fields it sends.
  const fields = noteInput(req.body, { partial: req.method === "PATCH" });
  await ownNote(ctx, req.params.id);
  // db.update replaces the top-level fields it is given, tag_set included as a whole.
  const doc = await ctx.db.update(NOTES, req.params.id, stored(fields));
  if (!doc) throw new HttpError(404, `No note ${req.params.id}`);
  return view(doc);
});

route("/notes/:id", { methods: ["DELETE"] }, async (ctx, req) => {
  await ownNote(ctx, req.params.id);
  await ctx.db.delete(NOTES, req.params.id);
  return { deleted: true, id: req.params.id };
});

// GET /search?q=meeting&tag=work → tag in the database filter, text matched here
route("/search", async (ctx, req) => {
  const q = typeof req.query.q === "string" ? req.query.q.trim().toLowerCase() : "";
  if (!q && req.query.tag === undefined) throw new HttpError(400, "Give q (text in title or body), tag, or both");
  const filter = { owner: ctx.userId };
  if (req.query.tag !== undefined) filter[`tag_set.${tag(req.query.tag)}`] = true;
  const docs = await ctx.db.query(NOTES, filter, { limit: SCAN, order_by: "-updated_at" });
  const results = q ? docs.filter((d) => d.title.toLowerCase().includes(q) || (d.body ?? "").toLowerCase().includes(q)) : docs;
  return { results: results.map(view), count: results.length, query: { q: q || null, tag: req.query.tag ?? null } };
});

// GET /stats → how many notes the caller has and how often each tag is used
route("/stats", async (ctx) => {
  const frequency = {};
  let total = 0;
  let lastUpdated = null;
  let after = null;
  // Pages ordered by id, each after the last id seen; bounded so a huge account stays in time.
  for (let page = 0; page < MAX_STATS_PAGES; page++) {
    const filter = after ? { owner: ctx.userId, id: { $gt: after } } : { owner: ctx.userId };
    const docs = await ctx.db.query(NOTES, filter, { limit: SCAN, order_by: "id" });
    for (const d of docs) {
      total++;
      if (!lastUpdated || d.updated_at > lastUpdated) lastUpdated = d.updated_at;
      for (const t of d.tags ?? []) frequency[t] = (frequency[t] ?? 0) + 1;
    }
    if (docs.length < SCAN) break;
    after = docs[docs.length - 1].id;
  }
  const tags = Object.entries(frequency).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  return { total_notes: total, total_tags: tags.length, tag_frequency: Object.fromEntries(tags), last_updated: lastUpdated };
});
