import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

/** Where the gauges read their values when Prometheus scrapes (no polling in between). */
export interface MetricSources {
  sandbox(): { processes: number; restarts: number; retired: number; isolates: number; evicted: number; paused: number; busy: number };
  queueDepth(): Promise<number>;
}

const SECONDS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * The process's Prometheus metrics (prom-client), served at /metrics. Counters are bumped where
 * things happen; gauges are read from their sources at scrape time.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly httpRequests: Counter<"method" | "route" | "status">;
  readonly httpDuration: Histogram<"method" | "route">;
  readonly invocations: Counter<"kind" | "status">;
  readonly invocationDuration: Histogram<"kind">;
  readonly capabilityCalls: Counter<"method" | "outcome">;
  readonly deliveries: Counter<"outcome">;
  readonly retentionPruned: Counter<"kind">;
  readonly emitsRefused: Counter<"reason">;
  readonly eventsRefused: Counter;

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: "sbh_" });
    this.httpRequests = new Counter({ name: "sbh_http_requests_total", help: "HTTP requests answered, by route pattern and status", labelNames: ["method", "route", "status"], registers });
    this.httpDuration = new Histogram({ name: "sbh_http_request_duration_seconds", help: "HTTP request duration by route pattern", labelNames: ["method", "route"], buckets: SECONDS, registers });
    this.invocations = new Counter({ name: "sbh_plugin_invocations_total", help: "Calls into plugin code by kind (route, hook, job, lifecycle, transform…) and outcome", labelNames: ["kind", "status"], registers });
    this.invocationDuration = new Histogram({ name: "sbh_plugin_invocation_duration_seconds", help: "Duration of calls into plugin code", labelNames: ["kind"], buckets: SECONDS, registers });
    this.capabilityCalls = new Counter({ name: "sbh_capability_calls_total", help: "ctx calls by method and outcome (ok, denied, error)", labelNames: ["method", "outcome"], registers });
    this.deliveries = new Counter({ name: "sbh_webhook_delivery_attempts_total", help: "Webhook delivery outcomes: delivered, retry, failed, skipped", labelNames: ["outcome"], registers });
    this.retentionPruned = new Counter({ name: "sbh_retention_pruned_rows_total", help: "Rows the retention sweep deleted, by kind (table)", labelNames: ["kind"], registers });
    this.emitsRefused = new Counter({ name: "sbh_emits_refused_total", help: "Plugin emits refused: the tenant's emit rate (rate) or the chain's EVENT_TREE_MAX (tree)", labelNames: ["reason"], registers });
    this.eventsRefused = new Counter({ name: "sbh_host_events_refused_total", help: "POST /api/events refused by the tenant's TENANT_EVENT_RATE (429)", registers });
    const sandboxGauge = (name: string, help: string, pick: (s: ReturnType<MetricSources["sandbox"]>) => number) =>
      new Gauge({ name, help, registers, collect() { this.set(pick(sources.sandbox())); } });
    sandboxGauge("sbh_sandbox_processes", "Sandbox child processes", (s) => s.processes);
    sandboxGauge("sbh_sandbox_restarts", "Sandbox processes restarted after dying or being killed (since start)", (s) => s.restarts);
    sandboxGauge("sbh_sandbox_retired", "Sandbox processes retired because a timed-out isolate did not stop (since start)", (s) => s.retired);
    sandboxGauge("sbh_sandbox_refused_paused", "Calls refused because their install was paused after repeated timeouts (since start)", (s) => s.paused);
    sandboxGauge("sbh_sandbox_refused_busy", "Calls refused because their install had too many calls in flight (since start)", (s) => s.busy);
    sandboxGauge("sbh_isolates", "Warm plugin isolates", (s) => s.isolates);
    sandboxGauge("sbh_isolate_evictions", "Isolates disposed for idleness or pool size (since start)", (s) => s.evicted);
    new Gauge({
      name: "sbh_queue_depth",
      help: "Background work queued or running (hook runs, job runs, deliveries)",
      registers,
      async collect() {
        this.set(await sources.queueDepth().catch(() => -1));
      },
    });
  }
}
