/**
 * One adjustment interval's observations from the pool's history, as Dynamo's planner reads
 * Prometheus (`increase(X_sum[I]) / increase(X_count[I])`, `increase(requests_total[I])`;
 * ai-dynamo/dynamo `components/planner/src/dynamo/planner/utils/prometheus.py`), but per worker
 * and merged over the pool: Σ Δsum ÷ Σ Δcount. A window never spans a restart
 * (signals/windowed/window-span.ts), and each worker's increase is scaled to exactly one
 * interval, as Prometheus' `increase` extrapolates.
 */
import { counterReader, histogramReader, windowSpan, type FieldReader } from '../../signals/windowed/window-span.js';
import type { FreshWorker } from '../../store/pool-store.js';
import type { CumulativeHistogram, HistogramName } from '../../store/sample.js';
import type { IntervalObservation } from './formulas.js';

export type Observed =
  { readonly ok: true; readonly observation: IntervalObservation; readonly workers: number } | { readonly ok: false; readonly reason: string };

const MEANS: readonly { key: keyof Omit<IntervalObservation, 'requests'>; histogram: HistogramName }[] = [
  { key: 'isl', histogram: 'requestPromptTokens' },
  { key: 'osl', histogram: 'requestGenerationTokens' },
  { key: 'ttftSeconds', histogram: 'ttft' },
  { key: 'itlSeconds', histogram: 'itl' },
  { key: 'durationSeconds', histogram: 'e2eLatency' },
];

/** Finished requests: the success counter, else the end-to-end latency histogram's count. */
function requestReader(worker: FreshWorker): FieldReader<number> | undefined {
  if (worker.sample.counters.requestSuccess !== undefined) return counterReader('requestSuccess');
  const h = histogramReader('e2eLatency');
  if (!worker.sample.histograms.e2eLatency) return undefined;
  return { fields: h.fields, fromSample: (s) => h.fromSample(s)?.count, fromHistory: (hist, row) => h.fromHistory(hist, row)?.count };
}

export function observeInterval(workers: readonly FreshWorker[], intervalMs: number, now: number): Observed {
  const cutoff = now - intervalMs;
  let requests = 0;
  let counted = 0;
  const problems: string[] = [];
  const sums = new Map<string, { sum: number; count: number }>();
  for (const worker of workers) {
    const reader = requestReader(worker);
    if (!reader) {
      problems.push(`${worker.id}: reports no finished-request counter`);
      continue;
    }
    const span = windowSpan(worker, cutoff, reader);
    if (!span.ok) {
      problems.push(`${worker.id}: ${span.problem === 'short' ? 'not two samples yet' : span.problem}`);
      continue;
    }
    counted += 1;
    requests += ((span.currentValue - span.baseValue) * intervalMs) / 1000 / span.seconds;
    for (const { key, histogram } of MEANS) {
      const s = windowSpan<CumulativeHistogram>(worker, cutoff, histogramReader(histogram));
      if (!s.ok) continue;
      const dCount = s.currentValue.count - s.baseValue.count;
      const dSum = s.currentValue.sum - s.baseValue.sum;
      if (!(dCount > 0) || !Number.isFinite(dSum)) continue;
      const acc = sums.get(key) ?? { sum: 0, count: 0 };
      acc.sum += dSum;
      acc.count += dCount;
      sums.set(key, acc);
    }
  }
  if (counted === 0) {
    return {
      ok: false,
      reason: workers.length === 0 ? 'no worker has fresh data' : `no worker has a finished-request count over the interval (${problems.join('; ')})`,
    };
  }
  const observation: { -readonly [K in keyof IntervalObservation]: IntervalObservation[K] } = { requests };
  if (requests > 0) {
    for (const { key } of MEANS) {
      const acc = sums.get(key);
      if (acc && acc.count > 0) observation[key] = acc.sum / acc.count;
    }
  }
  return { ok: true, observation, workers: counted };
}
