/**
 * Turns raw Dynamo NATS messages into the pool's store: decodes, drops what must not count
 * (malformed, duplicate, another generation, another component), feeds the ledger, and writes
 * the affected workers' samples once per event-loop turn. Knows nothing about the connection,
 * so it is the same code whatever subscription delivered the bytes.
 */
import type { DynamoNatsMode } from '../../config/schema.js';
import type { ScalerMetrics } from '../../telemetry.js';
import type { FailureLog, Logger } from '../../log.js';
import type { PoolStore } from '../../store/pool-store.js';
import type { WorkerSample } from '../../store/sample.js';
import {
  decodeActiveLoadMsgpack,
  decodeEnvelope,
  decodeForwardPassMetricsV1,
  decodeKvMetricsJson,
  decodeStatsReply,
  looksLikeJson,
  type DecodeErrorKind,
  type LoadReading,
} from './decode.js';
import { natsMetrics, type NatsMessageKind, type NatsMessageResult } from './nats-metrics.js';
import { WorkerLedger, type Generation, type Observation } from './worker-ledger.js';

/** FPM publishers send an idle heartbeat every second (lib/llm/src/fpm_publisher.rs). */
export const FPM_HEARTBEAT_MS = 1000;
export const KV_METRICS_TOPIC = 'kv_metrics';
export const FPM_TOPIC = 'forward-pass-metrics';

export interface IngestOptions {
  readonly pool: string;
  readonly store: PoolStore;
  readonly mode: DynamoNatsMode;
  readonly component: string;
  /** `$SRV.STATS` service name and endpoint, for the stats generation's subject filter. */
  readonly service: string;
  readonly endpoint: string;
  /** The pool's `model`, stamped on samples (Dynamo's load messages do not name the model). */
  readonly model?: string;
  readonly cacheTtlMs: number;
  readonly workerTtlMs: number;
  /** Blocks per worker, for messages that report only blocks in use (the 2026 event plane). */
  readonly kvBlocksPerWorker?: number;
  readonly metrics: ScalerMetrics;
  readonly log: Logger;
  readonly failures: FailureLog;
  readonly now: () => number;
}

/** Dynamo's load messages carry gauges only: every sample shares these (frozen) empty sets. */
const NO_COUNTERS: WorkerSample['counters'] = Object.freeze({});
const NO_HISTOGRAMS: WorkerSample['histograms'] = Object.freeze({});

/** Newest generation first: in `auto`, the newest one that is alive is the one we settled on. */
const GENERATIONS_NEWEST_FIRST: readonly Generation[] = ['event-plane', 'kv-metrics', 'stats'];

export class DynamoIngest {
  readonly ledger: WorkerLedger;
  /** When each generation last delivered a usable message. */
  readonly lastHeard: Partial<Record<Generation, number>> = {};
  readonly counts: Record<NatsMessageResult, number> = { ok: 0, malformed: 0, duplicate: 0, older: 0, ignored: 0, foreign: 0 };
  private readonly dirty = new Set<string>();
  private flushScheduled: NodeJS.Immediate | undefined;
  private readonly routerOnly = new Set<string>();
  private readonly models: readonly string[];
  /** The message counter of each (kind, result), looked up once. */
  private readonly counters: Partial<Record<NatsMessageKind, Partial<Record<NatsMessageResult, { inc(): void }>>>> = {};
  private lastDetected: Generation | undefined;

  constructor(private readonly options: IngestOptions) {
    this.models = options.model ? [options.model] : [];
    this.ledger = new WorkerLedger({
      statsTtlMs: options.cacheTtlMs,
      // A worker whose forward-pass heartbeats stop keeps its last value until workerTtl too, as
      // README promises for every push worker: a few silent seconds (a stalled event loop, a
      // network blip) must not empty the pool and read as zero load.
      heartbeatTtlMs: options.workerTtlMs,
      pushTtlMs: options.workerTtlMs,
    });
  }

  accepts(generation: Generation): boolean {
    return this.options.mode === 'auto' || this.options.mode === generation;
  }

  /** A `$SRV.STATS` reply on our inbox. */
  onStatsReply(subject: string, payload: Uint8Array): void {
    const { service, endpoint } = this.options;
    const reply = decodeStatsReply(payload, service, endpoint);
    if (!reply.ok) return this.malformed('stats_reply', subject, reply.kind, reply.error);
    for (const problem of reply.value.problems) this.malformed('stats_reply', problem.subject, problem.kind, problem.error);
    if (reply.value.readings.length === 0) return;
    this.options.metrics.scrapeSucceeded(this.options.pool);
    for (const reading of reply.value.readings) this.observe('stats_reply', { reading, generation: 'stats' });
  }

  /** A message on `namespace.<ns>.kv_metrics`: JSON (2025) or an event-plane envelope (2026). */
  onKvMetrics(subject: string, payload: Uint8Array): void {
    if (looksLikeJson(payload)) {
      if (!this.accepts('kv-metrics')) return this.ignored('kv_metrics_json', 'kv-metrics', subject);
      const decoded = decodeKvMetricsJson(payload);
      if (!decoded.ok) return this.malformed('kv_metrics_json', subject, decoded.kind, decoded.error);
      this.observe('kv_metrics_json', { reading: decoded.value.reading, generation: 'kv-metrics' });
      return;
    }
    if (!this.accepts('event-plane')) return this.ignored('kv_metrics_msgpack', 'event-plane', subject);
    const envelope = this.envelope('kv_metrics_msgpack', subject, payload, KV_METRICS_TOPIC);
    if (!envelope) return;
    const decoded = decodeActiveLoadMsgpack(envelope.payload);
    if (!decoded.ok) return this.malformed('kv_metrics_msgpack', subject, decoded.kind, decoded.error);
    if (!this.inSequence('kv_metrics_msgpack', envelope)) return;
    this.observe('kv_metrics_msgpack', {
      reading: decoded.value.reading,
      generation: 'event-plane',
      publisherId: envelope.publisherId,
      engine: decoded.value.hasKvUsedBlocks,
    });
  }

  /** A message on `namespace.<ns>.component.<component>.forward-pass-metrics` (any component). */
  onForwardPassMetrics(subject: string, payload: Uint8Array): void {
    if (!this.accepts('event-plane')) return this.ignored('forward_pass_metrics', 'event-plane', subject);
    const envelope = this.envelope('forward_pass_metrics', subject, payload, FPM_TOPIC);
    if (!envelope) return;
    const decoded = decodeForwardPassMetricsV1(envelope.payload);
    if (!decoded.ok) return this.malformed('forward_pass_metrics', subject, decoded.kind, decoded.error);
    const component = subject.split('.')[3];
    if (component !== this.options.component) {
      // Another component's worker: kv_metrics is namespace-wide, so remember it is not ours.
      const id = decoded.value.reading.workerId;
      if (this.ledger.markForeign(id, this.options.now())) this.forget(id);
      this.count('forward_pass_metrics', 'foreign');
      return;
    }
    if (!this.inSequence('forward_pass_metrics', envelope)) return;
    this.observe('forward_pass_metrics', {
      reading: decoded.value.reading,
      generation: 'event-plane',
      publisherId: envelope.publisherId,
      engine: true,
      heartbeats: true,
      ownComponent: true,
    });
  }

  /** Writes the samples of workers that changed since the last flush. */
  flush(): void {
    if (this.flushScheduled !== undefined) {
      clearImmediate(this.flushScheduled);
      this.flushScheduled = undefined;
    }
    if (this.dirty.size === 0) return;
    const now = this.options.now();
    const { store, log, pool } = this.options;
    for (const id of this.dirty) {
      const aggregate = this.ledger.aggregate(id, now);
      if (!aggregate) continue;
      const sample = this.sample(aggregate.load, now);
      if (!this.plausible(id, sample)) continue;
      store.recordSample(id, sample);
      if (aggregate.grade === 'router') {
        if (!this.routerOnly.has(id)) {
          this.routerOnly.add(id);
          log.info(
            { pool, worker: id },
            "worker is reported only by the KV router: using the router's bookkeeping (active decode blocks) until the worker itself publishes",
          );
        }
      } else if (this.routerOnly.delete(id)) {
        log.info({ pool, worker: id }, "worker now publishes its own load: the KV router's estimate for it is no longer used");
      }
    }
    this.dirty.clear();
  }

  /**
   * Once per interval while connected: ends workers past their lifetime, keeps silent push workers'
   * last values fresh, and (once discovery is trustworthy) makes the store's worker set the ledger's.
   */
  sweep(discoveryReady: boolean): void {
    this.flush();
    const now = this.options.now();
    const { store } = this.options;
    const { removed, alive, why } = this.ledger.sweep(now);
    for (const id of removed) this.forget(id, why.get(id));
    for (const id of alive) store.confirmAlive(id, now);
    if (discoveryReady) store.setWorkers(this.ledger.ids());
    const detected = this.detected(now);
    if (detected !== this.lastDetected) {
      this.lastDetected = detected;
      if (detected) this.options.log.info({ pool: this.options.pool, mode: this.options.mode, detected }, `dynamo-nats: workers publish load as ${detected}`);
    }
  }

  /** Time NATS was down is not silence: push the workers' clocks forward by it. */
  shift(ms: number): void {
    if (ms <= 0) return;
    this.ledger.shift(ms);
    for (const generation of Object.keys(this.lastHeard) as Generation[]) this.lastHeard[generation]! += ms;
  }

  /** True while some worker answered `$SRV.STATS` within the cache TTL. */
  statsAlive(now: number): boolean {
    const at = this.lastHeard.stats;
    return at !== undefined && now - at <= this.options.cacheTtlMs;
  }

  /** The generation the workers use: in `auto`, the newest one still heard within its lifetime. */
  detected(now: number): Generation | undefined {
    const { mode, cacheTtlMs, workerTtlMs } = this.options;
    if (mode !== 'auto') return this.lastHeard[mode] !== undefined ? mode : undefined;
    const alive = GENERATIONS_NEWEST_FIRST.find((g) => {
      const at = this.lastHeard[g];
      return at !== undefined && now - at <= (g === 'stats' ? cacheTtlMs : workerTtlMs);
    });
    if (alive) return alive;
    let latest: Generation | undefined;
    for (const g of GENERATIONS_NEWEST_FIRST) {
      if ((this.lastHeard[g] ?? -1) > (latest ? (this.lastHeard[latest] ?? -1) : -1)) latest = g;
    }
    return latest;
  }

  describe(): Record<string, unknown> {
    const now = this.options.now();
    const routerOnly = [...this.routerOnly];
    return {
      detectedMode: this.detected(now),
      lastHeard: Object.fromEntries(Object.entries(this.lastHeard).map(([g, at]) => [g, new Date(at).toISOString()])),
      workers: this.ledger.size,
      publishers: this.ledger.publishers.counts(),
      // Why some workers' values are the router's estimates rather than their own reports.
      routerOnlyWorkers:
        routerOnly.length > 0
          ? {
              count: routerOnly.length,
              ids: routerOnly.slice(0, 50),
              why: "no worker publisher reports these workers; values are the KV router's bookkeeping (active decode blocks)",
            }
          : undefined,
      messages: { ...this.counts },
    };
  }

  /**
   * A new worker id while the pool already holds `maxWorkers`: refused before the ledger or the
   * store sees it (cause `max-workers`, counted, logged once), so invented ids cost a counter.
   */
  private overBound(id: string, now: number): boolean {
    const { store, pool, metrics, failures } = this.options;
    const bound = store.workerBound;
    if (this.ledger.size < bound.max) {
      if (bound.report() !== undefined) {
        bound.clear();
        failures.recovered(`${pool}/max-workers`, { pool });
      }
      return false;
    }
    if (this.ledger.has(id)) return false;
    bound.refuse(id, now);
    metrics.scrapeErrors.inc({ pool, cause: 'max_workers' });
    failures.failed(`${pool}/max-workers`, 'max-workers', `pool has ${bound.max} workers (maxWorkers): further worker ids are refused`, {
      pool,
      workerId: id.slice(0, 100),
    });
    return true;
  }

  cancel(): void {
    if (this.flushScheduled !== undefined) clearImmediate(this.flushScheduled);
    this.flushScheduled = undefined;
  }

  private observe(kind: NatsMessageKind, observation: Observation): void {
    const now = this.options.now();
    if (this.overBound(observation.reading.workerId, now)) return;
    const outcome = this.ledger.observe(observation, now);
    if (outcome === 'foreign') {
      this.count(kind, 'foreign');
      return;
    }
    const id = observation.reading.workerId;
    if (outcome === 'new') this.options.store.ensureWorker(id);
    this.lastHeard[observation.generation] = now;
    this.count(kind, 'ok');
    this.dirty.add(id);
    for (const other of this.ledger.takeRegraded()) this.dirty.add(other);
    // Samples are written once per event-loop turn: a burst of messages about one worker (FPM is
    // per forward pass) costs one store write, and GetMetrics still sees it within milliseconds.
    this.flushScheduled ??= setImmediate(() => {
      this.flushScheduled = undefined;
      this.flush();
    });
  }

  private envelope(kind: NatsMessageKind, subject: string, payload: Uint8Array, topic: string) {
    const decoded = decodeEnvelope(payload);
    if (!decoded.ok) {
      this.malformed(kind, subject, decoded.kind, decoded.error);
      return undefined;
    }
    if (decoded.value.topic !== topic) {
      this.malformed(kind, subject, 'shape', `envelope topic '${decoded.value.topic}' does not match subject ${subject}`);
      return undefined;
    }
    return decoded.value;
  }

  private inSequence(kind: NatsMessageKind, envelope: { publisherId: string; topic: string; sequence: bigint; publishedAt: bigint }): boolean {
    const verdict = this.ledger.publishers.accept(envelope.publisherId, envelope.topic, envelope.sequence, envelope.publishedAt, this.options.now());
    if (verdict === 'ok') return true;
    this.count(kind, verdict);
    return false;
  }

  /**
   * The sample of a worker's merged reading. KV capacity comes from configuration when the messages
   * carry only blocks in use (the 2026 event plane), so that kv_cache_usage and
   * kv_blocks_usage_percent work there too; a reported total wins. Every field is written (undefined
   * when not reported): one object shape for every sample.
   */
  private sample(load: LoadReading, at: number): WorkerSample {
    const perWorker = this.options.kvBlocksPerWorker;
    const used = load.kvBlocksUsed;
    const filled = perWorker !== undefined && load.kvBlocksTotal === undefined && used !== undefined;
    return {
      at,
      models: this.models,
      waiting: load.waiting,
      running: load.running,
      activeSlots: load.activeSlots,
      totalSlots: load.totalSlots,
      kvBlocksUsed: used,
      kvBlocksTotal: filled ? perWorker : load.kvBlocksTotal,
      kvUsage: filled ? (load.kvUsage ?? Math.min(1, used / perWorker)) : load.kvUsage,
      queuedPrefillTokens: load.queuedPrefillTokens,
      counters: NO_COUNTERS,
      histograms: NO_HISTOGRAMS,
    };
  }

  /**
   * More KV blocks in use than the worker has (e.g. `kv_used_blocks` above `kvBlocksPerWorker`) is
   * an invalid sample: the worker is excluded until it reports a possible value, as the JSON
   * decoder rules for kv_stats. Counted and logged once per worker.
   */
  private plausible(id: string, sample: WorkerSample): boolean {
    const { store, metrics, failures, pool } = this.options;
    const used = sample.kvBlocksUsed;
    const total = sample.kvBlocksTotal;
    const subject = `${pool}/${id}/values`;
    if (used !== undefined && total !== undefined && used > total) {
      const configured = this.options.kvBlocksPerWorker !== undefined && total === this.options.kvBlocksPerWorker ? ' (kvBlocksPerWorker)' : '';
      const message = `${used} KV blocks in use exceed the ${total}${configured} the worker has`;
      store.recordFailure(id, 'invalid-sample', message);
      metrics.scrapeFailed(pool, 'invalid-sample');
      failures.failed(subject, 'invalid-sample', `worker values refused: ${message}`, { pool, worker: id });
      return false;
    }
    failures.recovered(subject, { pool, worker: id });
    return true;
  }

  private forget(id: string, why?: string): void {
    this.options.store.removeWorker(id, why);
    this.options.failures.forget(`${this.options.pool}/${id}/values`);
    this.dirty.delete(id);
    this.routerOnly.delete(id);
  }

  private malformed(kind: NatsMessageKind, subject: string, errorKind: DecodeErrorKind, error: string): void {
    const { pool, metrics, failures } = this.options;
    this.count(kind, 'malformed');
    metrics.scrapeFailed(pool, 'parse');
    // One log line per (message kind, error kind): a worker sending garbage every second is one warning.
    failures.failed(`${pool}/nats/${kind}/${errorKind}`, `malformed_${errorKind}`, `malformed Dynamo ${kind} message ignored: ${error}`, { pool, subject });
  }

  private ignored(kind: NatsMessageKind, generation: Generation, subject: string): void {
    const { pool, mode, failures } = this.options;
    this.count(kind, 'ignored');
    failures.failed(
      `${pool}/nats/ignored/${generation}`,
      'other_generation',
      `Dynamo ${generation} messages seen but the pool's mode is ${mode}; they are ignored (set mode: auto or ${generation})`,
      { pool, subject },
    );
  }

  private count(kind: NatsMessageKind, result: NatsMessageResult): void {
    this.counts[result] += 1;
    const byResult = (this.counters[kind] ??= {});
    (byResult[result] ??= natsMetrics(this.options.metrics).messages.labels(this.options.pool, kind, result)).inc();
  }
}
