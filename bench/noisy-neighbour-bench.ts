// Noisy neighbour: tenant B's /ext p50 while tenant A runs an event storm (a hook that emits ten
// of its own event per call, fed a new root event twice a second) and a timeout storm (two
// loops calling a route that spins to its 100 ms timeout), as a ratio to B's idle p50.
import path from "node:path";
import { LoadTarget, summarize, type LoadResult } from "./load.ts";
import { zipDirectory } from "../test/support/zip-builder.ts";
import { ROOT, cliToken, freePort, startServer, tempDataDir, uploadPlugin } from "./servers.ts";

export interface NoisyNeighbourResult {
  idle: LoadResult;
  storm: LoadResult;
  /** storm p50 ÷ idle p50 (goal ≤ 2.0). */
  ratio: number;
  /** What tenant A got meanwhile: answers by status, and events stored for it. */
  noisy: { spinAnswers: Record<string, number>; rootEvents: number; refused: Record<string, number> };
}

// Two loops: a timeout storm, not an HTTP flood. With four, tenant A's paused calls (cheap 503s)
// alone keep both CPUs of this machine busy, and what is measured is HTTP contention on the host.
const SPIN_LOOPS = 2;
const FIXTURES = path.join(ROOT, "test/fixtures/plugins");
const PATH = "/ext/hello/ping";

export async function noisyNeighbourBench(idleMs: number, stormMs: number, env: Record<string, string> = {}): Promise<NoisyNeighbourResult> {
  const data = tempDataDir();
  const platformToken = await cliToken(data.dir, "", "platform_admin");
  const server = await startServer("platform", "src/main.ts", await freePort(), { DATA_DIR: data.dir, LOG_LEVEL: "warn", HOST: "127.0.0.1", SANDBOX_PROCESSES: "2",
    // B's pings measure latency, not the route limit (B's ~1,000 calls a second would pass the
    // default 6,000 a minute); A's storms keep every default budget.
    PLUGIN_RATE_LIMIT_CALLS: "1000000000", ...env });
  try {
    const created = await fetch(`${server.origin}/api/tenants`, {
      method: "POST",
      headers: { authorization: `Bearer ${platformToken}`, "content-type": "application/json" },
      body: JSON.stringify({ slug: "noisy", name: "Noisy" }),
    });
    if (created.status !== 201) throw new Error(`creating tenant noisy: HTTP ${created.status} ${await created.text()}`);
    const quiet = await cliToken(data.dir, "demo", "admin");
    const noisy = await cliToken(data.dir, "noisy", "admin");
    await uploadPlugin(server.origin, quiet, zipDirectory(path.join(ROOT, "plugins-examples/hello")));
    await uploadPlugin(server.origin, noisy, zipDirectory(path.join(FIXTURES, "hostile-event-storm")));
    await uploadPlugin(server.origin, noisy, zipDirectory(path.join(FIXTURES, "hostile-timeout-storm")));

    const target = new LoadTarget({ origin: server.origin, path: PATH, headers: { authorization: `Bearer ${quiet}` }, concurrency: 1 });
    await target.run(1000);
    const idle = summarize(1, [await target.run(idleMs)]);

    const noisyHeaders = { authorization: `Bearer ${noisy}` };
    const spinAnswers: Record<string, number> = {};
    let rootEvents = 0;
    let stop = false;
    const spinLoop = async () => {
      while (!stop) {
        const res = await fetch(`${server.origin}/ext/hostile-timeout-storm/spin`, { headers: noisyHeaders });
        await res.arrayBuffer();
        spinAnswers[res.status] = (spinAnswers[res.status] ?? 0) + 1;
      }
    };
    const eventLoop = async () => {
      while (!stop) {
        const res = await fetch(`${server.origin}/api/events`, {
          method: "POST",
          headers: { ...noisyHeaders, "content-type": "application/json" },
          body: JSON.stringify({ type: "storm.tick", data: { n: 0 } }),
        });
        await res.arrayBuffer();
        if (res.status === 202) rootEvents++;
        await new Promise((r) => setTimeout(r, 500));
      }
    };
    const loops = [eventLoop(), ...Array.from({ length: SPIN_LOOPS }, spinLoop)];
    // Let the storm build up before B is measured under it.
    await new Promise((r) => setTimeout(r, 1000));
    const storm = summarize(1, [await target.run(stormMs)]);
    stop = true;
    await Promise.all(loops);
    await target.close();
    const refused = await refusedCounts(server.origin);
    return { idle, storm, ratio: storm.latencyMs.p50 / idle.latencyMs.p50, noisy: { spinAnswers, rootEvents, refused } };
  } finally {
    await server.stop();
    data.remove();
  }
}

// What the platform refused tenant A, from its own /metrics.
async function refusedCounts(origin: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${origin}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const [, name, label, value] of text.matchAll(/^(sbh_emits_refused_total|sbh_sandbox_refused_paused|sbh_sandbox_retired|sbh_sandbox_restarts)(\{[^}]*\})? (\S+)$/gm)) {
    out[`${name}${label ?? ""}`] = Number(value);
  }
  return out;
}
