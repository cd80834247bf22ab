// What an audit entry keeps of an event: who did it (when the host says), what it was about,
// and a small copy of the data (scalars, one level deep, long strings cut), never whole payloads.

const MAX_STRING = 200;
const MAX_KEYS = 30;

/** "user:ada@example.com", "file:reports/q1.pdf", "plugin:notes", "subscription:sub_1", or null. */
export function subjectOf(type, data) {
  if (type.startsWith("auth.user.")) return data.user ? `user:${data.user.email ?? data.user.id}` : null;
  if (type.startsWith("files.")) return data.file ? `file:${data.file.path ?? data.file.id}` : null;
  if (type.startsWith("plugin.")) return data.plugin ? `plugin:${data.plugin.slug}` : null;
  if (type.startsWith("payments.subscription.")) {
    const s = data.subscription ?? data;
    return s.id ?? s.subscription_id ? `subscription:${s.id ?? s.subscription_id}` : null;
  }
  return null;
}

/** The acting user when the event names one (host events may carry actor or actor_id). */
export function actorOf(data) {
  const a = data.actor ?? data.actor_id ?? null;
  if (a && typeof a === "object") return String(a.email ?? a.id ?? "");
  return a === null ? null : String(a);
}

function scalar(v) {
  if (typeof v === "string") return v.length > MAX_STRING ? `${v.slice(0, MAX_STRING)}…` : v;
  return typeof v === "number" || typeof v === "boolean" || v === null ? v : undefined;
}

/** Scalars of `data` and of its direct child objects; lists become their length. */
export function summarize(data, depth = 0) {
  const out = {};
  for (const [k, v] of Object.entries(data ?? {}).slice(0, MAX_KEYS)) {
    if (Array.isArray(v)) out[k] = `${v.length} item(s)`;
    else if (v && typeof v === "object") {
      if (depth === 0) out[k] = summarize(v, 1);
    } else {
      const s = scalar(v);
      if (s !== undefined) out[k] = s;
    }
  }
  return out;
}
