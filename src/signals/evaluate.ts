import type { PoolSnapshot } from '../store/pool-store.js';
import type { Contribution, SignalDefinition } from './catalogue.js';

export type FleetEvaluation =
  | {
      readonly ok: true;
      /** The signal's value for the fleet, in its own unit. */
      readonly value: number;
      /** Fresh workers that contributed to the value. */
      readonly readyWorkers: number;
      readonly discoveredWorkers: number;
      readonly contributions: readonly Contribution[];
    }
  | { readonly ok: false; readonly reason: string; readonly contributions: readonly Contribution[] };

/**
 * Computes one signal over a pool snapshot.
 *
 * A pool legitimately at zero workers is 0 (scale-from-zero then relies on activation); a pool
 * whose workers should exist but have no fresh data is unavailable: missing data is never zero.
 */
export function evaluateSignal(snapshot: PoolSnapshot, signal: SignalDefinition, model?: string): FleetEvaluation {
  if (snapshot.sourceProblem !== undefined) {
    return { ok: false, reason: `pool '${snapshot.pool}' cannot be observed: ${snapshot.sourceProblem}`, contributions: [] };
  }
  const discovered = snapshot.workers.length;
  // A worker that answers for another model is known, not missing: it just is not in this fleet.
  const servesOtherModel = (w: PoolSnapshot['workers'][number]) => w.failure?.cause === 'model_mismatch';
  const notFresh: Contribution[] = snapshot.workers
    .filter((w) => w.state !== 'fresh' && !servesOtherModel(w))
    .map((w) => ({ worker: w.id, excluded: `${w.state}: ${w.reason ?? ''}`.trim() }));
  const otherModelFailures: Contribution[] = snapshot.workers
    .filter(servesOtherModel)
    .map((w) => ({ worker: w.id, excluded: w.reason ?? 'serves another model' }));
  if (discovered === 0) {
    if (!snapshot.collected) return { ok: false, reason: `pool '${snapshot.pool}' has not been discovered yet`, contributions: [] };
    return { ok: true, value: 0, readyWorkers: 0, discoveredWorkers: 0, contributions: [] };
  }
  const candidates = model === undefined ? snapshot.fresh : snapshot.fresh.filter((w) => w.sample.models.includes(model));
  const otherModel: Contribution[] = [
    ...otherModelFailures,
    ...(model === undefined ? [] : snapshot.fresh.filter((w) => !w.sample.models.includes(model)).map((w) => ({ worker: w.id, excluded: `serves ${w.sample.models.join(', ') || 'no model'}, not ${model}` }))),
  ];
  if (candidates.length === 0) {
    if (notFresh.length === 0) {
      // Every worker is known and none serves this model: that is a real zero, not missing data.
      return { ok: true, value: 0, readyWorkers: 0, discoveredWorkers: discovered, contributions: otherModel };
    }
    return {
      ok: false,
      reason: `no fresh data in pool '${snapshot.pool}': ${notFresh.length} of ${discovered} workers are not fresh${model ? ` and no fresh worker serves ${model}` : ''}`,
      contributions: [...notFresh, ...otherModel],
    };
  }
  const outcome = signal.compute(candidates);
  const contributions = [...outcome.contributions, ...notFresh, ...otherModel];
  if (!outcome.ok) return { ok: false, reason: outcome.reason, contributions };
  return { ok: true, value: outcome.value, readyWorkers: outcome.contributors, discoveredWorkers: discovered, contributions };
}

const shared = new WeakMap<PoolSnapshot, Map<string, FleetEvaluation>>();

/**
 * `evaluateSignal`, computed once per snapshot, signal and model however many triggers ask:
 * a thousand ScaledObjects on one pool cost one evaluation per collection, not a thousand.
 */
export function evaluateSignalOnce(snapshot: PoolSnapshot, signal: SignalDefinition, model?: string): FleetEvaluation {
  let bySignal = shared.get(snapshot);
  if (!bySignal) {
    bySignal = new Map();
    shared.set(snapshot, bySignal);
  }
  const key = model === undefined ? signal.name : `${signal.name}\u0000${model}`;
  let evaluation = bySignal.get(key);
  if (!evaluation) {
    evaluation = evaluateSignal(snapshot, signal, model);
    bySignal.set(key, evaluation);
  }
  return evaluation;
}

/** The number KEDA receives for a fleet value under AverageValue semantics (SPEC §3). */
export function kedaValue(signal: SignalDefinition, evaluation: { value: number; readyWorkers: number }, raw: boolean): number {
  if (raw || signal.kind === 'extensive') return evaluation.value;
  return evaluation.value * evaluation.readyWorkers;
}
