import { HttpError } from "@sbh/sdk";

// Input checks for notes. Every problem is a 400 with a message the caller can act on.

export const MAX_TITLE = 200;
export const MAX_BODY = 20_000;
export const MAX_TAGS = 20;
// why: a tag is also a field name in the document (tag_set.<tag>), so it must be a valid one.
const TAG = /^[a-z][a-z0-9_]{0,31}$/;

export function tag(value) {
  const t = typeof value === "string" ? value.trim().toLowerCase() : value;
  if (typeof t !== "string" || !TAG.test(t)) {
    throw new HttpError(400, `Bad tag ${JSON.stringify(value)}: tags are 1-32 characters of a-z, 0-9 and _, starting with a letter`);
  }
  return t;
}

/** The fields of a new note (`partial`: of an update, where each is optional). */
export function noteInput(body, { partial = false } = {}) {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new HttpError(400, 'Send a JSON object like {"title": "…", "body": "…", "tags": ["work"]}');
  }
  const unknown = Object.keys(body).filter((k) => !["title", "body", "tags"].includes(k));
  if (unknown.length) throw new HttpError(400, `Unknown field(s): ${unknown.join(", ")}; a note has title, body and tags`);
  const out = {};
  if (!partial || body.title !== undefined) {
    if (typeof body.title !== "string" || !body.title.trim()) throw new HttpError(400, "title is required (a non-empty string)");
    if (body.title.trim().length > MAX_TITLE) throw new HttpError(400, `title is at most ${MAX_TITLE} characters`);
    out.title = body.title.trim();
  }
  if (body.body !== undefined || !partial) {
    const text = body.body ?? "";
    if (typeof text !== "string") throw new HttpError(400, "body must be a string");
    if (text.length > MAX_BODY) throw new HttpError(400, `body is at most ${MAX_BODY} characters`);
    out.body = text;
  }
  if (body.tags !== undefined || !partial) {
    const tags = body.tags ?? [];
    if (!Array.isArray(tags)) throw new HttpError(400, 'tags must be a list like ["work", "ideas"]');
    if (tags.length > MAX_TAGS) throw new HttpError(400, `at most ${MAX_TAGS} tags`);
    out.tags = [...new Set(tags.map(tag))];
  }
  if (partial && Object.keys(out).length === 0) throw new HttpError(400, "Send at least one of title, body, tags");
  return out;
}

/** ?limit= as an integer from 1 to max. */
export function limit(value, fallback, max) {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new HttpError(400, `limit must be an integer from 1 to ${max}`);
  return n;
}
