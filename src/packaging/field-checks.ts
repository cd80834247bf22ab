// Single-value checks used by the manifest schema.

const HOSTNAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** Why an `http_allowlist` entry is not a lowercase hostname or `*.domain` wildcard. */
export function hostPatternProblem(pattern: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(pattern)) return "must be a hostname without a scheme (drop the https://)";
  if (pattern.includes("/")) return "must be a hostname without a path";
  if (/:\d*$/.test(pattern)) return "must be a hostname without a port";
  if (pattern !== pattern.toLowerCase()) return "must be lowercase";
  const wildcard = pattern.startsWith("*.");
  const host = wildcard ? pattern.slice(2) : pattern;
  if (wildcard && !host.includes(".")) return `"${pattern}" is too broad; name a domain, like *.example.com`;
  if (!HOSTNAME.test(host)) return "must be a hostname like api.example.com or a wildcard like *.example.com";
  return undefined;
}

export function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "";
  } catch {
    return false;
  }
}

/** True for a zone this runtime's Intl knows, which is what the scheduler will use. */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
