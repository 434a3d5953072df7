import type { FreshWorker } from '../store/pool-store.js';
import type { WorkerSample } from '../store/sample.js';
import type { Contribution, Evaluation, SignalDefinition } from './types.js';

export type Pick = (sample: WorkerSample) => number | undefined;

/** Per-worker values of one field; workers without it are listed as excluded, never counted as 0. */
export function collect(workers: readonly FreshWorker[], pick: Pick, missing: string): { values: number[]; contributions: Contribution[] } {
  const values: number[] = [];
  const contributions: Contribution[] = [];
  for (const { id, sample } of workers) {
    const value = pick(sample);
    if (value === undefined || !Number.isFinite(value)) {
      contributions.push({ worker: id, excluded: missing });
    } else {
      values.push(value);
      contributions.push({ worker: id, value });
    }
  }
  return { values, contributions };
}

function aggregate(name: string, reduce: 'sum' | 'mean', pick: Pick, what: string) {
  return (workers: readonly FreshWorker[]): Evaluation => {
    const { values, contributions } = collect(workers, pick, `does not report ${what}`);
    if (values.length === 0) return { ok: false, reason: `no fresh worker reports ${what} (${name})`, contributions };
    const total = values.reduce((a, b) => a + b, 0);
    return { ok: true, value: reduce === 'sum' ? total : total / values.length, readyWorkers: values.length, contributions };
  };
}

const kvBlocksUsagePercent = (workers: readonly FreshWorker[]): Evaluation => {
  let used = 0;
  let total = 0;
  let readyWorkers = 0;
  const contributions: Contribution[] = [];
  for (const { id, sample } of workers) {
    if (sample.kvBlocksUsed === undefined || sample.kvBlocksTotal === undefined || sample.kvBlocksTotal <= 0) {
      contributions.push({ worker: id, excluded: 'does not report its KV block count' });
      continue;
    }
    used += sample.kvBlocksUsed;
    total += sample.kvBlocksTotal;
    readyWorkers += 1;
    contributions.push({ worker: id, value: (100 * sample.kvBlocksUsed) / sample.kvBlocksTotal });
  }
  if (readyWorkers === 0) return { ok: false, reason: 'no fresh worker reports its KV block count (kv_blocks_usage_percent)', contributions };
  return { ok: true, value: (100 * used) / total, readyWorkers, contributions };
};

/**
 * Dynamo's `llm_load_std`: population standard deviation of active KV blocks over workers
 * (lib/llm/src/kv_router/scoring.rs), here over fresh workers only.
 */
const loadStd = (workers: readonly FreshWorker[]): Evaluation => {
  const { values, contributions } = collect(workers, (s) => s.kvBlocksUsed, 'does not report active KV blocks');
  if (values.length === 0) return { ok: false, reason: 'no fresh worker reports active KV blocks (load_std)', contributions };
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length;
  return { ok: true, value: Math.sqrt(variance), readyWorkers: values.length, contributions };
};

/** Signals read from the latest sample of each fresh worker. */
export const GAUGE_SIGNALS: readonly SignalDefinition[] = [
  {
    name: 'kv_cache_usage',
    kind: 'intensive',
    unit: 'fraction',
    description: 'mean KV-cache usage (0..1) over fresh workers',
    compute: aggregate('kv_cache_usage', 'mean', (s) => s.kvUsage, 'KV-cache usage'),
  },
  {
    name: 'kv_blocks_usage_percent',
    kind: 'intensive',
    unit: 'percent',
    description: '100 × Σ used KV blocks / Σ total KV blocks',
    compute: kvBlocksUsagePercent,
  },
  {
    name: 'load_avg',
    kind: 'intensive',
    unit: 'blocks',
    description: "mean active KV blocks per worker (Dynamo's llm_load_avg)",
    compute: aggregate('load_avg', 'mean', (s) => s.kvBlocksUsed, 'active KV blocks'),
  },
  {
    name: 'load_std',
    kind: 'intensive',
    unit: 'blocks',
    description: "population standard deviation of active KV blocks (Dynamo's llm_load_std)",
    compute: loadStd,
  },
  {
    name: 'queue_depth',
    kind: 'extensive',
    unit: 'requests',
    description: 'Σ requests waiting',
    compute: aggregate('queue_depth', 'sum', (s) => s.waiting, 'waiting requests'),
  },
  {
    name: 'running_requests',
    kind: 'extensive',
    unit: 'requests',
    description: 'Σ requests running',
    compute: aggregate('running_requests', 'sum', (s) => s.running, 'running requests'),
  },
];
