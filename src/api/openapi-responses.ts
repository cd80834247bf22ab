// JSON Schemas (draft 2020-12, which OpenAPI 3.1 uses as is) of what the routers answer.
// Requests are described from the routers' own zod schemas (openapi.ts); responses are built
// by plain functions (pluginView, jobRunView, deliveryView, …) that have no schema to convert,
// so they are written by hand here, and test/api/openapi.test.ts validates real answers of a
// running app against them. Objects are closed (additionalProperties: false) on purpose: a
// field a router adds without describing it here fails that test. Enums and patterns come from
// the code where it exports them (error codes, permissions, slugs, event types, config fields).

import { z } from "zod";
import { ROLES } from "../auth/tokens.ts";
import { PERMISSIONS } from "../capabilities/ctx-members.ts";
import { ERROR_CODES, type ErrorCode } from "../errors.ts";
import { configFieldSchema } from "../packaging/config-field.ts";
import { EVENT_TYPE, SLUG } from "../packaging/manifest-schema.ts";

export type JsonSchema = Record<string, unknown>;

export const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });

const str: JsonSchema = { type: "string" };
const strOrNull: JsonSchema = { type: ["string", "null"] };
const int: JsonSchema = { type: "integer" };
const intOrNull: JsonSchema = { type: ["integer", "null"] };
const uuid: JsonSchema = { type: "string", format: "uuid" };
const time: JsonSchema = { type: "string", format: "date-time" };
// `format` only constrains strings, so null passes the format check and the type allows it.
const timeOrNull: JsonSchema = { type: ["string", "null"], format: "date-time" };
const anyValue: JsonSchema = {};
const array = (items: JsonSchema): JsonSchema => ({ type: "array", items });
const orNull = (s: JsonSchema): JsonSchema => ({ anyOf: [s, { type: "null" }] });
const oneOfStrings = (values: readonly string[]): JsonSchema => ({ type: "string", enum: [...values] });

/** A closed object: every listed property is required unless named in `optional`. */
export function object(properties: Record<string, JsonSchema>, optional: string[] = []): JsonSchema {
  return { type: "object", additionalProperties: false, required: Object.keys(properties).filter((k) => !optional.includes(k)), properties };
}

/** `base` (a closed object) with more properties, closed again: allOf cannot widen a closed object. */
function extend(base: JsonSchema, more: Record<string, JsonSchema>): JsonSchema {
  const b = base as { properties: Record<string, JsonSchema>; required: string[] };
  return { ...base, required: [...b.required, ...Object.keys(more)], properties: { ...b.properties, ...more } };
}

// Manifests stored before these quotas existed lack them; the platform maximum is their limit.
const laterQuota: JsonSchema = { ...int, description: "Absent for a version uploaded before this quota existed (the platform maximum applies)." };

/** One storage quota of an install: what it uses now and its limit. */
const quota = (what: string): JsonSchema => ({ ...object({ used: int, limit: int }), description: what });

/** A `{next_before}` page: the cursor of the next page, null on the last one. */
const nextBefore = (what: string, also = ""): JsonSchema => ({ type: ["string", "null"], description: `Pass as \`before\` for the next page (${what}); null on the last page${also}.` });

const INSTALL_STATUSES = ["enabled", "disabled", "failed", "needs_configuration"] as const;
const HEALTH_STATUSES = ["ok", "degraded", "error", "unknown"] as const;
const ROUTE_AUTH = ["user", "admin", "public"] as const;
const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
const CALL_KINDS = ["route", "hook", "job", "lifecycle", "health", "describe", "transform"] as const;
const INVOCATION_STATUSES = ["ok", "error", "timeout", "out_of_memory", "crashed"] as const;
const JOB_TRIGGERS = ["cron", "manual"] as const;
const JOB_STATUSES = ["queued", "running", "succeeded", "failed", "timed_out", "skipped"] as const;
const HOOK_STATUSES = ["pending", "succeeded", "failed", "skipped"] as const;
const DELIVERY_STATUSES = ["pending", "delivered", "failed", "skipped"] as const;
const EMAIL_STATUSES = ["sent", "stored", "failed"] as const;

// The manifest's `configuration` entries as stored (defaults applied): the upload validator's
// own zod schema, on its output side.
function configFieldJsonSchema(): JsonSchema {
  const { $schema: _dialect, ...schema } = z.toJSONSchema(configFieldSchema, { io: "output", unrepresentable: "any", target: "draft-2020-12" }) as JsonSchema;
  return schema;
}

const configValues: JsonSchema = {
  type: "object",
  description: "The tenant's values (manifest defaults not included).",
  additionalProperties: { type: ["string", "number", "boolean"] },
};

const runLogLine = object({ level: oneOfStrings(LOG_LEVELS), message: str, fields: anyValue, at: time }, ["fields"]);

const event = object({
  id: uuid,
  type: str,
  tenant: { ...str, description: "The tenant's slug." },
  data: anyValue,
  occurred_at: time,
  source: { ...str, description: "host | api | test | platform | plugin:<slug>" },
  depth: int,
});

const delivery = object({
  id: uuid,
  webhook: str,
  event_id: uuid,
  event_type: str,
  status: oneOfStrings(DELIVERY_STATUSES),
  attempts: int,
  max_attempts: int,
  next_attempt_at: { ...timeOrNull, description: "Set while pending." },
  last_status_code: intOrNull,
  error: strOrNull,
  created_at: time,
  finished_at: timeOrNull,
});

const email = object({
  id: uuid,
  to: array(str),
  subject: str,
  status: oneOfStrings(EMAIL_STATUSES),
  message_id: strOrNull,
  error: strOrNull,
  created_at: time,
});

/** components.schemas */
export function responseSchemas(): Record<string, JsonSchema> {
  return {
    Error: object({
      error: object({
        code: { ...oneOfStrings(Object.keys(ERROR_CODES)), description: "One of the codes in docs/errors.md." },
        message: str,
        details: { ...anyValue, description: "null, or what exactly was wrong (often a list of {path, message})." },
      }),
    }),
    Tenant: object({ id: uuid, slug: { type: "string", pattern: SLUG.source }, name: str, created_at: time }),
    ConfigField: configFieldJsonSchema(),
    ConfigValues: configValues,
    Configuration: { type: "object", description: "The manifest's `configuration`: key → field.", additionalProperties: ref("ConfigField") },
    Plugin: object({
      id: uuid,
      slug: { type: "string", pattern: SLUG.source },
      name: str,
      version: str,
      description: strOrNull,
      author: strOrNull,
      status: oneOfStrings(INSTALL_STATUSES),
      error: strOrNull,
      permissions: array(oneOfStrings(PERMISSIONS)),
      events: array({ type: "string", pattern: EVENT_TYPE.source }),
      routes: array(object({ path: str, methods: array(str), auth: oneOfStrings(ROUTE_AUTH) })),
      jobs: array(object({ name: str, schedule: str, timezone: str, next_run: timeOrNull })),
      secrets: array(str),
      required_secrets: { ...array(str), description: "The names in `secrets` the install cannot run without." },
      missing: {
        ...object({ config: array(str), secrets: array(str) }),
        description: "Required config keys (without a default) and required secrets not set; while any is listed the install cannot be enabled, and a `needs_configuration` one enables itself once both lists are empty.",
      },
      configuration: ref("Configuration"),
      config: ref("ConfigValues"),
      resources: object({
        timeout_ms: int,
        job_timeout_ms: int,
        memory_mb: int,
        max_disk_mb: int,
        max_files: laterQuota,
        max_db_documents: laterQuota,
        max_db_mb: laterQuota,
        rate_limit: object({ calls: int, period_seconds: int }),
      }, ["max_files", "max_db_documents", "max_db_mb"]),
      health: {
        ...orNull(object({ status: oneOfStrings(HEALTH_STATUSES), checked_at: timeOrNull, detail: anyValue })),
        description: "The last health check; null before the first (or when health checks are off).",
      },
      has_previous_version: { type: "boolean" },
      sha256: { type: "string", pattern: "^[0-9a-f]{64}$" },
      created_at: time,
      updated_at: time,
    }),
    LogLine: object({
      id: { type: "string", pattern: "^[0-9]+$" },
      level: oneOfStrings(LOG_LEVELS),
      message: str,
      fields: anyValue,
      at: time,
      invocation: orNull(object({ id: uuid, kind: oneOfStrings(CALL_KINDS), name: str, status: oneOfStrings(INVOCATION_STATUSES) })),
    }),
    Secret: object({ name: str, updated_at: time }),
    Job: object({
      name: str,
      schedule: str,
      timezone: str,
      next_run: { ...timeOrNull, description: "null while the plugin is not enabled." },
      last_run: orNull(object({ id: uuid, status: oneOfStrings(JOB_STATUSES), trigger: oneOfStrings(JOB_TRIGGERS), finished_at: timeOrNull })),
    }),
    JobRun: object({
      id: uuid,
      job: str,
      trigger: oneOfStrings(JOB_TRIGGERS),
      status: oneOfStrings(JOB_STATUSES),
      scheduled_for: timeOrNull,
      started_at: timeOrNull,
      finished_at: timeOrNull,
      duration_ms: intOrNull,
      result: { ...anyValue, description: "The job's return value; null until it succeeded." },
      error: strOrNull,
      logs: array(runLogLine),
      created_at: time,
    }),
    Event: event,
    EventWithHooks: extend(event, { hooks: array(ref("HookRun")) }),
    HookRun: object({
      id: uuid,
      plugin: strOrNull,
      install_id: uuid,
      status: oneOfStrings(HOOK_STATUSES),
      attempts: int,
      max_attempts: int,
      duration_ms: intOrNull,
      error: strOrNull,
      next_attempt_at: { ...timeOrNull, description: "Set while pending." },
      finished_at: timeOrNull,
    }),
    Delivery: delivery,
    DeliveryWithPayload: extend(delivery, { payload: { ...anyValue, description: "The body sent (fixed by the first attempt); null before it." } }),
    DeliveryAttempt: object({ attempt: int, started_at: time, duration_ms: int, status_code: intOrNull, error: strOrNull, response: { ...strOrNull, description: "The first KiB of the receiver's answer." } }),
    UsageRow: object({ day: { type: "string", format: "date" }, metric: str, value: { type: "number" } }),
    Email: email,
    EmailWithBody: extend(email, { text: strOrNull, html: strOrNull }),
    User: object({ id: uuid, email: str, name: strOrNull, data: { type: "object" }, created_at: time, updated_at: time }),
    File: object({ id: uuid, path: str, size: int, content_type: str, sha256: { type: "string", pattern: "^[0-9a-f]{64}$" }, install_id: { ...orNull(uuid), description: "The install that last wrote it through ctx.files; null when the host API did." }, created_at: time, updated_at: time }),
    AuditEntry: object({
      id: uuid,
      actor: { ...str, description: "The token's sub." },
      actor_role: str,
      action: { ...str, description: "plugin.installed, plugin.upgraded, secret.set, config.changed, job.run_now, delivery.replayed, …" },
      target_type: oneOfStrings(["plugin", "secret", "job", "delivery", "tenant"]),
      target_id: str,
      plugin: strOrNull,
      details: anyValue,
      ip: strOrNull,
      created_at: time,
    }),
  };
}

/** Response bodies, one per answer; they reference the components above. */
export const bodies = {
  health: object({ status: { const: "ok" } }),
  ready: object({
    status: oneOfStrings(["ready", "not_ready"]),
    checks: { type: "object", additionalProperties: str, description: "database, sandbox (and shutdown while draining): ok, or what is wrong." },
    sandbox: object({ processes: int, restarts: int, retired: int, isolates: int, evicted: int, paused: int, busy: int }),
  }),
  me: object({
    role: oneOfStrings(ROLES),
    user_id: { ...str, description: "The token's sub." },
    tenant: {
      ...orNull(object({ id: uuid, slug: { type: "string", pattern: SLUG.source }, name: str })),
      description: "The tenant the request acts on; null for a platform_admin that names none.",
    },
  }),
  tenant: object({ tenant: ref("Tenant") }),
  tenants: object({ tenants: array(ref("Tenant")) }),
  plugin: object({ plugin: ref("Plugin") }),
  plugins: object({ plugins: array(ref("Plugin")) }),
  upgraded: object({ plugin: ref("Plugin"), previous_version: str }),
  rolledBack: object({ plugin: ref("Plugin"), rolled_back_from: str }),
  config: object({ config: ref("ConfigValues"), configuration: ref("Configuration") }),
  configSet: object({ config: ref("ConfigValues") }),
  logs: object({ logs: array(ref("LogLine")), next_before: nextBefore("a log id", ", and always with `after`") }),
  secrets: object({
    secrets: array(ref("Secret")),
    declared: { ...array(str), description: "The names the manifest declares." },
    required: { ...array(str), description: "The declared names the install cannot run without." },
    missing: { ...array(str), description: "The required names not set." },
  }),
  jobs: object({ jobs: array(ref("Job")) }),
  runQueued: object({ run: object({ id: uuid, status: oneOfStrings(JOB_STATUSES) }) }),
  runs: object({ runs: array(ref("JobRun")), next_before: nextBefore("a created_at time") }),
  run: object({ run: ref("JobRun") }),
  deliveries: object({ deliveries: array(ref("Delivery")), next_before: nextBefore("a created_at time") }),
  deliveryWithAttempts: object({ delivery: ref("DeliveryWithPayload"), attempts: array(ref("DeliveryAttempt")) }),
  delivery: object({ delivery: ref("Delivery") }),
  usage: object({
    usage: array(ref("UsageRow")),
    totals: { type: "object", additionalProperties: { type: "number" } },
    quotas: {
      ...object({ db_documents: quota("ctx.db documents (max_db_documents)"), db_bytes: quota("bytes of their JSON (max_db_mb)"), files: quota("ctx.files files (max_files)"), file_bytes: quota("bytes of those files (max_disk_mb)") }),
      description: "The storage quotas now: what the plugin uses and what its manifest (or the platform maximum) allows.",
    },
  }),
  emails: object({ emails: array(ref("Email")), next_before: nextBefore("a created_at time") }),
  email: object({ email: ref("EmailWithBody") }),
  testEventQueued: object({ event: object({ id: uuid }), hooks: { ...int, description: "Hook runs queued." }, webhooks: { ...int, description: "Webhook deliveries queued." } }),
  testEventDone: object({
    event: ref("Event"),
    complete: { type: "boolean", description: "false when some hook was still pending after 60 s." },
    hooks: array(ref("HookRun")),
    deliveries: array(object({ id: uuid, webhook: str, plugin_id: uuid })),
  }),
  published: object({ event: ref("Event"), hooks: int }),
  events: object({ events: array(ref("EventWithHooks")) }),
  event: object({ event: ref("EventWithHooks") }),
  userChanged: object({ user: ref("User"), event: object({ id: uuid, hooks: int }) }),
  users: object({ users: array(ref("User")) }),
  user: object({ user: ref("User") }),
  fileChanged: object({ file: ref("File"), event: object({ id: uuid }) }),
  files: object({ files: array(ref("File")) }),
  file: object({ file: ref("File") }),
  audit: object({ entries: array(ref("AuditEntry")), next_before: nextBefore("an opaque cursor, or any ISO time") }),
} satisfies Record<string, JsonSchema>;

/**
 * components.responses: one error answer per HTTP status the registry uses, its `code` narrowed
 * to the codes of that status, so the document follows src/errors.ts without being edited.
 */
export function errorResponses(): Record<string, JsonSchema> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const [code, { status }] of Object.entries(ERROR_CODES) as [ErrorCode, { status: number }][]) {
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const out: Record<string, JsonSchema> = {};
  for (const [status, codes] of [...byStatus].sort(([a], [b]) => a - b)) {
    out[errorResponseName(status)] = {
      description: codes.map((c) => `\`${c}\``).join(", "),
      content: {
        "application/json": {
          schema: { allOf: [ref("Error")], properties: { error: { properties: { code: { enum: codes } } } } },
        },
      },
    };
  }
  return out;
}

export const errorResponseName = (status: number): string => `Error${status}`;

/** The statuses errorResponses() describes. */
export function errorStatuses(): Set<number> {
  return new Set(Object.values(ERROR_CODES).map((e) => e.status));
}
