import { AppError } from "../errors.ts";
import { requiredSecrets, type Manifest } from "../packaging/manifest-schema.ts";

/** What an install cannot run without and does not have: config keys and secret names. */
export interface MissingValues {
  config: string[];
  secrets: string[];
}

export const NOTHING_MISSING: MissingValues = Object.freeze({ config: [], secrets: [] }) as MissingValues;

/**
 * The required config fields with neither a value nor a default, and the required secrets not
 * set. Pure: the caller reads the secret names (only names: values never matter here).
 */
export function missingValues(manifest: Pick<Manifest, "configuration" | "required_secrets">, config: Record<string, unknown>, secretNames: Iterable<string>): MissingValues {
  const set = new Set(secretNames);
  const configKeys = Object.entries(manifest.configuration ?? {})
    .filter(([key, field]) => field.required && field.default === undefined && (config[key] === undefined || config[key] === null))
    .map(([key]) => key);
  return { config: configKeys, secrets: requiredSecrets(manifest).filter((n) => !set.has(n)) };
}

export function isMissingAny(missing: MissingValues): boolean {
  return missing.config.length > 0 || missing.secrets.length > 0;
}

/** "config base_url; secrets API_KEY", for messages and skip reasons. */
export function describeMissing(missing: MissingValues): string {
  const parts = [
    missing.config.length ? `config ${missing.config.join(", ")}` : "",
    missing.secrets.length ? `secrets ${missing.secrets.join(", ")}` : "",
  ].filter(Boolean);
  return parts.join("; ") || "nothing";
}

/** Why a hook, job or delivery of a needs_configuration install did not run. */
export function needsConfigurationReason(missing: MissingValues): string {
  return `the plugin needs configuration (missing ${describeMissing(missing)})`;
}

/** The 409 for calling, running or enabling an install that misses required values. */
export function needsConfigurationError(slug: string, missing: MissingValues): AppError {
  return new AppError(
    "plugin_needs_configuration",
    `Plugin "${slug}" needs configuration before it can run: missing ${describeMissing(missing)}. Set them with PUT /api/plugins/${slug}/config and PUT /api/plugins/${slug}/secrets/<name>`,
    { plugin: slug, missing },
  );
}
