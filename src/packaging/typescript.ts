import { transformSync, type Message } from "esbuild";
import type { Problem } from "./problem.ts";

/** A module the platform compiles before loading: `.ts`, but not declarations (`.d.ts`). */
export function isTypeScript(file: string): boolean {
  return file.endsWith(".ts") && !file.endsWith(".d.ts");
}

/**
 * The package with every TypeScript module compiled to JavaScript under its own name (imports
 * keep naming `./x.ts`), and a problem with file:line for each one that does not compile.
 * Types are erased, not checked: type errors are the author's editor's business.
 */
export function compileTypeScript(files: Map<string, Buffer>): { files: Map<string, Buffer>; problems: Problem[] } {
  const out = new Map(files);
  const problems: Problem[] = [];
  for (const [name, data] of files) {
    if (!isTypeScript(name)) continue;
    try {
      const { code } = transformSync(data.toString("utf8"), { loader: "ts", format: "esm", target: "es2022", sourcefile: name });
      out.set(name, Buffer.from(code));
    } catch (err) {
      const errors = ((err as { errors?: Message[] }).errors ?? []).slice(0, 5);
      if (errors.length === 0) problems.push({ path: name, message: `does not compile: ${(err as Error).message}` });
      for (const e of errors) problems.push({ path: `${name}:${e.location?.line ?? 1}`, message: `TypeScript: ${e.text}` });
    }
  }
  return { files: out, problems };
}
