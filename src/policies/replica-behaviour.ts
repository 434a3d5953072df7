import { formatDuration, parseDuration } from '../config/duration.js';
import { MetadataError } from '../signals/metadata-error.js';
import { optionalNumberKey, parseNumberKey } from '../signals/metadata-values.js';
import type { StateScope } from '../store/pool-store.js';

/**
 * What `desired_replicas` does to a policy's recommendation before KEDA sees it, in HPA's order:
 * stabilization windows, then change limits relative to the current replica count, then the
 * min/max bounds (which win over everything else). Vocabulary from seed 001 (`scaleUp` /
 * `scaleDown` × `stabilizationWindow`, `maxChangePercent`, `maxChangeAbsolute`).
 */

export interface DirectionBehaviour {
  /** At most this percentage of the current replicas per step (ceil, so at least 1 when set). */
  readonly maxChangePercent?: number;
  /** At most this many replicas per step. */
  readonly maxChangeAbsolute?: number;
  /** Recommendations remembered for this long; see `applyBehaviour`. 0 = off. */
  readonly stabilizationMs: number;
}

export interface ReplicaBehaviour {
  readonly minReplicas: number;
  readonly maxReplicas?: number;
  readonly scaleUp: DirectionBehaviour;
  readonly scaleDown: DirectionBehaviour;
}

export const BEHAVIOUR_KEYS = [
  'minReplicas',
  'maxReplicas',
  'scaleUpMaxChangePercent',
  'scaleUpMaxChangeAbsolute',
  'scaleUpStabilizationWindow',
  'scaleDownMaxChangePercent',
  'scaleDownMaxChangeAbsolute',
  'scaleDownStabilizationWindow',
] as const;

/** HPA's limit for stabilizationWindowSeconds. */
const MAX_WINDOW_MS = 3_600_000;

function windowKey(values: ReadonlyMap<string, string>, key: string): number {
  const text = values.get(key);
  if (text === undefined || text === '') return 0;
  const ms = parseDuration(text);
  const expected = `a duration such as 0s, 30s, 5m (at most ${formatDuration(MAX_WINDOW_MS)})`;
  if (ms === undefined) throw new MetadataError(key, `'${text}' is not a duration; expected ${expected}`);
  if (ms > MAX_WINDOW_MS) throw new MetadataError(key, `'${text}' is too long; expected ${expected}`);
  return ms;
}

const isInteger = (min: number) => (n: number) => Number.isInteger(n) && n >= min;

/**
 * Validates the behaviour keys. `lowest` is the smallest `minReplicas` the policy accepts (1 for
 * WVA, which never scales to zero), `defaultMin` its default.
 */
export function parseBehaviour(values: ReadonlyMap<string, string>, options: { defaultMin: number; lowest: number; why: string }): ReplicaBehaviour {
  const minExpected = `an integer ≥ ${options.lowest}${options.lowest > 0 ? ` (${options.why})` : ''}`;
  const minReplicas = parseNumberKey(values, 'minReplicas', options.defaultMin, minExpected, isInteger(options.lowest));
  const maxReplicas = optionalNumberKey(values, 'maxReplicas', `an integer ≥ max(1, minReplicas ${minReplicas})`, isInteger(Math.max(1, minReplicas)));
  const direction = (prefix: 'scaleUp' | 'scaleDown'): DirectionBehaviour => ({
    maxChangePercent: optionalNumberKey(
      values,
      `${prefix}MaxChangePercent`,
      prefix === 'scaleUp' ? 'a percentage > 0' : 'a percentage > 0 and ≤ 100',
      (n) => n > 0 && (prefix === 'scaleUp' || n <= 100),
    ),
    maxChangeAbsolute: optionalNumberKey(values, `${prefix}MaxChangeAbsolute`, 'an integer ≥ 1 (replicas per step)', isInteger(1)),
    stabilizationMs: windowKey(values, `${prefix}StabilizationWindow`),
  });
  return { minReplicas, maxReplicas, scaleUp: direction('scaleUp'), scaleDown: direction('scaleDown') };
}

export function behaviourKey(b: ReplicaBehaviour): string {
  const d = (x: DirectionBehaviour) => `${x.maxChangePercent ?? ''}/${x.maxChangeAbsolute ?? ''}/${x.stabilizationMs}`;
  return `${b.minReplicas}/${b.maxReplicas ?? ''}|${d(b.scaleUp)}|${d(b.scaleDown)}`;
}

interface Entry {
  readonly at: number;
  readonly value: number;
}

/**
 * Recent recommendations for one stabilization window, as a monotonic deque: the front is the
 * extreme (min for scale-up, max for scale-down) of the entries still inside the window, and an
 * entry that can never be the extreme again is dropped at once, so the deque stays short.
 */
class WindowExtreme {
  private readonly entries: Entry[] = [];

  constructor(private readonly keep: (older: number, newer: number) => boolean) {}

  push(at: number, value: number, windowMs: number): number {
    while (this.entries.length > 0 && !this.keep((this.entries[this.entries.length - 1] as Entry).value, value)) this.entries.pop();
    this.entries.push({ at, value });
    // Inside the window means strictly newer than now − window (HPA: timestamp.After(cutoff)).
    while (this.entries.length > 1 && (this.entries[0] as Entry).at <= at - windowMs) this.entries.shift();
    return (this.entries[0] as Entry).value;
  }
}

interface Windows {
  readonly up: WindowExtreme;
  readonly down: WindowExtreme;
}

/** Each policy use's stabilization windows, kept across snapshots (see SignalContext.state). */
const windowsByScope = new WeakMap<StateScope, Windows>();

export interface BehaviourResult {
  readonly value: number;
  readonly recommendation: number;
  readonly current: number;
  /** After the stabilization windows. */
  readonly stabilized: number;
  /** After the change limits. */
  readonly limited: number;
  /** What changed the recommendation, in order; empty when it went through untouched. */
  readonly applied: readonly string[];
}

/** `ceil`, forgiving the float noise of e.g. 10 × 10 / 100 = 1.0000000000000002. */
export function ceilTolerant(x: number): number {
  return Math.ceil(x - 1e-9 * Math.max(1, Math.abs(x)));
}

/**
 * Applies stabilization, change limits and bounds to one recommendation.
 *
 * Stabilization follows HPA: for scale-down the highest recommendation within
 * `scaleDownStabilizationWindow` wins, for scale-up the lowest within `scaleUpStabilizationWindow`
 * (each window includes this recommendation), and the result never crosses the current count in
 * the wrong direction. `state` keeps the windows across snapshots: call this once per snapshot.
 */
export function applyBehaviour(recommendation: number, current: number, at: number, b: ReplicaBehaviour, state: StateScope): BehaviourResult {
  const applied: string[] = [];
  let history = windowsByScope.get(state);
  if (!history) {
    history = { up: new WindowExtreme((older, newer) => older < newer), down: new WindowExtreme((older, newer) => older > newer) };
    windowsByScope.set(state, history);
  }
  const upFloor = b.scaleUp.stabilizationMs > 0 ? history.up.push(at, recommendation, b.scaleUp.stabilizationMs) : recommendation;
  const downCeiling = b.scaleDown.stabilizationMs > 0 ? history.down.push(at, recommendation, b.scaleDown.stabilizationMs) : recommendation;
  let stabilized = current;
  if (stabilized < upFloor) stabilized = upFloor;
  if (stabilized > downCeiling) stabilized = downCeiling;
  if (stabilized !== recommendation) {
    if (recommendation < current) {
      applied.push(
        `scale-down stabilization: the highest recommendation in the last ${formatDuration(b.scaleDown.stabilizationMs)} is ${downCeiling}, so ` +
          `${recommendation} becomes ${stabilized}`,
      );
    } else {
      applied.push(
        `scale-up stabilization: the lowest recommendation in the last ${formatDuration(b.scaleUp.stabilizationMs)} is ${upFloor}, so ` +
          `${recommendation} becomes ${stabilized}`,
      );
    }
  }

  let limited = stabilized;
  if (stabilized > current) {
    const allowed = allowedChange(current, b.scaleUp);
    if (stabilized - current > allowed.step) {
      limited = current + allowed.step;
      applied.push(`scale-up limited to +${allowed.step} (${allowed.by}) from ${current}: ${stabilized} becomes ${limited}`);
    }
  } else if (stabilized < current) {
    const allowed = allowedChange(current, b.scaleDown);
    if (current - stabilized > allowed.step) {
      limited = current - allowed.step;
      applied.push(`scale-down limited to −${allowed.step} (${allowed.by}) from ${current}: ${stabilized} becomes ${limited}`);
    }
  }

  let value = limited;
  if (b.maxReplicas !== undefined && value > b.maxReplicas) {
    value = b.maxReplicas;
    applied.push(`capped at maxReplicas ${b.maxReplicas}`);
  }
  if (value < b.minReplicas) {
    value = b.minReplicas;
    applied.push(`raised to minReplicas ${b.minReplicas}`);
  }
  return { value, recommendation, current, stabilized, limited, applied };
}

/** The larger change a direction allows: both limits are maximums, so the stricter one applies. */
function allowedChange(current: number, d: DirectionBehaviour): { step: number; by: string } {
  let step = Number.POSITIVE_INFINITY;
  let by = '';
  if (d.maxChangePercent !== undefined) {
    step = ceilTolerant((current * d.maxChangePercent) / 100);
    by = `${d.maxChangePercent}% of ${current}`;
  }
  if (d.maxChangeAbsolute !== undefined && d.maxChangeAbsolute < step) {
    step = d.maxChangeAbsolute;
    by = `at most ${d.maxChangeAbsolute} per step`;
  }
  return { step, by };
}

/** What the explain API shows of a behaviour and its result. */
export function behaviourDetails(b: BehaviourResult, behaviour: ReplicaBehaviour) {
  return {
    minReplicas: behaviour.minReplicas,
    maxReplicas: behaviour.maxReplicas,
    scaleUp: behaviour.scaleUp,
    scaleDown: behaviour.scaleDown,
    recommendation: b.recommendation,
    stabilized: b.stabilized,
    limited: b.limited,
    value: b.value,
    applied: b.applied,
  };
}
