/** Latency quantiles over a window (`ttft`, `itl`, `e2e_latency`), from the fleet's merged histogram deltas. */
import { formatDuration } from '../../config/duration.js';
import type { FreshWorker } from '../../store/pool-store.js';
import type { HistogramName } from '../../store/sample.js';
import type { Contribution, Evaluation, SignalContext } from '../types.js';
import { bucketQuantile, mergeDeltas, type MergeInput } from './histogram-window.js';
import { windowDelta } from './window-span.js';
import type { QuantileParams } from './window-params.js';
import { idleOrUnknown, noUsableWorker, spanReason, WindowReport, type WindowProblem } from './window-report.js';

const HISTOGRAM_WHAT: Readonly<Partial<Record<HistogramName, string>>> = {
  ttft: 'a time-to-first-token histogram',
  itl: 'an inter-token-latency histogram',
  e2eLatency: 'an end-to-end request latency histogram',
};

/**
 * The `quantile` of a histogram's observations inside the window, merged over the fleet.
 * `observed` names one observation ("first token") for the idle-fleet rule.
 */
export function latencyQuantile(name: string, histogram: HistogramName, observed: string) {
  const what = HISTOGRAM_WHAT[histogram] ?? `a ${histogram} histogram`;
  return (workers: readonly FreshWorker[], params: QuantileParams, context: SignalContext): Evaluation => {
    const cutoff = context.snapshot.at - params.windowMs;
    const report = new WindowReport(params.windowMs);
    const contributions: Contribution[] = [];
    const inputs: MergeInput[] = [];
    const windows = new Map<string, number>();
    const problems: WindowProblem[] = [];
    for (const worker of workers) {
      const result = windowDelta(worker, cutoff, histogram);
      if (!result.ok) {
        contributions.push({ worker: worker.id, excluded: spanReason(result.problem, what) });
        problems.push(result.problem);
        continue;
      }
      report.add(result.span);
      windows.set(worker.id, result.span.seconds);
      inputs.push({ id: worker.id, delta: result.delta });
    }
    if (inputs.length === 0) return { ok: false, reason: `${noUsableWorker(problems, what)} (${name})`, contributions };
    const merge = mergeDeltas(inputs);
    const byId = new Map(inputs.map((i) => [i.id, i.delta]));
    for (const id of merge.included) {
      const own = byId.get(id);
      const value = own && own.count > 0 ? bucketQuantile(params.quantile, own)?.value : undefined;
      const windowSeconds = windows.get(id);
      contributions.push(value === undefined ? { worker: id, windowSeconds } : { worker: id, value, windowSeconds });
    }
    for (const { id, reason } of merge.excluded) contributions.push({ worker: id, excluded: reason });
    const merged = merge.merged;
    const details: Record<string, unknown> = {
      ...report.details(),
      quantile: params.quantile,
      observations: merged?.count ?? 0,
      ...(merge.projected.length > 0 ? { projectedOntoCoarserBuckets: merge.projected.length } : {}),
    };
    const readyWorkers = merge.included.length;
    if (!merged || merged.count === 0) {
      return idleOrUnknown(workers, `no ${observed} was observed in the window (${formatDuration(params.windowMs)})`, contributions, readyWorkers, details);
    }
    const q = bucketQuantile(params.quantile, merged);
    if (!q) return { ok: false, reason: `${what} has no finite bucket bound to interpolate in (${name})`, contributions };
    if (q.overflow) details['aboveHighestBucket'] = `the ${params.quantile} quantile lies above the highest finite bound ${q.value}; reported as that bound`;
    else details['bucket'] = [q.lower, q.upper];
    return { ok: true, value: q.value, readyWorkers, contributions, details };
  };
}
