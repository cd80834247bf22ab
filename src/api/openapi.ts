// The OpenAPI 3.1 document served at GET /openapi.json. Request bodies and query parameters are
// the routers' own zod schemas converted with z.toJSONSchema, so the document cannot drift from
// what the API validates; responses are the JSON Schemas of openapi-responses.ts. Routers that
// read a query parameter without a zod schema (limit/before/after on logs, limit/before on job
// runs and events, purge, cascade, prefix, wait) are described here by hand. test/api/openapi.test.ts
// checks that every route the app mounts is here (and nothing else), and that real answers
// validate against it.

import { readFileSync } from "node:fs";
import type { RequestHandler } from "express";
import { z } from "zod";
import { MAX_PATH_LENGTH } from "../files/file-store.ts";
import { SLUG } from "../packaging/manifest-schema.ts";
import { Query as AuditQuery } from "./audit-router.ts";
import { ListQuery as DeliveriesQuery } from "./deliveries-router.ts";
import { ListQuery as EmailsQuery } from "./emails-router.ts";
import { Publish } from "./events-router.ts";
import { Body as SecretBody } from "./secrets-router.ts";
import { NewTenant } from "./tenants-router.ts";
import { Body as TestEventBody } from "./test-event.ts";
import { Query as UsageQuery } from "./usage-router.ts";
import { NewUser, UserPatch } from "./users-router.ts";
import { bodies, errorResponseName, errorResponses, errorStatuses, object, responseSchemas, type JsonSchema } from "./openapi-responses.ts";

type Access = "public" | "metrics" | "optional" | "platform_admin" | "admin" | "member" | "any_role";

interface Parameter {
  name: string;
  in: "path" | "query" | "header";
  required: boolean;
  description?: string;
  schema: JsonSchema;
}

interface Answer {
  description: string;
  /** A JSON body; absent for answers without one (204). */
  json?: JsonSchema;
  /** A non-JSON body: media type → schema. */
  content?: Record<string, JsonSchema>;
}

interface OperationSpec {
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  access: Access;
  /** Query parameters the router reads without a zod schema. */
  query?: Parameter[];
  /** The router's zod schema of its query string: one parameter per property. */
  queryFrom?: z.ZodObject;
  json?: JsonSchema;
  multipart?: { schema: JsonSchema; encoding?: Record<string, unknown> };
  /** An optional body of any type (plugin routes): media type → schema. */
  optionalBody?: Record<string, JsonSchema>;
  answers: { [status: number]: Answer; default?: Answer };
  /** Error statuses besides those every operation of its kind can answer (auth, body, 500). */
  errors?: number[];
}

type Method = "get" | "post" | "put" | "patch" | "delete";

const TO_JSON = { unrepresentable: "any", target: "draft-2020-12" } as const;

/** A request-side zod schema as JSON Schema: what a caller may send (defaults optional, no transforms). */
function input(schema: z.ZodType): JsonSchema {
  const { $schema: _dialect, ...json } = z.toJSONSchema(schema, { ...TO_JSON, io: "input" }) as JsonSchema;
  return json;
}

/** A zod object of query parameters, one parameter per property; `strict` when others are refused. */
function queryParameters(schema: z.ZodObject): { parameters: Parameter[]; strict: boolean } {
  const json = input(schema) as { properties?: Record<string, JsonSchema>; required?: string[]; additionalProperties?: unknown };
  const parameters = Object.entries(json.properties ?? {}).map(([name, s]) => ({ name, in: "query" as const, required: json.required?.includes(name) ?? false, schema: s }));
  return { parameters, strict: json.additionalProperties === false };
}

const query = (name: string, schema: JsonSchema, description: string): Parameter => ({ name, in: "query", required: false, description, schema });

// Path parameters are named as the routers name them (`:deliveryId` is `{deliveryId}`); what each
// one is depends on the segment before it.
const PATH_PARAMETERS: Record<string, string> = {
  "plugins/id": "The install's id, or the plugin's slug.",
  "secrets/name": "The secret's name, like API_KEY (letters, digits and _).",
  "jobs/name": "The job's name, as declared in the manifest.",
  "runs/runId": "The run's id.",
  "deliveries/deliveryId": "The delivery's id (its webhook-id header).",
  "emails/emailId": "The email's id.",
  "events/id": "The event's id.",
  "users/id": "The user's id.",
  "files/id": "The file's id.",
  "ext/slug": "The plugin's slug.",
  "{slug}/path": "The route's path inside the plugin; may contain `/` (e.g. `greet/Ada`) and may be empty.",
};

function pathParameters(path: string): Parameter[] {
  const segments = path.split("/");
  return segments.flatMap((seg, i) => {
    const m = /^\{(\w+)\}$/.exec(seg);
    if (!m) return [];
    const description = PATH_PARAMETERS[`${segments[i - 1]}/${m[1]}`];
    if (!description) throw new Error(`openapi: no description for path parameter ${m[1]} of ${path}`);
    return [{ name: m[1], in: "path" as const, required: true, description, schema: { type: "string" } }];
  });
}

const ROLE_TEXT: Record<Access, string> = {
  public: "Public.",
  metrics: "Public unless METRICS_TOKEN is set; then `Authorization: Bearer <METRICS_TOKEN>`.",
  optional: "The route's own `auth` decides: `public` routes need no token (name the tenant with X-Tenant-Slug), `user` any role of the tenant, `admin` the admin role.",
  platform_admin: "Role `platform_admin`.",
  admin: "Role `admin` of the tenant (or `platform_admin` naming it with X-Tenant-Slug); a `member` gets 403.",
  member: "Role `admin` or `member` of the tenant (or `platform_admin` naming it with X-Tenant-Slug).",
  any_role: "Any role: `admin` or `member` of the tenant, or `platform_admin` (naming a tenant with X-Tenant-Slug or not).",
};

const AUTHENTICATED = new Set<Access>(["platform_admin", "admin", "member", "any_role"]);
// Access kinds that take X-Tenant-Slug.
const TENANT_SCOPED = new Set<Access>(["admin", "member", "any_role", "optional"]);

function operation(path: string, spec: OperationSpec): Record<string, unknown> {
  const authenticated = AUTHENTICATED.has(spec.access);
  const tenantScoped = TENANT_SCOPED.has(spec.access);
  const errors = new Set<number>(spec.errors ?? []);
  if (authenticated) [401, 403, 404].forEach((s) => errors.add(s));
  if (spec.access === "metrics") errors.add(401);
  if (spec.json || spec.multipart) [400, 413].forEach((s) => errors.add(s));
  // why: not on /ext, where a 500 may be the plugin's own answer in any shape.
  if (spec.access !== "optional") errors.add(500);

  const responses: Record<string, unknown> = {};
  for (const [status, a] of Object.entries(spec.answers)) {
    const content = a.json ? { "application/json": { schema: a.json } } : a.content ? Object.fromEntries(Object.entries(a.content).map(([type, schema]) => [type, { schema }])) : undefined;
    responses[status] = { description: a.description, ...(content ? { content } : {}) };
  }
  const known = errorStatuses();
  for (const status of [...errors].sort((a, b) => a - b)) {
    if (!known.has(status)) throw new Error(`openapi: ${spec.operationId} lists ${status}, which no error code has`);
    responses[String(status)] ??= { $ref: `#/components/responses/${errorResponseName(status)}` };
  }

  const fromZod = spec.queryFrom ? queryParameters(spec.queryFrom) : undefined;
  const parameters = [
    ...(tenantScoped ? [{ $ref: "#/components/parameters/TenantSlug" }] : []),
    ...pathParameters(path),
    ...(fromZod?.parameters ?? []),
    ...(spec.query ?? []),
  ];
  const strictQuery = fromZod?.strict ? " Unknown query parameters are refused (400)." : "";
  return {
    operationId: spec.operationId,
    tags: [spec.tag],
    summary: spec.summary,
    description: `${spec.description ? spec.description + "\n\n" : ""}${ROLE_TEXT[spec.access]}${strictQuery}`,
    ...(spec.access === "public" ? { security: [] } : {}),
    ...(spec.access === "metrics" ? { security: [{}, { metricsToken: [] }] } : {}),
    ...(spec.access === "optional" ? { security: [{}, { bearerAuth: [] }] } : {}),
    ...(parameters.length ? { parameters } : {}),
    ...(spec.json ? { requestBody: { required: true, content: { "application/json": { schema: spec.json } } } } : {}),
    ...(spec.multipart ? { requestBody: { required: true, content: { "multipart/form-data": { schema: spec.multipart.schema, ...(spec.multipart.encoding ? { encoding: spec.multipart.encoding } : {}) } } } } : {}),
    ...(spec.optionalBody ? { requestBody: { required: false, content: Object.fromEntries(Object.entries(spec.optionalBody).map(([type, schema]) => [type, { schema }])) } } : {}),
    responses,
  };
}

const noBody = (description: string): Answer => ({ description });
const json = (description: string, schema: JsonSchema): Answer => ({ description, json: schema });

// The paths, in the order the README lists them. Keys are OpenAPI paths, values method → spec.
function pathSpecs(): Record<string, Partial<Record<Method, OperationSpec>>> {
  const ext: OperationSpec = {
    operationId: "",
    tag: "ext",
    summary: "Call a plugin route",
    description:
      "Any method the route registered; also served as `/t/{tenant}/ext/{slug}/{path}` (tenant in the URL). " +
      "The answer is the plugin's: its status, headers and JSON body. Platform errors use the usual error body: " +
      "401/403 (the route's auth), 404 `plugin_not_found`/`route_not_found`, 405 `method_not_allowed` (with Allow), " +
      "409 `plugin_needs_configuration` (what is missing in `details.missing`), " +
      "429 `rate_limited` (with Retry-After), 500 `plugin_error`, 503 `sandbox_unavailable`, 504 `plugin_timeout`; " +
      "a plugin's `HttpError(status, message)` answers in the same shape.",
    access: "optional",
    answers: {
      200: json("The plugin's answer.", {}),
      default: json("The plugin's answer with another status, or an error.", {}),
    },
  };
  const extMethods = Object.fromEntries(
    (["get", "post", "put", "patch", "delete"] as const).map((m) => [
      m,
      {
        ...ext,
        operationId: `${m}PluginRoute`,
        // why: the plugin gets JSON parsed and any other body as text (both up to 1 MiB).
        ...(m === "get" ? {} : { optionalBody: { "application/json": {}, "*/*": { type: "string" } } }),
      },
    ]),
  );
  const pageLimit = (max: number, dflt: number) => ({ type: "integer", minimum: 1, maximum: max, default: dflt });
  const cascade = query(
    "cascade",
    { type: "boolean", default: false },
    "true: first disable the enabled plugins that depend on this one (and theirs), each recorded in the audit log, instead of answering 409 `dependency_conflict`; true or false, anything else is refused (400).",
  );

  return {
    "/healthz": {
      get: { operationId: "healthz", tag: "health", access: "public", summary: "Liveness", answers: { 200: json("The process answers.", bodies.health) } },
    },
    "/readyz": {
      get: {
        operationId: "readyz",
        tag: "health",
        access: "public",
        summary: "Readiness",
        description: "The database answers and sandbox processes run; 503 while draining on SIGTERM.",
        answers: { 200: json("Ready.", bodies.ready), 503: json("Not ready.", bodies.ready) },
      },
    },
    "/metrics": {
      get: {
        operationId: "metrics",
        tag: "health",
        access: "metrics",
        summary: "Prometheus metrics",
        answers: { 200: { description: "The Prometheus text format.", content: { "text/plain": { type: "string" } } } },
      },
    },
    "/openapi.json": {
      get: {
        operationId: "openapi",
        tag: "health",
        access: "public",
        summary: "This document",
        answers: { 200: json("The OpenAPI 3.1 document.", { type: "object", required: ["openapi", "info", "paths"] }) },
      },
    },
    "/api/me": {
      get: {
        operationId: "getMe",
        tag: "me",
        access: "any_role",
        summary: "Who the token's caller is",
        description: "The token's role and `sub`, and the tenant the request acts on: the token's own, or for a `platform_admin` the one X-Tenant-Slug names (null without it).",
        answers: { 200: json("The caller.", bodies.me) },
      },
    },
    "/api/tenants": {
      post: {
        operationId: "createTenant",
        tag: "tenants",
        access: "platform_admin",
        summary: "Create a tenant",
        json: input(NewTenant),
        answers: { 201: json("Created.", bodies.tenant) },
        errors: [409],
      },
      get: { operationId: "listTenants", tag: "tenants", access: "platform_admin", summary: "List tenants", answers: { 200: json("Every tenant, oldest first.", bodies.tenants) } },
    },
    "/api/plugins/upload": {
      post: {
        operationId: "uploadPlugin",
        tag: "plugins",
        access: "admin",
        summary: "Install or upgrade a plugin",
        description: "201 for a new install; 200 with `previous_version` for a higher version; 409 for the same or a lower one, or `dependency_conflict` for an upgrade out of the range an enabled plugin requires; 422 lists every problem of the package in `details` (including dependencies missing, disabled or out of range).",
        query: [cascade],
        multipart: {
          schema: object({ file: { type: "string", contentMediaType: "application/zip", description: "The plugin ZIP (plugin.json + code), at most the configured upload size." } }),
          encoding: { file: { contentType: "application/zip, application/octet-stream" } },
        },
        answers: { 201: json("Installed.", bodies.plugin), 200: json("Upgraded.", bodies.upgraded) },
        errors: [409, 422],
      },
    },
    "/api/plugins/test-event": {
      post: {
        operationId: "fireTestEvent",
        tag: "events",
        access: "admin",
        summary: "Fire an event at the tenant's plugins",
        query: [query("wait", { type: "boolean", default: false }, "true: wait (up to 60 s) for every hook run to end and answer 200 with each outcome.")],
        json: input(TestEventBody),
        answers: { 202: json("Queued.", bodies.testEventQueued), 200: json("With `wait=true`: each hook's outcome.", bodies.testEventDone) },
      },
    },
    "/api/plugins": {
      get: { operationId: "listPlugins", tag: "plugins", access: "admin", summary: "List the tenant's installs", answers: { 200: json("The installs.", bodies.plugins) } },
    },
    "/api/plugins/{id}": {
      get: { operationId: "getPlugin", tag: "plugins", access: "admin", summary: "One install", answers: { 200: json("The install.", bodies.plugin) } },
      delete: {
        operationId: "uninstallPlugin",
        tag: "plugins",
        access: "admin",
        summary: "Uninstall",
        description: "Deletes the install with its versions, secrets, config and logs; `purge=true` also the plugin's ctx.db data.",
        query: [query("purge", { type: "boolean", default: false }, "true or false; anything else is refused (400)."), cascade],
        answers: { 204: noBody("Uninstalled.") },
        errors: [400, 409],
      },
    },
    "/api/plugins/{id}/enable": {
      post: {
        operationId: "enablePlugin",
        tag: "plugins",
        access: "admin",
        summary: "Enable",
        description: "The answer's `status` is `failed` (with `error`) when the plugin's onEnable threw. 409 `dependencies_unmet` while a plugin it depends on is missing, not enabled or out of range; 409 `plugin_needs_configuration` (with `details.missing`) while a required config value or secret is unset.",
        answers: { 200: json("The install.", bodies.plugin) },
        errors: [409],
      },
    },
    "/api/plugins/{id}/disable": {
      post: {
        operationId: "disablePlugin",
        tag: "plugins",
        access: "admin",
        summary: "Disable",
        description: "409 `dependency_conflict` (the dependents in `details.dependents`) while enabled plugins depend on it, unless `cascade=true`.",
        query: [cascade],
        answers: { 200: json("The install.", bodies.plugin) },
        errors: [400, 409],
      },
    },
    "/api/plugins/{id}/rollback": {
      post: {
        operationId: "rollbackPlugin",
        tag: "plugins",
        access: "admin",
        summary: "Back to the previous version",
        description: "409 `dependency_conflict` when an enabled plugin's range does not accept the previous version (unless `cascade=true`), `dependencies_unmet` when this plugin is enabled and the previous version requires what is not there.",
        query: [cascade],
        answers: { 200: json("The install, at its previous version.", bodies.rolledBack) },
        errors: [400, 409],
      },
    },
    "/api/plugins/{id}/config": {
      get: { operationId: "getConfig", tag: "config", access: "admin", summary: "The tenant's config and the manifest's configuration", answers: { 200: json("Config.", bodies.config) } },
      put: {
        operationId: "setConfig",
        tag: "config",
        access: "admin",
        summary: "Replace the config",
        description: "Validated against the manifest's `configuration` (types, min/max, enum, required); every problem is listed in `details` (422). null clears a key back to its default. A `needs_configuration` install whose last missing value this sets is enabled (onEnable runs).",
        json: { type: "object", additionalProperties: { type: ["string", "number", "boolean", "null"] } },
        answers: { 200: json("The stored config.", bodies.configSet) },
        errors: [422],
      },
    },
    "/api/plugins/{id}/logs": {
      get: {
        operationId: "listLogs",
        tag: "logs",
        access: "admin",
        summary: "The plugin's log lines, newest first (or, with `after`, newer lines oldest first)",
        description: "Without `after`, pages go back in time with `before`. With `after` (a live tail), the lines newer than that id come oldest first, `next_before` is null, and the next poll passes the last line's id as `after`. `before` and `after` together are refused (400).",
        query: [
          query("limit", pageLimit(500, 100), "Lines per page (out-of-range values are clamped)."),
          query("before", { type: "string", pattern: "^[0-9]{1,18}$" }, "A log id: lines older than it (`next_before` of the previous page)."),
          query("after", { type: "string", pattern: "^[0-9]{1,18}$" }, "A log id: lines newer than it, oldest first (the last line's id of the previous poll)."),
          query("level", { type: "string" }, "Only lines of this level: debug, info, warn or error."),
        ],
        answers: { 200: json("A page of lines.", bodies.logs) },
        errors: [400],
      },
    },
    "/api/plugins/{id}/secrets": {
      get: { operationId: "listSecrets", tag: "secrets", access: "admin", summary: "Names and update times (never values)", answers: { 200: json("The secrets set and the names the manifest declares.", bodies.secrets) } },
    },
    "/api/plugins/{id}/secrets/{name}": {
      put: { operationId: "setSecret", tag: "secrets", access: "admin", summary: "Set a secret (write-only)", description: "A `needs_configuration` install whose last missing value this sets is enabled (onEnable runs).", json: input(SecretBody), answers: { 204: noBody("Stored, encrypted.") } },
      delete: {
        operationId: "deleteSecret",
        tag: "secrets",
        access: "admin",
        summary: "Delete a secret",
        description:
          "A secret the manifest requires, deleted from an enabled install, stops it (status `needs_configuration`); 409 `dependency_conflict` while enabled plugins depend on it, unless `cascade=true`.",
        query: [cascade],
        answers: { 204: noBody("Deleted.") },
        errors: [400, 409],
      },
    },
    "/api/plugins/{id}/jobs": {
      get: { operationId: "listJobs", tag: "jobs", access: "admin", summary: "Schedules with next and last run", answers: { 200: json("The manifest's jobs.", bodies.jobs) } },
    },
    "/api/plugins/{id}/jobs/{name}/run-now": {
      post: {
        operationId: "runJobNow",
        tag: "jobs",
        access: "admin",
        summary: "Run a job now",
        description: "409 `job_running` (with the skipped run in `details.run`) while a run of the job is queued or running; 409 `plugin_needs_configuration` while it misses required values; 409 `plugin_disabled` otherwise unless enabled.",
        answers: { 202: json("Queued.", bodies.runQueued) },
        errors: [409],
      },
    },
    "/api/plugins/{id}/jobs/{name}/runs": {
      get: {
        operationId: "listJobRuns",
        tag: "jobs",
        access: "admin",
        summary: "Run history, newest first",
        query: [
          query("limit", pageLimit(100, 20), "Runs per page (out-of-range values are clamped)."),
          query("before", { type: "string", format: "date-time" }, "Runs created before this time (`next_before` of the previous page)."),
        ],
        answers: { 200: json("A page of runs.", bodies.runs) },
        errors: [400],
      },
    },
    "/api/plugins/{id}/jobs/{name}/runs/{runId}": {
      get: { operationId: "getJobRun", tag: "jobs", access: "admin", summary: "One run with its result and log lines", answers: { 200: json("The run.", bodies.run) } },
    },
    "/api/plugins/{id}/deliveries": {
      get: {
        operationId: "listDeliveries",
        tag: "deliveries",
        access: "admin",
        summary: "Webhook deliveries, newest first",
        queryFrom: DeliveriesQuery,
        answers: { 200: json("A page of deliveries.", bodies.deliveries) },
        errors: [400],
      },
    },
    "/api/plugins/{id}/deliveries/{deliveryId}": {
      get: { operationId: "getDelivery", tag: "deliveries", access: "admin", summary: "One delivery with its payload and attempts", answers: { 200: json("The delivery.", bodies.deliveryWithAttempts) } },
    },
    "/api/plugins/{id}/deliveries/{deliveryId}/retry": {
      post: {
        operationId: "retryDelivery",
        tag: "deliveries",
        access: "admin",
        summary: "Replay a finished delivery",
        description: "Same webhook-id and body, a fresh round of attempts. 409 `delivery_pending` while it is still being attempted.",
        answers: { 202: json("Queued again.", bodies.delivery) },
        errors: [409],
      },
    },
    "/api/plugins/{id}/usage": {
      get: {
        operationId: "getUsage",
        tag: "usage",
        access: "admin",
        summary: "ctx calls by method and outcome, and LLM tokens, per day; storage quotas now",
        queryFrom: UsageQuery,
        answers: { 200: json("Counters, newest day first, and their totals; `quotas`: each storage quota's `used` and `limit`.", bodies.usage) },
        errors: [400],
      },
    },
    "/api/plugins/{id}/emails": {
      get: {
        operationId: "listEmails",
        tag: "emails",
        access: "admin",
        summary: "Mail the plugin sent or kept, newest first (without bodies)",
        queryFrom: EmailsQuery,
        answers: { 200: json("A page of emails.", bodies.emails) },
        errors: [400],
      },
    },
    "/api/plugins/{id}/emails/{emailId}": {
      get: { operationId: "getEmail", tag: "emails", access: "admin", summary: "One email with its text and html", answers: { 200: json("The email.", bodies.email) } },
    },
    "/api/events": {
      post: {
        operationId: "publishEvent",
        tag: "events",
        access: "admin",
        summary: "Publish a host event",
        description: "Any type, system prefixes included (the host is trusted); stored, then each subscribed plugin's hook and webhook runs.",
        json: input(Publish),
        answers: { 202: json("Stored and queued.", bodies.published) },
      },
      get: {
        operationId: "listEvents",
        tag: "events",
        access: "admin",
        summary: "Recent events with their hook runs, newest first",
        query: [query("type", { type: "string" }, "Only events of this type."), query("limit", pageLimit(200, 50), "At most this many (out-of-range values are clamped).")],
        answers: { 200: json("The events.", bodies.events) },
      },
    },
    "/api/events/{id}": {
      get: { operationId: "getEvent", tag: "events", access: "admin", summary: "One event with its hook runs", answers: { 200: json("The event.", bodies.event) } },
    },
    "/api/users": {
      post: { operationId: "createUser", tag: "users", access: "admin", summary: "Create a user (raises auth.user.created)", json: input(NewUser), answers: { 201: json("Created.", bodies.userChanged) } },
      get: { operationId: "listUsers", tag: "users", access: "member", summary: "The tenant's users, oldest first (at most 500)", answers: { 200: json("The users.", bodies.users) } },
    },
    "/api/users/{id}": {
      get: { operationId: "getUser", tag: "users", access: "member", summary: "One user", answers: { 200: json("The user.", bodies.user) } },
      patch: { operationId: "updateUser", tag: "users", access: "admin", summary: "Change a user (raises auth.user.updated)", json: input(UserPatch), answers: { 200: json("Changed.", bodies.userChanged) } },
      delete: { operationId: "deleteUser", tag: "users", access: "admin", summary: "Delete a user (raises auth.user.deleted)", answers: { 200: json("Deleted; the user as it was.", bodies.userChanged) } },
    },
    "/api/files": {
      post: {
        operationId: "uploadFile",
        tag: "files",
        access: "admin",
        summary: "Store a file (raises files.uploaded)",
        description: "201 for a new path, 200 when it replaced the file at that path.",
        multipart: {
          schema: object(
            {
              file: { type: "string", contentMediaType: "application/octet-stream", description: "The content (at most 25 MiB); its part's Content-Type is stored." },
              path: { type: "string", maxLength: MAX_PATH_LENGTH, description: "The logical path (relative; no `..`); default: the part's filename." },
            },
            ["path"],
          ),
        },
        answers: { 201: json("Stored.", bodies.fileChanged), 200: json("Replaced.", bodies.fileChanged) },
      },
      get: {
        operationId: "listFiles",
        tag: "files",
        access: "member",
        summary: "The tenant's files by path (at most 1000)",
        query: [query("prefix", { type: "string" }, "Only paths starting with this.")],
        answers: { 200: json("The files.", bodies.files) },
      },
    },
    "/api/files/{id}": {
      get: { operationId: "getFile", tag: "files", access: "member", summary: "One file's metadata", answers: { 200: json("The file.", bodies.file) } },
      delete: { operationId: "deleteFile", tag: "files", access: "admin", summary: "Delete a file (raises files.deleted)", answers: { 200: json("Deleted; the file as it was.", bodies.fileChanged) } },
    },
    "/api/files/{id}/content": {
      get: {
        operationId: "getFileContent",
        tag: "files",
        access: "member",
        summary: "A file's bytes",
        description: "Served with its stored Content-Type, as an attachment, `X-Content-Type-Options: nosniff` and `Content-Security-Policy: sandbox`.",
        answers: { 200: { description: "The bytes.", content: { "*/*": {} } } },
      },
    },
    "/api/audit": {
      get: {
        operationId: "listAudit",
        tag: "audit",
        access: "admin",
        summary: "The tenant's audit log, newest first",
        queryFrom: AuditQuery,
        answers: { 200: json("A page of entries.", bodies.audit) },
        errors: [400],
      },
    },
    "/ext/{slug}/{path}": extMethods,
  };
}

const VERSION = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;

/** The whole document; pure, so tests can build it without an app. */
export function buildOpenApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [path, methods] of Object.entries(pathSpecs())) {
    paths[path] = Object.fromEntries(Object.entries(methods).map(([method, spec]) => [method, operation(path, spec)]));
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "SBH extension platform API",
      version: VERSION,
      description:
        "Tenant admins install plugins (ZIP upload) and manage them; the host publishes events, users and files; plugins answer under /ext. " +
        "Errors are `{\"error\": {\"code\", \"message\", \"details\"}}` with the codes of docs/errors.md. " +
        "Authentication: `Authorization: Bearer <JWT>` (HS256; claims `sub`, `tenant`, `role`: admin, member or platform_admin). " +
        "`X-Tenant-Slug` names the tenant and must match the token's unless the role is platform_admin.",
    },
    tags: [
      { name: "health", description: "Liveness, readiness, metrics and this document." },
      { name: "me", description: "The caller's own role and tenant." },
      { name: "tenants", description: "Platform admins create tenants." },
      { name: "plugins", description: "Upload, list and the install lifecycle." },
      { name: "config", description: "A plugin's configuration for the tenant." },
      { name: "secrets", description: "Write-only secret values, AES-256-GCM at rest." },
      { name: "logs", description: "console.* and ctx.log lines." },
      { name: "jobs", description: "Cron jobs: schedules, run-now and run history." },
      { name: "deliveries", description: "Outgoing webhook deliveries and replay." },
      { name: "usage", description: "ctx calls, route calls and LLM tokens per day, and the storage quotas." },
      { name: "emails", description: "Mail plugins sent or kept." },
      { name: "events", description: "Events and each hook's outcome." },
      { name: "users", description: "The host's users." },
      { name: "files", description: "The host's tenant files." },
      { name: "audit", description: "Who did what to the tenant's plugins." },
      { name: "ext", description: "Plugins' own routes." },
    ],
    security: [{ bearerAuth: [] }],
    paths,
    components: {
      securitySchemes: {
        bearerAuth: { type: "http", scheme: "bearer", bearerFormat: "JWT", description: "HS256; claims `sub`, `tenant`, `role` (admin, member, platform_admin)." },
        metricsToken: { type: "http", scheme: "bearer", description: "The METRICS_TOKEN value (only when it is set)." },
      },
      parameters: {
        TenantSlug: {
          name: "X-Tenant-Slug",
          in: "header",
          required: false,
          description: "The tenant acted on. Defaults to the token's tenant and must match it unless the role is platform_admin, whose calls on one tenant must name it.",
          schema: { type: "string", pattern: SLUG.source },
        },
      },
      schemas: responseSchemas(),
      responses: errorResponses(),
    },
  };
}

// why: the document depends on nothing but the code, so it is built and serialized once per
// process, on first request (not at import, so a bad schema cannot stop the app from starting).
let cached: string | undefined;

/** GET /openapi.json: public, no tenant. */
export const serveOpenApi: RequestHandler = (_req, res) => {
  cached ??= JSON.stringify(buildOpenApiDocument());
  res.type("application/json").send(cached);
};
