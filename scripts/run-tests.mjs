// `npm test`: every test/**/*.test.ts and plugins-examples/**/*.test.ts, with node's own
// runner. Node 20's --test does not expand globs, so the files are listed here.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import path from "node:path";

const roots = process.argv.slice(2).length ? process.argv.slice(2) : ["test", "plugins-examples"];
const files = roots.flatMap((r) => (statSync(r).isFile() ? [r] : walk(r))).sort();

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    if (d.isDirectory()) return d.name === "node_modules" || d.name === "fixtures" ? [] : walk(p);
    return /\.test\.(ts|mjs|js)$/.test(d.name) ? [p] : [];
  });
}

const args = ["--no-node-snapshot", "--import", "tsx", "--import", "./src/testing/register.mjs", "--test", "--test-concurrency=2", ...files];
const r = spawnSync(process.execPath, args, { stdio: "inherit", env: { ...process.env, NODE_ENV: "test" } });
process.exit(r.status ?? 1);
