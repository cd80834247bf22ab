import { existsSync, mkdirSync } from "node:fs";
import type { TestContext } from "node:test";
import { chromium, type Browser } from "playwright-core";

// Headless Chromium for the admin UI's end-to-end tests: Debian's package, driven by
// playwright-core (which never downloads a browser of its own). Like Postgres and Redis, a
// missing browser skips loudly, and fails under REQUIRE_SERVICES=1 (.ci/run installs it).

export function chromiumPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.CHROMIUM_PATH || "/usr/bin/chromium";
}

// Without the background-networking flags Chromium keeps trying to reach Google's hosts, which
// this machine's closed network refuses, many connections at a time.
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
  "--no-first-run",
];

/** A launched browser (closed by the caller), or undefined when the test was skipped. */
export async function launchBrowserOrSkip(t: TestContext): Promise<Browser | undefined> {
  const executablePath = chromiumPath();
  if (!existsSync(executablePath)) {
    const reason = `Chromium not found at ${executablePath} (apt-get install chromium, or set CHROMIUM_PATH)`;
    if (process.env.REQUIRE_SERVICES === "1") throw new Error(`${reason}; it is REQUIRED (REQUIRE_SERVICES=1)`);
    process.stderr.write(`\n!!! SKIPPED: ${reason}; the browser tests did NOT run\n\n`);
    t.skip(reason);
    return undefined;
  }
  return chromium.launch({ executablePath, args: FLAGS, headless: true });
}

/**
 * Where screenshots go: SCREENSHOTS_DIR (`npm run screenshots` sets docs/screenshots), else a
 * scratch folder, so a plain test run never rewrites the committed pictures.
 */
export function screenshotsDir(scratch: string): string {
  const dir = process.env.SCREENSHOTS_DIR || scratch;
  mkdirSync(dir, { recursive: true });
  return dir;
}
