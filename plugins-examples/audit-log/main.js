import { HttpError, hook, route } from "@sbh/sdk";
import { actorOf, subjectOf, summarize } from "./summary.js";

const AUDIT = "audit";
const EVENTS = [
  "auth.user.created", "auth.user.updated", "auth.user.deleted",
  "files.uploaded", "files.deleted",
  "payments.subscription.created", "payments.subscription.updated",
  "plugin.installed", "plugin.upgraded", "plugin.enabled", "plugin.disabled", "plugin.uninstalled",
];

async function record(ctx, event) {
  // Hooks run at least once: a retried or replayed event has the same id, and is written once.
  const [seen] = await ctx.db.query(AUDIT, { event_id: event.id }, { limit: 1 });
  if (seen) return;
  const data = event.data ?? {};
  try {
    await ctx.db.insert(AUDIT, {
      event_id: event.id,
      type: event.type,
      actor: actorOf(data),
      subject: subjectOf(event.type, data),
      data: summarize(data),
      occurred_at: new Date(event.occurred_at).toISOString(),
    });
  } catch (err) {
    // why: two deliveries of one event racing past the check above; the unique index keeps one.
    if (err.name !== "DuplicateKey") throw err;
  }
}

for (const type of EVENTS) hook(type, record);

// GET /ext/audit-log/entries?type=files.uploaded,files.deleted&since=2025-01-01T00:00:00Z&limit=20
route("/entries", { auth: "admin" }, async (ctx, req) => {
  const { type, since, limit = "50" } = req.query;
  const filter = {};
  if (type !== undefined) {
    const types = String(type).split(",").map((t) => t.trim()).filter(Boolean);
    const unknown = types.filter((t) => !EVENTS.includes(t));
    if (!types.length || unknown.length) throw new HttpError(400, `Unknown type(s) ${unknown.join(", ") || "(empty)"}; audited: ${EVENTS.join(", ")}`);
    filter.type = types.length === 1 ? types[0] : { $in: types };
  }
  if (since !== undefined) {
    const t = Date.parse(String(since));
    if (Number.isNaN(t)) throw new HttpError(400, "since must be a date or time like 2025-01-31 or 2025-01-31T08:00:00Z");
    // why: occurred_at is stored in one ISO format, so string order is time order.
    filter.occurred_at = { $gte: new Date(t).toISOString() };
  }
  const n = Number(limit);
  if (!Number.isInteger(n) || n < 1 || n > 100) throw new HttpError(400, "limit must be an integer from 1 to 100");
  const entries = await ctx.db.query(AUDIT, filter, { limit: n, order_by: "-occurred_at" });
  return { entries, count: entries.length };
});
