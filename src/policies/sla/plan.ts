/**
 * One adjustment of the SLA plan: observations → forecasts → correction factors → replica
 * counts for both roles → bounds. A function of its inputs (the forecaster is passed in), so it
 * is table-tested without a clock; the planner loop (triggers/sla-planner.ts) calls it once per
 * adjustment interval, off the RPC path.
 */
import type { Profile } from '../../config/profiles.js';
import type { Forecast, PredictorName } from '../predictors/predictor.js';
import { applyBounds, correctionFactors, rawReplicas, type Bounded, type Corrections, type IntervalObservation, type RawReplicas } from './formulas.js';
import { DecodeInterpolator, PrefillInterpolator } from './interpolation.js';
import type { Observed } from './observe.js';
import type { SlaParams } from './params.js';

export type Forecaster = (name: PredictorName, series: readonly number[], steps: number) => Promise<Forecast>;

export interface Interpolators {
  readonly prefill: PrefillInterpolator;
  readonly decode: DecodeInterpolator;
}

const built = new WeakMap<Profile, Interpolators>();

/** The profile's interpolators, built once (the decode grid is 2 × 100 × 100 cells). */
export function interpolatorsOf(profile: Profile): Interpolators {
  let entry = built.get(profile);
  if (!entry) {
    entry = { prefill: new PrefillInterpolator(profile.prefill), decode: new DecodeInterpolator(profile.decode) };
    built.set(profile, entry);
  }
  return entry;
}

export interface PlanMemory {
  readonly requests: readonly number[];
  readonly isl: readonly number[];
  readonly osl: readonly number[];
  readonly corrections: { readonly prefill: number; readonly decode: number };
}

export const EMPTY_MEMORY: PlanMemory = { requests: [], isl: [], osl: [], corrections: { prefill: 1, decode: 1 } };

export interface Plan {
  readonly at: number;
  readonly prefill: number;
  readonly decode: number;
  /** Set when the plan kept its previous answer, and why. */
  readonly held?: string;
  readonly observation?: IntervalObservation;
  readonly forecasts?: { readonly requests: Forecast; readonly isl: Forecast; readonly osl: Forecast };
  readonly corrections?: Corrections & { readonly applied: boolean };
  readonly raw?: RawReplicas;
  readonly bounded?: Bounded;
  readonly current: { readonly prefill: number; readonly decode: number };
  readonly notes: readonly string[];
}

export interface PlanInputs {
  readonly at: number;
  readonly params: SlaParams;
  readonly interpolators: Interpolators;
  readonly observed: Observed;
  /** Replicas the roles have now (discovered workers of their pools). */
  readonly current: { readonly prefill: number; readonly decode: number };
  readonly previous?: Plan;
}

const push = (series: readonly number[], value: number, window: number) => [...series, value].slice(-window);

export async function planInterval(memory: PlanMemory, input: PlanInputs, forecast: Forecaster): Promise<{ plan: Plan; memory: PlanMemory }> {
  const { params: p, interpolators, observed, current, at, previous } = input;
  if (!observed.ok) {
    // A source outage is not zero traffic (ai-dynamo/dynamo#14575: a failed read taken as 0 requests).
    const held = previous ?? { prefill: current.prefill, decode: current.decode };
    return {
      plan: {
        at,
        prefill: held.prefill,
        decode: held.decode,
        held: `no fresh observation (${observed.reason}): holding ${previous ? 'the last plan' : 'the current counts'}`,
        current,
        notes: [],
      },
      memory,
    };
  }
  const o = observed.observation;
  const intervalSeconds = p.adjustmentIntervalMs / 1000;
  const notes: string[] = [];
  const lastIsl = memory.isl.at(-1) ?? p.isl;
  const lastOsl = memory.osl.at(-1) ?? p.osl;
  const next: PlanMemory = {
    requests: push(memory.requests, o.requests, p.predictionWindow),
    isl: push(memory.isl, o.isl ?? lastIsl, p.predictionWindow),
    osl: push(memory.osl, o.osl ?? lastOsl, p.predictionWindow),
    corrections: memory.corrections,
  };
  const corrections = correctionFactors(o, intervalSeconds, current.decode, interpolators.prefill, interpolators.decode, memory.corrections);
  const remembered: PlanMemory = { ...next, corrections: { prefill: corrections.prefill, decode: corrections.decode } };
  let requests: Forecast;
  if (o.requests === 0) {
    // Zero traffic is a measurement, not NaN: plan for no load (Dynamo skips the adjustment instead, #6985).
    requests = { value: 0, method: 'last-value', note: 'no request finished in the interval: the load is 0' };
  } else requests = await forecast(p.predictor, next.requests, 1);
  const [isl, osl] = await Promise.all([forecast(p.predictor, next.isl, 1), forecast(p.predictor, next.osl, 1)]);
  const islValue = isl.value > 0 ? isl.value : p.isl;
  const oslValue = osl.value > 0 ? osl.value : p.osl;
  if (o.requests === 0 && memory.isl.length === 0) notes.push(`no traffic seen yet: isl ${p.isl} and osl ${p.osl} from the metadata`);
  const raw = rawReplicas(
    {
      requests: requests.value,
      isl: islValue,
      osl: oslValue,
      intervalSeconds,
      itlTargetSeconds: p.itlTargetMs / 1000,
      prefillCorrection: p.correction ? corrections.prefill : 1,
      decodeCorrection: p.correction ? corrections.decode : 1,
      prefillGpus: p.prefillGpus,
      decodeGpus: p.decodeGpus,
    },
    interpolators.prefill,
    interpolators.decode,
  );
  // As in Dynamo v1, the TTFT target does not enter the prefill count (the profile was chosen to meet
  // it); a profile that cannot meet it at this ISL is worth saying.
  if (raw.prefillTtftSeconds * Math.max(1, p.correction ? corrections.prefill : 1) > p.ttftTargetMs / 1000) {
    const ttft = `the profile's TTFT at ISL ${Math.round(islValue)} (${raw.prefillTtftSeconds} s)`;
    notes.push(`${ttft} exceeds ttftTarget ${p.ttftTargetMs / 1000} s: no replica count meets it`);
  }
  const bounded = applyBounds(raw, p);
  return {
    plan: {
      at,
      prefill: bounded.prefill,
      decode: bounded.decode,
      observation: o,
      forecasts: { requests, isl, osl },
      corrections: { ...corrections, applied: p.correction },
      raw,
      bounded,
      current,
      notes,
    },
    memory: remembered,
  };
}
