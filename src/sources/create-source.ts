import type { PoolConfig, ScalerConfig } from '../config/schema.js';
import { createDiscovery } from '../discovery/discovery.js';
import type { ScalerMetrics } from '../http/metrics.js';
import type { FailureLog, Logger } from '../log.js';
import type { PoolStore } from '../store/pool-store.js';
import {
  DEFAULT_ENDPOINT,
  DEFAULT_NAMESPACE,
  DEFAULT_WORKER_TTL_MS,
  DynamoNatsSource,
  defaultStatsWindow,
} from './dynamo/dynamo-nats-source.js';
import { HttpSource } from './http/http-source.js';
import type { ScrapeClient } from './http/scrape-client.js';
import type { Source } from './source.js';

/** What every source shares: the scaler's settings, telemetry and the pooled HTTP client. */
export interface SourceContext {
  readonly config: ScalerConfig;
  readonly client: ScrapeClient;
  readonly metrics: ScalerMetrics;
  readonly log: Logger;
  readonly failures: FailureLog;
}

/** The part of a pool's configuration a source needs (activation sources are HTTP-only). */
export type SourceConfig = Pick<PoolConfig, 'source' | 'targets' | 'discovery' | 'model'> & Partial<PoolConfig>;

/** Builds the source that fills `store` for one pool, according to the pool's `source`. */
export function createSource(poolName: string, pool: SourceConfig, store: PoolStore, context: SourceContext): Source {
  switch (pool.source) {
    case 'vllm':
    case 'sglang':
    case 'trtllm':
    case 'dynamo-http':
      return new HttpSource({
        pool: poolName,
        kind: pool.source,
        model: pool.model,
        store,
        discovery: createDiscovery({ targets: pool.targets, discovery: pool.discovery, scheme: pool.scheme ?? 'http' }),
        intervalMs: context.config.checkInterval,
        client: context.client,
        metrics: context.metrics,
        log: context.log,
        failures: context.failures,
      });
    case 'dynamo-nats':
      if (!pool.component) throw new Error(`pools[${poolName}].component: required for a dynamo-nats pool (e.g. backend)`);
      return new DynamoNatsSource({
        pool: poolName,
        store,
        nats: pool.nats,
        namespace: pool.namespace ?? DEFAULT_NAMESPACE,
        component: pool.component,
        endpoint: pool.endpoint ?? DEFAULT_ENDPOINT,
        mode: pool.mode ?? 'auto',
        intervalMs: context.config.checkInterval,
        cacheTtlMs: context.config.cacheTtl,
        statsWindowMs: pool.statsWindow ?? defaultStatsWindow(context.config.checkInterval),
        workerTtlMs: pool.workerTtl ?? DEFAULT_WORKER_TTL_MS,
        kvBlocksPerWorker: pool.kvBlocksPerWorker,
        model: pool.model,
        metrics: context.metrics,
        log: context.log,
        failures: context.failures,
      });
  }
}
