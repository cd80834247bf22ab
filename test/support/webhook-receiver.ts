import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

// A webhook receiver on 127.0.0.1 for delivery tests: records every request and answers from a
// per-path script (then 200). It stands in for a tenant's endpoint, which lies beyond the machine.

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/** A status, or a full answer; `hang` never answers (until the receiver closes). */
export type Reply = number | { status?: number; headers?: Record<string, string>; body?: string; hang?: boolean };

export interface Receiver {
  /** http://127.0.0.1:<port> */
  url: string;
  received(path?: string): Received[];
  /** Answers the next requests to `path` with these replies, in order; afterwards 200. */
  script(path: string, ...replies: Reply[]): void;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const log: Received[] = [];
  const scripts = new Map<string, Reply[]>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = req.url ?? "/";
      log.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString("utf8"), at: Date.now() });
      const reply = scripts.get(path)?.shift() ?? 200;
      const r = typeof reply === "number" ? { status: reply } : reply;
      if (r.hang) return;
      res.writeHead(r.status ?? 200, { "content-type": "text/plain", ...r.headers });
      res.end(r.body ?? `answered ${r.status ?? 200}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received: (path) => log.filter((r) => path === undefined || r.path === path),
    script: (path, ...replies) => scripts.set(path, [...(scripts.get(path) ?? []), ...replies]),
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
