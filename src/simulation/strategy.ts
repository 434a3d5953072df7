/**
 * A strategy made ready to run: its own pool store (virtual clock, publication on read), its
 * triggers resolved by the scaler's own TriggerRegistry — the parsing, validation, history and
 * query requirements of `parseTriggerMetadata` and the catalogue, so any signal or policy the
 * scaler knows works here unchanged — and its HPA.
 */
import type { HttpPoolConfig } from '../config/schema.js';
import { MetadataError } from '../signals/metadata-error.js';
import { PoolStore } from '../store/pool-store.js';
import type { PoolRuntime, Trigger } from '../triggers/trigger.js';
import { TriggerRegistry } from '../triggers/trigger-registry.js';
import { hpaSpec, type HpaSpec } from './hpa.js';
import { ScenarioError, type Scenario, type StrategyInput } from './scenario.js';

export interface ResolvedTrigger {
  /** Column name in reports: the signal, numbered when several triggers use it. */
  readonly label: string;
  readonly trigger: Trigger;
  readonly metricType: 'AverageValue' | 'Value';
}

export interface PreparedStrategy {
  readonly name: string;
  readonly fixedReplicas?: number;
  readonly store: PoolStore;
  readonly triggers: readonly ResolvedTrigger[];
  readonly hpa?: HpaSpec;
  readonly syncPeriod: number;
}

/** Resolves a strategy's triggers against a pool whose store reads `nowMs`; throws ScenarioError naming the trigger and key. */
export function prepareStrategy(scenario: Scenario, index: number, nowMs: () => number): PreparedStrategy {
  const input = scenario.strategies[index] as StrategyInput;
  const pool = scenario.fleet.name;
  const { cacheTtl, checkInterval, historyWindow } = scenario.scaler;
  const store = new PoolStore(
    pool,
    { cacheTtlMs: cacheTtl * 1000, intervalMs: checkInterval * 1000, historyWindowMs: historyWindow * 1000, publishOnRead: true },
    nowMs,
  );
  if (input.fixedReplicas !== undefined) return { name: input.name, fixedReplicas: input.fixedReplicas, store, triggers: [], syncPeriod: 15 };

  // The pool as a scaler configuration would declare it: vLLM workers behind a headless Service.
  const config: HttpPoolConfig = { name: pool, source: 'vllm', scheme: 'http', discovery: { dns: `${pool}-headless`, port: 8000, path: '/metrics' } };
  const runtime: PoolRuntime = { name: pool, store };
  const registry = new TriggerRegistry(new Map([[pool, { runtime, config }]]));
  const seen = new Map<string, number>();
  const triggers = (input.triggers ?? []).map((t, j): ResolvedTrigger => {
    const metadata = { pool, ...t.metadata };
    let trigger: Trigger;
    try {
      trigger = registry.resolve(metadata);
    } catch (error) {
      if (error instanceof MetadataError) throw new ScenarioError(`strategies[${index}] (${input.name}).triggers[${j}]: ${error.message}`);
      throw error;
    }
    const signal = trigger.spec.use.signal.name;
    const n = (seen.get(signal) ?? 0) + 1;
    seen.set(signal, n);
    return { label: n === 1 ? signal : `${signal}#${n}`, trigger, metricType: t.metricType };
  });

  const base = scenario.hpa;
  const override = input.hpa ?? {};
  const minReplicas = override.minReplicas ?? base?.minReplicas ?? 1;
  const maxReplicas = override.maxReplicas ?? base?.maxReplicas ?? minReplicas;
  if (minReplicas > maxReplicas)
    throw new ScenarioError(`strategies[${index}] (${input.name}).hpa: minReplicas ${minReplicas} exceeds maxReplicas ${maxReplicas}`);
  const spec = hpaSpec({ minReplicas, maxReplicas, behavior: override.behavior ?? base?.behavior, tolerance: override.tolerance ?? base?.tolerance ?? 0.1 });
  return { name: input.name, store, triggers, hpa: spec, syncPeriod: override.syncPeriod ?? base?.syncPeriod ?? 15 };
}
