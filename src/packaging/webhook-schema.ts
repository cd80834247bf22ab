import path from "node:path";
import { LineCounter, parseDocument, type Document } from "yaml";
import { z } from "zod";
import { EVENT_TYPE, SECRET_NAME, type Manifest } from "./manifest-schema.ts";
import { isPackageFilePath } from "./package-path.ts";
import { formatPath, type Problem } from "./problem.ts";
import { issuesToProblems } from "./zod-problems.ts";

/** One `webhooks/<name>.yaml`, validated; placeholders are kept and resolved at delivery. */
export interface WebhookDefinition {
  name: string;
  file: string;
  api_version: "v1";
  on: string[];
  delivery: {
    url: string;
    headers: Record<string, string>;
    signing: { alg: "HMAC-SHA256"; secret: string };
  };
  /** `file` and `fn` are `entry` split at the `#`. */
  transform?: { language: "javascript"; entry: string; file: string; fn: string };
  retry: { max_attempts: number; backoff: "exponential" | "fixed" };
}

/** `${…}` in a definition's url, headers and signing secret; resolved at delivery (webhooks/template.ts). */
export const PLACEHOLDER = /\$\{([^}]*)\}/g;
const FIXED_PLACEHOLDERS = new Set(["TENANT_ID", "EVENT_TYPE", "PLUGIN_SLUG"]);
const SECRET_REF = /^\$\{SECRET:([A-Z][A-Z0-9_]{0,63})\}$/;
const WEBHOOK_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
// Set by the platform on every delivery (Standard Webhooks) or by HTTP itself.
const RESERVED_HEADERS = new Set([
  "webhook-id",
  "webhook-timestamp",
  "webhook-signature",
  "content-type",
  "content-length",
  "host",
  "transfer-encoding",
  "connection",
]);

/** Secret names a templated string uses, and what is wrong with its placeholders, if anything. */
export function scanPlaceholders(text: string): { secrets: string[]; problem?: string } {
  const secrets: string[] = [];
  for (const [, inner] of text.matchAll(PLACEHOLDER)) {
    const secret = /^SECRET:(.*)$/.exec(inner);
    if (secret && SECRET_NAME.test(secret[1])) secrets.push(secret[1]);
    else if (!FIXED_PLACEHOLDERS.has(inner)) {
      return {
        secrets,
        problem: `unknown placeholder \${${inner}}; use \${SECRET:NAME}, \${TENANT_ID}, \${EVENT_TYPE} or \${PLUGIN_SLUG}`,
      };
    }
  }
  if (text.replace(PLACEHOLDER, "").includes("${")) return { secrets, problem: 'has a "${" that is never closed' };
  return { secrets };
}

const templated = z.string().superRefine((text, ctx) => {
  const { problem } = scanPlaceholders(text);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

const webhookSchema = z.strictObject({
  api_version: z.literal("v1", { error: 'must be "v1"' }),
  on: z
    .array(z.string().regex(EVENT_TYPE, 'must be an event type like "build.completed"'))
    .min(1, "must list at least one event type")
    .superRefine((events, ctx) => {
      events.forEach((e, i) => {
        if (events.indexOf(e) !== i) ctx.addIssue({ code: "custom", path: [i], message: `duplicate event "${e}"` });
      });
    }),
  delivery: z.strictObject({
    url: templated.superRefine((url, ctx) => {
      const problem = urlProblem(url);
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    }),
    headers: z
      .record(
        z
          .string()
          .regex(HEADER_NAME, "is not a valid HTTP header name")
          .refine((h) => !RESERVED_HEADERS.has(h.toLowerCase()), "is set by the platform and cannot be overridden"),
        templated.refine((v) => !/[\r\n]/.test(v), "must not contain line breaks"),
      )
      .default({}),
    signing: z.strictObject({
      alg: z.literal("HMAC-SHA256", { error: 'must be "HMAC-SHA256"' }),
      secret: z.string().regex(SECRET_REF, "must be a ${SECRET:NAME} reference; keep signing keys out of the package"),
    }),
  }),
  transform: z
    .strictObject({
      language: z.literal("javascript", { error: 'must be "javascript"' }),
      entry: z.string().regex(/^[^#]+\.(m?js|ts)#[A-Za-z_$][\w$]*$/, 'must look like "transforms/file.js#functionName"'),
    })
    .optional(),
  retry: z
    .strictObject({
      max_attempts: z.number().int().min(1, "must be at least 1").max(20, "must be at most 20").default(6),
      backoff: z.enum(["exponential", "fixed"], { error: 'must be "exponential" or "fixed"' }).default("exponential"),
    })
    .prefault({}),
});

/** JSON Schema of a webhook definition (schemas/webhook.schema.json), from the schema uploads use. */
export function webhookJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(webhookSchema, { io: "input", unrepresentable: "any", target: "draft-2020-12" }) as Record<string, unknown>;
}

/**
 * Validates every `webhooks/*.yaml` of a package. With a manifest, also checks what the YAML
 * refers to: the emit_webhook permission, declared secrets and the transform file.
 */
export function parseWebhooks(
  files: Map<string, Buffer>,
  manifest?: Manifest,
): { webhooks: WebhookDefinition[]; problems: Problem[] } {
  const webhooks: WebhookDefinition[] = [];
  const problems: Problem[] = [];
  const names = new Map<string, string>();
  let definitions = 0;
  for (const [file, data] of files) {
    if (!file.startsWith("webhooks/") || !/\.ya?ml$/.test(file)) continue;
    definitions++;
    const name = path.posix.basename(file).replace(/\.ya?ml$/, "");
    if (file.indexOf("/") !== file.lastIndexOf("/")) {
      problems.push({ path: file, message: "webhook definitions must sit directly in webhooks/, not in a subfolder" });
      continue;
    }
    if (!WEBHOOK_NAME.test(name)) {
      problems.push({ path: file, message: "the file name (the webhook's name) must be lowercase a-z, 0-9, _ and -" });
    } else if (names.has(name)) {
      problems.push({ path: file, message: `${names.get(name)} already defines a webhook named "${name}"` });
    }
    names.set(name, file);
    const parsed = parseOne(file, data, name, files, manifest);
    problems.push(...parsed.problems);
    if (parsed.webhook) webhooks.push(parsed.webhook);
  }
  if (definitions > 0 && manifest && !manifest.permissions.includes("emit_webhook")) {
    problems.push({ path: "permissions", message: 'the package defines webhooks, which need the "emit_webhook" permission' });
  }
  return { webhooks, problems };
}

function parseOne(
  file: string,
  data: Buffer,
  name: string,
  files: Map<string, Buffer>,
  manifest: Manifest | undefined,
): { webhook?: WebhookDefinition; problems: Problem[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(data.toString("utf8"), { lineCounter, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length) {
    return {
      problems: doc.errors.map((e) => ({
        path: `${file}:${e.linePos?.[0].line ?? 1}`,
        message: `YAML: ${e.message.split("\n")[0]}`,
      })),
    };
  }
  let json: unknown;
  try {
    json = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    return { problems: [{ path: file, message: `YAML: ${(err as Error).message}` }] };
  }
  if (json === null || json === undefined) return { problems: [{ path: file, message: "the file is empty" }] };

  const at = (segments: readonly PropertyKey[], message: string): Problem => {
    const line = lineAt(doc, lineCounter, segments);
    return { path: segments.length ? `${file}: ${formatPath(segments)}` : file, message: line ? `${message} (line ${line})` : message };
  };
  const parsed = webhookSchema.safeParse(json, { reportInput: true });
  if (!parsed.success) return { problems: issuesToProblems(parsed.error.issues, { schema: webhookSchema, format: at }) };

  const { transform, ...rest } = parsed.data;
  const webhook: WebhookDefinition = { name, file, ...rest };
  const problems: Problem[] = [];
  if (transform) {
    const [target, fn] = transform.entry.split("#");
    webhook.transform = { ...transform, file: target, fn };
    if (!isPackageFilePath(target)) problems.push(at(["transform", "entry"], `"${target}" is not a path inside the package`));
    else if (!files.has(target)) problems.push(at(["transform", "entry"], `${target} is not in the package`));
  }
  if (manifest) {
    const templatedFields: [PropertyKey[], string][] = [
      [["delivery", "url"], webhook.delivery.url],
      ...Object.entries(webhook.delivery.headers).map(([h, v]): [PropertyKey[], string] => [["delivery", "headers", h], v]),
      [["delivery", "signing", "secret"], webhook.delivery.signing.secret],
    ];
    for (const [segments, text] of templatedFields) {
      for (const secret of scanPlaceholders(text).secrets) {
        if (!manifest.secrets.includes(secret)) {
          problems.push(at(segments, `secret "${secret}" is not declared in plugin.json "secrets"`));
        }
      }
    }
  }
  return { webhook: problems.length ? undefined : webhook, problems };
}

function urlProblem(url: string): string | undefined {
  if (SECRET_REF.test(url)) return undefined;
  // The scheme stays literal so no placeholder can turn a delivery into another protocol.
  if (!/^https?:\/\//i.test(url)) return "must be an http(s) URL or a ${SECRET:NAME} reference holding one";
  try {
    new URL(url.replace(PLACEHOLDER, "x"));
    return undefined;
  } catch {
    return "is not a valid URL";
  }
}

// The line of the deepest YAML node that exists along the path (a missing key points at its parent).
function lineAt(doc: Document, counter: LineCounter, segments: readonly PropertyKey[]): number | undefined {
  for (let n = segments.length; n > 0; n--) {
    const node = doc.getIn(segments.slice(0, n) as unknown[], true) as { range?: [number, number, number] } | undefined;
    if (node?.range) return counter.linePos(node.range[0]).line;
  }
  return undefined;
}
