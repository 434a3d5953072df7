/**
 * The `dynamo-nats` source: one NATS connection per pool, reading Dynamo's worker load in whichever
 * generation the workers speak (ai-dynamo/dynamo: `lib/llm/src/kv_router/publisher.rs` for the
 * first two, `lib/runtime/src/transports/event_plane/` for the third):
 * - `stats`: every interval, request `$SRV.STATS.<service>` and gather replies for `statsWindow`;
 *   the workers that answer are the pool;
 * - `kv-metrics`: JSON LoadEvent/ActiveLoad pushed on `namespace.<ns>.kv_metrics`;
 * - `event-plane`: MessagePack envelopes on `namespace.<ns>.kv_metrics` and
 *   `namespace.<ns>.component.<component>.forward-pass-metrics`;
 * - `auto`: listen to all of them and probe `$SRV.STATS` until a generation answers, then settle
 *   on it — the cheap push subscriptions stay, so a cluster upgrade is picked up.
 *
 * While the connection is down the pool has a source problem: it answers UNAVAILABLE and the
 * scaler is not ready, rather than pretending to know the workers' load.
 */
import { connect, createInbox, Events, type Msg, type NatsConnection, type NatsError } from 'nats';
import type { DynamoNatsMode, NatsConfig } from '../../config/schema.js';
import type { ScalerMetrics } from '../../telemetry.js';
import type { FailureLog, Logger } from '../../log.js';
import type { PoolStore } from '../../store/pool-store.js';
import type { Source } from '../source.js';
import { DynamoIngest, FPM_HEARTBEAT_MS, FPM_TOPIC, KV_METRICS_TOPIC } from './dynamo-ingest.js';
import { natsMetrics, type NatsMessageResult } from './nats-metrics.js';
import { natsConnectionOptions, ReconnectBackoff, redactUrl } from './nats-options.js';
import { dynamoServiceName } from './service-name.js';

export interface DynamoNatsSourceOptions {
  readonly pool: string;
  readonly store: PoolStore;
  readonly nats: NatsConfig;
  readonly namespace: string;
  readonly component: string;
  readonly endpoint: string;
  readonly mode: DynamoNatsMode;
  readonly intervalMs: number;
  readonly cacheTtlMs: number;
  readonly statsWindowMs: number;
  readonly workerTtlMs: number;
  /** Blocks per worker when messages carry only blocks in use (config `kvBlocksPerWorker`). */
  readonly kvBlocksPerWorker?: number;
  readonly model?: string;
  readonly metrics: ScalerMetrics;
  readonly log: Logger;
  readonly failures: FailureLog;
  /** Clock for sample timestamps; must match the store's clock. */
  readonly now?: () => number;
}

/**
 * In `auto` once a push generation is settled and no worker answers `$SRV.STATS`, probing it every
 * interval is waste; it is still probed this often so a downgrade is noticed.
 */
const SLOW_PROBE_MIN_MS = 10_000;

const EMPTY = new Uint8Array(0);

export class DynamoNatsSource implements Source {
  private readonly ingest: DynamoIngest;
  private readonly now: () => number;
  private readonly service: string;
  private readonly url: string;
  private readonly subjects: { readonly stats?: string; readonly kvMetrics?: string; readonly forwardPass?: string };
  private readonly backoff: ReconnectBackoff;
  /** Push workers idle in silence; after start, wait this long for them before saying "zero workers". */
  private readonly pushWarmupMs: number;
  private nc: NatsConnection | undefined;
  private inbox = '';
  private running = false;
  private connected = false;
  private firstConnectedAt: number | undefined;
  private disconnectedAt: number | undefined;
  private lastError: string | undefined;
  private statsRounds = 0;
  private lastProbeAt = Number.NEGATIVE_INFINITY;
  private discoveryReady = false;
  private timer: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;
  private readonly sleepers = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();

  constructor(private readonly options: DynamoNatsSourceOptions) {
    // namespace and component become NATS subject tokens; the configuration schema has checked them.
    const { namespace, component, pool, mode } = options;
    this.now = options.now ?? Date.now;
    this.service = dynamoServiceName(namespace, component);
    this.url = options.nats.url;
    this.backoff = new ReconnectBackoff(options.intervalMs);
    this.pushWarmupMs = Math.max(options.intervalMs, FPM_HEARTBEAT_MS * 1.5);
    const probes = mode === 'stats' || mode === 'auto';
    const push = mode !== 'stats';
    this.subjects = {
      stats: probes ? `$SRV.STATS.${this.service}` : undefined,
      kvMetrics: push ? `namespace.${namespace}.${KV_METRICS_TOPIC}` : undefined,
      // Every component's FPM: ours is data, the others' tell which kv_metrics workers are not ours.
      forwardPass: mode === 'event-plane' || mode === 'auto' ? `namespace.${namespace}.component.*.${FPM_TOPIC}` : undefined,
    };
    this.ingest = new DynamoIngest({
      pool,
      store: options.store,
      mode,
      component,
      service: this.service,
      endpoint: options.endpoint,
      model: options.model,
      cacheTtlMs: options.cacheTtlMs,
      workerTtlMs: options.workerTtlMs,
      kvBlocksPerWorker: options.kvBlocksPerWorker,
      metrics: options.metrics,
      log: options.log,
      failures: options.failures,
      now: this.now,
    });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.notConnected(`connecting to ${redactUrl(this.url)}`);
    void this.connectLoop().catch((error: unknown) => {
      // Unreachable by design (every step catches its own failures); if it happens, say so loudly.
      this.lastError = messageOf(error);
      this.notConnected(`connection loop failed: ${this.lastError}`);
      this.options.log.error({ pool: this.options.pool, err: error }, 'dynamo-nats connection loop failed');
    });
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    for (const sleeper of this.sleepers) {
      clearTimeout(sleeper.timer);
      sleeper.resolve();
    }
    this.sleepers.clear();
    await this.loop;
    this.ingest.cancel();
    const nc = this.nc;
    this.nc = undefined;
    this.connected = false;
    natsMetrics(this.options.metrics).connected.set({ pool: this.options.pool }, 0);
    if (nc) await nc.close().catch(() => undefined);
  }

  async collectOnce(): Promise<void> {
    try {
      await this.tick(true);
    } catch (error) {
      this.options.log.error({ pool: this.options.pool, err: error }, 'dynamo-nats collection failed');
    }
  }

  /** Messages handled so far, by result: a cheap read for benchmarks and tests (describe() is richer). */
  get messages(): Readonly<Record<NatsMessageResult, number>> {
    return this.ingest.counts;
  }

  describe(): Record<string, unknown> {
    const { mode, namespace, component, endpoint, statsWindowMs, workerTtlMs } = this.options;
    return {
      transport: 'nats',
      url: redactUrl(this.url),
      connected: this.connected,
      mode,
      namespace,
      component,
      service: this.subjects.stats ? this.service : undefined,
      endpoint: this.subjects.stats ? endpoint : undefined,
      subjects: Object.values(this.subjects).filter((s) => s !== undefined),
      statsWindowMs: this.subjects.stats ? statsWindowMs : undefined,
      workerTtlMs: mode === 'stats' ? undefined : workerTtlMs,
      lastError: this.lastError,
      ...this.ingest.describe(),
    };
  }

  // --- connection -------------------------------------------------------------------------------

  /** Connects, and connects again whenever nats.js gives a connection up; until stopped. */
  private async connectLoop(): Promise<void> {
    while (this.running) {
      let nc: NatsConnection;
      try {
        nc = await connect(natsConnectionOptions(this.options.nats, this.options.intervalMs, this.backoff));
      } catch (error) {
        this.lastError = messageOf(error);
        this.notConnected(`cannot connect to ${redactUrl(this.url)}: ${this.lastError}`);
        await this.sleep(this.backoff.next());
        continue;
      }
      if (!this.running) {
        await nc.close().catch(() => undefined);
        return;
      }
      this.nc = nc;
      this.subscribe(nc);
      void this.watch(nc);
      this.onConnected();
      // Resolves when nats.js gives up (it reconnects forever, so: fatal auth errors) or on stop().
      const closedWith = await nc.closed();
      if (this.nc === nc) this.nc = undefined;
      if (!this.running) return;
      this.lastError = closedWith ? messageOf(closedWith) : 'connection closed';
      this.onDisconnected(`connection to ${redactUrl(this.url)} closed: ${this.lastError}; connecting again`);
      await this.sleep(this.backoff.next());
    }
  }

  private subscribe(nc: NatsConnection): void {
    const { kvMetrics, forwardPass, stats } = this.subjects;
    // Callback subscriptions (no async iterator): one synchronous decode per message; nats.js
    // re-establishes them after every reconnect.
    if (stats) {
      this.inbox = createInbox();
      nc.subscribe(this.inbox, { callback: this.handler((m) => this.ingest.onStatsReply(m.subject, m.data)) });
    }
    if (kvMetrics) nc.subscribe(kvMetrics, { callback: this.handler((m) => this.ingest.onKvMetrics(m.subject, m.data)) });
    if (forwardPass) nc.subscribe(forwardPass, { callback: this.handler((m) => this.ingest.onForwardPassMetrics(m.subject, m.data)) });
  }

  private handler(body: (msg: Msg) => void): (error: NatsError | null, msg: Msg) => void {
    return (error, msg) => {
      if (error) return; // subscription errors (permissions) also arrive on the status stream
      try {
        body(msg);
      } catch (failure) {
        // Decoders never throw; this keeps a bug from tearing down the subscription.
        this.options.failures.failed(`${this.options.pool}/nats/bug`, 'error', `dynamo-nats message handling failed: ${messageOf(failure)}`, {
          pool: this.options.pool,
          subject: msg.subject,
        });
      }
    };
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (this.nc !== nc) return;
      if (status.type === Events.Disconnect) this.onDisconnected(`lost ${String(status.data)}; reconnecting`);
      else if (status.type === Events.Reconnect) this.onConnected();
      else if (status.type === Events.Error) {
        this.lastError = String(status.data);
        this.options.failures.failed(`${this.options.pool}/nats/server-error`, 'nats_error', `NATS reported an error: ${this.lastError}`, {
          pool: this.options.pool,
          permission: status.permissionContext,
        });
      } else if (status.type === Events.LDM) {
        this.options.log.info({ pool: this.options.pool, server: status.data }, 'NATS server entering lame duck mode; will reconnect elsewhere');
      }
    }
  }

  private onConnected(): void {
    const now = this.now();
    const { pool, store, log, failures, metrics } = this.options;
    this.connected = true;
    this.firstConnectedAt ??= now;
    if (this.disconnectedAt !== undefined) {
      this.ingest.shift(now - this.disconnectedAt);
      this.disconnectedAt = undefined;
    }
    this.backoff.reset();
    this.lastError = undefined;
    natsMetrics(metrics).connected.set({ pool }, 1);
    store.setSourceProblem(undefined);
    failures.recovered(`${pool}/nats`, { pool, url: redactUrl(this.url) });
    log.info({ pool, url: redactUrl(this.url), mode: this.options.mode, subjects: Object.values(this.subjects).filter(Boolean) }, 'dynamo-nats connected');
    // Probe at once: after a reconnect the workers' values should be back within one interval.
    this.kick();
  }

  private onDisconnected(reason: string): void {
    const { pool, failures, metrics } = this.options;
    if (this.connected) this.disconnectedAt = this.now();
    this.connected = false;
    natsMetrics(metrics).connected.set({ pool }, 0);
    this.notConnected(reason);
    failures.failed(`${pool}/nats`, 'disconnected', 'NATS connection lost: the pool answers UNAVAILABLE until it is back', {
      pool,
      url: redactUrl(this.url),
      reason,
    });
  }

  private notConnected(reason: string): void {
    this.options.store.setSourceProblem(`NATS is not connected (${reason})`);
  }

  // --- rounds -----------------------------------------------------------------------------------

  private schedule(delayMs: number): void {
    // A plain (ref'd) timer on purpose: collection is what keeps the service alive.
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const started = this.now();
      this.loop = this.tick(false)
        .catch((error: unknown) => this.options.log.error({ pool: this.options.pool, err: error }, 'dynamo-nats round failed'))
        .then(() => {
          this.loop = undefined;
          if (this.running) this.schedule(Math.max(0, this.options.intervalMs - (this.now() - started)));
        });
    }, delayMs);
  }

  /** Runs a round now unless one is running (it will see the new state anyway). */
  private kick(): void {
    if (!this.running || this.loop !== undefined) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.schedule(0);
  }

  /** One interval's work: maybe a `$SRV.STATS` round, then the sweep. Only while connected. */
  private async tick(forceProbe: boolean): Promise<void> {
    if (!this.connected) {
      this.ingest.flush();
      return;
    }
    if (this.subjects.stats && (forceProbe || this.probeDue(this.now()))) await this.statsRound();
    if (!this.connected) return;
    const now = this.now();
    if (!this.discoveryReady) this.discoveryReady = this.discoveryComplete(now);
    this.ingest.sweep(this.discoveryReady);
  }

  private probeDue(now: number): boolean {
    if (this.options.mode === 'stats') return true;
    // auto: probe every interval until a generation is heard, and while stats workers answer.
    const detected = this.ingest.detected(now);
    if (detected === undefined || this.ingest.statsAlive(now)) return true;
    return now - this.lastProbeAt >= Math.max(SLOW_PROBE_MIN_MS, 10 * this.options.intervalMs);
  }

  /** Publishes the `$SRV.STATS` request and waits the window; replies arrive on the inbox subscription. */
  private async statsRound(): Promise<void> {
    const nc = this.nc;
    if (!nc || !this.subjects.stats) return;
    this.lastProbeAt = this.now();
    try {
      nc.publish(this.subjects.stats, EMPTY, { reply: this.inbox });
    } catch (error) {
      this.lastError = messageOf(error);
      return;
    }
    await this.sleep(this.options.statsWindowMs);
    this.statsRounds += 1;
  }

  /**
   * Whether "the workers we know" is the whole pool yet: after a `$SRV.STATS` round (stats), and
   * after listening long enough for heartbeating push workers to be heard (push generations).
   */
  private discoveryComplete(now: number): boolean {
    const statsDone = !this.subjects.stats || this.statsRounds > 0;
    const pushDone = this.options.mode === 'stats' || (this.firstConnectedAt !== undefined && now - this.firstConnectedAt >= this.pushWarmupMs);
    return statsDone && pushDone;
  }

  private sleep(ms: number): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => {
      const sleeper = {
        timer: setTimeout(() => {
          this.sleepers.delete(sleeper);
          resolve();
        }, ms),
        resolve,
      };
      this.sleepers.add(sleeper);
    });
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
