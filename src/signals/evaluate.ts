import type { Contribution, Evaluation, SignalContext, SignalDefinition, SignalUse } from './types.js';
import { notFreshMembers, type PoolSnapshot } from '../store/pool-store.js';

/** Resolves a signal and its parameters from metadata-like values (throws MetadataError). */
export function useOf(signal: SignalDefinition, values: ReadonlyMap<string, string>): SignalUse {
  if (!signal.params) return { signal, kind: signal.kind, params: undefined, paramsKey: '' };
  const params = signal.params.parse(values);
  return { signal, kind: signal.kindOf?.(params) ?? signal.kind, params, paramsKey: signal.params.key(params) };
}

/** Equal uses over the same model share this key, and so one evaluation per snapshot. */
export function evaluationKey(use: SignalUse, model: string | undefined): string {
  return `${use.signal.name}\u0000${use.paramsKey}\u0000${model ?? ''}`;
}

/**
 * One evaluation per snapshot, signal, parameters and model however many triggers ask: a
 * thousand ScaledObjects on one pool cost one evaluation per collection, and KEDA's calls between
 * collections a map lookup. This is the only memo on the read path besides the store's published
 * snapshot.
 */
const evaluations = new WeakMap<PoolSnapshot, Map<string, Evaluation>>();

/**
 * A signal's value over a pool snapshot, computed at most once per snapshot and key.
 *
 * A pool legitimately at zero workers is 0 (scale-from-zero then relies on activation); a pool
 * whose workers should exist but have no fresh data is unavailable: missing data is never zero.
 */
export function evaluateSignal(snapshot: PoolSnapshot, use: SignalUse, model?: string, key: string = evaluationKey(use, model)): Evaluation {
  let bySnapshot = evaluations.get(snapshot);
  if (!bySnapshot) {
    bySnapshot = new Map();
    evaluations.set(snapshot, bySnapshot);
  }
  let evaluation = bySnapshot.get(key);
  if (!evaluation) {
    evaluation = computeOver(snapshot, use, model, key);
    bySnapshot.set(key, evaluation);
  }
  return evaluation;
}

function computeOver(snapshot: PoolSnapshot, use: SignalUse, model: string | undefined, key: string): Evaluation {
  if (snapshot.sourceProblem !== undefined) {
    return { ok: false, reason: `pool '${snapshot.pool}' cannot be observed: ${snapshot.sourceProblem}`, contributions: [] };
  }
  const discovered = snapshot.workers.length;
  const notFresh: Contribution[] = notFreshMembers(snapshot).map((w) => ({ worker: w.id, excluded: `${w.state}: ${w.reason ?? ''}`.trim() }));
  // A worker that answers for another model is known, not missing: it just is not in this fleet.
  // A draining worker (terminating, still serving its last requests) is shown but never counted.
  const draining: Contribution[] = snapshot.workers
    .filter((w) => w.state === 'draining')
    .map((w) => ({ worker: w.id, excluded: `draining: ${w.reason ?? 'terminating'}; left out of the fleet and of replica counts` }));
  const otherModel: Contribution[] = [
    ...draining,
    ...snapshot.workers.filter((w) => w.failure?.cause === 'model_mismatch').map((w) => ({ worker: w.id, excluded: w.reason ?? 'serves another model' })),
    ...(model === undefined
      ? []
      : snapshot.fresh
          .filter((w) => !w.sample.models.includes(model))
          .map((w) => ({ worker: w.id, excluded: `serves ${w.sample.models.join(', ') || 'no model'}, not ${model}` }))),
  ];
  if (discovered === 0) {
    if (!snapshot.collected) return { ok: false, reason: `pool '${snapshot.pool}' has not been discovered yet`, contributions: [] };
    return { ok: true, value: 0, readyWorkers: 0, contributions: [] };
  }
  const candidates = model === undefined ? snapshot.fresh : snapshot.fresh.filter((w) => w.sample.models.includes(model));
  if (candidates.length === 0) {
    if (notFresh.length === 0) {
      // Every worker is known and none serves this model: that is a real zero, not missing data.
      return { ok: true, value: 0, readyWorkers: 0, contributions: otherModel };
    }
    const forModel = model ? ` and no fresh worker serves ${model}` : '';
    return {
      ok: false,
      reason: `no fresh data in pool '${snapshot.pool}': ${notFresh.length} of ${discovered} workers are not fresh${forModel}`,
      contributions: [...notFresh, ...otherModel],
    };
  }
  const context: SignalContext = {
    snapshot,
    state: snapshot.state.scope(key),
    evaluate: (other) => evaluateSignal(snapshot, other, model),
  };
  const outcome = use.signal.compute(candidates, use.params, context);
  const contributions = [...outcome.contributions, ...notFresh, ...otherModel];
  return outcome.ok ? { ...outcome, contributions } : { ok: false, reason: outcome.reason, contributions };
}
