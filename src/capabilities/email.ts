import { randomUUID } from "node:crypto";
import type { CallScope } from "./call-scope.ts";
import { CapabilityError } from "./capability-error.ts";
import { parseEmailArgs, type EmailRequest } from "./email-args.ts";
import { sendMail } from "./mailer.ts";

type Status = "sent" | "stored" | "failed";

interface Outcome {
  status: Status;
  messageId: string | null;
  error: string | null;
  /** What the plugin is told of a failure: error and reply codes, not the server's address. */
  summary?: string;
}

/**
 * ctx.email.send({to, subject, text, html, reply_to}): over SMTP when SMTP_URL is set, else
 * kept in the outbox. Either way one email_messages row records it, which admins read at
 * GET /api/plugins/:id/emails. The sender is always the platform's EMAIL_FROM.
 */
export async function emailSend(scope: CallScope, args: unknown[]): Promise<{ id: string; status: Status; message_id: string | null }> {
  const req = parseEmailArgs(args);
  const { smtpUrl, from } = scope.deps.email;
  const id = randomUUID();
  const outcome = smtpUrl ? await deliver(smtpUrl, from, req) : { status: "stored" as const, messageId: null, error: null };
  await record(scope, id, req, outcome);
  if (outcome.status === "failed") {
    scope.log("warn", `email ${id} could not be sent`, { to: req.to, error: outcome.summary });
    throw new CapabilityError(`ctx.email.send: the message could not be sent (${outcome.summary}); it is recorded as failed with id ${id}`, "email_failed", "EmailFailed");
  }
  return { id, status: outcome.status, message_id: outcome.messageId };
}

async function deliver(smtpUrl: string, from: string, req: EmailRequest): Promise<Outcome> {
  const sent = await sendMail(smtpUrl, from, req);
  if ("failure" in sent) return { status: "failed", messageId: null, error: sent.failure.detail, summary: sent.failure.summary };
  return { status: "sent", messageId: sent.messageId || null, error: null };
}

async function record(scope: CallScope, id: string, req: EmailRequest, outcome: Outcome): Promise<void> {
  await scope.deps.prisma.emailMessage.create({
    data: {
      id,
      tenantId: scope.tenantId,
      installId: scope.installId,
      recipients: req.to,
      subject: req.subject,
      text: req.text ?? null,
      html: req.html ?? null,
      status: outcome.status,
      messageId: outcome.messageId,
      error: outcome.error,
    },
  });
}
