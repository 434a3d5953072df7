/**
 * The per-pool gauges on `/metrics`: workers by state, each default signal's fleet value, and
 * NVIDIA Dynamo's `llm_*` gauges for Dynamo pools, as its metrics component exported them.
 */
import { Gauge, type Registry } from 'prom-client';
import { DYNAMO_DEFAULTS, type PoolConfig } from '../config/schema.js';
import { evaluateSignal, useOf } from '../signals/evaluate.js';
import { countByState, type PoolSnapshot } from '../store/pool-store.js';
import type { WorkerSample } from '../store/sample.js';
import { defaultUses, findSignal } from '../triggers/catalogue.js';
import type { PoolRuntime } from '../triggers/trigger.js';

/**
 * The labels of Dynamo's `llm_*` gauges (components/metrics, and metrics-keda's README), plus
 * `pool`, which keeps two pools on the same component (in different Dynamo namespaces) apart.
 */
export interface DynamoPoolLabels {
  readonly pool: string;
  readonly component: string;
  readonly endpoint: string;
}

/** The endpoint label of a dynamo-http pool: Dynamo's default worker endpoint (`dyn://dynamo.backend.generate`). */
export const DYNAMO_HTTP_ENDPOINT = 'generate';

/**
 * How a pool appears in the `llm_*` gauges, or undefined for a pool that is not Dynamo's.
 * A dynamo-nats pool uses its `component` and `endpoint` (the default endpoint when unset); a
 * dynamo-http pool has neither in its configuration, so its name stands for the component and the
 * endpoint is `generate`.
 */
export function dynamoPoolLabels(name: string, config: Pick<PoolConfig, 'source' | 'component' | 'endpoint'>): DynamoPoolLabels | undefined {
  if (config.source === 'dynamo-nats') return { pool: name, component: config.component ?? name, endpoint: config.endpoint ?? DYNAMO_DEFAULTS.endpoint };
  if (config.source === 'dynamo-http') return { pool: name, component: name, endpoint: DYNAMO_HTTP_ENDPOINT };
  return undefined;
}

/** Per-worker `llm_*` gauges and the WorkerSample field each reads. */
const DYNAMO_WORKER_GAUGES: readonly { name: string; help: string; pick: (s: WorkerSample) => number | undefined }[] = [
  { name: 'llm_kv_blocks_active', help: 'KV blocks in use on the worker (Dynamo kv_active_blocks).', pick: (s) => s.kvBlocksUsed },
  { name: 'llm_kv_blocks_total', help: 'KV blocks the worker has in total (Dynamo kv_total_blocks).', pick: (s) => s.kvBlocksTotal },
  // Dynamo's engines fill request_active_slots with their running requests; HTTP workers report those.
  {
    name: 'llm_requests_active_slots',
    help: 'Request slots in use on the worker (Dynamo request_active_slots; running requests when only those are reported).',
    pick: (s) => s.activeSlots ?? s.running,
  },
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
 * Per-pool gauges, computed when Prometheus scrapes (never on KEDA's path): workers by state
 * and each signal's fleet value. A signal without fresh data is left out, not exported as 0.
 */
export function registerPoolGauges(registry: Registry, entries: () => Iterable<{ readonly runtime: PoolRuntime; readonly config: PoolConfig }>): void {
  const pools = function* () {
    for (const entry of entries()) yield entry.runtime;
  };
  const uses = defaultUses();
  new Gauge({
    name: 'keda_llm_scaler_pool_workers',
    help: 'Workers per pool by state (fresh, stale, failing, pending).',
    labelNames: ['pool', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      for (const pool of pools()) {
        for (const [state, count] of Object.entries(countByState(pool.store.published()))) this.set({ pool: pool.name, state }, count);
      }
    },
  });
  new Gauge({
    name: 'keda_llm_scaler_signal_value',
    help: "Fleet value of each signal per pool, in the signal's own unit (absent when the pool has no fresh data).",
    labelNames: ['pool', 'signal'],
    registers: [registry],
    collect() {
      this.reset();
      for (const pool of pools()) {
        const snapshot = pool.store.published();
        for (const use of uses) {
          const evaluation = evaluateSignal(snapshot, use);
          if (evaluation.ok) this.set({ pool: pool.name, signal: use.signal.name }, evaluation.value);
        }
      }
    },
  });
  registerDynamoGauges(registry, function* () {
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
function registerDynamoGauges(registry: Registry, pools: () => Iterable<{ labels: DynamoPoolLabels; snapshot: PoolSnapshot }>): void {
  const registers = [registry];
  for (const gauge of DYNAMO_POOL_GAUGES) {
    const use = useOf(findSignal(gauge.signal)!, new Map());
    new Gauge({
      name: gauge.name,
      help: gauge.help,
      labelNames: ['pool', 'component', 'endpoint'],
      registers,
      collect() {
        this.reset();
        for (const { labels, snapshot } of pools()) {
          const evaluation = evaluateSignal(snapshot, use);
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
