/**
 * The status page's JSON (types in ui/contract.ts): the overview of every pool and trigger, and one
 * pool in full — workers, signals, activation, the charts' history and each trigger's decision in
 * words. Built from published snapshots and the shared evaluations, like every other reader.
 * Shows no secrets: no configuration beyond each pool's source, metadata without KEDA's own keys,
 * and credentials in URLs masked in every message.
 */
import { createHash } from 'node:crypto';
import { evaluateSignal } from '../signals/evaluate.js';
import { countByState, type PoolSnapshot } from '../store/pool-store.js';
import { defaultUses } from '../triggers/catalogue.js';
import type { PoolRuntime, Trigger } from '../triggers/trigger.js';
import { hpaDesired, summarizeDecision } from './decision-summary.js';
import { visibleMetadata } from './pool-report.js';
import { triggerKey, type StatusHistory } from './status-history.js';
import type { ActivationView, DecisionView, OverviewPayload, PoolOverview, PoolPayload, SignalValue, WorkerRow } from './ui/contract.js';

export interface StatusState {
  readonly pools: ReadonlyMap<string, { runtime: PoolRuntime; source: string }>;
  triggers(): readonly Trigger[];
  readonly history: StatusHistory;
}

/** Masks `user:password@` in URLs (a NATS server address in an error message, say). */
export function redact(text: string): string;
export function redact(text: string | undefined): string | undefined;
export function redact(text: string | undefined): string | undefined {
  return text?.replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/@]+@/gi, '$1***@');
}

const orNull = (x: number | undefined): number | null => (x === undefined || !Number.isFinite(x) ? null : x);

function signalValues(snapshot: PoolSnapshot): SignalValue[] {
  return defaultUses().map((use) => {
    const evaluation = evaluateSignal(snapshot, use);
    return {
      name: use.signal.name,
      unit: use.signal.unit,
      kind: use.kind,
      value: evaluation.ok ? orNull(evaluation.value) : null,
      reason: evaluation.ok ? undefined : redact(evaluation.reason),
    };
  });
}

function poolOverview(runtime: PoolRuntime, source: string, triggers: readonly Trigger[]): PoolOverview {
  const snapshot = runtime.store.published();
  return {
    name: runtime.name,
    source,
    workers: snapshot.workers.length,
    counts: countByState(snapshot),
    problem: redact(snapshot.sourceProblem),
    signals: signalValues(snapshot),
    triggers: triggers.filter((t) => t.pool === runtime).length,
  };
}

function workerRows(snapshot: PoolSnapshot): WorkerRow[] {
  return snapshot.workers.map((w) => ({
    id: w.id,
    state: w.state,
    cause: w.state === 'failing' ? w.failure?.cause : undefined,
    reason: redact(w.state === 'failing' ? (w.failure?.message ?? w.reason) : w.reason),
    ageSeconds: w.sample ? Math.max(0, Math.round((snapshot.at - w.sample.at) / 100) / 10) : null,
    models: w.sample?.models ?? [],
    waiting: orNull(w.sample?.waiting),
    running: orNull(w.sample?.running),
    kvUsage: orNull(w.sample?.kvUsage),
    kvBlocksUsed: orNull(w.sample?.kvBlocksUsed),
    kvBlocksTotal: orNull(w.sample?.kvBlocksTotal),
  }));
}

function activationView(runtime: PoolRuntime): ActivationView | undefined {
  const activation = runtime.activation;
  if (!activation) return undefined;
  const evaluation = evaluateSignal(activation.store.published(), activation.use, activation.model);
  return {
    signal: activation.use.signal.name,
    threshold: activation.threshold,
    value: evaluation.ok ? orNull(evaluation.value) : null,
    active: evaluation.ok && evaluation.value > activation.threshold,
    reason: evaluation.ok ? undefined : redact(evaluation.reason),
  };
}

function decisionView(trigger: Trigger, history: StatusHistory | undefined, after?: number): DecisionView {
  const { spec } = trigger;
  const result = trigger.evaluate();
  const current = trigger.pool.store.published().workers.length;
  const summary = summarizeDecision(trigger, result, current);
  const kept = history?.trigger(trigger, after);
  return {
    id: createHash('sha1').update(triggerKey(trigger)).digest('hex').slice(0, 16),
    pool: trigger.pool.name,
    metricName: spec.metricName,
    signal: spec.use.signal.name,
    unit: spec.use.signal.unit,
    target: spec.target,
    valueMode: spec.valueMode,
    metadata: visibleMetadata(trigger.metadata),
    ok: result.ok,
    value: result.ok ? result.value : null,
    desired: result.ok ? hpaDesired(spec, result.value, current) : null,
    active: result.active,
    headline: redact(summary.headline),
    reasons: summary.reasons.map((r) => redact(r)),
    history: kept?.rows,
    changes: kept?.changes.map((c) => ({ ...c, headline: redact(c.headline) })),
  };
}

/** Decisions one payload shows at most (each is built every tick for every open page). */
export const MAX_DECISIONS_SHOWN = 200;

const byName = (a: Trigger, b: Trigger): number => a.pool.name.localeCompare(b.pool.name) || a.spec.metricName.localeCompare(b.spec.metricName);

export function overviewPayload(state: StatusState): OverviewPayload {
  const triggers = [...state.triggers()].sort(byName);
  return {
    at: Date.now(),
    pools: [...state.pools.values()].map(({ runtime, source }) => poolOverview(runtime, source, triggers)),
    decisions: triggers.slice(0, MAX_DECISIONS_SHOWN).map((t) => decisionView(t, undefined)),
    decisionsOmitted: Math.max(0, triggers.length - MAX_DECISIONS_SHOWN),
  };
}

/** One pool in full; with `after`, the history holds only rows newer than it. Undefined for an unknown pool. */
export function poolPayload(state: StatusState, name: string, after?: number): PoolPayload | undefined {
  const pool = state.pools.get(name);
  if (!pool) return undefined;
  const triggers = state
    .triggers()
    .filter((t) => t.pool === pool.runtime)
    .sort(byName);
  const snapshot = pool.runtime.store.published();
  return {
    at: Date.now(),
    full: after === undefined,
    pool: poolOverview(pool.runtime, pool.source, triggers),
    workers: workerRows(snapshot),
    activation: activationView(pool.runtime),
    history: state.history.pool(name, after),
    decisions: triggers.slice(0, MAX_DECISIONS_SHOWN).map((t) => decisionView(t, state.history, after)),
    decisionsOmitted: Math.max(0, triggers.length - MAX_DECISIONS_SHOWN),
  };
}
