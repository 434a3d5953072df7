/**
 * Dynamo SLA planner v1's arithmetic as pure functions (ai-dynamo/dynamo
 * `components/planner/src/dynamo/planner/utils/planner_core.py`, `make_adjustments` and
 * `_compute_replica_requirements`), with two departures where Dynamo is wrong:
 * zero traffic plans 0 load instead of skipping the adjustment (#3131, #6985), and a correction
 * factor that cannot be computed keeps its last value instead of stopping the plan.
 */
import type { DecodeInterpolator, PrefillInterpolator } from './interpolation.js';

/** What one adjustment interval saw on the observed pool. */
export interface IntervalObservation {
  /** Requests finished in the interval (scaled to exactly one interval). */
  readonly requests: number;
  /** Means per finished request; undefined when no request finished. */
  readonly isl?: number;
  readonly osl?: number;
  readonly ttftSeconds?: number;
  readonly itlSeconds?: number;
  readonly durationSeconds?: number;
}

export interface Corrections {
  readonly prefill: number;
  readonly decode: number;
  /** Why a factor kept its previous value, if one did. */
  readonly notes: readonly string[];
  /** The interpolated values the factors divide by. */
  readonly interpolatedTtftSeconds?: number;
  readonly interpolatedItlSeconds?: number;
  readonly decodeConcurrency?: number;
}

/**
 * `p = observed TTFT ÷ TTFT(observed ISL)`; `d = observed ITL ÷ ITL(concurrency, ISL + OSL/2)`
 * with concurrency = requests ÷ decode workers × mean duration ÷ interval (Little's law per
 * worker). A factor without the observations it needs keeps `previous`.
 */
export function correctionFactors(
  o: IntervalObservation,
  intervalSeconds: number,
  decodeWorkers: number,
  prefill: PrefillInterpolator,
  decode: DecodeInterpolator,
  previous: { prefill: number; decode: number },
): Corrections {
  const notes: string[] = [];
  let p = previous.prefill;
  let d = previous.decode;
  let interpolatedTtftSeconds: number | undefined;
  let interpolatedItlSeconds: number | undefined;
  let decodeConcurrency: number | undefined;
  if (o.requests > 0 && o.isl !== undefined && o.ttftSeconds !== undefined) {
    interpolatedTtftSeconds = prefill.ttftAt(o.isl);
    p = o.ttftSeconds / interpolatedTtftSeconds;
  } else notes.push(`prefill correction kept at ${p}: no finished request with a TTFT and an ISL in the interval`);
  if (o.requests > 0 && o.isl !== undefined && o.osl !== undefined && o.itlSeconds !== undefined && o.durationSeconds !== undefined && decodeWorkers > 0) {
    decodeConcurrency = ((o.requests / decodeWorkers) * o.durationSeconds) / intervalSeconds;
    interpolatedItlSeconds = decode.itlAt(decodeConcurrency, o.isl + o.osl / 2);
    d = o.itlSeconds / interpolatedItlSeconds;
  } else notes.push(`decode correction kept at ${d}: no finished request with ITL, ISL, OSL and duration in the interval, or no decode worker`);
  if (!Number.isFinite(p) || p <= 0) {
    notes.push(`prefill correction ${p} is unusable: kept at ${previous.prefill}`);
    p = previous.prefill;
  }
  if (!Number.isFinite(d) || d <= 0) {
    notes.push(`decode correction ${d} is unusable: kept at ${previous.decode}`);
    d = previous.decode;
  }
  return { prefill: p, decode: d, notes, interpolatedTtftSeconds, interpolatedItlSeconds, decodeConcurrency };
}

export interface ReplicaInputs {
  /** Forecast requests in the next interval, mean ISL and OSL. */
  readonly requests: number;
  readonly isl: number;
  readonly osl: number;
  readonly intervalSeconds: number;
  readonly itlTargetSeconds: number;
  /** 1 and 1 with correction off. */
  readonly prefillCorrection: number;
  readonly decodeCorrection: number;
  readonly prefillGpus: number;
  readonly decodeGpus: number;
}

export interface RawReplicas {
  readonly prefillLoad: number;
  readonly prefillThptPerGpu: number;
  /** The profile's TTFT at the forecast ISL (one request at a time, as profiled). */
  readonly prefillTtftSeconds: number;
  readonly prefill: number;
  readonly correctedItlSeconds: number;
  readonly decodeThptPerGpu: number;
  readonly decodeItlSeconds: number;
  readonly decodeKvUsage: number;
  readonly decodeLoad: number;
  readonly decode: number;
}

/**
 * `num_p = ceil(requests × ISL ÷ interval × min(1, p) ÷ thpt(ISL) ÷ prefillGpus)`;
 * `num_d = ceil(requests × OSL ÷ interval ÷ best_thpt(ITL target ÷ d, ISL + OSL/2) ÷ decodeGpus)`.
 */
export function rawReplicas(i: ReplicaInputs, prefill: PrefillInterpolator, decode: DecodeInterpolator): RawReplicas {
  const prefillLoad = ((i.requests * i.isl) / i.intervalSeconds) * Math.min(1, i.prefillCorrection);
  const prefillThptPerGpu = prefill.thptPerGpuAt(i.isl);
  const correctedItlSeconds = i.decodeCorrection <= 0 ? i.itlTargetSeconds : i.itlTargetSeconds / i.decodeCorrection;
  const best = decode.bestThroughput(correctedItlSeconds, i.isl + i.osl / 2);
  const decodeLoad = (i.requests * i.osl) / i.intervalSeconds;
  return {
    prefillLoad,
    prefillThptPerGpu,
    prefillTtftSeconds: prefill.ttftAt(i.isl),
    prefill: ceilReplicas(prefillLoad / prefillThptPerGpu / i.prefillGpus),
    correctedItlSeconds,
    decodeThptPerGpu: best.thptPerGpu,
    decodeItlSeconds: best.itlSeconds,
    decodeKvUsage: best.kvUsage,
    decodeLoad,
    decode: best.thptPerGpu > 0 ? ceilReplicas(decodeLoad / best.thptPerGpu / i.decodeGpus) : decodeLoad > 0 ? Number.POSITIVE_INFINITY : 0,
  };
}

/** ceil, forgiving floating-point noise just above an integer (2.0000000000000004 → 2). */
function ceilReplicas(x: number): number {
  if (!Number.isFinite(x)) return x > 0 ? Number.POSITIVE_INFINITY : 0;
  const r = Math.round(x);
  return Math.abs(x - r) < 1e-9 ? Math.max(0, r) : Math.max(0, Math.ceil(x));
}

export interface Bounds {
  readonly minReplicas: number;
  readonly maxReplicas?: number;
  readonly gpuBudget?: number;
  readonly prefillGpus: number;
  readonly decodeGpus: number;
}

export interface Bounded {
  readonly prefill: number;
  readonly decode: number;
  /** total GPUs before the budget, and the scale applied (undefined when the budget did not bind). */
  readonly budget?: { readonly totalGpus: number; readonly scale: number };
  readonly steps: readonly string[];
}

/**
 * Dynamo's order: each role at least `minReplicas`; over the GPU budget, both scale by
 * budget ÷ total, prefill rounded, decode takes what is left, neither below `minReplicas`.
 * Then `maxReplicas` caps each role (ours: Dynamo has no per-role maximum).
 */
export function applyBounds(raw: { prefill: number; decode: number }, b: Bounds): Bounded {
  const steps: string[] = [];
  let p = Math.max(raw.prefill, b.minReplicas);
  let d = Math.max(raw.decode, b.minReplicas);
  if (p !== raw.prefill || d !== raw.decode) steps.push(`minReplicas ${b.minReplicas}: prefill ${raw.prefill} → ${p}, decode ${raw.decode} → ${d}`);
  let budget: Bounded['budget'];
  const total = p * b.prefillGpus + d * b.decodeGpus;
  if (b.gpuBudget !== undefined && total > b.gpuBudget) {
    const scale = b.gpuBudget / total;
    const p2 = Math.max(b.minReplicas, roundHalfEvenInt(p * scale));
    const d2 = Math.max(b.minReplicas, roundHalfEvenInt((b.gpuBudget - p2 * b.prefillGpus) / b.decodeGpus));
    steps.push(`gpuBudget ${b.gpuBudget}: ${total} GPUs asked, scale ${scale}: prefill ${p} → ${p2}, decode ${d} → ${d2}`);
    budget = { totalGpus: total, scale };
    p = p2;
    d = d2;
  }
  if (b.maxReplicas !== undefined && (p > b.maxReplicas || d > b.maxReplicas)) {
    const p2 = Math.min(p, b.maxReplicas);
    const d2 = Math.min(d, b.maxReplicas);
    steps.push(`maxReplicas ${b.maxReplicas}: prefill ${p} → ${p2}, decode ${d} → ${d2}`);
    p = p2;
    d = d2;
  }
  return { prefill: p, decode: d, budget, steps };
}

/** Python's `round()` (half to even), as Dynamo rounds the scaled counts. */
function roundHalfEvenInt(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
