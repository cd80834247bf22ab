import type { Config } from "../config.ts";
import type { Problem } from "./problem.ts";

// Every sandbox process that runs a plugin parses and compiles all of its modules, under the
// deadline of the call that needed them; a huge module makes that call overrun and the watchdog
// kill a process other tenants share. So code is capped per module and in total, measured as the
// sandbox gets it: TypeScript after compiling.

const CODE_FILE = /\.(m?js|ts)$/;

/** One problem per module over `maxModuleBytes`, naming it, and one when all of them exceed `maxCodeBytes`. */
export function codeSizeProblems(files: Map<string, Buffer>, limits: Pick<Config["upload"], "maxModuleBytes" | "maxCodeBytes">): Problem[] {
  const problems: Problem[] = [];
  const modules: Array<[string, number]> = [];
  for (const [name, data] of files) {
    if (!CODE_FILE.test(name) || name.endsWith(".d.ts")) continue;
    modules.push([name, data.length]);
    if (data.length > limits.maxModuleBytes) {
      const compiled = name.endsWith(".ts") ? " once compiled" : "";
      problems.push({ path: name, message: `is ${size(data.length)}${compiled}; a module may be at most ${size(limits.maxModuleBytes)}` });
    }
  }
  const total = modules.reduce((sum, [, bytes]) => sum + bytes, 0);
  if (total > limits.maxCodeBytes) {
    const largest = modules
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([name, bytes]) => `${name} ${size(bytes)}`)
      .join(", ");
    problems.push({
      path: "package",
      message: `the modules total ${size(total)}; a plugin's code may be at most ${size(limits.maxCodeBytes)} (largest: ${largest})`,
    });
  }
  return problems;
}

// Bytes for people: exact below 1 KiB, else KiB or MiB with one decimal, never rounded down to the limit.
function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  const [value, unit] = bytes < 1024 * 1024 ? [bytes / 1024, "KiB"] : [bytes / (1024 * 1024), "MiB"];
  const shown = Math.ceil(value * 10) / 10;
  return `${Number.isInteger(shown) ? shown.toFixed(0) : shown.toFixed(1)} ${unit} (${bytes} bytes)`;
}
