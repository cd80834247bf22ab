import { createTransport, type Transporter } from "nodemailer";
import type { EmailRequest } from "./email-args.ts";

// SMTP through nodemailer. One transport per SMTP_URL for the life of the process: it holds
// the parsed settings only (no pool), each message opens its own connection.

const transports = new Map<string, Transporter>();

function transportFor(smtpUrl: string): Transporter {
  let t = transports.get(smtpUrl);
  if (!t) {
    t = createTransport({
      url: smtpUrl,
      // Bounded waits: the defaults (2 min to connect, 10 min idle) would hold a plugin's call far
      // past its deadline. Settings in the URL's query win over these.
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 30_000,
      dnsTimeout: 10_000,
      // Bodies are plain strings here, but nodemailer can also read files and URLs: never from plugin input.
      disableFileAccess: true,
      disableUrlAccess: true,
    });
    transports.set(smtpUrl, t);
  }
  return t;
}

export interface SmtpFailure {
  /** For the admin's record: nodemailer's message, with the server's reply. */
  detail: string;
  /** For the plugin: the error code and SMTP reply code, without the server's address. */
  summary: string;
}

export async function sendMail(smtpUrl: string, from: string, req: EmailRequest): Promise<{ messageId: string } | { failure: SmtpFailure }> {
  try {
    const info = await transportFor(smtpUrl).sendMail({
      from,
      to: req.to,
      subject: req.subject,
      text: req.text,
      html: req.html,
      replyTo: req.replyTo,
    });
    return { messageId: String(info.messageId ?? "") };
  } catch (err) {
    return { failure: describe(err) };
  }
}

function describe(err: unknown): SmtpFailure {
  const e = err as { message?: string; code?: string; responseCode?: number };
  const parts = [e.code, e.responseCode].filter((p) => p !== undefined && p !== null && p !== "");
  return {
    detail: String(e.message ?? err).slice(0, 1000),
    summary: parts.length ? parts.join(" ") : "error",
  };
}
