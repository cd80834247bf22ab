import { isReserved, isValidEventType } from "../events/event-types.ts";
import type { CallScope } from "./call-scope.ts";
import { CapabilityError, InvalidArgument } from "./capability-error.ts";

/**
 * ctx.emit(type, data): publishes a tenant event from plugin code. System prefixes are the
 * platform's and the host's; chains deeper than the cap (a plugin reacting to its own event)
 * and floods from one call are cut and reported in the plugin's log, and so is whatever goes
 * past the tenant's emit rate or the chain's EVENT_TREE_MAX (scope.emit.budget).
 */
export async function emit(scope: CallScope, args: unknown[]): Promise<{ id: string; hooks: number }> {
  const [type, data] = args;
  if (!isValidEventType(type)) throw new InvalidArgument("emit", "type must look like \"noun.verb\" (lower-case, dotted)");
  if (isReserved(type)) {
    throw new CapabilityError(`ctx.emit("${type}") refused: "${type.split(".")[0]}." events are raised by the platform only`, "reserved_event", "ReservedEvent");
  }
  const e = scope.emit;
  if (e.count >= e.maxPerCall) {
    scope.log("warn", `emit limit reached: more than ${e.maxPerCall} emits in one call`, { type });
    throw new CapabilityError(`ctx.emit refused: at most ${e.maxPerCall} emits per call`, "emit_limit", "EmitLimit");
  }
  if (e.depth > e.maxDepth) {
    scope.log("warn", `emit loop cut: "${type}" would be ${e.depth} emits deep (limit ${e.maxDepth})`, { type, depth: e.depth });
    throw new CapabilityError(`ctx.emit refused: the chain of emits is deeper than ${e.maxDepth}`, "emit_loop", "EmitLimit");
  }
  // The slot is taken before the await: emits fired in parallel must not all pass the check.
  e.count++;
  try {
    await e.budget?.();
  } catch (err) {
    e.count--;
    throw err;
  }
  const published = await e.publish(type, data ?? {}, e.depth);
  return { id: published.event.id, hooks: published.hookRuns.length };
}
