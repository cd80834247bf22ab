import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseManifest, type Manifest } from "../../src/packaging/manifest-schema.ts";
import { parseWebhooks, scanPlaceholders } from "../../src/packaging/webhook-schema.ts";
import { assertProblem, limits } from "./helpers.ts";

function manifestWith(extra: Record<string, unknown> = {}): Manifest {
  const { manifest, problems } = parseManifest(
    { slug: "hooks", name: "Hooks", version: "1.0.0", permissions: ["emit_webhook"], secrets: ["WEBHOOK_URL", "SIGNING_KEY"], ...extra },
    limits,
  );
  assert.deepEqual(problems, []);
  return manifest!;
}

const files = (entries: Record<string, string>) =>
  new Map(Object.entries(entries).map(([name, text]) => [name, Buffer.from(text)]));

const NOTIFY = `api_version: v1
on: ["build.completed", "auth.user.created"]
delivery:
  url: "\${SECRET:WEBHOOK_URL}"
  headers: {X-Source: "SBH", X-Tenant: "\${TENANT_ID}"}
  signing: {alg: "HMAC-SHA256", secret: "\${SECRET:SIGNING_KEY}"}
transform: {language: "javascript", entry: "transforms/build.js#transform"}
retry: {max_attempts: 4, backoff: "fixed"}
`;

describe("parseWebhooks: valid definitions", () => {
  test("the seed's example, with its transform split into file and function", () => {
    const { webhooks, problems } = parseWebhooks(
      files({ "webhooks/notify.yaml": NOTIFY, "transforms/build.js": "export function transform(e) { return e; }" }),
      manifestWith(),
    );
    assert.deepEqual(problems, []);
    assert.deepEqual(webhooks, [
      {
        name: "notify",
        file: "webhooks/notify.yaml",
        api_version: "v1",
        on: ["build.completed", "auth.user.created"],
        delivery: {
          url: "${SECRET:WEBHOOK_URL}",
          headers: { "X-Source": "SBH", "X-Tenant": "${TENANT_ID}" },
          signing: { alg: "HMAC-SHA256", secret: "${SECRET:SIGNING_KEY}" },
        },
        transform: { language: "javascript", entry: "transforms/build.js#transform", file: "transforms/build.js", fn: "transform" },
        retry: { max_attempts: 4, backoff: "fixed" },
      },
    ]);
  });

  test("a literal URL with placeholders, and retry defaults", () => {
    const yaml = `api_version: v1
on: [payments.subscription.created]
delivery:
  url: "https://hooks.example.com/\${TENANT_ID}/\${PLUGIN_SLUG}?type=\${EVENT_TYPE}"
  signing: {alg: HMAC-SHA256, secret: "\${SECRET:SIGNING_KEY}"}
`;
    const { webhooks, problems } = parseWebhooks(files({ "webhooks/pay.yml": yaml }), manifestWith());
    assert.deepEqual(problems, []);
    assert.equal(webhooks[0].name, "pay");
    assert.deepEqual(webhooks[0].retry, { max_attempts: 6, backoff: "exponential" });
    assert.deepEqual(webhooks[0].delivery.headers, {});
  });

  test("no webhooks folder: nothing to do, no permission needed", () => {
    const result = parseWebhooks(files({ "main.js": "" }), manifestWith({ permissions: [] }));
    assert.deepEqual(result, { webhooks: [], problems: [] });
  });
});

describe("parseWebhooks: problems", () => {
  test("YAML syntax errors name the file and line", () => {
    const { problems } = parseWebhooks(files({ "webhooks/x.yaml": "api_version: v1\non: [a.b\n" }), manifestWith());
    assert.equal(problems.length >= 1, true);
    assert.match(problems[0].path, /^webhooks\/x\.yaml:\d+$/);
    assert.match(problems[0].message, /^YAML: /);
    const dup = parseWebhooks(files({ "webhooks/d.yaml": "api_version: v1\napi_version: v1\n" }), manifestWith());
    assertProblem(dup.problems, "webhooks/d.yaml:1", "Map keys must be unique");
  });

  test("schema problems carry the field path and the line", () => {
    const yaml = `api_version: v2
on: []
delivery:
  url: "ftp://example.com"
  headers: {webhook-signature: forged, X-User: "\${USER}", X-Open: "\${TENANT_ID"}
  signing: {alg: MD5, secret: "hunter2"}
transform: {language: python, entry: "transforms/t.py#run"}
retry: {max_attempts: 50, backoff: linear}
extra: 1
`;
    const { problems, webhooks } = parseWebhooks(files({ "webhooks/notify.yaml": yaml }), manifestWith());
    assert.deepEqual(webhooks, []);
    const f = "webhooks/notify.yaml";
    assertProblem(problems, `${f}: api_version`, 'must be "v1" (line 1)');
    assertProblem(problems, `${f}: on`, "at least one event type");
    assertProblem(problems, `${f}: delivery.url`, "http(s) URL or a ${SECRET:NAME}");
    assertProblem(problems, `${f}: delivery.headers.webhook-signature`, "set by the platform");
    assertProblem(problems, `${f}: delivery.headers.X-User`, "unknown placeholder ${USER}");
    assertProblem(problems, `${f}: delivery.headers.X-Open`, "never closed");
    assertProblem(problems, `${f}: delivery.signing.alg`, '"HMAC-SHA256"');
    assertProblem(problems, `${f}: delivery.signing.secret`, "keep signing keys out of the package");
    assertProblem(problems, `${f}: transform.language`, '"javascript"');
    assertProblem(problems, `${f}: transform.entry`, "transforms/file.js#functionName");
    assertProblem(problems, `${f}: retry.max_attempts`, "at most 20");
    assertProblem(problems, `${f}: retry.backoff`, '"exponential" or "fixed"');
    assertProblem(problems, `${f}: extra`, "unknown key (line 9)");
  });

  test("references to the manifest and the package", () => {
    const { problems } = parseWebhooks(files({ "webhooks/notify.yaml": NOTIFY }), manifestWith({ permissions: [], secrets: ["WEBHOOK_URL"] }));
    assertProblem(problems, "permissions", '"emit_webhook" permission');
    assertProblem(problems, "webhooks/notify.yaml: delivery.signing.secret", 'secret "SIGNING_KEY" is not declared');
    assertProblem(problems, "webhooks/notify.yaml: transform.entry", "transforms/build.js is not in the package");
  });

  test("file placement and names", () => {
    const { problems } = parseWebhooks(
      files({ "webhooks/sub/x.yaml": NOTIFY, "webhooks/Bad Name.yaml": NOTIFY, "webhooks/empty.yaml": "" }),
      manifestWith(),
    );
    assertProblem(problems, "webhooks/sub/x.yaml", "directly in webhooks/");
    assertProblem(problems, "webhooks/Bad Name.yaml", "must be lowercase");
    assertProblem(problems, "webhooks/empty.yaml", "the file is empty");
  });
});

describe("scanPlaceholders", () => {
  test("collects secrets and refuses other names", () => {
    assert.deepEqual(scanPlaceholders("${SECRET:A}/${TENANT_ID}/${SECRET:B_2}"), { secrets: ["A", "B_2"] });
    assert.match(scanPlaceholders("${SECRET:lower}").problem ?? "", /unknown placeholder/);
    assert.match(scanPlaceholders("${ENV:HOME}").problem ?? "", /unknown placeholder/);
  });
});
