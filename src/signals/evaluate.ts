import type { Contribution, Evaluation, SignalContext, SignalDefinition, SignalUse } from './types.js';
import { notFreshMembers, type FreshWorker, type PoolSnapshot } from '../store/pool-store.js';

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
 * collections a map lookup. Besides the store's published snapshot, the read path's other memos
 * are before it: decoded request bodies (grpc/request-memo.ts) and parsed triggers
 * (triggers/trigger-registry.ts).
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
    const served = servedModels(snapshot, model);
    if (notFresh.length === 0) {
      // Only draining workers: the fleet is legitimately empty.
      if (otherModel.length === draining.length) return { ok: true, value: 0, readyWorkers: 0, contributions: otherModel };
      // Workers answer, but none for this model: a typo in `model` must not read as an idle fleet.
      return { ok: false, reason: noWorkerServes(snapshot.pool, model, served), contributions: otherModel };
    }
    const forModel = model ? ` and no fresh worker serves ${model}${served.length > 0 ? ` (fresh workers serve ${served.join(', ')})` : ''}` : '';
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
  const contributions = [...withNotes(outcome.contributions, candidates, snapshot.at), ...notFresh, ...otherModel];
  return outcome.ok ? { ...outcome, contributions } : { ok: false, reason: outcome.reason, contributions };
}

/** The models the pool's workers serve: those of fresh workers, and those named by a `model_mismatch`. */
function servedModels(snapshot: PoolSnapshot, model: string | undefined): string[] {
  const served = new Set<string>();
  for (const w of snapshot.fresh) for (const m of w.sample.models) if (m !== model) served.add(m);
  for (const w of snapshot.workers) for (const m of w.failure?.models ?? []) served.add(m);
  return [...served].sort();
}

function noWorkerServes(pool: string, model: string | undefined, served: readonly string[]): string {
  const which = served.length > 0 ? `its workers serve ${served.map((m) => JSON.stringify(m)).join(', ')}` : 'its workers report no model name';
  // Without a trigger-level model, the workers were refused by the pool's own `model`.
  const asked = model === undefined ? "the pool's model" : JSON.stringify(model);
  return `no worker in pool '${pool}' serves ${asked}: ${which}; check the model key (names are case-sensitive)`;
}

/**
 * Counted workers' notes: a worker whose latest attempt failed is counted with its last good value
 * (and its age says how long that lasts), and corrections made to its values.
 */
function withNotes(contributions: readonly Contribution[], candidates: readonly FreshWorker[], at: number): readonly Contribution[] {
  let noted: Map<string, string> | undefined;
  for (const w of candidates) {
    const parts: string[] = [];
    if (w.failure) {
      const age = Math.round((at - w.sample.at) / 100) / 10;
      parts.push(`last good value, ${age}s old (latest attempt failed: ${w.failure.cause}: ${w.failure.message})`);
    }
    if (w.sample.notes) parts.push(...w.sample.notes);
    if (parts.length > 0) (noted ??= new Map()).set(w.id, parts.join('; '));
  }
  if (noted === undefined) return contributions;
  const notes = noted;
  return contributions.map((c) => {
    const note = c.excluded === undefined ? notes.get(c.worker) : undefined;
    return note === undefined ? c : { ...c, note };
  });
}
