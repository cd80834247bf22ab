import assert from "node:assert/strict";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, describe, test } from "node:test";
import ts from "typescript";
import { packageLimits } from "../../src/config.ts";
import { parseManifest } from "../../src/packaging/manifest-schema.ts";
import { parseWebhooks } from "../../src/packaging/webhook-schema.ts";

// The plugin guide's code blocks, checked so they cannot rot: every JavaScript block is
// type-checked against the SDK's declarations (and the test kit's), every plugin.json block is
// validated as an upload would, every webhook YAML block parsed with the upload's schema.

const ROOT = path.resolve(import.meta.dirname, "../..");
const GUIDE = path.join(ROOT, "docs/plugin-guide.md");

interface Block {
  lang: string;
  code: string;
  line: number;
}

function blocks(markdown: string): Block[] {
  const out: Block[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w+)\s*$/.exec(lines[i]);
    if (!open) continue;
    const start = i + 1;
    while (++i < lines.length && lines[i] !== "```");
    out.push({ lang: open[1], code: lines.slice(start, i).join("\n"), line: start + 1 });
  }
  return out;
}

const all = blocks(readFileSync(GUIDE, "utf8"));
const work = path.join(ROOT, "tmp", `guide-check-${process.pid}`);
after(() => rmSync(work, { recursive: true, force: true }));

describe("docs/plugin-guide.md code blocks", () => {
  test("the guide has JavaScript, plugin.json and webhook YAML blocks to check", () => {
    assert.ok(all.filter((b) => b.lang === "js").length >= 5);
    assert.ok(all.some((b) => b.lang === "json"));
    assert.ok(all.some((b) => b.lang === "yaml"));
  });

  test("every JavaScript block type-checks against @sbh/sdk (and @sbh/sdk/testing)", () => {
    mkdirSync(work, { recursive: true });
    const files = all
      .filter((b) => b.lang === "js")
      .map((b) => {
        const file = path.join(work, `block-line-${b.line}.mjs`);
        writeFileSync(file, b.code);
        return file;
      });
    const program = ts.createProgram(files, {
      allowJs: true,
      checkJs: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      allowImportingTsExtensions: true,
      skipLibCheck: true,
      types: ["node"],
      typeRoots: [path.join(ROOT, "node_modules/@types")],
      paths: { "@sbh/sdk": [path.join(ROOT, "sdk/index.d.ts")], "@sbh/sdk/testing": [path.join(ROOT, "src/testing/index.ts")] },
    });
    const problems = ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.file && files.includes(path.resolve(d.file.fileName)))
      .map((d) => {
        const { line } = d.file!.getLineAndCharacterOfPosition(d.start ?? 0);
        const blockLine = Number(/block-line-(\d+)/.exec(d.file!.fileName)![1]);
        return `docs/plugin-guide.md:${blockLine + line}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
      });
    assert.deepEqual(problems, []);
  });

  test("every plugin.json block is a valid manifest", () => {
    for (const b of all.filter((x) => x.lang === "json" && x.code.includes('"slug"'))) {
      const { problems } = parseManifest(JSON.parse(b.code), packageLimits().limits);
      assert.deepEqual(problems, [], `plugin.json at docs/plugin-guide.md:${b.line}`);
    }
  });

  test("every webhook YAML block is a valid definition", () => {
    const manifest = parseManifest(
      { slug: "guide", name: "Guide", version: "1.0.0", permissions: ["emit_webhook"], secrets: ["WEBHOOK_URL", "WEBHOOK_SIGNING_KEY"] },
      packageLimits().limits,
    ).manifest!;
    for (const b of all.filter((x) => x.lang === "yaml")) {
      const files = new Map([
        ["webhooks/guide.yaml", Buffer.from(b.code)],
        ["transforms/build_completed.js", Buffer.from("export function transform(e) { return e; }")],
      ]);
      const { problems, webhooks } = parseWebhooks(files, manifest);
      assert.deepEqual(problems, [], `webhook at docs/plugin-guide.md:${b.line}`);
      assert.equal(webhooks.length, 1);
    }
  });
});
