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
      installId: l.installId,
      invocationId: l.invocationId,
      level: l.line.level,
      message: l.line.message,
      fields: (l.line.fields ?? undefined) as object | undefined,
      createdAt: new Date(l.line.at),
    }));
    try {
      if (invocations.length) await this.prisma.invocation.createMany({ data: invocations });
      if (logRows.length) await this.prisma.pluginLog.createMany({ data: logRows });
    } catch (err) {
      // Typically an install uninstalled meanwhile (foreign key): keep what still has an owner.
      this.logger.warn({ err }, "batched invocation write failed; retrying row by row");
      for (const data of invocations) await this.prisma.invocation.create({ data }).catch(() => undefined);
      for (const data of logRows) await this.prisma.pluginLog.create({ data }).catch(() => undefined);
    }
  }
}
