/** What a capability knows about the call it serves; built by the invoker, never by plugin code. */
export interface CallScope {
  tenantId: string;
  tenantSlug: string;
  installId: string;
  pluginSlug: string;
  permissions: ReadonlySet<string>;
  secrets: { get(installId: string, name: string): Promise<string | undefined> };
  /** Writes to the plugin's log (denials are logged there, so the author sees them). */
  log(level: "debug" | "info" | "warn" | "error", message: string, fields?: unknown): void;
  count(method: string, outcome: "ok" | "denied" | "error"): void;
}
