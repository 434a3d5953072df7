import { MetadataError } from '../policies/metadata-error.js';
import type { FreshWorker, PoolSnapshot, WorkerView } from '../store/pool-store.js';
import {
  BEHAVIOUR_KEYS,
  applyBehaviour,
  behaviourKey,
  ceilTolerant,
  parseBehaviour,
  parseNumberKey,
  type BehaviourResult,
  type ReplicaBehaviour,
} from './replica-behaviour.js';
import type { Contribution, FleetEvaluation, SignalContext, SignalDefinition, SignalKind, SignalOutcome } from './types.js';
import { WVA_DEFAULTS, analyzeSaturation, saturationTarget, validateWvaConfig, type ReplicaMetrics, type WvaConfig } from './wva-saturation.js';

/**
 * The saturation-aware signals:
 * - `saturation`: the Gateway API Inference Extension EPP roofline, mean over workers of
 *   max(queue / queueThreshold, kv / kvCacheThreshold), workers without fresh metrics counting as
 *   saturated (1);
 * - `desired_replicas`: a replica count for KEDA (target 1), computed by `policy: saturation`
 *   (llm-d WVA V1, see wva-saturation.ts) or `policy: composite` (several signals, each with its
 *   own target, combined by `strategy: max|min|average`), then shaped by stabilization windows,
 *   change limits and min/max bounds (replica-behaviour.ts).
 *
 * This module must not import the catalogue (the catalogue imports it): other signals are reached
 * through the `find`/`names` functions handed to `policySignals`, and evaluated through
 * `SignalContext.evaluate`, which shares each evaluation per snapshot with the triggers that ask
 * for the same signal directly.
 */
export function policySignals(find: (name: string) => SignalDefinition | undefined, names: () => string[]): SignalDefinition[] {
  return [saturationSignal(), desiredReplicasSignal(find, names)];
}

// ---------------------------------------------------------------------------------------------
// Shared helpers

/**
 * The workers of this fleet that are not fresh: stale, failing or not yet collected. Workers whose
 * exposition serves another model are not in the fleet (evaluateSignal leaves them out too).
 */
function notFreshMembers(snapshot: PoolSnapshot): WorkerView[] {
  return snapshot.workers.filter((w) => w.state !== 'fresh' && w.failure?.cause !== 'model_mismatch');
}

function describeNotFresh(w: WorkerView): string {
  return `${w.state}${w.reason ? `: ${w.reason}` : ''}`;
}

const finite = (v: number | undefined): v is number => v !== undefined && Number.isFinite(v);

function round(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}

// ---------------------------------------------------------------------------------------------
// saturation (EPP roofline)

interface SaturationParams {
  readonly queueThreshold: number;
  readonly kvCacheThreshold: number;
}

const SATURATION_KEYS = ['queueThreshold', 'kvCacheThreshold'] as const;

function saturationSignal(): SignalDefinition<SaturationParams> {
  return {
    name: 'saturation',
    kind: 'intensive',
    unit: 'ratio',
    description: 'mean over workers of max(queue / queueThreshold, kv / kvCacheThreshold); workers without fresh metrics count as 1',
    params: {
      keys: SATURATION_KEYS,
      parse(values) {
        return {
          queueThreshold: parseNumberKey(values, 'queueThreshold', 5, 'a number > 0 (waiting requests at which a worker is saturated)', (n) => n > 0),
          kvCacheThreshold: parseNumberKey(values, 'kvCacheThreshold', 0.8, 'a number > 0 and ≤ 1 (KV-cache usage at which a worker is saturated)', (n) => n > 0 && n <= 1),
        };
      },
      key: (p) => `${p.queueThreshold}/${p.kvCacheThreshold}`,
    },
    compute(workers, params, context) {
      return computeSaturation(workers, params, context.snapshot);
    },
  };
}

function computeSaturation(workers: readonly FreshWorker[], p: SaturationParams, snapshot: PoolSnapshot): SignalOutcome {
  const contributions: Contribution[] = [];
  const perWorker: { worker: string; queue?: number; kv?: number; score: number; bound: string }[] = [];
  const countedSaturated: { worker: string; why: string }[] = [];
  let total = 0;
  for (const { id, sample } of workers) {
    const queue = finite(sample.waiting) ? sample.waiting : undefined;
    const kv = finite(sample.kvUsage) ? sample.kvUsage : undefined;
    if (queue === undefined || kv === undefined) {
      // EPP: missing metrics count as fully saturated — never as idle.
      const missing = [queue === undefined ? 'waiting requests' : '', kv === undefined ? 'KV-cache usage' : ''].filter(Boolean).join(' and ');
      countedSaturated.push({ worker: id, why: `does not report ${missing}` });
      perWorker.push({ worker: id, queue, kv, score: 1, bound: 'missing metrics' });
      contributions.push({ worker: id, value: 1 });
      total += 1;
      continue;
    }
    const byQueue = queue / p.queueThreshold;
    const byKv = kv / p.kvCacheThreshold;
    const score = Math.max(byQueue, byKv);
    perWorker.push({ worker: id, queue, kv, score: round(score), bound: byQueue >= byKv ? 'queue' : 'kv' });
    contributions.push({ worker: id, value: score });
    total += score;
  }
  // Stale, failing and pending workers are in the mean as saturated (EPP: stale = saturated).
  const notFresh = notFreshMembers(snapshot);
  for (const w of notFresh) {
    countedSaturated.push({ worker: w.id, why: describeNotFresh(w) });
    total += 1;
  }
  const count = workers.length + notFresh.length;
  const value = total / count;
  return {
    ok: true,
    value,
    contributors: count,
    contributions,
    details: {
      formula: 'mean over workers of max(queue / queueThreshold, kv / kvCacheThreshold); workers without fresh metrics count as 1',
      queueThreshold: p.queueThreshold,
      kvCacheThreshold: p.kvCacheThreshold,
      workers: perWorker,
      countedSaturated,
      workersInMean: count,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// desired_replicas

type Strategy = 'max' | 'min' | 'average';
const STRATEGIES: readonly Strategy[] = ['max', 'min', 'average'];
const POLICIES = ['saturation', 'composite'] as const;
const WVA_KEYS = ['kvCacheThreshold', 'queueLengthThreshold', 'kvSpareTrigger', 'queueSpareTrigger'] as const;
const COMPOSITE_KEYS = ['metrics', 'strategy'] as const;
const MIN_TARGET = 0.001;

interface SubSignal {
  readonly signal: string;
  readonly target: number;
}

type DesiredParams =
  | { readonly policy: 'saturation'; readonly wva: WvaConfig; readonly behaviour: ReplicaBehaviour }
  | {
      readonly policy: 'composite';
      readonly strategy: Strategy;
      readonly metrics: readonly SubSignal[];
      /** The trigger's metadata values the sub-signals read (window, quantile …), sorted by key. */
      readonly passThrough: readonly (readonly [string, string])[];
      readonly historyMs: number;
      /** Series queries the sub-signals need collected (the `custom` signal's). */
      readonly queries: readonly string[];
      readonly behaviour: ReplicaBehaviour;
    };

function desiredReplicasSignal(find: (name: string) => SignalDefinition | undefined, names: () => string[]): SignalDefinition<DesiredParams> {
  /** Other signals a composite can combine: everything but replica counts. */
  const combinable = () => names().filter((n) => find(n)?.kind !== 'replicas');
  let subKeys: readonly string[] | undefined;
  /** Every key some combinable signal reads: a composite passes them through. */
  const allSubKeys = (): readonly string[] => {
    subKeys ??= [...new Set(combinable().flatMap((n) => find(n)?.params?.keys ?? []))];
    return subKeys;
  };
  const ownKeys = ['policy', ...WVA_KEYS, ...COMPOSITE_KEYS, ...BEHAVIOUR_KEYS];

  const params = {
    get keys(): readonly string[] {
      return [...new Set([...ownKeys, ...allSubKeys()])];
    },
    parse(values: ReadonlyMap<string, string>): DesiredParams {
      const policyText = (values.get('policy') || 'saturation').toLowerCase();
      if (policyText === 'sla') throw new MetadataError('policy', `'sla' is not available yet; accepted policies are ${POLICIES.join(', ')}`);
      if (!(POLICIES as readonly string[]).includes(policyText)) {
        throw new MetadataError('policy', `unknown policy '${values.get('policy')}'; accepted policies are ${POLICIES.join(', ')}`);
      }
      const policy = policyText as (typeof POLICIES)[number];
      return policy === 'saturation' ? parseSaturationPolicy(values) : parseCompositePolicy(values);
    },
    key(p: DesiredParams): string {
      if (p.policy === 'saturation') {
        const w = p.wva;
        return `saturation|${w.kvCacheThreshold}/${w.queueLengthThreshold}/${w.kvSpareTrigger}/${w.queueSpareTrigger}|${behaviourKey(p.behaviour)}`;
      }
      const metrics = p.metrics.map((m) => `${m.signal}:${m.target}`).join(',');
      const pass = p.passThrough.map(([k, v]) => `${k}=${v}`).join('&');
      return `composite|${p.strategy}|${metrics}|${pass}|${behaviourKey(p.behaviour)}`;
    },
    historyMs: (p: DesiredParams) => (p.policy === 'composite' ? p.historyMs : 0),
    queries: (p: DesiredParams) => (p.policy === 'composite' ? p.queries : []),
  };

  /** Refuses keys that belong to the other policy or to signals this trigger does not combine. */
  function refuseForeignKeys(values: ReadonlyMap<string, string>, allowed: ReadonlySet<string>, policy: string, hint: (key: string) => string): void {
    for (const key of [...ownKeys, ...allSubKeys()]) {
      if (values.has(key) && !allowed.has(key)) throw new MetadataError(key, `not used by desired_replicas with policy '${policy}': ${hint(key)}`);
    }
  }

  function parseSaturationPolicy(values: ReadonlyMap<string, string>): DesiredParams {
    const allowed = new Set<string>(['policy', ...WVA_KEYS, ...BEHAVIOUR_KEYS]);
    refuseForeignKeys(values, allowed, 'saturation', (key) =>
      (COMPOSITE_KEYS as readonly string[]).includes(key)
        ? 'it belongs to policy composite'
        : `policy saturation reads ${[...WVA_KEYS, ...BEHAVIOUR_KEYS].join(', ')}${key === 'queueThreshold' ? " (WVA's queue threshold is queueLengthThreshold)" : ''}`,
    );
    const wva: WvaConfig = {
      kvCacheThreshold: parseNumberKey(values, 'kvCacheThreshold', WVA_DEFAULTS.kvCacheThreshold, 'a number between 0 and 1', () => true),
      queueLengthThreshold: parseNumberKey(values, 'queueLengthThreshold', WVA_DEFAULTS.queueLengthThreshold, 'a number ≥ 0', () => true),
      kvSpareTrigger: parseNumberKey(values, 'kvSpareTrigger', WVA_DEFAULTS.kvSpareTrigger, 'a number between 0 and 1', () => true),
      queueSpareTrigger: parseNumberKey(values, 'queueSpareTrigger', WVA_DEFAULTS.queueSpareTrigger, 'a number ≥ 0', () => true),
    };
    const problem = validateWvaConfig(wva);
    if (problem) throw new MetadataError(problem.key, `'${values.get(problem.key) ?? wva[problem.key]}' is not accepted: ${problem.message}`);
    const behaviour = parseBehaviour(values, { defaultMin: 1, lowest: 1, why: 'WVA V1 never scales below 1 replica' });
    return { policy: 'saturation', wva, behaviour };
  }

  function parseCompositePolicy(values: ReadonlyMap<string, string>): DesiredParams {
    const metricsText = values.get('metrics');
    const accepted = `a comma-separated list of signal:target, e.g. queue_depth:20,kv_cache_usage:0.7; signals are ${combinable().join(', ')}`;
    if (!metricsText) throw new MetadataError('metrics', `required with policy composite; expected ${accepted}`);
    const metrics: SubSignal[] = [];
    for (const entry of metricsText.split(',').map((e) => e.trim())) {
      const at = entry.lastIndexOf(':');
      if (entry === '' || at <= 0) throw new MetadataError('metrics', `'${entry}' is not signal:target; expected ${accepted}`);
      const name = entry.slice(0, at).trim().toLowerCase();
      const targetText = entry.slice(at + 1).trim();
      const signal = find(name);
      if (!signal) throw new MetadataError('metrics', `unknown signal '${name}'; signals are ${combinable().join(', ')}`);
      if (signal.kind === 'replicas') throw new MetadataError('metrics', `'${name}' is already a replica count and cannot be combined; signals are ${combinable().join(', ')}`);
      const target = Number(targetText);
      if (targetText === '' || !Number.isFinite(target)) throw new MetadataError('metrics', `the target of '${name}' ('${targetText}') is not a number; expected a number ≥ ${MIN_TARGET}`);
      if (target < MIN_TARGET) throw new MetadataError('metrics', `the target of '${name}' ('${targetText}') is too small; expected a number ≥ ${MIN_TARGET}`);
      if (metrics.some((m) => m.signal === signal.name)) throw new MetadataError('metrics', `'${signal.name}' is listed twice`);
      metrics.push({ signal: signal.name, target });
    }

    const strategyText = (values.get('strategy') || 'max').toLowerCase();
    if (!(STRATEGIES as readonly string[]).includes(strategyText)) {
      throw new MetadataError('strategy', `'${values.get('strategy')}' is not accepted; expected ${STRATEGIES.join(', ')}`);
    }

    // Sub-signal parameters come from the trigger's own metadata; each must be read by a listed signal.
    const subDefinitions = metrics.map((m) => find(m.signal) as SignalDefinition);
    const readBySubs = new Set(subDefinitions.flatMap((s) => s.params?.keys ?? []));
    const allowed = new Set<string>(['policy', ...COMPOSITE_KEYS, ...BEHAVIOUR_KEYS, ...readBySubs]);
    refuseForeignKeys(values, allowed, 'composite', (key) =>
      (WVA_KEYS as readonly string[]).includes(key) && !readBySubs.has(key)
        ? 'it belongs to policy saturation'
        : `no signal in 'metrics' reads it (${metrics.map((m) => m.signal).join(', ')})`,
    );
    const passThrough = [...readBySubs]
      .filter((key) => values.has(key))
      .sort()
      .map((key) => [key, values.get(key) as string] as const);
    const passMap = new Map(passThrough);
    let historyMs = 0;
    const queries = new Set<string>();
    for (const sub of subDefinitions) {
      if (!sub.params) continue;
      const subParams = sub.params.parse(passMap); // throws MetadataError naming the sub-signal's key
      historyMs = Math.max(historyMs, sub.params.historyMs?.(subParams) ?? 0);
      for (const query of sub.params.queries?.(subParams) ?? []) queries.add(query);
    }
    const behaviour = parseBehaviour(values, { defaultMin: 0, lowest: 0, why: '' });
    return { policy: 'composite', strategy: strategyText as Strategy, metrics, passThrough, historyMs, queries: [...queries], behaviour };
  }

  return {
    name: 'desired_replicas',
    kind: 'replicas',
    unit: 'replicas',
    description: 'replica count (target 1) from policy saturation (llm-d WVA V1) or composite (several signals, strategy max|min|average)',
    params,
    compute(workers, p, context) {
      return p.policy === 'saturation' ? computeSaturationPolicy(workers, p, context) : computeComposite(workers, p, find, context);
    },
  };
}

function behaviourDetails(b: BehaviourResult, behaviour: ReplicaBehaviour) {
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

function computeSaturationPolicy(
  workers: readonly FreshWorker[],
  p: Extract<DesiredParams, { policy: 'saturation' }>,
  context: SignalContext,
): SignalOutcome {
  const notFresh = notFreshMembers(context.snapshot);
  // Current replicas: every worker of the fleet discovery knows about, fresh or not.
  const current = workers.length + notFresh.length;
  const replicas: ReplicaMetrics[] = [];
  const missing: { worker: string; why: string }[] = [];
  const contributions: Contribution[] = [];
  for (const { id, sample } of workers) {
    const queue = finite(sample.waiting) ? sample.waiting : undefined;
    const kv = finite(sample.kvUsage) ? sample.kvUsage : undefined;
    if (queue === undefined || kv === undefined) {
      const what = [queue === undefined ? 'waiting requests' : '', kv === undefined ? 'KV-cache usage' : ''].filter(Boolean).join(' and ');
      missing.push({ worker: id, why: `does not report ${what}` });
      continue;
    }
    replicas.push({ name: id, kvCacheUsage: kv, queueLength: queue });
  }
  for (const w of notFresh) missing.push({ worker: w.id, why: describeNotFresh(w) });

  const analysis = analyzeSaturation(replicas, p.wva);
  const target = saturationTarget(analysis, { current });
  const shaped = applyBehaviour(target.target, current, context.snapshot.at, p.behaviour, context.memory);

  for (const r of analysis.replicas) {
    contributions.push(
      r.saturated
        ? { worker: r.name, excluded: `saturated (${r.why}): left out of the spare-capacity averages` }
        : { worker: r.name, value: round(r.spareKv as number) },
    );
  }
  for (const m of missing) {
    // Not-fresh workers are listed by evaluateSignal itself; fresh ones missing a metric are listed here.
    if (workers.some((w) => w.id === m.worker)) contributions.push({ worker: m.worker, excluded: `${m.why}: counted in current replicas, not in ready ones (holds the decision)` });
  }

  return {
    ok: true,
    value: shaped.value,
    contributors: analysis.totalReplicas,
    contributions,
    details: {
      policy: 'saturation',
      algorithm: 'llm-d WVA V1 saturation analyzer',
      config: p.wva,
      currentReplicas: current,
      readyReplicas: analysis.totalReplicas,
      replicas: analysis.replicas.map((r) => ({
        worker: r.name,
        kv: r.kvCacheUsage,
        queue: r.queueLength,
        saturated: r.saturated,
        why: r.why,
        spareKv: r.spareKv === undefined ? undefined : round(r.spareKv),
        spareQueue: r.spareQueue === undefined ? undefined : round(r.spareQueue),
      })),
      missingMetrics: missing,
      nonSaturatedCount: analysis.nonSaturatedCount,
      saturatedReplicas: analysis.replicas.filter((r) => r.saturated).map((r) => r.name),
      avgSpareKv: round(analysis.avgSpareKv),
      avgSpareQueue: round(analysis.avgSpareQueue),
      shouldScaleUp: analysis.shouldScaleUp,
      scaleUpReason: analysis.scaleUpReason || undefined,
      scaleDownSafe: analysis.scaleDown.safe,
      scaleDownCheck: analysis.scaleDown.reason,
      decision: target.decision,
      rule: target.rule,
      recommendation: target.target,
      behaviour: behaviourDetails(shaped, p.behaviour),
    },
  };
}

interface SubResult {
  readonly signal: string;
  readonly target: number;
  readonly kind?: string;
  readonly ok: boolean;
  readonly reason?: string;
  readonly value?: number;
  readonly readyWorkers?: number;
  readonly perReplicaValue?: number;
  readonly desired?: number;
  readonly formula?: string;
  readonly included?: readonly { worker: string; value?: number }[];
  readonly excluded?: readonly { worker: string; why?: string }[];
}

function computeComposite(
  workers: readonly FreshWorker[],
  p: Extract<DesiredParams, { policy: 'composite' }>,
  find: (name: string) => SignalDefinition | undefined,
  context: SignalContext,
): SignalOutcome {
  const notFresh = notFreshMembers(context.snapshot);
  const current = workers.length + notFresh.length;
  const passMap = new Map(p.passThrough);
  const results: SubResult[] = p.metrics.map(({ signal, target }) => {
    const definition = find(signal);
    let evaluation: FleetEvaluation;
    try {
      evaluation = context.evaluate(signal, passMap);
    } catch (error) {
      evaluation = { ok: false, reason: (error as Error).message, contributions: [] };
    }
    const lists = {
      included: evaluation.contributions.filter((c) => c.excluded === undefined).map((c) => ({ worker: c.worker, value: c.value })),
      excluded: evaluation.contributions.filter((c) => c.excluded !== undefined).map((c) => ({ worker: c.worker, why: c.excluded })),
    };
    let kind: SignalKind | undefined;
    try {
      kind = context.kindOf(signal, passMap);
    } catch {
      kind = definition?.kind;
    }
    if (!evaluation.ok) return { signal, target, kind, ok: false, reason: evaluation.reason, ...lists };
    const intensive = kind === 'intensive';
    // What HPA would compute for this signal alone under AverageValue: ceil(KEDA value / target).
    const kedaValue = intensive ? evaluation.value * evaluation.readyWorkers : evaluation.value;
    const desired = Math.max(0, ceilTolerant(kedaValue / target));
    const formula = intensive
      ? `ceil(${evaluation.readyWorkers} workers × ${round(evaluation.value)} / ${target}) = ${desired}`
      : `ceil(${round(evaluation.value)} / ${target}) = ${desired}`;
    return { signal, target, kind, ok: true, value: evaluation.value, readyWorkers: evaluation.readyWorkers, desired, formula, ...lists };
  });

  const available = results.filter((r) => r.ok);
  const unavailable = results.filter((r) => !r.ok);
  const contributions: Contribution[] = workers.map((w) => ({ worker: w.id }));
  const describe = (rs: readonly SubResult[]) => rs.map((r) => `${r.signal}: ${r.reason}`).join('; ');
  if (available.length === 0) {
    return { ok: false, reason: `no signal of the composite is available (${describe(unavailable)})`, contributions };
  }
  if (unavailable.length > 0 && p.strategy !== 'max') {
    // min and average need every signal: leaving one out would change the answer arbitrarily.
    return { ok: false, reason: `strategy ${p.strategy} needs every signal, and ${describe(unavailable)}`, contributions };
  }
  const desired = available.map((r) => r.desired as number);
  let recommendation: number;
  let combination: string;
  if (p.strategy === 'max') {
    recommendation = Math.max(...desired);
    combination = `max(${desired.join(', ')}) = ${recommendation}`;
  } else if (p.strategy === 'min') {
    recommendation = Math.min(...desired);
    combination = `min(${desired.join(', ')}) = ${recommendation}`;
  } else {
    const mean = desired.reduce((a, b) => a + b, 0) / desired.length;
    recommendation = ceilTolerant(mean);
    combination = `ceil(mean(${desired.join(', ')}) = ${round(mean)}) = ${recommendation}`;
  }
  const shaped = applyBehaviour(recommendation, current, context.snapshot.at, p.behaviour, context.memory);
  const deciding = available.filter((r) => r.desired === recommendation).map((r) => r.signal);

  return {
    ok: true,
    value: shaped.value,
    contributors: workers.length,
    contributions,
    details: {
      policy: 'composite',
      strategy: p.strategy,
      currentReplicas: current,
      signals: results,
      skipped:
        unavailable.length > 0
          ? unavailable.map((r) => ({ signal: r.signal, why: `unavailable (${r.reason}): left out of max — the other signals still bound the answer from below` }))
          : undefined,
      combination,
      decidedBy: p.strategy === 'average' ? undefined : deciding,
      recommendation,
      behaviour: behaviourDetails(shaped, p.behaviour),
    },
  };
}
