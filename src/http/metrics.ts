import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { PoolConfig } from '../config/schema.js';
import type { PoolRuntime } from '../policies/trigger.js';
import { findSignal, type SignalDefinition } from '../signals/catalogue.js';
import { defaultUses, evaluateSignalOnce, useOf } from '../signals/evaluate.js';
import type { FailureCause, PoolSnapshot } from '../store/pool-store.js';
import type { WorkerSample } from '../store/sample.js';

/**
 * The labels of Dynamo's `llm_*` gauges (components/metrics, and metrics-keda's README), plus
 * `pool`, which keeps two pools on the same component (in different Dynamo namespaces) apart.
 */
export interface DynamoPoolLabels {
  readonly pool: string;
  readonly component: string;
  readonly endpoint: string;
}

/**
 * The endpoint label of a dynamo-nats pool without `endpoint`: the one its source watches by
 * default, Dynamo's `KV_METRICS_ENDPOINT` (also what the metrics component was run with).
 */
export const DYNAMO_NATS_DEFAULT_ENDPOINT = 'load_metrics';
/** The endpoint label of a dynamo-http pool: Dynamo's default worker endpoint (`dyn://dynamo.backend.generate`). */
export const DYNAMO_HTTP_ENDPOINT = 'generate';

/**
 * How a pool appears in the `llm_*` gauges, or undefined for a pool that is not Dynamo's.
 * A dynamo-nats pool uses its `component` and `endpoint` (`load_metrics` when unset); a
 * dynamo-http pool has neither in its configuration, so its name stands for the component and the
 * endpoint is `generate`.
 */
export function dynamoPoolLabels(name: string, config: Pick<PoolConfig, 'source' | 'component' | 'endpoint'>): DynamoPoolLabels | undefined {
  if (config.source === 'dynamo-nats') {
    return { pool: name, component: config.component ?? name, endpoint: config.endpoint ?? DYNAMO_NATS_DEFAULT_ENDPOINT };
  }
  if (config.source === 'dynamo-http') return { pool: name, component: name, endpoint: DYNAMO_HTTP_ENDPOINT };
  return undefined;
}

/** Per-worker `llm_*` gauges and the WorkerSample field each reads. */
const DYNAMO_WORKER_GAUGES: readonly { name: string; help: string; pick: (s: WorkerSample) => number | undefined }[] = [
  { name: 'llm_kv_blocks_active', help: 'KV blocks in use on the worker (Dynamo kv_active_blocks).', pick: (s) => s.kvBlocksUsed },
  { name: 'llm_kv_blocks_total', help: 'KV blocks the worker has in total (Dynamo kv_total_blocks).', pick: (s) => s.kvBlocksTotal },
  // Dynamo's engines fill request_active_slots with their running requests; HTTP workers report those.
  { name: 'llm_requests_active_slots', help: 'Request slots in use on the worker (Dynamo request_active_slots; running requests when only those are reported).', pick: (s) => s.activeSlots ?? s.running },
  { name: 'llm_requests_total_slots', help: 'Request slots the worker has (Dynamo request_total_slots, e.g. max_num_seqs).', pick: (s) => s.totalSlots },
];

/** Pool-level `llm_*` gauges and the signal each exports. */
const DYNAMO_POOL_GAUGES: readonly { name: string; help: string; signal: string }[] = [
  { name: 'llm_load_avg', help: 'Mean KV blocks in use per fresh worker (Dynamo llm_load_avg: a block count, not a ratio).', signal: 'load_avg' },
  { name: 'llm_load_std', help: 'Population standard deviation of KV blocks in use over fresh workers (Dynamo llm_load_std).', signal: 'load_std' },
  { name: 'llm_kv_blocks_usage_percent', help: '100 × Σ KV blocks in use / Σ KV blocks over fresh workers.', signal: 'kv_blocks_usage_percent' },
];

function usable(value: number | undefined): value is number {
  return value !== undefined && Number.isFinite(value) && value >= 0;
}

/**
 * The scaler's own Prometheus metrics. One registry per scaler instance, so several scalers
 * (tests, the demo) can live in one process without colliding.
 */
export class ScalerMetrics {
  readonly registry = new Registry();
  readonly scrapes: Counter<'pool' | 'result'>;
  readonly scrapeErrors: Counter<'pool' | 'cause'>;
  readonly scrapeDuration: Histogram<'pool'>;
  readonly counterResets: Counter<'pool'>;
  readonly rpcs: Counter<'method' | 'code'>;
  readonly rpcDuration: Histogram<'method'>;
  readonly activeStreams: Gauge;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry });
    this.scrapes = new Counter({
      name: 'keda_llm_scaler_scrapes_total',
      help: 'Worker scrapes by pool and result (ok or error).',
      labelNames: ['pool', 'result'],
      registers,
    });
    this.scrapeErrors = new Counter({
      name: 'keda_llm_scaler_scrape_errors_total',
      help: 'Failed worker scrapes by pool and cause (connect, timeout, http_status, body_too_large, parse, no_metrics, model_mismatch, error).',
      labelNames: ['pool', 'cause'],
      registers,
    });
    this.scrapeDuration = new Histogram({
      name: 'keda_llm_scaler_scrape_duration_seconds',
      help: 'Time to fetch and parse one worker exposition.',
      labelNames: ['pool'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.counterResets = new Counter({
      name: 'keda_llm_scaler_counter_resets_total',
      help: 'Worker counters seen going backwards (worker restarts).',
      labelNames: ['pool'],
      registers,
    });
    this.rpcs = new Counter({
      name: 'keda_llm_scaler_grpc_requests_total',
      help: 'KEDA gRPC calls by method and status code.',
      labelNames: ['method', 'code'],
      registers,
    });
    this.rpcDuration = new Histogram({
      name: 'keda_llm_scaler_grpc_request_duration_seconds',
      help: 'Time spent answering KEDA gRPC calls (unary calls only).',
      labelNames: ['method'],
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05],
      registers,
    });
    this.activeStreams = new Gauge({
      name: 'keda_llm_scaler_active_streams',
      help: 'Open StreamIsActive and StreamMetricSpec streams.',
      registers,
    });
  }

  /**
   * Per-pool gauges, computed when Prometheus scrapes (never on KEDA's path): workers by state
   * and each signal's fleet value. A signal without fresh data is left out, not exported as 0.
   */
  watchPools(entries: () => Iterable<{ readonly runtime: PoolRuntime; readonly config: PoolConfig }>): void {
    const pools = function* () {
      for (const entry of entries()) yield entry.runtime;
    };
    const uses = defaultUses();
    new Gauge({
      name: 'keda_llm_scaler_pool_workers',
      help: 'Workers per pool by state (fresh, stale, failing, pending).',
      labelNames: ['pool', 'state'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const pool of pools()) {
          const counts: Record<string, number> = { fresh: 0, stale: 0, failing: 0, pending: 0 };
          for (const w of pool.store.published().workers) counts[w.state] = (counts[w.state] ?? 0) + 1;
          for (const [state, count] of Object.entries(counts)) this.set({ pool: pool.name, state }, count);
        }
      },
    });
    new Gauge({
      name: 'keda_llm_scaler_signal_value',
      help: 'Fleet value of each signal per pool, in the signal\'s own unit (absent when the pool has no fresh data).',
      labelNames: ['pool', 'signal'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const pool of pools()) {
          const snapshot = pool.store.published();
          for (const use of uses) {
            const evaluation = evaluateSignalOnce(snapshot, use);
            if (evaluation.ok) this.set({ pool: pool.name, signal: use.signal.name }, evaluation.value);
          }
        }
      },
    });
    this.watchDynamoPools(function* () {
      for (const { runtime, config } of entries()) {
        const labels = dynamoPoolLabels(runtime.name, config);
        if (labels) yield { labels, snapshot: runtime.store.published() };
      }
    });
  }

  /**
   * Dynamo's `llm_*` gauges (metrics component / metrics-keda) for Dynamo pools, computed when
   * Prometheus scrapes. Only fresh workers are exported; a pool value without fresh data is left
   * out, never 0 or NaN. A collected pool with no workers at all reports 0, as GetMetrics does.
   */
  private watchDynamoPools(pools: () => Iterable<{ labels: DynamoPoolLabels; snapshot: PoolSnapshot }>): void {
    const registers = [this.registry];
    for (const gauge of DYNAMO_POOL_GAUGES) {
      const use = useOf(findSignal(gauge.signal) as SignalDefinition, new Map());
      new Gauge({
        name: gauge.name,
        help: gauge.help,
        labelNames: ['pool', 'component', 'endpoint'],
        registers,
        collect() {
          this.reset();
          for (const { labels, snapshot } of pools()) {
            const evaluation = evaluateSignalOnce(snapshot, use);
            if (evaluation.ok && usable(evaluation.value)) this.set({ ...labels }, evaluation.value);
          }
        },
      });
    }
    for (const gauge of DYNAMO_WORKER_GAUGES) {
      new Gauge({
        name: gauge.name,
        help: gauge.help,
        labelNames: ['pool', 'component', 'endpoint', 'worker_id'],
        registers,
        collect() {
          this.reset();
          for (const { labels, snapshot } of pools()) {
            if (snapshot.sourceProblem !== undefined) continue;
            for (const { id, sample } of snapshot.fresh) {
              const value = gauge.pick(sample);
              if (usable(value)) this.set({ ...labels, worker_id: id }, value);
            }
          }
        },
      });
    }
  }

  scrapeFailed(pool: string, cause: FailureCause): void {
    this.scrapes.inc({ pool, result: 'error' });
    this.scrapeErrors.inc({ pool, cause });
  }

  scrapeSucceeded(pool: string): void {
    this.scrapes.inc({ pool, result: 'ok' });
  }
}
