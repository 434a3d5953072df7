import type { FreshWorker, PoolSnapshot } from '../store/pool-store.js';

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
}

export type SignalOutcome =
  | {
      readonly ok: true;
      readonly value: number;
      readonly contributors: number;
      readonly contributions: readonly Contribution[];
      /** Anything else worth showing when someone asks why (inputs, intermediate values, a decision). */
      readonly details?: Readonly<Record<string, unknown>>;
    }
  | { readonly ok: false; readonly reason: string; readonly contributions: readonly Contribution[] };

export type FleetEvaluation =
  | {
      readonly ok: true;
      /** The signal's value for the fleet, in its own unit. */
      readonly value: number;
      /** Fresh workers that contributed to the value. */
      readonly readyWorkers: number;
      readonly discoveredWorkers: number;
      readonly contributions: readonly Contribution[];
      readonly details?: Readonly<Record<string, unknown>>;
    }
  | { readonly ok: false; readonly reason: string; readonly contributions: readonly Contribution[] };

/** What a signal sees besides its candidate workers. */
export interface SignalContext {
  /** The whole pool, including workers that are not fresh (e.g. counted as saturated, or a reason to hold). */
  readonly snapshot: PoolSnapshot;
  /** Evaluates another signal over the same pool and model (for composite policies). */
  evaluate(signal: string, metadata: ReadonlyMap<string, string>): FleetEvaluation;
  /** The kind another signal has with these metadata values (undefined for an unknown signal). */
  kindOf(signal: string, metadata: ReadonlyMap<string, string>): SignalKind | undefined;
  /**
   * State kept across snapshots for this pool, signal and parameters (e.g. a stabilization
   * window's recent recommendations). Evaluation happens once per snapshot, not per call.
   */
  readonly memory: Map<string, unknown>;
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
  /** Series queries (canonical text) the pool's source must collect into `WorkerSample.custom`. */
  queries?(params: P): readonly string[];
}

export interface SignalDefinition<P = unknown> {
  readonly name: string;
  readonly kind: SignalKind;
  readonly unit: string;
  readonly description: string;
  readonly params?: SignalParams<P>;
  /** When the kind depends on the parameters (custom: a sum is a total, an average a level). */
  kindOf?(params: P): SignalKind;
  compute(workers: readonly FreshWorker[], params: P, context: SignalContext): SignalOutcome;
}

/** A signal with its parsed parameters: what a trigger evaluates. */
export interface SignalUse {
  readonly signal: SignalDefinition;
  /** The signal's kind for these parameters. */
  readonly kind: SignalKind;
  readonly params: unknown;
  readonly paramsKey: string;
}
