import type { FreshWorker, PoolSnapshot, StateScope } from '../store/pool-store.js';
import type { SeriesQuery } from '../store/series-query.js';
import { round3 } from './rounding.js';

/**
 * How a fleet value maps to what KEDA's default AverageValue HPA divides by the replica count:
 * extensive signals are fleet totals; intensive ones are per-worker levels and are multiplied by
 * the number of ready workers so that HPA scales proportionally; `replicas` signals are already a
 * replica count (used with target 1).
 */
export type SignalKind = 'extensive' | 'intensive' | 'replicas';

export interface Contribution {
  readonly worker: string;
  /** The worker's own value of the signal, when it has one. */
  readonly value?: number;
  /** Why the worker was left out of this signal. */
  readonly excluded?: string;
  /** For windowed signals: the time the worker's window actually covers (shorter than asked while history builds up). */
  readonly windowSeconds?: number;
  /** What to know about a counted worker's value: it is its last good one (and how old), or it was read with a correction. */
  readonly note?: string;
}

/** A signal's value for a fleet, or why there is none. Every signal and policy answers with one. */
export type Evaluation =
  | {
      readonly ok: true;
      /** The signal's value for the fleet, in its own unit. */
      readonly value: number;
      /** Workers the value stands for: what an intensive value is multiplied by under AverageValue. */
      readonly readyWorkers: number;
      readonly contributions: readonly Contribution[];
      /** Anything else worth showing when someone asks why (inputs, intermediate values, a decision). */
      readonly details?: Readonly<Record<string, unknown>>;
    }
  | { readonly ok: false; readonly reason: string; readonly contributions: readonly Contribution[] };

/** What a signal sees besides its candidate workers. */
export interface SignalContext {
  /** The whole pool, including workers that are not fresh (e.g. counted as saturated, or a reason to hold). */
  readonly snapshot: PoolSnapshot;
  /**
   * Evaluates another signal (a composite's parts) over the same pool and model. Shared per
   * snapshot with every trigger that asks for the same signal directly.
   */
  evaluate(use: SignalUse): Evaluation;
  /**
   * The identity of state kept across snapshots for this pool, signal, parameters and model (e.g.
   * a stabilization window's recent recommendations); evaluation happens once per snapshot.
   */
  readonly state: StateScope;
}

/** The trigger-metadata keys a signal reads beyond the common ones, and how to validate them. */
export interface SignalParams<P> {
  readonly keys: readonly string[];
  /** Validates the values of `keys` present in the metadata; throws MetadataError naming the key. */
  parse(values: ReadonlyMap<string, string>): P;
  /** Equal parameters give equal keys, so triggers that agree share one evaluation. */
  key(params: P): string;
  /** How much sample history (ms) these parameters need; the pool keeps at least that much. */
  historyMs?(params: P): number;
  /** Series queries the pool's source must collect into `WorkerSample.custom`. */
  queries?(params: P): readonly SeriesQuery[];
}

export interface SignalDefinition<P = unknown> {
  readonly name: string;
  readonly kind: SignalKind;
  readonly unit: string;
  readonly description: string;
  readonly params?: SignalParams<P>;
  /** When the kind depends on the parameters (custom: a sum is a total, an average a level). */
  kindOf?(params: P): SignalKind;
  compute(workers: readonly FreshWorker[], params: P, context: SignalContext): Evaluation;
}

/** A signal with its parsed parameters: what a trigger evaluates. */
export interface SignalUse {
  readonly signal: SignalDefinition;
  /** The signal's kind for these parameters. */
  readonly kind: SignalKind;
  readonly params: unknown;
  readonly paramsKey: string;
}

/** A signal with typed parameters, as catalogues hold it. */
export function define<P>(signal: SignalDefinition<P>): SignalDefinition {
  return signal as SignalDefinition;
}

/** The contributions split the way every report shows them: who counted, and who was left out and why. */
export function splitContributions(contributions: readonly Contribution[]): {
  included: { worker: string; value?: number; windowSeconds?: number; note?: string }[];
  excluded: { worker: string; why: string }[];
} {
  const included: { worker: string; value?: number; windowSeconds?: number; note?: string }[] = [];
  const excluded: { worker: string; why: string }[] = [];
  for (const c of contributions) {
    if (c.excluded !== undefined) excluded.push({ worker: c.worker, why: c.excluded });
    else {
      const shown: { worker: string; value?: number; windowSeconds?: number; note?: string } =
        c.windowSeconds === undefined ? { worker: c.worker, value: c.value } : { worker: c.worker, value: c.value, windowSeconds: round3(c.windowSeconds) };
      if (c.note !== undefined) shown.note = c.note;
      included.push(shown);
    }
  }
  return { included, excluded };
}

/**
 * The number KEDA receives for a fleet value under AverageValue semantics (KEDA's default): levels are
 * multiplied by the ready workers so that HPA's ceil(value / target) scales proportionally.
 */
export function averageValue(kind: SignalKind, evaluation: { readonly value: number; readonly readyWorkers: number }): number {
  return kind === 'intensive' ? evaluation.value * evaluation.readyWorkers : evaluation.value;
}
