import path from "node:path";

// Names inside a package are posix, relative and canonical, so one file has exactly one name:
// that is what makes duplicate detection and import resolution trustworthy.

/** Why `name` is not a clean relative package path (empty when it is). A trailing `/` is allowed. */
export function pathProblems(name: string): string[] {
  if (name === "") return ["the name is empty"];
  const reasons: string[] = [];
  if (name.includes("\0")) reasons.push("the name contains a NUL byte");
  if (name.includes("\\")) reasons.push("the name contains a backslash; use / as the separator");
  let rest = name;
  if (name.startsWith("/")) {
    reasons.push("the name is an absolute path");
    rest = name.replace(/^\/+/, "");
  } else if (/^[A-Za-z]:/.test(name)) {
    reasons.push("the name is an absolute Windows path");
    rest = name.slice(2).replace(/^[\\/]+/, "");
  }
  // Split on both separators so "..\\x" is caught as the zip slip it would be on Windows.
  const segments = rest.split(/[\\/]/);
  if (segments.length > 1 && segments.at(-1) === "") segments.pop();
  if (segments.includes("..")) reasons.push('the name has a ".." segment and would escape the package');
  if (segments.includes(".")) reasons.push('the name has a "." segment');
  if (rest !== "" && segments.includes("")) reasons.push("the name has an empty segment (//)");
  return reasons;
}

/** True for a clean relative path to a file (not a folder) inside the package. */
export function isPackageFilePath(name: string): boolean {
  return !name.endsWith("/") && pathProblems(name).length === 0;
}

/** Resolves `./x.js`/`../x.js` against the importing file; undefined when it leaves the package. */
export function resolveRelative(fromFile: string, specifier: string): string | undefined {
  const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(fromFile), specifier));
  return resolved === ".." || resolved.startsWith("../") || resolved.startsWith("/") ? undefined : resolved;
}
