import { DYNAMO_DEFAULTS, type ActivationConfig, type PoolConfig, type ScalerConfig } from '../config/schema.js';
import { createDiscovery } from '../discovery/create-discovery.js';
import type { FailureLog, Logger } from '../log.js';
import type { PoolStore } from '../store/pool-store.js';
import type { ScalerMetrics } from '../telemetry.js';
import { DynamoNatsSource } from './dynamo/dynamo-nats-source.js';
import { HttpSource } from './http/http-source.js';
import { PrometheusSource } from './prometheus/prometheus-source.js';
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

/** What a source collects: a pool, or a pool's activation signal (always read over HTTP). */
export type SourceConfig = PoolConfig | (ActivationConfig & Pick<PoolConfig, 'scheme'>);

/** Builds the source that fills `store` for one pool, according to the pool's `source`. */
export function createSource(poolName: string, pool: SourceConfig, store: PoolStore, context: SourceContext): Source {
  const { config, client, metrics, log, failures } = context;
  if (pool.source === 'dynamo-nats') {
    return new DynamoNatsSource({
      pool: poolName,
      store,
      nats: pool.nats,
      namespace: pool.namespace,
      component: pool.component,
      endpoint: pool.endpoint ?? DYNAMO_DEFAULTS.endpoint,
      mode: pool.mode,
      intervalMs: config.checkInterval,
      cacheTtlMs: config.cacheTtl,
      statsWindowMs: pool.statsWindow,
      workerTtlMs: pool.workerTtl,
      kvBlocksPerWorker: pool.kvBlocksPerWorker,
      model: pool.model,
      metrics,
      log,
      failures,
    });
  }
  if (pool.source === 'prometheus') {
    return new PrometheusSource({
      pool: poolName,
      config: pool.prometheus,
      model: pool.model,
      store,
      intervalMs: config.checkInterval,
      cacheTtlMs: config.cacheTtl,
      metrics,
      log,
      failures,
    });
  }
  return new HttpSource({
    pool: poolName,
    kind: pool.source,
    model: pool.model,
    store,
    discovery: createDiscovery(pool),
    intervalMs: config.checkInterval,
    client,
    metrics,
    log,
    failures,
  });
}
