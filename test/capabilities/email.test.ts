import assert from "node:assert/strict";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { SMTPServer } from "smtp-server";
import { expectError, ok } from "../support/http-assert.ts";
import { fixtureZip, startTestApp, type TestApp, type TestTenant } from "../support/test-app.ts";

// ctx.email.send against a fake SMTP server on 127.0.0.1 (smtp-server): what the server
// receives, the email_messages row behind every send, the outbox without SMTP_URL, and refusals.

interface Received {
  from: string;
  to: string[];
  raw: string;
}

interface FakeSmtp {
  port: number;
  received: Received[];
  close(): Promise<void>;
}

/** Rejects the recipient reject@example.com with a 550, as a real server refuses an unknown mailbox. */
async function startFakeSmtp(): Promise<FakeSmtp> {
  const received: Received[] = [];
  const server = new SMTPServer({
    authOptional: true,
    // No STARTTLS offered: nodemailer would upgrade on its own and refuse the self-signed certificate.
    hideSTARTTLS: true,
    disableReverseLookup: true,
    logger: false,
    onRcptTo(address, _session, callback) {
      if (address.address === "reject@example.com") {
        callback(Object.assign(new Error("5.1.1 No such mailbox"), { responseCode: 550 }));
      } else callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString("utf8"),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.server.address() as AddressInfo;
  return { port, received, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** A port nothing listens on: an SMTP server that is down. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

const FROM = "SBH Plugins <plugins@example.test>";
let smtp: FakeSmtp;
let app: TestApp; // SMTP_URL → the fake server
let down: TestApp; // SMTP_URL → nothing listening
let outbox: TestApp; // no SMTP_URL

before(async () => {
  smtp = await startFakeSmtp();
  const dead = await closedPort();
  [app, down, outbox] = await Promise.all([
    startTestApp({ env: { SMTP_URL: `smtp://127.0.0.1:${smtp.port}`, EMAIL_FROM: FROM } }),
    startTestApp({ env: { SMTP_URL: `smtp://127.0.0.1:${dead}`, EMAIL_FROM: FROM } }),
    startTestApp({ env: { EMAIL_FROM: FROM } }),
  ]);
});
after(async () => {
  await Promise.all([app?.close(), down?.close(), outbox?.close()]);
  await smtp?.close();
});

async function install(a: TestApp, fixture = "cap-email-basic", t?: TestTenant): Promise<{ t: TestTenant; id: string }> {
  t ??= await a.tenant();
  const body = await ok(await t.upload(fixtureZip(fixture)), 201);
  return { t, id: body.plugin.id };
}

/** Calls ctx.email.send(...args) in the plugin; answers {result} or {error: {name, message}}. */
async function send(t: TestTenant, args: unknown[], fixture = "cap-email-basic"): Promise<any> {
  return ok(await t.request("POST", `/ext/${fixture}/run`, { json: { args } }));
}

async function emails(t: TestTenant, id: string, query = ""): Promise<any> {
  return ok(await t.request("GET", `/api/plugins/${id}/emails${query}`));
}

/** The value of one header of a raw message (first occurrence, unfolded). */
function header(raw: string, name: string): string | undefined {
  const head = raw.split("\r\n\r\n")[0].replace(/\r\n[ \t]+/g, " ");
  const line = head.split("\r\n").find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line?.slice(name.length + 1).trim();
}

describe("ctx.email.send over SMTP", () => {
  test("the server receives the message from the platform's address; the row says sent", async () => {
    const { t, id } = await install(app);
    const count = smtp.received.length;
    const out = await send(t, [
      {
        to: ["alice@example.com", "bob@example.org"],
        subject: "Weekly report",
        text: "Plain text body.",
        html: "<p>HTML <b>body</b></p>",
        reply_to: "support@example.com",
      },
    ]);
    assert.equal(out.error, undefined, JSON.stringify(out));
    assert.equal(out.result.status, "sent");
    assert.match(out.result.id, /^[0-9a-f-]{36}$/);
    assert.match(out.result.message_id, /^<.+@.+>$/);

    assert.equal(smtp.received.length, count + 1);
    const m = smtp.received.at(-1)!;
    assert.equal(m.from, "plugins@example.test");
    assert.deepEqual(m.to, ["alice@example.com", "bob@example.org"]);
    assert.equal(header(m.raw, "From"), FROM);
    assert.equal(header(m.raw, "To"), "alice@example.com, bob@example.org");
    assert.equal(header(m.raw, "Subject"), "Weekly report");
    assert.equal(header(m.raw, "Reply-To"), "support@example.com");
    assert.equal(header(m.raw, "Message-ID"), out.result.message_id);
    assert.match(m.raw, /Content-Type: text\/plain[\s\S]*Plain text body\./);
    assert.match(m.raw, /Content-Type: text\/html[\s\S]*<p>HTML <b>body<\/b><\/p>/);

    const list = await emails(t, id);
    assert.deepEqual(list.emails, [
      {
        id: out.result.id,
        to: ["alice@example.com", "bob@example.org"],
        subject: "Weekly report",
        status: "sent",
        message_id: out.result.message_id,
        error: null,
        created_at: list.emails[0].created_at,
      },
    ]);
    assert.ok(!Number.isNaN(Date.parse(list.emails[0].created_at)));
    const one = await ok(await t.request("GET", `/api/plugins/${id}/emails/${out.result.id}`));
    assert.equal(one.email.text, "Plain text body.");
    assert.equal(one.email.html, "<p>HTML <b>body</b></p>");
    assert.equal(one.email.status, "sent");
  });

  test("one address as a string, text only", async () => {
    const { t } = await install(app);
    const out = await send(t, [{ to: "carol@example.com", subject: "Hi", text: "Just text" }]);
    assert.equal(out.result.status, "sent");
    const m = smtp.received.at(-1)!;
    assert.deepEqual(m.to, ["carol@example.com"]);
    assert.match(m.raw, /Just text/);
    assert.doesNotMatch(m.raw, /text\/html/);
  });

  test("a recipient the server refuses: EmailFailed, and the row is failed with the server's reply", async () => {
    const { t, id } = await install(app);
    const out = await send(t, [{ to: "reject@example.com", subject: "Hi", text: "x" }]);
    assert.equal(out.error.name, "EmailFailed");
    assert.match(out.error.message, /550/);
    const [row] = (await emails(t, id)).emails;
    assert.equal(row.status, "failed");
    assert.equal(row.message_id, null);
    assert.match(row.error, /No such mailbox/);
    assert.ok(out.error.message.includes(row.id), "the plugin is told which row records it");
    const sums = (await ok(await t.request("GET", `/api/plugins/${id}/usage`))).totals;
    assert.equal(sums["ctx.email.send:error"], 1);
  });

  test("SMTP down: EmailFailed without the server's address; the row is failed", async () => {
    const { t, id } = await install(down);
    const out = await send(t, [{ to: "dave@example.com", subject: "Hi", text: "x" }]);
    assert.equal(out.error.name, "EmailFailed");
    assert.match(out.error.message, /ESOCKET|ECONNECTION/);
    assert.doesNotMatch(out.error.message, /127\.0\.0\.1/);
    const [row] = (await emails(t, id)).emails;
    assert.equal(row.status, "failed");
    assert.ok(row.error, "the row keeps the error for the admin");
    const logs = await ok(await t.request("GET", `/api/plugins/${id}/logs`));
    assert.ok(logs.logs.some((l: any) => l.level === "warn" && l.message.includes(row.id)), JSON.stringify(logs.logs));
  });
});

describe("ctx.email.send without SMTP_URL", () => {
  test("the message is stored in the outbox, nothing is sent", async () => {
    const { t, id } = await install(outbox);
    const count = smtp.received.length;
    const out = await send(t, [{ to: ["erin@example.com"], subject: "Kept", html: "<p>kept</p>" }]);
    assert.deepEqual(Object.keys(out.result).sort(), ["id", "message_id", "status"]);
    assert.equal(out.result.status, "stored");
    assert.equal(out.result.message_id, null);
    assert.equal(smtp.received.length, count);
    const list = await emails(t, id);
    assert.equal(list.emails.length, 1);
    assert.equal(list.emails[0].status, "stored");
    assert.deepEqual(list.emails[0].to, ["erin@example.com"]);
    assert.equal(list.emails[0].text, undefined, "the list leaves bodies out");
  });

  test("newest first, with limit, before and status", async () => {
    const { t, id } = await install(outbox);
    for (const n of [1, 2, 3]) await send(t, [{ to: "x@example.com", subject: `n${n}`, text: "x" }]);
    const first = await emails(t, id, "?limit=2");
    assert.deepEqual(first.emails.map((e: any) => e.subject), ["n3", "n2"]);
    assert.ok(first.next_before);
    const rest = await emails(t, id, `?limit=2&before=${encodeURIComponent(first.next_before)}`);
    assert.deepEqual(rest.emails.map((e: any) => e.subject), ["n1"]);
    assert.equal(rest.next_before, null);
    assert.equal((await emails(t, id, "?status=sent")).emails.length, 0);
    await expectError(await t.request("GET", `/api/plugins/${id}/emails?limit=0`), 400, "invalid_request");
    await expectError(await t.request("GET", `/api/plugins/${id}/emails/not-a-uuid`), 404, "not_found");
  });
});

describe("refusals", () => {
  test("header injection and bad messages are refused before anything is sent or stored", async () => {
    const { t, id } = await install(app);
    const count = smtp.received.length;
    const base = { to: "a@example.com", subject: "Hi", text: "x" };
    const cases: [unknown, RegExp][] = [
      [{ ...base, subject: "Hi\r\nBcc: evil@example.net" }, /subject must be one line/],
      [{ ...base, subject: "Hi\nBcc: evil@example.net" }, /subject must be one line/],
      [{ ...base, to: "a@example.com\r\nBcc: evil@example.net" }, /not a plain e-mail address/],
      [{ ...base, to: ["a@example.com", "b@example.com\nBcc: evil@example.net"] }, /not a plain e-mail address/],
      [{ ...base, to: "a@example.com, evil@example.net" }, /not a plain e-mail address/],
      [{ ...base, to: "Alice <a@example.com>" }, /not a plain e-mail address/],
      [{ ...base, reply_to: "x@example.com\r\nBcc: evil@example.net" }, /reply_to/],
      [{ ...base, from: "ceo@example.com" }, /"from" cannot be set/],
      [{ ...base, cc: "b@example.com" }, /unknown field "cc"/],
      [{ ...base, to: [] }, /to must be an address/],
      [{ ...base, to: Array.from({ length: 21 }, (_, i) => `u${i}@example.com`) }, /more than 20/],
      [{ ...base, subject: "" }, /subject must be a non-empty string/],
      [{ ...base, subject: "s".repeat(999) }, /longer than 998/],
      [{ to: "a@example.com", subject: "Hi" }, /give text, html or both/],
      [{ ...base, text: "x".repeat(256 * 1024 + 1) }, /text is larger than 256 KiB/],
      [{ ...base, html: 42 }, /html must be a string/],
      [{ ...base, text: "a\u0000b" }, /NUL/],
      ["a@example.com", /pass one object/],
    ];
    for (const [message, expected] of cases) {
      const out = await send(t, [message]);
      assert.equal(out.error?.name, "TypeError", JSON.stringify(out).slice(0, 300));
      assert.match(out.error.message, expected);
    }
    assert.equal(smtp.received.length, count, "nothing was sent");
    assert.deepEqual((await emails(t, id)).emails, [], "nothing was stored");
  });

  test("without the send_email permission: PermissionDenied, counted and logged", async () => {
    const { t, id } = await install(app, "cap-email-denied");
    const count = smtp.received.length;
    const out = await send(t, [{ to: "a@example.com", subject: "Hi", text: "x" }], "cap-email-denied");
    assert.equal(out.error.name, "PermissionDenied");
    assert.match(out.error.message, /send_email/);
    assert.equal(smtp.received.length, count);
    assert.deepEqual((await emails(t, id)).emails, []);
    assert.equal((await ok(await t.request("GET", `/api/plugins/${id}/usage`))).totals["ctx.email.send:denied"], 1);
    const logs = await ok(await t.request("GET", `/api/plugins/${id}/logs`));
    assert.ok(logs.logs.some((l: any) => l.level === "warn" && /send_email/.test(l.message)), JSON.stringify(logs.logs));
  });
});

describe("the emails API", () => {
  test("another tenant cannot list or read an install's emails", async () => {
    const a = await install(outbox);
    const sent = await send(a.t, [{ to: "a@example.com", subject: "Private", text: "secret" }]);
    const b = await install(outbox);
    await expectError(await b.t.request("GET", `/api/plugins/${a.id}/emails`), 404, "plugin_not_found");
    await expectError(await b.t.request("GET", `/api/plugins/${a.id}/emails/${sent.result.id}`), 404, "plugin_not_found");
    // Nor through its own install of the same plugin.
    assert.deepEqual((await emails(b.t, b.id)).emails, []);
    await expectError(await b.t.request("GET", `/api/plugins/${b.id}/emails/${sent.result.id}`), 404, "not_found");
  });

  test("admins only", async () => {
    const { t, id } = await install(outbox);
    await expectError(await t.request("GET", `/api/plugins/${id}/emails`, { token: t.member }), 403, "forbidden");
    await expectError(await t.request("GET", `/api/plugins/${id}/emails`, { token: null }), 401, "missing_token");
  });
});
