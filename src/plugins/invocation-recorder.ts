import type { PrismaClient } from "../generated/prisma/client.ts";
import type { Logger } from "../logger.ts";
import type { LogLine } from "../sandbox/protocol.ts";

export interface InvocationRecord {
  id: string;
  tenantId: string;
  installId: string;
  kind: string;
  name: string;
  status: "ok" | "error" | "timeout" | "out_of_memory" | "crashed";
  durationMs: number;
  error: string | null;
  createdAt: Date;
}

/**
 * Writes invocation rows and plugin log lines in batches, off the request path: a route call
 * must not wait for its own bookkeeping. `flush()` drains everything (shutdown, tests).
 */
export class InvocationRecorder {
  private invocations: InvocationRecord[] = [];
  private logs: { installId: string; invocationId: string | null; line: LogLine }[] = [];
  private timer?: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly prisma: PrismaClient,
    private readonly logger: Logger,
    private readonly intervalMs = 200,
  ) {}

  record(invocation: InvocationRecord, lines: LogLine[]): void {
    this.invocations.push(invocation);
    for (const line of lines) this.logs.push({ installId: invocation.installId, invocationId: invocation.id, line });
    this.schedule();
  }

  /** A plugin log line outside any invocation (e.g. a denial noticed by the host). */
  log(installId: string, line: LogLine): void {
    this.logs.push({ installId, invocationId: null, line });
    this.schedule();
  }

  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.flushing = this.flushing.then(() => this.write());
    return this.flushing;
  }

  private schedule(): void {
    if (this.invocations.length + this.logs.length > 1000) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.intervalMs);
  }

  private async write(): Promise<void> {
    const invocations = this.invocations;
    const logs = this.logs;
    this.invocations = [];
    this.logs = [];
    if (!invocations.length && !logs.length) return;
    const logRows = logs.map((l) => ({
      install_id: l.installId,
      invocation_id: l.invocationId,
      level: l.line.level,
      message: l.line.message,
      fields: l.line.fields ?? null,
      created_at: l.line.at,
    }));
    const invocationRows = invocations.map((i) => ({
      id: i.id,
      tenant_id: i.tenantId,
      install_id: i.installId,
      kind: i.kind,
      name: i.name,
      status: i.status,
      duration_ms: i.durationMs,
      error: i.error,
      created_at: i.createdAt.toISOString(),
    }));
    try {
      await this.insert(invocationRows, logRows);
    } catch (err) {
      // Typically an install uninstalled meanwhile (foreign key): keep what still has an owner.
      this.logger.warn({ err }, "batched invocation write failed; retrying row by row");
      for (const row of invocationRows) await this.insert([row], []).catch(() => undefined);
      for (const row of logRows) await this.insert([], [row]).catch(() => undefined);
    }
  }

  // One statement per table and batch: Prisma's createMany costs ~1 ms a row on PGlite, which
  // stalls the event loop that serves routes; json_to_recordset inserts 100 rows in a few ms.
  private async insert(invocations: object[], logs: object[]): Promise<void> {
    if (invocations.length) {
      await this.prisma.$executeRawUnsafe(
        `INSERT INTO invocations (id, tenant_id, install_id, kind, name, status, duration_ms, error, created_at)
         SELECT id, tenant_id, install_id, kind, name, status, duration_ms, error, created_at
         FROM json_to_recordset($1::json) AS x(id uuid, tenant_id uuid, install_id uuid, kind text, name text,
              status text, duration_ms int, error text, created_at timestamptz)
         ON CONFLICT (id) DO NOTHING`,
        toJson(invocations),
      );
    }
    if (logs.length) {
      await this.prisma.$executeRawUnsafe(
        `INSERT INTO plugin_logs (install_id, invocation_id, level, message, fields, created_at)
         SELECT install_id, invocation_id, level, message, fields, created_at
         FROM json_to_recordset($1::json) AS x(install_id uuid, invocation_id uuid, level text, message text,
              fields jsonb, created_at timestamptz)`,
        toJson(logs),
      );
    }
  }
}

// Postgres text and jsonb cannot hold NUL; a plugin can log one, so it is replaced, not fatal.
function toJson(rows: object[]): string {
  return JSON.stringify(rows, (_k, v) => (typeof v === "string" && v.includes("\0") ? v.replaceAll("\0", "\uFFFD") : v));
}
