// Module resolution hook (see register.mjs): "@sbh/sdk/testing" is the platform's test kit.
const TESTING = new URL("./index.ts", import.meta.url).href;

export async function resolve(specifier, context, next) {
  // Handed on (not short-circuited) so the TypeScript loader still sees and compiles the file.
  if (specifier === "@sbh/sdk/testing") return next(TESTING, context);
  return next(specifier, context);
}
