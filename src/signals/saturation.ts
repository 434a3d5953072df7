/**
 * `saturation`: the Gateway API Inference Extension EPP's roofline score, as a fleet value — the
 * mean over workers of max(queue / queueThreshold, kv / kvCacheThreshold), workers without fresh
 * metrics counting as saturated (1), never as idle (kubernetes-sigs/gateway-api-inference-extension,
 * `pkg/epp/framework/plugins/flowcontrol/saturationdetector/utilization`).
 */
import { notFreshMembers, type FreshWorker } from '../store/pool-store.js';
import { parseNumberKey } from './metadata-values.js';
import { define, type Contribution, type Evaluation, type SignalContext, type SignalDefinition } from './types.js';
import { round6 } from './rounding.js';

export interface SaturationParams {
  readonly queueThreshold: number;
  readonly kvCacheThreshold: number;
}

const finite = (v: number | undefined): v is number => v !== undefined && Number.isFinite(v);

/** Which of waiting requests and KV-cache usage a worker does not report, in words (or ''). */
export function missingLoadMetrics(queue: number | undefined, kv: number | undefined): string {
  return [queue === undefined ? 'waiting requests' : '', kv === undefined ? 'KV-cache usage' : ''].filter(Boolean).join(' and ');
}

function computeSaturation(workers: readonly FreshWorker[], p: SaturationParams, context: SignalContext): Evaluation {
  const contributions: Contribution[] = [];
  const perWorker: { worker: string; queue?: number; kv?: number; score: number; bound: string }[] = [];
  const countedSaturated: { worker: string; why: string }[] = [];
  let total = 0;
  for (const { id, sample } of workers) {
    const queue = finite(sample.waiting) ? sample.waiting : undefined;
    const kv = finite(sample.kvUsage) ? sample.kvUsage : undefined;
    if (queue === undefined || kv === undefined) {
      // EPP: missing metrics count as fully saturated — never as idle.
      countedSaturated.push({ worker: id, why: `does not report ${missingLoadMetrics(queue, kv)}` });
      perWorker.push({ worker: id, queue, kv, score: 1, bound: 'missing metrics' });
      contributions.push({ worker: id, value: 1 });
      total += 1;
      continue;
    }
    const byQueue = queue / p.queueThreshold;
    const byKv = kv / p.kvCacheThreshold;
    const score = Math.max(byQueue, byKv);
    perWorker.push({ worker: id, queue, kv, score: round6(score), bound: byQueue >= byKv ? 'queue' : 'kv' });
    contributions.push({ worker: id, value: score });
    total += score;
  }
  // Stale, failing and pending workers are in the mean as saturated (EPP: stale = saturated).
  const notFresh = notFreshMembers(context.snapshot);
  for (const w of notFresh) {
    countedSaturated.push({ worker: w.id, why: `${w.state}${w.reason ? `: ${w.reason}` : ''}` });
    total += 1;
  }
  const count = workers.length + notFresh.length;
  return {
    ok: true,
    value: total / count,
    readyWorkers: count,
    contributions,
    details: {
      formula: 'mean over workers of max(queue / queueThreshold, kv / kvCacheThreshold); workers without fresh metrics count as 1',
      queueThreshold: p.queueThreshold,
      kvCacheThreshold: p.kvCacheThreshold,
      workers: perWorker,
      countedSaturated,
      workersInMean: count,
    },
  };
}

export const SATURATION_SIGNAL: SignalDefinition = define<SaturationParams>({
  name: 'saturation',
  kind: 'intensive',
  unit: 'ratio',
  description: 'mean over workers of max(queue / queueThreshold, kv / kvCacheThreshold); workers without fresh metrics count as 1',
  params: {
    keys: ['queueThreshold', 'kvCacheThreshold'],
    parse: (values) => ({
      queueThreshold: parseNumberKey(values, 'queueThreshold', 5, 'a number > 0 (waiting requests at which a worker is saturated)', (n) => n > 0),
      kvCacheThreshold: parseNumberKey(
        values,
        'kvCacheThreshold',
        0.8,
        'a number > 0 and ≤ 1 (KV-cache usage at which a worker is saturated)',
        (n) => n > 0 && n <= 1,
      ),
    }),
    key: (p) => `${p.queueThreshold}/${p.kvCacheThreshold}`,
  },
  compute: computeSaturation,
});
