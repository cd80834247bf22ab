import semver from "semver";
import { z } from "zod";
import { PERMISSIONS, type Permission } from "../capabilities/ctx-members.ts";
import type { PlatformLimits } from "../config.ts";
import { CONFIG_KEY, configFieldSchema, type ConfigField } from "./config-field.ts";
import { hostPatternProblem, isHttpUrl, isTimeZone } from "./field-checks.ts";
import { scheduleProblem } from "./job-schedule.ts";
import { isPackageFilePath } from "./package-path.ts";
import type { Problem } from "./problem.ts";
import { issuesToProblems } from "./zod-problems.ts";

/** The version plugins' `platform_version` ranges are checked against. */
export const PLATFORM_VERSION = "1.0.0";


export const SLUG = /^[a-z0-9][a-z0-9_-]{1,62}$/;
export const EVENT_TYPE = /^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$/;
export const SECRET_NAME = /^[A-Z][A-Z0-9_]{0,63}$/;
const JOB_NAME = /^[a-z][a-z0-9_-]{0,62}$/;
/** A ctx.db collection of a plugin; lower-case so it reads the same in SQL, logs and manifests. */
export const COLLECTION_NAME = /^[a-z][a-z0-9_]{0,62}$/;
/** One segment of a document field path (`address.city` has two). */
export const FIELD_SEGMENT = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
/** A document field: dotted segments, at most 8 deep. */
export const FIELD_PATH = /^[A-Za-z_][A-Za-z0-9_]{0,63}(\.[A-Za-z_][A-Za-z0-9_]{0,63}){0,7}$/;
/** Core tables ctx.db reads under their own names, so no collection may take them. */
export const CORE_TABLES = ["users", "files"] as const;
/** Kept by the platform on every document (columns, not document data), so never indexed. */
export const DOCUMENT_META_FIELDS = ["id", "created_at", "updated_at"] as const;
export const MAX_COLLECTIONS = 20;
export const MAX_INDEXES_PER_COLLECTION = 5;
// Every list of a manifest is bounded (jobs by PLUGIN_MAX_JOBS): each entry is something every
// process keeps per install (subscriptions, allowlist patterns, schema keys), so a plugin.json
// declaring thousands is a hostile one, not a big one.
export const MAX_EVENTS = 100;
export const MAX_SECRETS = 50;
export const MAX_HTTP_ALLOWLIST = 50;
export const MAX_CONFIG_KEYS = 50;
export const MAX_DEPENDENCIES = 20;
const MAX_EVENT_TYPE_LENGTH = 128;
// Floors under a manifest's timeouts: a call's deadline also covers building the isolate and
// loading the plugin's code, so a smaller one only makes the watchdog kill a shared sandbox process.
export const MIN_TIMEOUT_MS = 100;
export const MIN_HEALTH_TIMEOUT_SECONDS = 0.5;

export interface JobSpec {
  name: string;
  schedule: string;
  timezone?: string;
}

/** An index the platform builds on one field of a collection's documents at install/upgrade. */
export interface CollectionIndex {
  field: string;
  unique: boolean;
}

export interface CollectionSpec {
  indexes: CollectionIndex[];
}

/** Resolved limits for one plugin: what the manifest asked for, else the platform maxima. */
export interface Resources {
  timeout_ms: number;
  job_timeout_ms: number;
  memory_mb: number;
  max_disk_mb: number;
  /** ctx.files: files this install may have written (next to max_disk_mb, their bytes). */
  max_files: number;
  /** ctx.db: documents, and MiB of their JSON, this plugin may keep in the tenant's database. */
  max_db_documents: number;
  max_db_mb: number;
  rate_limit: { calls: number; period_seconds: number };
}

/** `resources` as plugin.json gives it: any field may be left to the platform. */
export type DeclaredResources = Partial<Omit<Resources, "rate_limit">> & { rate_limit?: Partial<Resources["rate_limit"]> };

/**
 * The resources in effect: each declared value, never above the platform maximum, and the
 * maximum where the manifest is silent. Resolved when an install is read, not stored at upload,
 * so an operator raising or lowering a maximum changes it for plugins uploaded before.
 */
export function resolveResources(declared: DeclaredResources, limits: PlatformLimits): Resources {
  const upTo = (asked: number | undefined, max: number) => Math.min(asked ?? max, max);
  const { calls: maxCalls, periodSeconds: maxPeriod } = limits.rateLimit;
  const calls = declared.rate_limit?.calls ?? maxCalls;
  const period = declared.rate_limit?.period_seconds ?? maxPeriod;
  // As at upload: the rate is what is capped, so a window above the maximum rate falls back to it.
  const rate = calls * maxPeriod > maxCalls * period ? { calls: maxCalls, period_seconds: maxPeriod } : { calls, period_seconds: period };
  return {
    timeout_ms: upTo(declared.timeout_ms, limits.timeoutMs),
    job_timeout_ms: upTo(declared.job_timeout_ms, limits.jobTimeoutMs),
    memory_mb: upTo(declared.memory_mb, limits.memoryMb),
    max_disk_mb: upTo(declared.max_disk_mb, limits.maxDiskMb),
    max_files: upTo(declared.max_files, limits.maxFiles),
    max_db_documents: upTo(declared.max_db_documents, limits.maxDbDocuments),
    max_db_mb: upTo(declared.max_db_mb, limits.maxDbMb),
    rate_limit: rate,
  };
}

export interface Manifest {
  slug: string;
  name: string;
  version: string;
  description?: string;
  author?: string;
  repo_url?: string;
  entry: string;
  permissions: Permission[];
  routes: boolean;
  events: string[];
  jobs: JobSpec[];
  http_allowlist: string[];
  /** In effect now: `declared_resources` under the platform maxima of the moment (see resolveResources). */
  resources: Resources;
  /** What plugin.json said; absent in versions stored before it was kept. */
  declared_resources?: DeclaredResources;
  runtime: {
    health_check: { enabled: boolean; interval_seconds: number; timeout_seconds: number };
    retry: { max_attempts: number; backoff_seconds: number };
  };
  configuration: Record<string, ConfigField>;
  /** Every secret name the plugin reads, required or not (plugin.json may list `{name, required}` objects; stored as names). */
  secrets: string[];
  /**
   * The names in `secrets` the install cannot run without (`{"name": …, "required": true}`).
   * Absent in versions stored before it was kept: read it through `requiredSecrets`.
   */
  required_secrets?: string[];
  platform_version?: string;
  dependencies: Record<string, string>;
  /** ctx.db collections that declare indexes (seed 003); other collections need no declaration. */
  collections: Record<string, CollectionSpec>;
}

/**
 * JSON Schema of plugin.json for editors (schemas/plugin.schema.json), generated from the same zod
 * schema uploads are checked with. Checks zod cannot express in JSON Schema (cross-field rules,
 * cron syntax, semver ranges) still happen at upload.
 */
export function manifestJsonSchema(limits: PlatformLimits): Record<string, unknown> {
  return z.toJSONSchema(manifestSchema(limits), { io: "input", unrepresentable: "any", target: "draft-2020-12" }) as Record<string, unknown>;
}

/** Validates a parsed plugin.json; every problem is reported, not just the first. */
export function parseManifest(json: unknown, limits: PlatformLimits): { manifest?: Manifest; problems: Problem[] } {
  const schema = manifestSchema(limits);
  const parsed = schema.safeParse(json, { reportInput: true });
  if (!parsed.success) {
    const problems = issuesToProblems(parsed.error.issues, { schema });
    return { problems: problems.map((p) => ({ path: p.path || "plugin.json", message: p.message })) };
  }
  const { $schema: _editorHint, resources, secrets, ...rest } = parsed.data;
  const manifest: Manifest = {
    ...rest,
    // Names stay a plain list, as every consumer (and every stored version) reads them; what is
    // required is a second list beside it.
    secrets: secrets.map((s) => (typeof s === "string" ? s : s.name)),
    required_secrets: secrets.flatMap((s) => (typeof s !== "string" && s.required ? [s.name] : [])),
    resources: resolveResources(resources, limits),
    declared_resources: resources,
  };
  return { manifest, problems: [] };
}

function manifestSchema(limits: PlatformLimits) {
  const ceiling = (max: number, unit: string, min = 1) =>
    z
      .number()
      .int()
      .min(min, `must be at least ${min}${unit}`)
      .max(max, `must be at most ${max}${unit} (the platform maximum)`)
      .optional();
  const { calls: maxCalls, periodSeconds: maxPeriod } = limits.rateLimit;

  return z
    .strictObject({
      $schema: z.string().optional(),
      slug: z.string().regex(SLUG, "must be 2-63 characters of a-z, 0-9, _ and -, starting with a letter or digit"),
      name: z.string().trim().min(1, "must not be empty").max(100, "must be at most 100 characters"),
      version: z
        .string()
        .refine((v) => semver.valid(v) !== null, "must be a semantic version like 1.2.3")
        .transform((v) => semver.valid(v) as string),
      description: z.string().max(2000, "must be at most 2000 characters").optional(),
      author: z.string().max(200, "must be at most 200 characters").optional(),
      repo_url: z.string().refine(isHttpUrl, "must be an http:// or https:// URL").optional(),
      entry: z
        .string()
        .default("main.js")
        .transform((p) => p.replace(/^\.\//, ""))
        .refine(isPackageFilePath, "must be a relative path inside the package, like main.js or src/index.js")
        .refine((p) => /\.(m?js|ts)$/.test(p) && !p.endsWith(".d.ts"), "must name a .js, .mjs or .ts file"),
      permissions: uniqueList(
        z.enum(PERMISSIONS, {
          error: (iss) => `unknown permission ${JSON.stringify(iss.input)}; known: ${PERMISSIONS.join(", ")}`,
        }),
        "permission",
      ),
      routes: z.boolean().default(false),
      events: uniqueList(
        z
          .string()
          .max(MAX_EVENT_TYPE_LENGTH, `must be at most ${MAX_EVENT_TYPE_LENGTH} characters`)
          .regex(EVENT_TYPE, 'must be an event type like "build.completed"'),
        "event",
        MAX_EVENTS,
      ),
      jobs: z
        .array(
          z.strictObject({
            name: z.string().regex(JOB_NAME, "must be 1-63 characters of a-z, 0-9, _ and -, starting with a letter"),
            schedule: z
              .string()
              .superRefine((s, ctx) => void addIf(ctx, scheduleProblem(s, { allowSecondSchedules: limits.allowSecondSchedules }))),
            timezone: z.string().refine(isTimeZone, "is not an IANA time zone (like Europe/Paris)").optional(),
          }),
        )
        .max(limits.maxJobs, { error: (iss) => tooMany(iss.input, limits.maxJobs, "jobs") })
        .default([])
        .superRefine((jobs, ctx) => reportDuplicates(jobs.map((j) => j.name), "job name", ctx, ["name"])),
      http_allowlist: z
        .array(z.string().superRefine((p, ctx) => void addIf(ctx, hostPatternProblem(p))))
        .max(MAX_HTTP_ALLOWLIST, { error: (iss) => tooMany(iss.input, MAX_HTTP_ALLOWLIST, "host patterns") })
        .default([]),
      resources: z
        .strictObject({
          timeout_ms: ceiling(limits.timeoutMs, " ms", Math.min(MIN_TIMEOUT_MS, limits.timeoutMs)),
          job_timeout_ms: ceiling(limits.jobTimeoutMs, " ms", Math.min(MIN_TIMEOUT_MS, limits.jobTimeoutMs)),
          memory_mb: ceiling(limits.memoryMb, " MB", Math.min(8, limits.memoryMb)),
          max_disk_mb: ceiling(limits.maxDiskMb, " MB"),
          max_files: ceiling(limits.maxFiles, " files"),
          max_db_documents: ceiling(limits.maxDbDocuments, " documents"),
          max_db_mb: ceiling(limits.maxDbMb, " MB"),
          rate_limit: z
            .strictObject({ calls: ceiling(maxCalls, " calls"), period_seconds: ceiling(86_400, " s") })
            .superRefine((r, ctx) => {
              // A shorter window with the same calls is a higher rate, so the rate is what is capped.
              const calls = r.calls ?? maxCalls;
              const period = r.period_seconds ?? maxPeriod;
              if (calls * maxPeriod > maxCalls * period) {
                ctx.addIssue({
                  code: "custom",
                  message: `${calls} calls per ${period} s is above the platform maximum of ${maxCalls} calls per ${maxPeriod} s`,
                });
              }
            })
            .optional(),
        })
        .prefault({}),
      runtime: z
        .strictObject({
          health_check: z
            .strictObject({
              enabled: z.boolean().default(false),
              interval_seconds: z.number().int().min(5, "must be at least 5").max(86_400, "must be at most 86400").default(30),
              timeout_seconds: z
                .number()
                .min(MIN_HEALTH_TIMEOUT_SECONDS, `must be at least ${MIN_HEALTH_TIMEOUT_SECONDS} (seconds; loading the plugin's code counts)`)
                .max(60, "must be at most 60")
                .default(3),
            })
            .superRefine((h, ctx) => {
              if (h.timeout_seconds > h.interval_seconds) {
                ctx.addIssue({ code: "custom", path: ["timeout_seconds"], message: "must not exceed interval_seconds" });
              }
            })
            .prefault({}),
          retry: z
            .strictObject({
              max_attempts: z.number().int().min(1, "must be at least 1").max(10, "must be at most 10").default(3),
              backoff_seconds: z.number().positive("must be positive").max(3600, "must be at most 3600").default(0.5),
            })
            .prefault({}),
        })
        .prefault({}),
      configuration: z
        .record(z.string().regex(CONFIG_KEY, "must be 1-64 characters of letters, digits and _"), configFieldSchema)
        .check(atMostKeys(MAX_CONFIG_KEYS, "keys"))
        .default({})
        .meta({ maxProperties: MAX_CONFIG_KEYS }),
      secrets: secretsSchema(),
      platform_version: z
        .string()
        .superRefine((range, ctx) => {
          if (semver.validRange(range) === null) addIf(ctx, 'must be a semver range like ">=1.0 <2.0"');
          else if (!semver.satisfies(PLATFORM_VERSION, range)) {
            addIf(ctx, `this platform is ${PLATFORM_VERSION}, which "${range}" does not accept`);
          }
        })
        .optional(),
      dependencies: z
        .record(
          z.string().regex(SLUG, "must be a plugin slug"),
          z.string().refine((r) => semver.validRange(r) !== null, 'must be a semver range like "^1.0.0"'),
        )
        .check(atMostKeys(MAX_DEPENDENCIES, "dependencies"))
        .default({})
        .meta({ maxProperties: MAX_DEPENDENCIES }),
      collections: collectionsSchema(),
    })
    .superRefine((m, ctx) => {
      if (Object.hasOwn(m.dependencies, m.slug)) {
        ctx.addIssue({ code: "custom", path: ["dependencies", m.slug], message: "a plugin cannot depend on itself" });
      }
    });
}

/** The secret names `manifest` cannot run without; none for versions stored before the list was kept. */
export function requiredSecrets(manifest: Pick<Manifest, "required_secrets">): string[] {
  return manifest.required_secrets ?? [];
}

// A plain name is an optional secret (as every manifest before `required` wrote them); an object
// says whether the install may run without it.
function secretsSchema() {
  const name = z.string().regex(SECRET_NAME, "must be an UPPER_SNAKE_CASE name like API_KEY");
  const entry = z.union([name, z.strictObject({ name, required: z.boolean().default(false) })], {
    error: (iss) =>
      typeof iss.input === "string"
        ? "must be an UPPER_SNAKE_CASE name like API_KEY"
        : 'must be a secret name like "API_KEY" or an object like {"name": "API_KEY", "required": true}',
  });
  return z
    .array(entry)
    .max(MAX_SECRETS, { error: (iss) => tooMany(iss.input, MAX_SECRETS, "secrets") })
    .default([])
    .superRefine((list, ctx) => reportDuplicates(list.map((s) => (typeof s === "string" ? s : s.name)), "secret", ctx, []));
}

// Indexes are real database indexes, so their number is bounded and each field is checked
// here with the same rules ctx.db applies (the DDL can only quote what these regexes allow).
function collectionsSchema() {
  const index = z.strictObject({
    field: z
      .string()
      .regex(FIELD_PATH, "must be a field like email or address.city: up to 8 dotted names of letters, digits and _, not starting with a digit")
      .refine(
        (f) => !(DOCUMENT_META_FIELDS as readonly string[]).includes(f),
        `${DOCUMENT_META_FIELDS.join(", ")} are kept by the platform and need no index; name a field of the document`,
      ),
    unique: z.boolean().default(false),
  });
  const collection = z.strictObject({
    indexes: z
      .array(index)
      .max(MAX_INDEXES_PER_COLLECTION, `must list at most ${MAX_INDEXES_PER_COLLECTION} indexes`)
      .default([])
      .superRefine((list, ctx) => reportDuplicates(list.map((i) => i.field), "index on field", ctx, ["field"])),
  });
  const name = z
    .string()
    .regex(COLLECTION_NAME, "must be 1-63 characters of a-z, 0-9 and _, starting with a letter")
    .refine((n) => !(CORE_TABLES as readonly string[]).includes(n), `${CORE_TABLES.join(" and ")} are core tables, not collections; pick another name`);
  return z
    .record(name, collection)
    .default({})
    .superRefine((c, ctx) => {
      const count = Object.keys(c).length;
      if (count > MAX_COLLECTIONS) addIf(ctx, `declares ${count} collections; at most ${MAX_COLLECTIONS} may declare indexes`);
    });
}

function uniqueList<T extends z.ZodType<string>>(item: T, what: string, max?: number) {
  const list = z.array(item);
  return (max === undefined ? list : list.max(max, { error: (iss) => tooMany(iss.input, max, `${what}s`) }))
    .default([])
    .superRefine((list, ctx) => reportDuplicates(list as string[], what, ctx, []));
}

function reportDuplicates(values: string[], what: string, ctx: z.RefinementCtx, suffix: PropertyKey[]): void {
  const seen = new Set<string>();
  values.forEach((v, i) => {
    if (seen.has(v)) ctx.addIssue({ code: "custom", path: [i, ...suffix], message: `duplicate ${what} "${v}"` });
    seen.add(v);
  });
}

// A list over its cap is reported once, as a whole: its entries are not checked one by one.
function tooMany(input: unknown, max: number, what: string): string {
  const count = Array.isArray(input) ? input.length : "more";
  return `lists ${count} ${what}; at most ${max} are allowed`;
}

// Checked even when some entries are wrong (a refinement would be skipped then), so the count is
// among the problems listed.
function atMostKeys(max: number, what: string) {
  const isRecord = (v: unknown): v is object => typeof v === "object" && v !== null && !Array.isArray(v);
  return z.refine((r: unknown) => Object.keys(r as object).length <= max, {
    when: (payload) => isRecord(payload.value),
    error: (iss) => `declares ${Object.keys(iss.input as object).length} ${what}; at most ${max} are allowed`,
  });
}

function addIf(ctx: z.RefinementCtx, message: string | undefined): void {
  if (message) ctx.addIssue({ code: "custom", message });
}
