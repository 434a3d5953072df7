/**
 * A trigger's current answer in words, for people: a headline ("held at 3 because replica
 * 10.0.0.7:8000 is saturated (KV 0.91 ≥ 0.8)") and the reasons behind it, built from the
 * evaluation details the signals and policies produce (policies/saturation.ts, composite.ts,
 * replica-behaviour.ts). The JSON explanation of `/api/v1/decisions` stays the full record; this is
 * its reading.
 */
import { round3 } from '../signals/rounding.js';
import { splitContributions } from '../signals/types.js';
import { summarizeSla, type SlaDetails } from './sla-summary.js';
import type { TriggerSpec } from '../triggers/metadata.js';
import type { Trigger, TriggerResult } from '../triggers/trigger.js';

export interface DecisionSummary {
  /** One sentence: what KEDA gets and the main reason. */
  readonly headline: string;
  /** The rest of the why, one sentence each. */
  readonly reasons: readonly string[];
}

/** What HPA makes of the value: AverageValue divides by the target, Value scales the current replicas. */
export function hpaDesired(spec: Pick<TriggerSpec, 'valueMode' | 'target'>, value: number, currentReplicas: number): number {
  const ratio = spec.valueMode === 'raw' ? (currentReplicas * value) / spec.target : value / spec.target;
  return Math.max(0, Math.ceil(ratio - 1e-9));
}

const num = (x: number): string => String(round3(x));

/** A value in its signal's unit, as a person writes it. */
export function withUnit(value: number, unit: string): string {
  switch (unit) {
    case 'seconds':
      return `${num(value)} s`;
    case 'percent':
      return `${num(value)} %`;
    case 'requests':
    case 'blocks':
    case 'tokens':
    case 'replicas':
    case 'tokens/s':
    case 'requests/s':
      return `${num(value)} ${unit}`;
    default:
      return num(value);
  }
}

function list(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** How the final count relates to the current one. */
function movement(value: number, current: number): string {
  if (value > current) return `scale up to ${value} (from ${current})`;
  if (value < current) return `scale down to ${value} (from ${current})`;
  return `held at ${value}`;
}

interface BehaviourDetails {
  readonly recommendation?: number;
  readonly applied?: readonly string[];
}

interface SaturationReplica {
  readonly worker: string;
  readonly kv: number;
  readonly queue: number;
  readonly saturated: boolean;
}

interface SaturationDetails {
  readonly policy: 'saturation';
  readonly config: { kvCacheThreshold: number; queueLengthThreshold: number; kvSpareTrigger: number; queueSpareTrigger: number };
  readonly currentReplicas: number;
  readonly replicas: readonly SaturationReplica[];
  readonly missingMetrics: readonly { worker: string; why: string }[];
  readonly nonSaturatedCount: number;
  readonly avgSpareKv: number;
  readonly avgSpareQueue: number;
  readonly scaleUpReason?: string;
  readonly scaleDownCheck: string;
  readonly decision: 'scale-up' | 'scale-down' | 'steady' | 'hold';
  readonly recommendation: number;
  readonly behaviour?: BehaviourDetails;
}

interface CompositeSignal {
  readonly signal: string;
  readonly ok: boolean;
  readonly reason?: string;
  readonly desired?: number;
  readonly formula?: string;
}

interface CompositeDetails {
  readonly policy: 'composite';
  readonly strategy: string;
  readonly currentReplicas: number;
  readonly signals: readonly CompositeSignal[];
  readonly skipped?: readonly { signal: string; why: string }[];
  readonly combination: string;
  readonly decidedBy?: readonly string[];
  readonly recommendation: number;
  readonly behaviour?: BehaviourDetails;
}

/** Why a saturated replica is saturated, e.g. "KV 0.91 ≥ 0.8" or "queue 7 ≥ 5". */
function saturationCause(r: SaturationReplica, c: SaturationDetails['config']): string {
  const causes: string[] = [];
  if (r.kv >= c.kvCacheThreshold) causes.push(`KV ${num(r.kv)} ≥ ${c.kvCacheThreshold}`);
  if (r.queue >= c.queueLengthThreshold) causes.push(`queue ${num(r.queue)} ≥ ${c.queueLengthThreshold}`);
  return causes.join(' and ');
}

function saturatedPhrase(saturated: readonly SaturationReplica[], c: SaturationDetails['config']): string {
  if (saturated.length === 1) {
    const r = saturated[0] as SaturationReplica;
    return `replica ${r.worker} is saturated (${saturationCause(r, c)})`;
  }
  return `replicas ${list(saturated.map((r) => `${r.worker} (${saturationCause(r, c)})`))} are saturated`;
}

/** "failing: http_status: HTTP 500 …" → "is failing (http_status: HTTP 500 …)"; "does not report KV usage" stays. */
function missingPhrase(why: string): string {
  const match = /^(stale|failing|pending)(?:: (.*))?$/.exec(why);
  if (!match) return why;
  return match[2] ? `is ${match[1]} (${match[2]})` : `is ${match[1]}`;
}

function behaviourReasons(value: number, behaviour: BehaviourDetails | undefined, who: string): { changed: boolean; reasons: string[] } {
  const applied = behaviour?.applied ?? [];
  if (applied.length === 0 || behaviour?.recommendation === undefined || behaviour.recommendation === value) return { changed: false, reasons: [] };
  return { changed: true, reasons: [`${who} recommends ${behaviour.recommendation}; then ${applied.join('; ')}.`] };
}

function summarizeSaturation(value: number, d: SaturationDetails): DecisionSummary {
  const c = d.config;
  const current = d.currentReplicas;
  const saturated = d.replicas.filter((r) => r.saturated);
  const reasons: string[] = [];
  let cause: string;
  switch (d.decision) {
    case 'hold': {
      const missing = d.missingMetrics.map((m) => `replica ${m.worker} ${missingPhrase(m.why)}`);
      cause =
        missing.length > 0
          ? `${list(missing)}: WVA decides nothing until every replica reports fresh metrics`
          : `${plural(d.replicas.length, 'replica')} of ${current} report metrics: WVA makes no decision while replicas start`;
      break;
    }
    case 'scale-up':
      cause = d.scaleUpReason ?? 'the spare capacity is below a trigger';
      if (saturated.length > 0) cause += `; ${saturatedPhrase(saturated, c)}`;
      break;
    case 'scale-down':
      cause = `the load of ${plural(d.nonSaturatedCount, 'replica')} fits on one fewer (${d.scaleDownCheck.replace(/^[^:]*: /, '')})`;
      break;
    default:
      if (saturated.length > 0) {
        cause = saturatedPhrase(saturated, c);
        reasons.push(
          d.nonSaturatedCount > 0
            ? `The other ${plural(d.nonSaturatedCount, 'replica')} have enough spare capacity (average spare KV ${num(d.avgSpareKv)} ≥ ${c.kvSpareTrigger}, ` +
                `queue ${num(d.avgSpareQueue)} ≥ ${c.queueSpareTrigger}), so no replica is added.`
            : 'Every replica is saturated.',
        );
      } else {
        const spare = `average spare KV ${num(d.avgSpareKv)} ≥ ${c.kvSpareTrigger}, queue ${num(d.avgSpareQueue)} ≥ ${c.queueSpareTrigger}`;
        cause = `spare capacity is enough (${spare})`;
      }
      reasons.push(`Scale-down is unsafe: ${d.scaleDownCheck}.`);
  }
  const behaviour = behaviourReasons(value, d.behaviour, 'WVA');
  if (behaviour.changed) {
    return { headline: `${movement(value, current)}: ${(d.behaviour?.applied ?? []).join('; ')}`, reasons: [`WVA alone: ${cause}.`, ...reasons] };
  }
  return { headline: `${movement(value, current)} because ${cause}`, reasons };
}

function summarizeComposite(value: number, d: CompositeDetails): DecisionSummary {
  const reasons = d.signals.map((s) => (s.ok ? `${s.signal} asks for ${s.desired}: ${s.formula}.` : `${s.signal} has no value: ${s.reason}.`));
  for (const s of d.skipped ?? []) reasons.push(`${s.signal} is left out: ${s.why}.`);
  let cause: string;
  if (d.strategy === 'average') {
    cause = `the mean of the signals' counts is ${d.recommendation} (${d.combination})`;
  } else {
    const by = d.decidedBy ?? [];
    const decider = d.signals.find((s) => s.signal === by[0]);
    const formula = decider?.formula ? ` (${decider.formula})` : '';
    cause = `${list([...by])} ${by.length === 1 ? 'asks' : 'ask'} for ${d.recommendation}${formula}; ${d.combination}`;
  }
  const behaviour = behaviourReasons(value, d.behaviour, 'The composite');
  if (behaviour.changed) {
    return { headline: `${movement(value, d.currentReplicas)}: ${(d.behaviour?.applied ?? []).join('; ')}`, reasons: [`Alone: ${cause}.`, ...reasons] };
  }
  return { headline: `${movement(value, d.currentReplicas)} because ${cause}`, reasons };
}

/** The sentences for a trigger's current answer. `currentReplicas` is the pool's discovered workers. */
export function summarizeDecision(trigger: Trigger, result: TriggerResult, currentReplicas: number): DecisionSummary {
  const { spec } = trigger;
  const signal = spec.use.signal;
  const isSaturationPolicy = result.ok && result.evaluation.details?.['policy'] === 'saturation';
  const left = splitContributions(result.evaluation.contributions)
    // The saturation policy's headline and reasons already name its saturated replicas.
    .excluded.filter((e) => !(isSaturationPolicy && e.why.startsWith('saturated (')))
    .map((e) => `${e.worker} (${e.why})`);
  const leftOut = left.length > 0 ? [`Left out: ${left.join('; ')}.`] : [];
  const activation: string[] = [];
  if (result.activation) {
    const a = result.activation;
    activation.push(
      a.evaluation.ok
        ? `The pool's activation signal is ${a.active ? 'active' : 'inactive'}: ${num(a.evaluation.value)} ${a.active ? '>' : '≤'} threshold ${a.threshold}.`
        : `The pool's activation signal has no value: ${a.evaluation.reason}.`,
    );
  }

  if (!result.ok) {
    return {
      headline: `no value: ${result.reason}; KEDA gets UNAVAILABLE and its fallback applies`,
      reasons: [...leftOut, ...activation],
    };
  }
  const { value, evaluation } = result;
  const details = evaluation.details ?? {};
  if (signal.kind === 'replicas' && details['policy'] === 'saturation') {
    const s = summarizeSaturation(value, details as unknown as SaturationDetails);
    return { headline: s.headline, reasons: [...s.reasons, ...leftOut, ...activation] };
  }
  if (signal.kind === 'replicas' && details['policy'] === 'sla') {
    const s = summarizeSla(value, details as unknown as SlaDetails);
    return { headline: s.headline, reasons: [...s.reasons, ...activation] };
  }
  if (signal.kind === 'replicas' && details['policy'] === 'composite') {
    const s = summarizeComposite(value, details as unknown as CompositeDetails);
    return { headline: s.headline, reasons: [...s.reasons, ...leftOut, ...activation] };
  }

  const desired = hpaDesired(spec, value, currentReplicas);
  const fleet = withUnit(evaluation.value, signal.unit);
  let how: string;
  if (spec.valueMode === 'raw') {
    how = `${signal.name} is ${fleet}; with metricType Value HPA scales the current ${currentReplicas} by ${num(value)} / ${spec.target}`;
  } else if (spec.use.kind === 'intensive') {
    how =
      `${signal.name} is ${fleet} per worker over ${plural(evaluation.readyWorkers, 'ready worker')}: KEDA gets ${num(value)}, ` +
      `ceil(${num(value)} / ${spec.target}) = ${desired}`;
  } else {
    how = `${signal.name} is ${fleet}: ceil(${num(value)} / target ${spec.target}) = ${desired}`;
  }
  const aboveThreshold = evaluation.value > spec.activationThreshold;
  const active = aboveThreshold
    ? `Active: ${num(evaluation.value)} > activationThreshold ${spec.activationThreshold}.`
    : result.active
      ? `Active through the pool's activation signal (${num(evaluation.value)} ≤ activationThreshold ${spec.activationThreshold}).`
      : `Inactive: ${num(evaluation.value)} ≤ activationThreshold ${spec.activationThreshold}, so KEDA may scale to its minReplicaCount.`;
  return { headline: `HPA wants ${plural(desired, 'replica')} because ${how}`, reasons: [active, ...leftOut, ...activation] };
}
