import type { Manifest } from "../packaging/manifest-schema.ts";
import type { CapabilityDeps } from "./capability-deps.ts";
import type { Permission } from "./ctx-members.ts";

/** What a capability knows about the call it serves; built by the invoker, never by plugin code. */
export interface CallScope {
  tenantId: string;
  tenantSlug: string;
  installId: string;
  pluginSlug: string;
  permissions: ReadonlySet<Permission>;
  /** The install's current manifest: http_allowlist, resources (max_disk_mb), collections. */
  manifest: Manifest;
  /** Host services (database, files, egress agent, LLM and mail settings, usage counters). */
  deps: CapabilityDeps;
  secrets: { get(installId: string, name: string): Promise<string | undefined> };
  /** The non-code files of the version this call runs (ctx.assets), by package path. */
  assets(): Promise<ReadonlyMap<string, Buffer>>;
  /**
   * Aborted once the call has ended (answered, failed or timed out): work the call queued and
   * has not begun must not run on for a caller that has its answer.
   */
  ended: { readonly aborted: boolean };
  /** Writes to the plugin's log (denials are logged there, so the author sees them). */
  log(level: "debug" | "info" | "warn" | "error", message: string, fields?: unknown): void;
  /** Counts one ctx call per tenant/install (usage_counters: `ctx.<method>:<outcome>`). */
  count(method: string, outcome: "ok" | "denied" | "error"): void;
  emit: {
    /** Depth the emitted event gets: 0 from routes/jobs, the triggering event's + 1 from hooks. */
    depth: number;
    maxDepth: number;
    maxPerCall: number;
    /** Emits made so far by this call. */
    count: number;
    /**
     * Takes one emit from the tenant's and the chain's budget (EventBudget); throws the refusal
     * the plugin sees. Absent where no budget applies (the author test kit).
     */
    budget?: () => Promise<void>;
    publish(type: string, data: unknown, depth: number): Promise<{ event: { id: string }; hookRuns: unknown[] }>;
  };
}
