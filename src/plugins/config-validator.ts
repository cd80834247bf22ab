import { AppError } from "../errors.ts";
import { configValueProblem } from "../packaging/config-field.ts";
import type { Manifest } from "../packaging/manifest-schema.ts";
import type { Problem } from "../packaging/problem.ts";

/**
 * Checks a tenant's config against the manifest's `configuration` and returns the values to
 * store. Unknown keys, wrong types and missing required keys are all reported at once.
 */
export function validateConfig(manifest: Manifest, input: unknown): Record<string, unknown> {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new AppError("invalid_config", "Config must be a JSON object", [{ path: "", message: "must be an object" }]);
  }
  const schema = manifest.configuration;
  const values = input as Record<string, unknown>;
  const problems: Problem[] = [];
  for (const [key, value] of Object.entries(values)) {
    const field = schema[key];
    if (!field) {
      problems.push({ path: key, message: `unknown key; the manifest declares: ${Object.keys(schema).join(", ") || "nothing"}` });
      continue;
    }
    if (value === null) continue; // null clears a value back to its default
    const why = configValueProblem(field, value);
    if (why) problems.push({ path: key, message: why });
  }
  for (const [key, field] of Object.entries(schema)) {
    if (field.required && field.default === undefined && (values[key] === undefined || values[key] === null)) {
      problems.push({ path: key, message: "is required" });
    }
  }
  if (problems.length) throw new AppError("invalid_config", "The configuration does not match the manifest", problems);
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== null));
}
