import type { Logger } from "../logger.ts";
import type { ActiveInstall } from "./active-install.ts";
import type { Invoker } from "./invoker.ts";

export type LifecycleName = "onInstall" | "onUpgrade" | "onEnable" | "onDisable" | "onUninstall";

/**
 * Runs a lifecycle handler if the plugin registered one. Returns the failure message, or null
 * when it succeeded or there was nothing to run; callers decide what a failure means.
 */
export async function runLifecycle(invoker: Invoker, logger: Logger, install: ActiveInstall, name: LifecycleName, arg?: unknown): Promise<string | null> {
  if (!install.version.registered.lifecycle.includes(name)) return null;
  try {
    await invoker.invoke(install, { kind: "lifecycle", name, args: arg === undefined ? [] : [arg] });
    return null;
  } catch (err) {
    const record = (err as { record?: { name: string; message: string } }).record;
    const message = record ? `${name} failed: ${record.name}: ${record.message}` : `${name} failed: ${err instanceof Error ? err.message : String(err)}`;
    logger.info({ plugin: install.slug, install: install.id, lifecycle: name }, message);
    return message;
  }
}
