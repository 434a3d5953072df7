import type { PoolConfig, ScalerConfig } from '../config/schema.js';
import { createDiscovery } from '../discovery/discovery.js';
import type { ScalerMetrics } from '../http/metrics.js';
import type { FailureLog, Logger } from '../log.js';
import type { PoolStore } from '../store/pool-store.js';
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
      throw new Error('dynamo-nats source: wiring pending');
  }
}
