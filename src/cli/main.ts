import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { loadConfig, type Config } from "../config.ts";
import { PLUGIN_USAGE, pluginCommand } from "./plugin-command.ts";
import { TOKEN_USAGE, tokenCommand } from "./token-command.ts";

/** What a command may touch; passed in so tests can run commands without a process. */
export interface CliIo {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
  loadConfig: () => Config;
}

/** A subcommand: gets the arguments after its name, returns the exit code. */
export type CliCommand = (args: string[], io: CliIo) => Promise<number>;

// Each command lives in its own file; adding one is one entry here.
const COMMANDS: Record<string, { run: CliCommand; usage: string }> = {
  token: { run: tokenCommand, usage: TOKEN_USAGE },
  plugin: { run: pluginCommand, usage: PLUGIN_USAGE },
};

function usage(): string {
  return Object.values(COMMANDS)
    .map((c) => c.usage)
    .join("\n");
}

/** Dispatches `argv` (without node and the script) to a command; returns the exit code. */
export async function main(argv: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === "--help" || name === "-h" || name === "help") {
    io.stdout.write(`${usage()}\n`);
    return 0;
  }
  const command = name === undefined ? undefined : Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    io.stderr.write(`error: ${name === undefined ? "no command given" : `unknown command "${name}"`}\n${usage()}\n`);
    return 2;
  }
  return command.run(rest, io);
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  // exitCode rather than exit(): stdout is flushed before the process ends, even when piped.
  process.exitCode = await main(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    loadConfig: () => loadConfig(),
  });
}
