import type { Request } from "express";
import type { AuditTargetType } from "../audit/audit-log.ts";
import type { Services } from "../services.ts";

export interface AuditInput {
  action: string;
  /** The install acted on: the target (unless `target` says otherwise) and the entry's plugin. */
  install?: { id: string; slug: string };
  target?: { type: AuditTargetType; id: string };
  /** Never a secret's value. */
  details?: Record<string, unknown>;
  /** Defaults to the request's tenant; POST /api/tenants names the tenant it created. */
  tenantId?: string;
}

/**
 * Records an admin action the request just completed, with the caller taken from the token
 * (`sub`, role) and the connection. Call it after the action succeeded and before answering,
 * so the entry is readable as soon as the caller has its answer; it never throws.
 */
export async function audit(req: Request, s: Services, input: AuditInput): Promise<void> {
  const auth = req.auth;
  const tenantId = input.tenantId ?? auth?.tenant?.id;
  const target = input.target ?? (input.install ? { type: "plugin" as const, id: input.install.id } : undefined);
  if (!tenantId || !target) {
    // A programming error, not the caller's: the action is done, so it is logged, not refused.
    s.logger.error({ action: input.action }, "audit entry without a tenant or target");
    return;
  }
  await s.audit.record({
    tenantId,
    actor: auth?.userId ?? "anonymous",
    actorRole: auth?.role ?? "anonymous",
    action: input.action,
    targetType: target.type,
    targetId: target.id,
    pluginSlug: input.install?.slug ?? null,
    details: input.details,
    ip: req.ip ?? null,
  });
}
