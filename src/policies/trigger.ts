import { evaluateSignalOnce, kedaValue, type FleetEvaluation } from '../signals/evaluate.js';
import type { SignalUse } from '../signals/types.js';
import type { PoolSnapshot, PoolStore } from '../store/pool-store.js';
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
  readonly evaluation: FleetEvaluation;
  readonly threshold: number;
}

export type TriggerResult =
  | {
      readonly ok: true;
      /** What GetMetrics returns (AverageValue semantics unless valueMode is raw). */
      readonly value: number;
      readonly evaluation: Extract<FleetEvaluation, { ok: true }>;
      readonly active: boolean;
      readonly activation?: ActivationResult;
    }
  | {
      readonly ok: false;
      readonly reason: string;
      readonly evaluation: FleetEvaluation;
      /** The pool's activation signal can still say "active" when the main signal is unavailable. */
      readonly active: boolean;
      readonly activation?: ActivationResult;
    };

/**
 * One trigger (a parsed `scalerMetadata`) bound to its pool. Evaluation reads the pool's
 * snapshot and is memoised per snapshot, so KEDA's calls cost a comparison between collections.
 */
export class Trigger {
  private lastSnapshot?: PoolSnapshot;
  private lastActivationSnapshot?: PoolSnapshot;
  private memo?: TriggerResult;

  constructor(
    readonly spec: TriggerSpec,
    readonly pool: PoolRuntime,
    /** The scalerMetadata it was parsed from, for the explain API. */
    readonly metadata: Readonly<Record<string, string>> = {},
  ) {}

  evaluate(): TriggerResult {
    const snapshot = this.pool.store.published();
    const activationSnapshot = this.pool.activation?.store.published();
    if (this.memo && snapshot === this.lastSnapshot && activationSnapshot === this.lastActivationSnapshot) return this.memo;
    this.lastSnapshot = snapshot;
    this.lastActivationSnapshot = activationSnapshot;
    this.memo = this.compute(snapshot, activationSnapshot);
    return this.memo;
  }

  private compute(snapshot: PoolSnapshot, activationSnapshot: PoolSnapshot | undefined): TriggerResult {
    const { spec } = this;
    const evaluation = evaluateSignalOnce(snapshot, spec.use, spec.model);
    const activation = this.pool.activation && activationSnapshot ? evaluateActivation(this.pool.activation, activationSnapshot) : undefined;
    const activatedBySource = activation?.active === true;
    if (!evaluation.ok) return { ok: false, reason: evaluation.reason, evaluation, active: activatedBySource, activation };
    const value = kedaValue(spec.use, evaluation, spec.valueMode === 'raw');
    if (!Number.isFinite(value) || value < 0) {
      // Defence in depth: a signal must never hand KEDA NaN, Inf or a negative number.
      return { ok: false, reason: `signal ${spec.use.signal.name} produced an unusable value (${value})`, evaluation, active: activatedBySource, activation };
    }
    // Activation compares the fleet value in the signal's own unit (e.g. 0.05 = 5 % KV usage).
    const active = evaluation.value > spec.activationThreshold || activatedBySource;
    return { ok: true, value, evaluation, active, activation };
  }
}

function evaluateActivation(activation: ActivationRuntime, snapshot: PoolSnapshot): ActivationResult {
  const evaluation = evaluateSignalOnce(snapshot, activation.use, activation.model);
  return { active: evaluation.ok && evaluation.value > activation.threshold, evaluation, threshold: activation.threshold };
}
