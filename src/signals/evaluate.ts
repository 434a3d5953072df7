import type { PoolSnapshot } from '../store/pool-store.js';
import type { Contribution, FleetEvaluation, SignalContext, SignalDefinition, SignalUse } from './types.js';
import { findSignal, signalNames } from './catalogue.js';

export type { FleetEvaluation } from './types.js';

let defaults: readonly SignalUse[] | undefined;

/**
 * Every signal that works without extra metadata or history, with its default parameters: what
 * `/metrics` and `/api/v1/pools/:name` show for each pool.
 */
export function defaultUses(): readonly SignalUse[] {
  defaults ??= signalNames().flatMap((name) => {
    const signal = findSignal(name);
    if (!signal) return [];
    let use: SignalUse;
    try {
      use = useOf(signal, new Map());
    } catch {
      return []; // needs metadata (e.g. a query): nothing to show by default
    }
    // Windowed signals are shown only for the windows triggers ask for (in their explanations):
    // a pool keeps history only when a trigger needs it.
    return (signal.params?.historyMs?.(use.params) ?? 0) > 0 ? [] : [use];
  });
  return defaults;
}

/** Resolves a signal and its parameters from metadata-like values (throws MetadataError). */
export function useOf(signal: SignalDefinition, values: ReadonlyMap<string, string>): SignalUse {
  if (!signal.params) return { signal, kind: signal.kind, params: undefined, paramsKey: '' };
  const params = signal.params.parse(values);
  return { signal, kind: signal.kindOf?.(params) ?? signal.kind, params, paramsKey: signal.params.key(params) };
}

/**
 * Computes one signal over a pool snapshot.
 *
 * A pool legitimately at zero workers is 0 (scale-from-zero then relies on activation); a pool
 * whose workers should exist but have no fresh data is unavailable: missing data is never zero.
 */
export function evaluateSignal(snapshot: PoolSnapshot, use: SignalUse, model?: string): FleetEvaluation {
  if (snapshot.sourceProblem !== undefined) {
    return { ok: false, reason: `pool '${snapshot.pool}' cannot be observed: ${snapshot.sourceProblem}`, contributions: [] };
  }
  const discovered = snapshot.workers.length;
  // A worker that answers for another model is known, not missing: it just is not in this fleet.
  const servesOtherModel = (w: PoolSnapshot['workers'][number]) => w.failure?.cause === 'model_mismatch';
  const notFresh: Contribution[] = snapshot.workers
    .filter((w) => w.state !== 'fresh' && !servesOtherModel(w))
    .map((w) => ({ worker: w.id, excluded: `${w.state}: ${w.reason ?? ''}`.trim() }));
  const otherModel: Contribution[] = [
    ...snapshot.workers.filter(servesOtherModel).map((w) => ({ worker: w.id, excluded: w.reason ?? 'serves another model' })),
    ...(model === undefined
      ? []
      : snapshot.fresh
          .filter((w) => !w.sample.models.includes(model))
          .map((w) => ({ worker: w.id, excluded: `serves ${w.sample.models.join(', ') || 'no model'}, not ${model}` }))),
  ];
  if (discovered === 0) {
    if (!snapshot.collected) return { ok: false, reason: `pool '${snapshot.pool}' has not been discovered yet`, contributions: [] };
    return { ok: true, value: 0, readyWorkers: 0, discoveredWorkers: 0, contributions: [] };
  }
  const candidates = model === undefined ? snapshot.fresh : snapshot.fresh.filter((w) => w.sample.models.includes(model));
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
  const outcome = use.signal.compute(candidates, use.params, contextFor(snapshot, use, model));
  const contributions = [...outcome.contributions, ...notFresh, ...otherModel];
  if (!outcome.ok) return { ok: false, reason: outcome.reason, contributions };
  return { ok: true, value: outcome.value, readyWorkers: outcome.contributors, discoveredWorkers: discovered, contributions, details: outcome.details };
}

function contextFor(snapshot: PoolSnapshot, use: SignalUse, model: string | undefined): SignalContext {
  const memoryKey = `${use.signal.name}\u0000${use.paramsKey}\u0000${model ?? ''}`;
  let memory = snapshot.memory.get(memoryKey);
  if (!memory) {
    memory = new Map();
    snapshot.memory.set(memoryKey, memory);
  }
  return {
    snapshot,
    memory,
    kindOf(name, values) {
      const signal = findSignal(name);
      return signal ? useOf(signal, values).kind : undefined;
    },
    evaluate(name, values) {
      const signal = findSignal(name);
      if (!signal) return { ok: false, reason: `unknown signal '${name}'`, contributions: [] };
      return evaluateSignalOnce(snapshot, useOf(signal, values), model);
    },
  };
}

const shared = new WeakMap<PoolSnapshot, Map<string, FleetEvaluation>>();

/**
 * `evaluateSignal`, computed once per snapshot, signal, parameters and model however many
 * triggers ask: a thousand ScaledObjects on one pool cost one evaluation per collection.
 */
export function evaluateSignalOnce(snapshot: PoolSnapshot, use: SignalUse, model?: string): FleetEvaluation {
  let bySignal = shared.get(snapshot);
  if (!bySignal) {
    bySignal = new Map();
    shared.set(snapshot, bySignal);
  }
  const key = `${use.signal.name}\u0000${use.paramsKey}\u0000${model ?? ''}`;
  let evaluation = bySignal.get(key);
  if (!evaluation) {
    evaluation = evaluateSignal(snapshot, use, model);
    bySignal.set(key, evaluation);
  }
  return evaluation;
}

/** The number KEDA receives for a fleet value under AverageValue semantics (SPEC §3). */
export function kedaValue(use: SignalUse, evaluation: { value: number; readyWorkers: number }, raw: boolean): number {
  if (raw || use.kind !== 'intensive') return evaluation.value;
  return evaluation.value * evaluation.readyWorkers;
}
