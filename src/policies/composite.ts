/**
 * `desired_replicas` with `policy: composite`: several signals, each with its own target. Per
 * signal the desired count is what HPA would compute for that trigger alone under AverageValue,
 * ceil(KEDA value / target); the counts are combined by `strategy` and shaped by the trigger's
 * behaviour (replica-behaviour.ts).
 */
import { findFleetSignal, FLEET_SIGNALS } from '../signals/catalogue.js';
import { useOf } from '../signals/evaluate.js';
import { MetadataError } from '../signals/metadata-error.js';
import { parseChoiceKey } from '../signals/metadata-values.js';
import { averageValue, splitContributions, type Contribution, type Evaluation, type SignalContext, type SignalUse } from '../signals/types.js';
import type { SeriesQuery } from '../store/series-query.js';
import { notFreshMembers, type FreshWorker } from '../store/pool-store.js';
import { applyBehaviour, behaviourDetails, behaviourKey, ceilTolerant, parseBehaviour, type ReplicaBehaviour } from './replica-behaviour.js';
import { round6 } from '../signals/rounding.js';
import { applyForecasts, parsePredictive, predictiveKey, PREDICTIVE_KEYS, type PredictiveParams } from './predictive.js';
import { applyPanic, PANIC_KEYS, panicKey, parsePanic, type PanicConfig } from './panic-window.js';
import { applyTolerance, parseTolerance, TOLERANCE_KEYS, toleranceKey, type Tolerance } from './tolerance.js';
import { upMaxDownMin } from './votes.js';

export type Strategy = 'max' | 'min' | 'average' | 'up-max-down-min';
const STRATEGIES: readonly Strategy[] = ['max', 'min', 'average', 'up-max-down-min'];
export const COMPOSITE_KEYS = ['metrics', 'strategy', ...PREDICTIVE_KEYS, ...PANIC_KEYS, ...TOLERANCE_KEYS] as const;
const MIN_TARGET = 0.001;

export interface SubSignal {
  readonly signal: string;
  readonly target: number;
  /** The signal with the parameters it reads from the trigger's metadata. */
  readonly use: SignalUse;
}

export interface CompositeParams {
  readonly policy: 'composite';
  readonly strategy: Strategy;
  readonly metrics: readonly SubSignal[];
  /** The trigger's metadata values the sub-signals read (window, quantile …), sorted by key. */
  readonly passThrough: readonly (readonly [string, string])[];
  readonly behaviour: ReplicaBehaviour;
  /** `predictor` / `horizon`: scale up on the forecast too (predictive.ts). */
  readonly predictive?: PredictiveParams;
  readonly panic?: PanicConfig;
  readonly tolerance?: Tolerance;
}

/** Every key some combinable signal reads: a composite passes them through to the signals it lists. */
export const SUB_SIGNAL_KEYS: readonly string[] = [...new Set(FLEET_SIGNALS.flatMap((s) => s.params?.keys ?? []))];

const combinable = (): string => FLEET_SIGNALS.map((s) => s.name).join(', ');

/** The signals and targets of `metrics`, and the metadata keys they read. */
export function parseCompositeMetrics(values: ReadonlyMap<string, string>): {
  names: readonly { signal: string; target: number }[];
  readKeys: ReadonlySet<string>;
} {
  const metricsText = values.get('metrics');
  const accepted = `a comma-separated list of signal:target, e.g. queue_depth:20,kv_cache_usage:0.7; signals are ${combinable()}`;
  if (!metricsText) throw new MetadataError('metrics', `required with policy composite; expected ${accepted}`);
  const names: { signal: string; target: number }[] = [];
  const readKeys = new Set<string>();
  for (const entry of metricsText.split(',').map((e) => e.trim())) {
    const at = entry.lastIndexOf(':');
    if (entry === '' || at <= 0) throw new MetadataError('metrics', `'${entry}' is not signal:target; expected ${accepted}`);
    const name = entry.slice(0, at).trim().toLowerCase();
    const targetText = entry.slice(at + 1).trim();
    const signal = findFleetSignal(name);
    if (!signal) {
      const why = name === 'desired_replicas' ? `'${name}' is already a replica count and cannot be combined` : `unknown signal '${name}'`;
      throw new MetadataError('metrics', `${why}; signals are ${combinable()}`);
    }
    const target = Number(targetText);
    if (targetText === '' || !Number.isFinite(target))
      throw new MetadataError('metrics', `the target of '${name}' ('${targetText}') is not a number; expected a number ≥ ${MIN_TARGET}`);
    if (target < MIN_TARGET) throw new MetadataError('metrics', `the target of '${name}' ('${targetText}') is too small; expected a number ≥ ${MIN_TARGET}`);
    if (names.some((m) => m.signal === signal.name)) throw new MetadataError('metrics', `'${signal.name}' is listed twice`);
    names.push({ signal: signal.name, target });
    for (const key of signal.params?.keys ?? []) readKeys.add(key);
  }
  return { names, readKeys };
}

/** Validates the rest of a composite's metadata once `metrics` is known (see parseCompositeMetrics). */
export function parseComposite(values: ReadonlyMap<string, string>, parsed: ReturnType<typeof parseCompositeMetrics>): CompositeParams {
  const strategy = parseChoiceKey(values, 'strategy', STRATEGIES, 'max');
  // Sub-signal parameters come from the trigger's own metadata.
  const passThrough = [...parsed.readKeys]
    .filter((key) => values.has(key))
    .sort()
    .map((key) => [key, values.get(key) as string] as const);
  const passMap = new Map(passThrough);
  // Throws MetadataError naming the sub-signal's key.
  const metrics = parsed.names.map(({ signal, target }) => ({ signal, target, use: useOf(findFleetSignal(signal)!, passMap) }));
  const behaviour = parseBehaviour(values, { defaultMin: 0, lowest: 0, why: '' });
  const predictive = parsePredictive(values);
  return {
    policy: 'composite',
    strategy,
    metrics,
    passThrough,
    behaviour,
    ...(predictive ? { predictive } : {}),
    panic: parsePanic(values),
    tolerance: parseTolerance(values),
  };
}

export function compositeKey(p: CompositeParams): string {
  const metrics = p.metrics.map((m) => `${m.signal}:${m.target}`).join(',');
  const pass = p.passThrough.map(([k, v]) => `${k}=${v}`).join('&');
  const predictive = p.predictive ? `|${predictiveKey(p.predictive)}` : '';
  const tolerance = p.tolerance ? toleranceKey(p.tolerance) : '';
  return `composite|${p.strategy}|${metrics}|${pass}|${behaviourKey(p.behaviour)}|${panicKey(p.panic)}|${tolerance}${predictive}`;
}

/** The longest window any sub-signal reads. */
export function compositeHistoryMs(p: CompositeParams): number {
  return Math.max(0, ...p.metrics.map((m) => m.use.signal.params?.historyMs?.(m.use.params) ?? 0));
}

/** Series queries the sub-signals need collected (the `custom` signal's). */
export function compositeQueries(p: CompositeParams): readonly SeriesQuery[] {
  const byKey = new Map<string, SeriesQuery>();
  for (const m of p.metrics) for (const q of m.use.signal.params?.queries?.(m.use.params) ?? []) byKey.set(q.key, q);
  return [...byKey.values()];
}

interface SubResult {
  readonly signal: string;
  readonly target: number;
  readonly kind: string;
  readonly ok: boolean;
  readonly reason?: string;
  readonly value?: number;
  readonly readyWorkers?: number;
  readonly desired?: number;
  readonly formula?: string;
  readonly included?: readonly { worker: string; value?: number }[];
  readonly excluded?: readonly { worker: string; why?: string }[];
}

function subResult({ signal, target, use }: SubSignal, evaluation: Evaluation): SubResult {
  const lists = splitContributions(evaluation.contributions);
  if (!evaluation.ok) return { signal, target, kind: use.kind, ok: false, reason: evaluation.reason, ...lists };
  // What HPA would compute for this signal alone under AverageValue: ceil(KEDA value / target).
  const desired = Math.max(0, ceilTolerant(averageValue(use.kind, evaluation) / target));
  const formula =
    use.kind === 'intensive'
      ? `ceil(${evaluation.readyWorkers} workers × ${round6(evaluation.value)} / ${target}) = ${desired}`
      : `ceil(${round6(evaluation.value)} / ${target}) = ${desired}`;
  return { signal, target, kind: use.kind, ok: true, value: evaluation.value, readyWorkers: evaluation.readyWorkers, desired, formula, ...lists };
}

function combine(strategy: Strategy, desired: readonly number[], current: number): { recommendation: number; combination: string } {
  if (strategy === 'up-max-down-min') return upMaxDownMin(desired, current);
  if (strategy === 'max') {
    const recommendation = Math.max(...desired);
    return { recommendation, combination: `max(${desired.join(', ')}) = ${recommendation}` };
  }
  if (strategy === 'min') {
    const recommendation = Math.min(...desired);
    return { recommendation, combination: `min(${desired.join(', ')}) = ${recommendation}` };
  }
  const mean = desired.reduce((a, b) => a + b, 0) / desired.length;
  const recommendation = ceilTolerant(mean);
  return { recommendation, combination: `ceil(mean(${desired.join(', ')}) = ${round6(mean)}) = ${recommendation}` };
}

export function computeComposite(workers: readonly FreshWorker[], p: CompositeParams, context: SignalContext): Evaluation {
  const current = workers.length + notFreshMembers(context.snapshot).length;
  const now = p.metrics.map((m) => subResult(m, context.evaluate(m.use)));
  const results: readonly SubResult[] = p.predictive ? applyForecasts(now, p.predictive, context.state, context.snapshot.at) : now;
  const available = results.filter((r) => r.ok);
  const unavailable = results.filter((r) => !r.ok);
  const contributions: Contribution[] = workers.map((w) => ({ worker: w.id }));
  const describe = (rs: readonly SubResult[]) => rs.map((r) => `${r.signal}: ${r.reason}`).join('; ');
  if (available.length === 0) {
    return { ok: false, reason: `no signal of the composite is available (${describe(unavailable)})`, contributions };
  }
  if (unavailable.length > 0 && p.strategy !== 'max') {
    // min, average and up-max-down-min need every signal: leaving one out would change the answer arbitrarily.
    return { ok: false, reason: `strategy ${p.strategy} needs every signal, and ${describe(unavailable)}`, contributions };
  }
  const { recommendation, combination } = combine(
    p.strategy,
    available.map((r) => r.desired as number),
    current,
  );
  const panic = applyPanic(recommendation, workers.length, context.snapshot.at, p.panic, context.state);
  const tolerated = p.tolerance ? applyTolerance(panic.value, current, p.tolerance) : { value: panic.value, rule: undefined };
  const shaped = applyBehaviour(tolerated.value, current, context.snapshot.at, p.behaviour, context.state);
  return {
    ok: true,
    value: shaped.value,
    readyWorkers: workers.length,
    contributions,
    details: {
      policy: 'composite',
      strategy: p.strategy,
      currentReplicas: current,
      signals: results,
      skipped:
        unavailable.length > 0
          ? unavailable.map((r) => ({
              signal: r.signal,
              why: `unavailable (${r.reason}): left out of max — the other signals still bound the answer from below`,
            }))
          : undefined,
      combination,
      panic: panic.details,
      tolerance: tolerated.rule,
      decidedBy: p.strategy === 'average' ? undefined : available.filter((r) => r.desired === recommendation).map((r) => r.signal),
      recommendation,
      behaviour: behaviourDetails(shaped, p.behaviour),
    },
  };
}
