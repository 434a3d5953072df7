import { evaluateSignal, evaluationKey } from '../signals/evaluate.js';
import { averageValue, type Evaluation, type SignalUse } from '../signals/types.js';
import type { PoolStore } from '../store/pool-store.js';
import { MAX_PLAUSIBLE_VALUE } from '../store/sample.js';
import type { SeriesQuery } from '../store/series-query.js';
import type { TriggerSpec } from './metadata.js';

/** A pool as triggers see it: its store and, optionally, a separate activation signal. */
export interface PoolRuntime {
  readonly name: string;
  readonly store: PoolStore;
  readonly activation?: ActivationRuntime;
}

export interface ActivationRuntime {
  readonly store: PoolStore;
  readonly use: SignalUse;
  readonly threshold: number;
  readonly model?: string;
}

export interface ActivationResult {
  readonly active: boolean;
  readonly evaluation: Evaluation;
  readonly threshold: number;
}

export type TriggerResult =
  | {
      readonly ok: true;
      /** What GetMetrics returns (AverageValue semantics unless valueMode is raw). */
      readonly value: number;
      readonly evaluation: Extract<Evaluation, { ok: true }>;
      readonly active: boolean;
      readonly activation?: ActivationResult;
    }
  | {
      readonly ok: false;
      readonly reason: string;
      readonly evaluation: Evaluation;
      /** The pool's activation signal can still say "active" when the main signal is unavailable. */
      readonly active: boolean;
      readonly activation?: ActivationResult;
    };

/**
 * One trigger (a parsed `scalerMetadata`) bound to its pool. It reads the pool's published
 * snapshot, whose evaluation is shared per snapshot by every trigger asking for the same signal:
 * a KEDA call between collections costs a map lookup and a multiplication.
 */
export class Trigger {
  private readonly key: string;
  /** The `custom` queries this trigger reads: each evaluation tells the store they are still wanted. */
  private readonly queries: readonly SeriesQuery[];

  constructor(
    readonly spec: TriggerSpec,
    readonly pool: PoolRuntime,
    /** The scalerMetadata it was parsed from, for the explain API. */
    readonly metadata: Readonly<Record<string, string>> = {},
    /** Set for policies answered from a plan computed elsewhere (policy sla): read instead of the snapshot. */
    private readonly planned?: () => Evaluation,
  ) {
    this.key = evaluationKey(spec.use, spec.model);
    this.queries = spec.use.signal.params?.queries?.(spec.use.params) ?? [];
  }

  evaluate(): TriggerResult {
    const { spec } = this;
    for (const query of this.queries) {
      // Taken back while unused or unmatched: asked for again, it is collected from the next scrape.
      if (!this.pool.store.touchQuery(query.key) && !this.pool.store.requireQuery(query)) {
        const reason = `query '${query.key}' is not collected: every custom query slot of pool '${this.pool.name}' is in use`;
        return { ok: false, reason, evaluation: { ok: false, reason, contributions: [] }, active: false };
      }
    }
    const evaluation = this.planned ? this.planned() : evaluateSignal(this.pool.store.published(), spec.use, spec.model, this.key);
    const activation = this.pool.activation ? evaluateActivation(this.pool.activation) : undefined;
    const activatedBySource = activation?.active === true;
    if (!evaluation.ok) return { ok: false, reason: evaluation.reason, evaluation, active: activatedBySource, activation };
    const value = spec.valueMode === 'raw' ? evaluation.value : averageValue(spec.use.kind, evaluation);
    if (!Number.isFinite(value) || value < 0 || value > MAX_PLAUSIBLE_VALUE) {
      // Defence in depth: a signal must never hand KEDA NaN, Inf, a negative number or one beyond
      // the bound that KEDA's conversion to milli-units survives.
      const why = value > MAX_PLAUSIBLE_VALUE ? `, above ${MAX_PLAUSIBLE_VALUE}` : '';
      const reason = `signal ${spec.use.signal.name} produced an unusable value (${value}${why})`;
      return { ok: false, reason, evaluation, active: activatedBySource, activation };
    }
    // Activation compares the fleet value in the signal's own unit (e.g. 0.05 = 5 % KV usage).
    const active = evaluation.value > spec.activationThreshold || activatedBySource;
    return { ok: true, value, evaluation, active, activation };
  }
}

function evaluateActivation(activation: ActivationRuntime): ActivationResult {
  const evaluation = evaluateSignal(activation.store.published(), activation.use, activation.model);
  return { active: evaluation.ok && evaluation.value > activation.threshold, evaluation, threshold: activation.threshold };
}
