import type { Dispatcher } from "undici";
import type { PlatformLimits } from "../config.ts";
import type { SqlExec } from "../db/database.ts";
import type { FileStore } from "../files/file-store.ts";
import type { PrismaClient } from "../generated/prisma/client.ts";
import type { UsageCounter } from "../plugins/usage-counter.ts";

/** The host services ctx capabilities work with; built once per process (services.ts). */
export interface CapabilityDeps {
  sql: SqlExec;
  prisma: PrismaClient;
  files: FileStore;
  usage: UsageCounter;
  http: {
    /** The egress-guarded agent (net/egress-guard.ts): only public addresses unless allowPrivate. */
    dispatcher: Dispatcher;
    allowPrivate: boolean;
    timeoutMs: number;
    maxResponseBytes: number;
  };
  llm: { baseUrl?: string; apiKey?: string; model?: string; timeoutMs: number };
  email: { smtpUrl?: string; from: string };
  db: { maxDocumentBytes: number; maxQueryLimit: number };
  /** The platform maxima: quotas fall back to them for manifests stored before a limit existed. */
  limits: PlatformLimits;
}
