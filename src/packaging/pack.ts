import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import AdmZip from "adm-zip";

// What stays out of a package: the author's tooling and tests, which the platform never runs.
const IGNORED_NAMES = new Set(["node_modules", ".git", "test", "tests", "package.json", "package-lock.json", "tsconfig.json", "jsconfig.json"]);
const IGNORED_FILE = /(^\.|\.test\.[cm]?[jt]s$|\.spec\.[cm]?[jt]s$|\.zip$)/;
// A fixed time for every entry, so the same files always make the same bytes.
const FIXED_TIME = new Date(Date.UTC(2020, 0, 1, 0, 0, 0));

/** Whether a package path is the author's tooling (tests, node_modules, dot files, configs). */
export function isAuthorTooling(packagePath: string): boolean {
  const segments = packagePath.split("/");
  const file = segments[segments.length - 1];
  return segments.some((seg) => IGNORED_NAMES.has(seg) || seg.startsWith(".")) || IGNORED_FILE.test(file);
}

/**
 * The files the platform uses: a ZIP made by hand from the whole folder (tests and all) is
 * accepted and means the same as `plugin pack` of it.
 */
export function withoutAuthorTooling(files: Map<string, Buffer>): Map<string, Buffer> {
  return new Map([...files].filter(([name]) => name === "plugin.json" || !isAuthorTooling(name)));
}

/** A plugin folder's files as the package will hold them: POSIX paths, sorted, tooling left out. */
export function collectPluginFiles(dir: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  const walk = (rel: string) => {
    for (const name of readdirSync(path.join(dir, rel)).sort()) {
      if (IGNORED_NAMES.has(name) || IGNORED_FILE.test(name)) continue;
      const relName = rel ? `${rel}/${name}` : name;
      const full = path.join(dir, relName);
      const stat = statSync(full);
      if (stat.isDirectory()) walk(relName);
      else if (stat.isFile()) files.set(relName, readFileSync(full));
    }
  };
  walk("");
  return files;
}

/** A reproducible ZIP of a plugin folder: same files → same bytes (sorted entries, fixed times). */
export function packFiles(files: Map<string, Buffer>): Buffer {
  const zip = new AdmZip();
  for (const name of [...files.keys()].sort()) {
    zip.addFile(name, files.get(name)!, "", 0o100644 << 16);
    zip.getEntry(name)!.header.time = FIXED_TIME;
  }
  return zip.toBuffer();
}
