/**
 * Knative's panic mode around a policy's recommendation. The recommendation of each check is kept
 * for the stable window; the stable and panic values are its means over the two windows (Knative
 * averages the observed metric over both windows, and a policy's recommendation is that metric
 * over its target). Then, as Knative's autoscaler:
 * - panic starts (or is extended) while ceil(panic) / max(1, ready) ≥ panicThreshold;
 * - while panicking the answer is max(stable, panic) and never decreases (Knative's maxPanicPods);
 * - panic ends only once a full stable window has passed since it was last over the threshold.
 *
 * Source: knative/serving `pkg/autoscaler/scaling/autoscaler.go` (Scale) and
 * `config/core/configmaps/autoscaler.yaml` (stable-window 60s, panic-window-percentage 10,
 * panic-threshold-percentage 200).
 */
import { formatDuration } from '../config/duration.js';
import { MetadataError } from '../signals/metadata-error.js';
import { parseDurationKey, parseNumberKey } from '../signals/metadata-values.js';
import type { StateScope } from '../store/pool-store.js';

export const PANIC_KEYS = ['panicWindow', 'panicThreshold', 'stableWindow'] as const;

export interface PanicConfig {
  readonly panicWindowMs: number;
  readonly stableWindowMs: number;
  /** Knative's panic-threshold-percentage / 100. */
  readonly panicThreshold: number;
}

export const DEFAULT_STABLE_WINDOW_MS = 60_000;
export const DEFAULT_PANIC_THRESHOLD = 2;

/** Parses the panic keys; undefined when `panicWindow` is not set (no panic mode). */
export function parsePanic(values: ReadonlyMap<string, string>): PanicConfig | undefined {
  const given = PANIC_KEYS.filter((k) => (values.get(k) ?? '') !== '');
  if (!values.get('panicWindow')) {
    if (given.length > 0) throw new MetadataError(given[0] as string, `only used with panicWindow (the panic mode is off without it)`);
    return undefined;
  }
  // Knative: stable-window 6s ≤ v ≤ 1h; the panic window is 1–100 % of it.
  const stableWindowMs = parseDurationKey(values, 'stableWindow', DEFAULT_STABLE_WINDOW_MS, { minMs: 6_000, maxMs: 3_600_000 });
  const panicWindowMs = parseDurationKey(values, 'panicWindow', 6_000, { minMs: 1_000, maxMs: 3_600_000 });
  if (panicWindowMs > stableWindowMs) {
    throw new MetadataError(
      'panicWindow',
      `'${values.get('panicWindow')}' is longer than the stable window ${formatDuration(stableWindowMs)}; expected at most that`,
    );
  }
  const panicThreshold = parseNumberKey(
    values,
    'panicThreshold',
    DEFAULT_PANIC_THRESHOLD,
    'a ratio > 1 (Knative default 2.0, i.e. 200 %)',
    (n) => n > 1 && n <= 10,
  );
  return { panicWindowMs, stableWindowMs, panicThreshold };
}

export function panicKey(p: PanicConfig | undefined): string {
  return p === undefined ? '' : `${p.panicWindowMs}/${p.stableWindowMs}/${p.panicThreshold}`;
}

/** What the panic state machine remembers between checks. */
export interface PanicState {
  /** The last time the panic value was over the threshold (Knative's panicTime); undefined when calm. */
  readonly panicTime?: number;
  readonly maxPanicPods: number;
}

export const CALM: PanicState = { panicTime: undefined, maxPanicPods: 0 };

export interface PanicInput {
  readonly at: number;
  /** Desired replicas from the stable and panic windows (already ceil'd counts). */
  readonly desiredStable: number;
  readonly desiredPanic: number;
  readonly ready: number;
}

export interface PanicResult {
  readonly state: PanicState;
  readonly desired: number;
  readonly panicking: boolean;
  readonly rule: string;
}

/** Knative's Scale, from the two desired counts on: a pure step of the panic state machine. */
export function panicStep(state: PanicState, input: PanicInput, c: PanicConfig): PanicResult {
  const readyPods = Math.max(1, input.ready);
  const ratio = input.desiredPanic / readyPods;
  const over = ratio >= c.panicThreshold;
  let { panicTime, maxPanicPods } = state;
  let transition = '';
  if (over) {
    transition = panicTime === undefined ? 'panic starts' : 'panic extended';
    panicTime = input.at;
  } else if (panicTime !== undefined && panicTime + c.stableWindowMs < input.at) {
    // Knative: panicTime.Add(StableWindow).Before(now) — strictly after a full stable window.
    transition = 'panic ends (a full stable window below the threshold)';
    panicTime = undefined;
    maxPanicPods = 0;
  }
  const ratioText = Math.round(ratio * 1000) / 1000;
  const overText = `panic ${input.desiredPanic} / ${readyPods} ready = ${ratioText} ${over ? '≥' : '<'} panicThreshold ${c.panicThreshold}`;
  if (panicTime === undefined) {
    return {
      state: { panicTime, maxPanicPods },
      desired: input.desiredStable,
      panicking: false,
      rule: `${overText}${transition ? `; ${transition}` : ''}: stable ${input.desiredStable}`,
    };
  }
  let desired = Math.max(input.desiredStable, input.desiredPanic);
  let hold = '';
  if (desired > maxPanicPods) maxPanicPods = desired;
  else if (desired < maxPanicPods) {
    hold = `; no scale-down while panicking, held at ${maxPanicPods}`;
    desired = maxPanicPods;
  }
  const sinceText = transition ? `; ${transition}` : `; panicking since the threshold was last crossed ${formatDuration(input.at - panicTime)} ago`;
  return {
    state: { panicTime, maxPanicPods },
    desired,
    panicking: true,
    rule: `${overText}${sinceText}: max(stable ${input.desiredStable}, panic ${input.desiredPanic})${hold}`,
  };
}

interface Entry {
  readonly at: number;
  readonly value: number;
}

/** Recommendations over the stable window, and the panic state, per policy use. */
class PanicMemory {
  entries: Entry[] = [];
  state: PanicState = CALM;

  /** Means over both windows, including this recommendation (Knative: buckets newer than now − window). */
  push(at: number, value: number, c: PanicConfig): { stable: number; panic: number } {
    this.entries.push({ at, value });
    while (this.entries.length > 0 && (this.entries[0] as Entry).at <= at - c.stableWindowMs) this.entries.shift();
    let stableSum = 0;
    let panicSum = 0;
    let panicN = 0;
    for (const e of this.entries) {
      stableSum += e.value;
      if (e.at > at - c.panicWindowMs) {
        panicSum += e.value;
        panicN++;
      }
    }
    return { stable: stableSum / this.entries.length, panic: panicSum / panicN };
  }
}

const memories = new WeakMap<StateScope, PanicMemory>();

export interface PanicApplied {
  readonly value: number;
  readonly details?: {
    readonly stableMean: number;
    readonly panicMean: number;
    readonly desiredStable: number;
    readonly desiredPanic: number;
    readonly panicking: boolean;
    readonly rule: string;
  };
}

/** `ceil`, forgiving float noise from the means. */
const ceilMean = (x: number): number => Math.ceil(x - 1e-9 * Math.max(1, Math.abs(x)));

/** Runs one check through the panic mode; without a panic configuration the value passes through. */
export function applyPanic(recommendation: number, ready: number, at: number, c: PanicConfig | undefined, scope: StateScope): PanicApplied {
  if (c === undefined) return { value: recommendation };
  let memory = memories.get(scope);
  if (!memory) {
    memory = new PanicMemory();
    memories.set(scope, memory);
  }
  const { stable, panic } = memory.push(at, recommendation, c);
  const desiredStable = ceilMean(stable);
  const desiredPanic = ceilMean(panic);
  const result = panicStep(memory.state, { at, desiredStable, desiredPanic, ready }, c);
  memory.state = result.state;
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return {
    value: result.desired,
    details: { stableMean: round(stable), panicMean: round(panic), desiredStable, desiredPanic, panicking: result.panicking, rule: result.rule },
  };
}
