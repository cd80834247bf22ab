import { EVENT_TYPE } from "../packaging/manifest-schema.ts";

/** Events the platform and the host application raise (DESIGN §7); plugins may not emit these. */
export const RESERVED_PREFIXES = ["auth.", "payments.", "files.", "builder.", "build.", "webhook.", "analytics.", "plugin."] as const;

export const SYSTEM_EVENTS = [
  "auth.user.created",
  "auth.user.updated",
  "auth.user.deleted",
  "payments.subscription.created",
  "payments.subscription.updated",
  "files.uploaded",
  "files.deleted",
  "builder.generated",
  "build.completed",
  "webhook.received",
  "analytics.rollup.completed",
  "plugin.installed",
  "plugin.upgraded",
  "plugin.enabled",
  "plugin.disabled",
  "plugin.uninstalled",
  "plugin.unhealthy",
  "plugin.healthy",
] as const;

export function isReserved(type: string): boolean {
  return RESERVED_PREFIXES.some((p) => type.startsWith(p));
}

export function isValidEventType(type: unknown): type is string {
  return typeof type === "string" && type.length <= 200 && EVENT_TYPE.test(type);
}
