import { pino, type Logger } from "pino";

export type { Logger };

/** JSON logs on stdout; secrets and tokens are redacted wherever they appear in fields. */
export function createLogger(level: string, name = "sbh"): Logger {
  return pino({
    name,
    level,
    redact: {
      paths: ["req.headers.authorization", "*.authorization", "*.password", "*.value", "*.secret", "*.token"],
      censor: "[redacted]",
    },
  });
}
