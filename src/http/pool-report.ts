import { evaluateSignal } from '../signals/evaluate.js';
import { splitContributions, type SignalUse } from '../signals/types.js';
import { countByState, type PoolSnapshot } from '../store/pool-store.js';
import { defaultUses } from '../triggers/catalogue.js';
import { KEDA_KEYS } from '../triggers/metadata.js';
import type { PoolRuntime, Trigger } from '../triggers/trigger.js';
import { round3 as round } from '../signals/rounding.js';

/** What `/api/v1/pools/:name` shows: each worker's last values and, per signal, who counted and why not. */
export function poolReport(runtime: PoolRuntime, source: string, triggers: readonly Trigger[]) {
  const snapshot = runtime.store.published();
  const signals = Object.fromEntries(defaultUses().map((use) => [use.signal.name, signalReport(snapshot, use)]));
  return {
    name: runtime.name,
    source,
    at: new Date(snapshot.at).toISOString(),
    workerBound: runtime.store.workerBound.report(),
    workers: snapshot.workers.map((w) => ({
      id: w.id,
      name: w.name,
      state: w.state,
      reason: w.reason,
      cause: w.failure?.cause,
      notes: w.sample?.notes,
      ageSeconds: w.sample ? round((snapshot.at - w.sample.at) / 1000) : undefined,
      counterResets: w.counterResets,
      last: w.sample
        ? {
            models: w.sample.models,
            waiting: w.sample.waiting,
            running: w.sample.running,
            kvUsage: w.sample.kvUsage,
            kvBlocksUsed: w.sample.kvBlocksUsed,
            kvBlocksTotal: w.sample.kvBlocksTotal,
          }
        : undefined,
    })),
    signals,
    activation: runtime.activation
      ? {
          signal: runtime.activation.use.signal.name,
          threshold: runtime.activation.threshold,
          ...signalReport(runtime.activation.store.published(), runtime.activation.use),
        }
      : undefined,
    triggers: triggers.filter((t) => t.pool === runtime).map(decisionReport),
  };
}

export function poolSummary(runtime: PoolRuntime, source: string) {
  const snapshot = runtime.store.published();
  return {
    name: runtime.name,
    source,
    workers: snapshot.workers.length,
    ...countByState(snapshot),
    ...excludedWorkers(snapshot),
    workerBound: runtime.store.workerBound.report(),
  };
}

/**
 * Each worker that is not counted, with its cause (`timeout`, `implausible-value`, `stale`, …) and
 * reason; and why the pool has no workers, when the source says so. At most 100 are listed.
 */
function excludedWorkers(snapshot: PoolSnapshot) {
  const excluded = snapshot.workers
    .filter((w) => w.state !== 'fresh')
    .slice(0, 100)
    .map((w) => ({ id: w.id, name: w.name, state: w.state, cause: w.failure?.cause ?? w.state, reason: w.reason }));
  const why = snapshot.workers.length === 0 ? snapshot.emptyBecause : undefined;
  return { excluded, ...(why === undefined ? {} : { emptyBecause: why }) };
}

/** A trigger's metadata as the explain API shows it: without KEDA's own keys (TLS material). */
export function visibleMetadata(metadata: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata ?? {})) if (!KEDA_KEYS.has(key)) out[key] = value;
  return out;
}

/**
 * "Why did it scale?" for one trigger KEDA has asked about: its inputs (metadata), each worker's
 * contribution or the reason it was left out (stale, failing, saturated, not reporting …), the
 * signal's internals (`details`: averages, the rule that fired, stabilization and limits applied),
 * and what KEDA receives. Read from the published snapshot, like GetMetrics.
 */
export function decisionReport(trigger: Trigger) {
  const { spec } = trigger;
  const result = trigger.evaluate();
  const evaluation = result.evaluation;
  const snapshot = trigger.pool.store.published();
  const signal = spec.use.signal;
  return {
    pool: trigger.pool.name,
    metricName: spec.metricName,
    signal: signal.name,
    kind: signal.kind,
    metadata: visibleMetadata(trigger.metadata),
    target: spec.target,
    activationThreshold: spec.activationThreshold,
    valueMode: spec.valueMode,
    model: spec.model,
    at: new Date(snapshot.at).toISOString(),
    ok: result.ok,
    value: result.ok ? result.value : undefined,
    fleetValue: evaluation.ok ? evaluation.value : undefined,
    readyWorkers: evaluation.ok ? evaluation.readyWorkers : undefined,
    discoveredWorkers: evaluation.ok ? snapshot.workers.length : undefined,
    active: result.active,
    reason: result.ok ? undefined : result.reason,
    explanation: explain(trigger, result),
    ...withPods(splitContributions(evaluation.contributions), snapshot),
    details: evaluation.ok ? evaluation.details : undefined,
    activation: result.activation
      ? {
          active: result.activation.active,
          threshold: result.activation.threshold,
          value: result.activation.evaluation.ok ? result.activation.evaluation.value : undefined,
          reason: result.activation.evaluation.ok ? undefined : result.activation.evaluation.reason,
        }
      : undefined,
  };
}

function explain(trigger: Trigger, result: ReturnType<Trigger['evaluate']>): string {
  const { spec } = trigger;
  const signal = spec.use.signal;
  if (!result.ok) {
    const activation = result.active ? ' (the pool activation signal still says active)' : '';
    return `no value: ${result.reason}; GetMetrics answers UNAVAILABLE and KEDA's fallback applies${activation}`;
  }
  const { evaluation, value } = result;
  const details = evaluation.details ?? {};
  let how: string;
  if (signal.kind === 'replicas') {
    const rule =
      typeof details['rule'] === 'string'
        ? details['rule']
        : typeof details['combination'] === 'string'
          ? `${details['strategy']}: ${details['combination']}`
          : '';
    const behaviour = details['behaviour'] as { applied?: readonly string[] } | undefined;
    const applied = behaviour?.applied?.length ? `; then ${behaviour.applied.join('; ')}` : '';
    how = `${signal.name} = ${value}${rule ? ` (${rule}${applied})` : ''}`;
  } else if (signal.kind === 'intensive' && spec.valueMode !== 'raw') {
    how = `${signal.name} = ${round(evaluation.value)} per worker × ${evaluation.readyWorkers} ready workers = ${round(value)}`;
  } else {
    how = `${signal.name} = ${round(value)}`;
  }
  const hpa =
    spec.valueMode === 'raw'
      ? `with metricType Value HPA scales the current replicas by ${round(value)} / ${spec.target}`
      : `with metricType AverageValue HPA wants ceil(${round(value)} / ${spec.target}) = ${Math.ceil(value / spec.target - 1e-9)} replicas (before its ` +
        `tolerance and behavior)`;
  const notes = evaluation.contributions.filter((c) => c.note !== undefined && c.excluded === undefined).map((c) => `${c.worker}: ${c.note}`);
  const noted = notes.length > 0 ? `; note ${notes.join('; ')}` : '';
  return `${how}; ${hpa}; ${result.active ? 'active' : 'inactive'} (activationThreshold ${spec.activationThreshold})${noted}`;
}

function signalReport(snapshot: PoolSnapshot, use: SignalUse) {
  const evaluation = evaluateSignal(snapshot, use);
  return {
    ok: evaluation.ok,
    value: evaluation.ok ? evaluation.value : undefined,
    readyWorkers: evaluation.ok ? evaluation.readyWorkers : undefined,
    reason: evaluation.ok ? undefined : evaluation.reason,
    ...withPods(splitContributions(evaluation.contributions), snapshot),
  };
}

type Split = ReturnType<typeof splitContributions>;

/** Each worker's pod (the name discovery gave it) beside its id, when workers have names. */
function withPods(split: Split, snapshot: PoolSnapshot): Split & { included: { pod?: string }[]; excluded: { pod?: string }[] } {
  const names = new Map<string, string>();
  for (const w of snapshot.workers) if (w.name !== undefined) names.set(w.id, w.name);
  if (names.size === 0) return split;
  const pod = <T extends { worker: string }>(c: T): T & { pod?: string } => {
    const name = names.get(c.worker);
    return name === undefined ? c : { ...c, pod: name };
  };
  return { included: split.included.map(pod), excluded: split.excluded.map(pod) };
}
