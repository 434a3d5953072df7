/**
 * `/api/v1/service-times?pool=P&window=W`: the p50 and p95 of end-to-end request latency over the
 * window, and how many requests finished in it, from the pool's histograms — the `e2e_latency`
 * signal evaluated at quantiles 0.5 and 0.95 over the published snapshot, as a trigger would
 * (its `details.observations` is the count). What `keda-llm-scaler service-times` writes for `plan`.
 */
import { formatDuration } from '../config/duration.js';
import { evaluateSignal, useOf } from '../signals/evaluate.js';
import { MetadataError } from '../signals/metadata-error.js';
import type { Evaluation } from '../signals/types.js';
import { findSignal } from '../triggers/catalogue.js';
import type { PoolRuntime } from '../triggers/trigger.js';

export interface ServiceTimesAnswer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

const DEFAULT_WINDOW = '10m';

export function serviceTimesAnswer(runtime: PoolRuntime, query: { window?: string; model?: string }): ServiceTimesAnswer {
  const signal = findSignal('e2e_latency');
  if (!signal) return { status: 500, body: { error: 'the e2e_latency signal is missing from the catalogue' } };
  const windowText = query.window ?? DEFAULT_WINDOW;
  let uses;
  try {
    uses = [0.5, 0.95].map((q) =>
      useOf(
        signal,
        new Map([
          ['window', windowText],
          ['quantile', String(q)],
        ]),
      ),
    );
  } catch (error) {
    if (error instanceof MetadataError) return { status: 400, body: { error: error.message, key: error.key } };
    throw error;
  }
  const [p50Use, p95Use] = uses as [(typeof uses)[0], (typeof uses)[0]];
  const windowMs = (p50Use.params as { windowMs: number }).windowMs;
  // From now on the pool keeps that much history (a first answer may cover less: see effectiveWindowSeconds).
  runtime.store.requireHistory(windowMs);
  const snapshot = runtime.store.published();
  const p50 = evaluateSignal(snapshot, p50Use, query.model);
  const p95 = evaluateSignal(snapshot, p95Use, query.model);
  const base = { pool: runtime.name, window: formatDuration(windowMs), windowSeconds: windowMs / 1000, at: new Date(snapshot.at).toISOString() };
  if (!p50.ok || !p95.ok) return { status: 503, body: { ...base, error: unavailable(p50, p95) } };
  const details = p95.details ?? {};
  const count = typeof details['observations'] === 'number' ? details['observations'] : 0;
  if (count === 0) {
    return {
      status: 503,
      body: { ...base, error: `no request finished in pool '${runtime.name}' within the window (${base.window}): there is no service time to report` },
    };
  }
  return {
    status: 200,
    body: {
      ...base,
      p50: p50.value,
      p95: p95.value,
      count,
      workers: p95.readyWorkers,
      p50Bucket: p50.details?.['bucket'],
      p95Bucket: details['bucket'],
      ...(details['aboveHighestBucket'] ? { aboveHighestBucket: details['aboveHighestBucket'] } : {}),
      ...(details['effectiveWindowSeconds'] ? { effectiveWindowSeconds: details['effectiveWindowSeconds'] } : {}),
      ...(details['shorterWindows'] ? { shorterWindows: details['shorterWindows'] } : {}),
    },
  };
}

function unavailable(...evaluations: Evaluation[]): string {
  for (const e of evaluations) if (!e.ok) return e.reason;
  return 'unavailable';
}
