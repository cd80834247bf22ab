import { InvalidArgument } from "./capability-error.ts";

export const MAX_RECIPIENTS = 20;
export const MAX_BODY_BYTES = 256 * 1024;
// RFC 5322's line limit; a subject is one header line.
export const MAX_SUBJECT_CHARS = 998;
// The HTML spec's "valid e-mail address": a bare address, no display name, no comments, no
// whitespace, so nothing in it can end a header line or add a recipient.
const ADDRESS = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
// Control characters (CR and LF above all) would let a subject start a header of its own.
const HEADER_UNSAFE = /[\u0000-\u0008\u000A-\u001F\u007F]/;
const FIELDS = new Set(["to", "subject", "text", "html", "reply_to"]);

/** ctx.email.send({to, subject, text, html, reply_to}), checked. */
export interface EmailRequest {
  to: string[];
  subject: string;
  text?: string;
  html?: string;
  replyTo?: string;
}

const bad = (message: string) => new InvalidArgument("email.send", message);

export function parseEmailArgs(args: unknown[]): EmailRequest {
  const [message] = args;
  if (typeof message !== "object" || message === null || Array.isArray(message)) {
    throw bad("pass one object: {to, subject, text, html}");
  }
  const m = message as Record<string, unknown>;
  checkFields(m);
  const req: EmailRequest = { to: recipients(m.to), subject: subject(m.subject), text: body("text", m.text), html: body("html", m.html) };
  if (req.text === undefined && req.html === undefined) throw bad("give text, html or both");
  if (m.reply_to !== undefined && m.reply_to !== null) req.replyTo = address("reply_to", m.reply_to);
  return req;
}

function checkFields(m: Record<string, unknown>): void {
  for (const key of Object.keys(m)) {
    if (FIELDS.has(key)) continue;
    // The sender is the platform's (EMAIL_FROM): a plugin writing as anyone it likes is how spoofing starts.
    if (key === "from" || key === "sender") throw bad(`"${key}" cannot be set: mail is sent from the platform's address`);
    throw bad(`unknown field ${JSON.stringify(key)}; known: ${[...FIELDS].join(", ")}`);
  }
}

function recipients(v: unknown): string[] {
  const list = typeof v === "string" ? [v] : v;
  if (!Array.isArray(list) || list.length === 0) throw bad("to must be an address or a list of addresses");
  if (list.length > MAX_RECIPIENTS) throw bad(`to has more than ${MAX_RECIPIENTS} addresses`);
  return [...new Set(list.map((a) => address("to", a)))];
}

function address(field: string, v: unknown): string {
  if (typeof v !== "string" || v.length > 254 || !ADDRESS.test(v)) {
    throw bad(`${field}: ${JSON.stringify(typeof v === "string" ? v.slice(0, 80) : v)} is not a plain e-mail address like name@example.com`);
  }
  return v;
}

function subject(v: unknown): string {
  if (typeof v !== "string" || v.trim() === "") throw bad("subject must be a non-empty string");
  if (v.length > MAX_SUBJECT_CHARS) throw bad(`subject is longer than ${MAX_SUBJECT_CHARS} characters`);
  if (HEADER_UNSAFE.test(v)) throw bad("subject must be one line: no CR, LF or other control characters");
  return v;
}

function body(field: "text" | "html", v: unknown): string | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string") throw bad(`${field} must be a string`);
  if (Buffer.byteLength(v, "utf8") > MAX_BODY_BYTES) throw bad(`${field} is larger than ${MAX_BODY_BYTES / 1024} KiB`);
  // Postgres text cannot hold NUL, and no mail body needs one.
  if (v.includes("\u0000")) throw bad(`${field} must not contain NUL characters`);
  return v;
}
