import type { Dispatcher } from "undici";
import type { Executor } from "../execution/executor.ts";
import { workKey } from "../execution/executor.ts";
import type { Logger } from "../logger.ts";
import type { ActiveInstall } from "../plugins/active-install.ts";
import type { InstallRepository } from "../plugins/install-repository.ts";
import { needsConfigurationReason } from "../plugins/missing-values.ts";
import type { Invoker } from "../plugins/invoker.ts";
import type { SecretStore } from "../plugins/secret-store.ts";
import type { ClaimedDelivery, DeliveryOutcome, DeliveryStore } from "./delivery-store.ts";
import { retryDelayMs } from "./retry-policy.ts";
import { signWebhook } from "./signature.ts";
import { DeliveryConfigError, resolveDelivery } from "./template.ts";
import { sendWebhook, type AttemptResult } from "./webhook-sender.ts";

const MAX_PAYLOAD_BYTES = 1024 * 1024;
const SECRETS_TTL_MS = 1000;

export interface DeliveryRunnerDeps {
  store: DeliveryStore;
  installs: InstallRepository;
  invoker: Invoker;
  secrets: SecretStore;
  executor: Executor;
  logger: Logger;
  dispatcher: Dispatcher;
  /** Checks a resolved URL before connecting (scheme, credentials, IP literals); throws to refuse. */
  checkUrl: (url: string) => void;
  /** Recognises the egress guard's refusal among transport errors. */
  isRefusal: (err: unknown) => Error | undefined;
  timeoutMs: number;
  retryBaseMs: number;
  /** Told each outcome: delivered, retry, failed or skipped (Prometheus). */
  onOutcome?: (outcome: "delivered" | "retry" | "failed" | "skipped") => void;
}

/**
 * One attempt of one webhook delivery: transform (first attempt only; the body is then fixed),
 * fill placeholders, sign, POST. 2xx delivers; 410 stops; anything else is retried with backoff
 * (or after the receiver's Retry-After) until `max_attempts`, then the delivery is failed and
 * can be replayed through the API. Safe to run twice: only the holder of the claim sends.
 */
export class DeliveryRunner {
  private readonly secretCache = new Map<string, { at: number; value: Promise<Map<string, string>> }>();

  constructor(private readonly deps: DeliveryRunnerDeps) {}

  /** `preclaimed`: the claim the publish wrote (embedded engine), used while it has time left. */
  async run(id: string, preclaimed?: ClaimedDelivery): Promise<void> {
    const fresh = preclaimed && preclaimed.lockedUntil - Date.now() > this.deps.timeoutMs + 1000;
    const d = fresh ? preclaimed : await this.deps.store.claim(id);
    if (!d) return;
    const tenant = { id: d.tenantId, slug: d.tenantSlug };
    const install = await this.deps.installs.find(tenant, d.installId);
    const def = install?.version.webhooks.find((w) => w.name === d.webhook);
    const cannot = !install
      ? "the plugin was uninstalled"
      : install.status === "needs_configuration"
        ? `${needsConfigurationReason(install.missing)}; set them and retry the delivery`
        : install.status !== "enabled"
          ? `the plugin is ${install.status}; enable it and retry the delivery`
          : !def
            ? `version ${install.version.version} no longer defines webhook "${d.webhook}"`
            : null;
    if (cannot || !install || !def) {
      await this.end(d, { status: "failed", error: cannot });
      return;
    }
    const attempt = d.attempts + 1;
    const startedAt = new Date();

    let payload = d.payload;
    if (payload === null) {
      const built = await this.buildPayload(install, d, def.transform);
      if (built.skip) {
        await this.end(d, { status: "skipped", error: "the transform returned null: nothing to send" });
        return;
      }
      if (built.error !== undefined) {
        await this.afterAttempt(d, attempt, def.retry.backoff, null, { statusCode: null, error: built.error, response: null, durationMs: Date.now() - startedAt.getTime() }, startedAt, built.final ?? false);
        return;
      }
      payload = built.body!;
    }

    let result: AttemptResult;
    let final = false;
    try {
      const secrets = await this.secretsOf(install.id);
      const target = resolveDelivery(def, { secrets, tenantSlug: d.tenantSlug, eventType: d.eventType, pluginSlug: install.slug });
      this.deps.checkUrl(target.url);
      const timestampSeconds = Math.floor(Date.now() / 1000);
      result = await sendWebhook(
        this.deps.dispatcher,
        {
          url: target.url,
          id: d.id,
          timestampSeconds,
          signature: signWebhook(target.signingSecret, d.id, timestampSeconds, payload),
          headers: target.headers,
          body: payload,
        },
        { timeoutMs: this.deps.timeoutMs, isRefusal: this.deps.isRefusal },
      );
      final = result.refused === true;
    } catch (err) {
      // A missing secret, a refused URL: the definition or its secrets must change first.
      const refusal = this.deps.isRefusal(err);
      if (!(err instanceof DeliveryConfigError) && !refusal) throw err;
      result = { statusCode: null, error: (refusal ?? (err as Error)).message, response: null, durationMs: Date.now() - startedAt.getTime() };
      final = true;
    }
    await this.afterAttempt(d, attempt, def.retry.backoff, payload, result, startedAt, final);
  }

  // The event as hooks see it, or what the plugin's transform makes of it (in its sandbox).
  private async buildPayload(
    install: ActiveInstall,
    d: ClaimedDelivery,
    transform: { file: string; fn: string } | undefined,
  ): Promise<{ body?: string; skip?: boolean; error?: string; final?: boolean }> {
    // What a hook's `event` holds, without the platform's bookkeeping (source, depth).
    const plain = { id: d.eventId, type: d.eventType, tenant: d.tenantSlug, data: d.event.data, occurred_at: d.event.occurredAt.toISOString() };
    let value: unknown = plain;
    if (transform) {
      try {
        const result = await this.deps.invoker.invoke(install, {
          kind: "transform",
          name: `${transform.file}#${transform.fn}`,
          label: `webhook ${d.webhook}`,
          args: [plain],
        });
        value = result.value;
      } catch (err) {
        const record = (err as { record?: { name: string; message: string } }).record;
        return { error: `transform failed: ${record ? `${record.name}: ${record.message}` : (err as Error).message}` };
      }
      if (value === null || value === undefined) return { skip: true };
    }
    const body = JSON.stringify(value);
    if (Buffer.byteLength(body) > MAX_PAYLOAD_BYTES) {
      return { error: `the payload is larger than ${MAX_PAYLOAD_BYTES} bytes`, final: true };
    }
    return { body };
  }

  private async afterAttempt(
    d: ClaimedDelivery,
    attempt: number,
    backoff: "exponential" | "fixed",
    payload: string | null,
    r: AttemptResult,
    startedAt: Date,
    final: boolean,
  ): Promise<void> {
    const row = { number: attempt, startedAt, durationMs: r.durationMs, statusCode: r.statusCode, error: r.error, response: r.response };
    const ok = r.statusCode !== null && r.statusCode >= 200 && r.statusCode < 300;
    const gone = r.statusCode === 410;
    const error = ok ? null : (r.error ?? `the receiver answered ${r.statusCode}`) + (gone ? " (Gone): deliveries to it stop" : "");
    const base = { id: d.id, attempts: attempt, payload, lastStatusCode: r.statusCode, error, attempt: row };
    if (ok || gone || final || attempt >= d.maxAttempts) {
      await this.deps.store.finish({ ...base, status: ok ? "delivered" : "failed", nextAttemptAt: null });
      this.deps.onOutcome?.(ok ? "delivered" : "failed");
      return;
    }
    this.deps.onOutcome?.("retry");
    const delayMs = r.retryAfterMs ?? retryDelayMs(backoff, this.deps.retryBaseMs, attempt);
    await this.deps.store.finish({ ...base, status: "pending", nextAttemptAt: new Date(Date.now() + delayMs) });
    const item = { kind: "delivery" as const, id: d.id };
    await this.deps.executor.enqueue(item, { delayMs, dedupeKey: workKey(item, attempt) }).catch((err: unknown) => {
      this.deps.logger.warn({ err, delivery: d.id }, "could not schedule the retry; the outbox sweep will");
    });
  }

  private end(d: ClaimedDelivery, o: { status: "failed" | "skipped"; error: string | null }): Promise<void> {
    this.deps.onOutcome?.(o.status);
    return this.deps.store.finish({ id: d.id, status: o.status, attempts: d.attempts, payload: null, nextAttemptAt: null, lastStatusCode: null, error: o.error });
  }

  // Every delivery of a burst to one install needs the same secrets: read them once a second.
  private secretsOf(installId: string): Promise<Map<string, string>> {
    const hit = this.secretCache.get(installId);
    if (hit && Date.now() - hit.at < SECRETS_TTL_MS) return hit.value;
    const value = this.deps.secrets.getAll(installId);
    this.secretCache.set(installId, { at: Date.now(), value });
    value.catch(() => this.secretCache.delete(installId));
    if (this.secretCache.size > 1000) this.secretCache.delete(this.secretCache.keys().next().value as string);
    return value;
  }
}
