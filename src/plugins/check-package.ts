import type { Config } from "../config.ts";
import type { Problem } from "../packaging/problem.ts";
import type { Registered } from "../packaging/registered.ts";
import { compareRegistrations, validatePackage, type ValidatedPackage } from "../packaging/validate-package.ts";
import type { SandboxPool } from "../sandbox/sandbox-pool.ts";
import { inspectPackage } from "./plugin-inspector.ts";

/**
 * The checks an upload makes that need no database: the archive and manifest (throws
 * `invalid_plugin` with every problem), then the code loaded in a sandbox and what it registers
 * compared with the manifest (returned as problems, so the caller can add its own).
 */
export async function checkPackage(
  sandbox: SandboxPool,
  bundle: Buffer,
  opts: Pick<Config, "upload" | "limits">,
): Promise<{ pkg: ValidatedPackage; registered: Registered; problems: Problem[] }> {
  const pkg = validatePackage(bundle, opts);
  const registered = await inspectPackage(sandbox, pkg.manifest, pkg.files, pkg.sha256, pkg.webhooks);
  return { pkg, registered, problems: compareRegistrations(pkg.manifest, registered, pkg.webhooks) };
}
