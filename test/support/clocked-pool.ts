/**
 * One pool `llama` of a real PoolStore and TriggerRegistry on a controlled clock, for table tests
 * of policies through the real trigger machinery: every `step` moves the clock past the cache TTL
 * and records fresh samples, so each step is a new published snapshot.
 */
import { validateConfig } from '../../src/config/load.js';
import { MetadataError } from '../../src/signals/metadata-error.js';
import { PoolStore } from '../../src/store/pool-store.js';
import type { WorkerSample } from '../../src/store/sample.js';
import { TriggerRegistry } from '../../src/triggers/trigger-registry.js';

/** A worker's load: the gauge fields of a sample, and its cumulative histograms where a test needs them. */
export type Load = Partial<Pick<WorkerSample, 'waiting' | 'running' | 'kvUsage' | 'kvCapacityTokens' | 'queuedPrefillTokens' | 'histograms'>>;

export const CLOCKED_TTL_MS = 1000;

export class ClockedPool {
  now = 1_000_000;
  store = this.newStore([]);
  registry = this.newRegistry();

  /** A fresh store and registry whose pool discovers these workers. */
  setup(workerIds: string[]): void {
    this.now = 1_000_000;
    this.store = this.newStore(workerIds);
    this.registry = this.newRegistry();
  }

  /** Moves the clock by `seconds` (> the TTL) and records one fresh sample per worker. */
  step(seconds: number, loads: Record<string, Load>): void {
    this.now += seconds * 1000;
    for (const [id, load] of Object.entries(loads)) this.store.recordSample(id, { at: this.now, models: [], counters: {}, histograms: {}, ...load });
  }

  /** A `desired_replicas` trigger of pool llama with this metadata, evaluated now. */
  evaluate(metadata: Record<string, string>) {
    return this.registry.resolve({ pool: 'llama', metric: 'desired_replicas', ...metadata }).evaluate();
  }

  /** The MetadataError a `desired_replicas` trigger with this metadata is refused with (throws when it is accepted). */
  refusal(metadata: Record<string, string>): MetadataError {
    try {
      this.registry.resolve({ pool: 'llama', metric: 'desired_replicas', ...metadata });
    } catch (error) {
      if (error instanceof MetadataError) return error;
      throw error;
    }
    throw new Error(`accepted: ${JSON.stringify(metadata)}`);
  }

  private newStore(workerIds: string[]): PoolStore {
    const store = new PoolStore('llama', { cacheTtlMs: CLOCKED_TTL_MS, intervalMs: 1000, historyWindowMs: 600_000 }, () => this.now);
    store.setWorkers(workerIds);
    return store;
  }

  private newRegistry(): TriggerRegistry {
    const [config] = validateConfig({ pools: [{ name: 'llama', source: 'vllm', targets: ['127.0.0.1:1'] }] }).pools;
    return new TriggerRegistry(new Map([['llama', { config: config!, runtime: { name: 'llama', store: this.store } }]]));
  }
}
