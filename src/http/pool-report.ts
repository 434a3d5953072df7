import type { PoolRuntime, Trigger } from '../policies/trigger.js';
import { defaultUses, evaluateSignalOnce } from '../signals/evaluate.js';
import type { SignalUse } from '../signals/types.js';
import type { PoolSnapshot } from '../store/pool-store.js';

/** What `/api/v1/pools/:name` shows: each worker's last values and, per signal, who counted and why not. */
export function poolReport(runtime: PoolRuntime, source: string, triggers: readonly Trigger[]) {
  const snapshot = runtime.store.published();
  const signals = Object.fromEntries(defaultUses().map((use) => [use.signal.name, signalReport(snapshot, use)]));
  return {
    name: runtime.name,
    source,
    at: new Date(snapshot.at).toISOString(),
    workers: snapshot.workers.map((w) => ({
      id: w.id,
      state: w.state,
      reason: w.reason,
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
      ? { signal: runtime.activation.use.signal.name, threshold: runtime.activation.threshold, ...signalReport(runtime.activation.store.published(), runtime.activation.use) }
      : undefined,
    triggers: triggers.filter((t) => t.pool === runtime).map(triggerReport),
  };
}

export function poolSummary(runtime: PoolRuntime, source: string) {
  const snapshot = runtime.store.published();
  const states: Record<string, number> = { fresh: 0, stale: 0, failing: 0, pending: 0 };
  for (const w of snapshot.workers) states[w.state] = (states[w.state] ?? 0) + 1;
  return { name: runtime.name, source, workers: snapshot.workers.length, ...states };
}

export function triggerReport(trigger: Trigger) {
  const result = trigger.evaluate();
  return {
    metricName: trigger.spec.metricName,
    signal: trigger.spec.use.signal.name,
    target: trigger.spec.target,
    activationThreshold: trigger.spec.activationThreshold,
    valueMode: trigger.spec.valueMode,
    model: trigger.spec.model,
    ok: result.ok,
    value: result.ok ? result.value : undefined,
    fleetValue: result.evaluation.ok ? result.evaluation.value : undefined,
    readyWorkers: result.evaluation.ok ? result.evaluation.readyWorkers : undefined,
    active: result.active,
    reason: result.ok ? undefined : result.reason,
  };
}

function signalReport(snapshot: PoolSnapshot, use: SignalUse) {
  const evaluation = evaluateSignalOnce(snapshot, use);
  return {
    ok: evaluation.ok,
    value: evaluation.ok ? evaluation.value : undefined,
    readyWorkers: evaluation.ok ? evaluation.readyWorkers : undefined,
    reason: evaluation.ok ? undefined : evaluation.reason,
    included: evaluation.contributions.filter((c) => c.excluded === undefined).map((c) => ({ worker: c.worker, value: c.value })),
    excluded: evaluation.contributions.filter((c) => c.excluded !== undefined).map((c) => ({ worker: c.worker, why: c.excluded })),
  };
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
