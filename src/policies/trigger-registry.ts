import type { PoolConfig } from '../config/schema.js';
import { MetadataError, metadataKey, parseTriggerMetadata, type DynamoPoolIdentity, type PoolCatalog } from './metadata.js';
import { Trigger, type PoolRuntime } from './trigger.js';

/** Above this many distinct metadata maps the cache starts afresh, bounding memory against churn. */
const MAX_CACHED = 10_000;

/**
 * Turns `scalerMetadata` into triggers, once per distinct metadata map: KEDA sends the same
 * map on every call, so parsing and validation happen off the hot path after the first call.
 */
export class TriggerRegistry implements PoolCatalog {
  private readonly cache = new Map<string, Trigger | MetadataError>();

  constructor(
    private readonly pools: ReadonlyMap<string, { runtime: PoolRuntime; config: PoolConfig }>,
    readonly defaultTarget?: number,
  ) {}

  poolNames(): readonly string[] {
    return [...this.pools.keys()];
  }

  hasPool(name: string): boolean {
    return this.pools.has(name);
  }

  /**
   * The pool's `defaultMetric`; a dynamo-nats pool without one defaults to `kv_cache_usage`, so
   * that metrics-keda metadata (`component`, `endpoint`, `threshold`, no metric) gets a fraction
   * its 0.7 threshold fits, not metrics-keda's `llm_load_avg` (a count of blocks).
   */
  defaultMetric(pool: string): string | undefined {
    const config = this.pools.get(pool)?.config;
    return config?.defaultMetric ?? (config?.source === 'dynamo-nats' ? 'kv_cache_usage' : undefined);
  }

  dynamoPools(): readonly DynamoPoolIdentity[] {
    const out: DynamoPoolIdentity[] = [];
    for (const [name, { config }] of this.pools) {
      if (config.source === 'dynamo-nats' && config.component !== undefined) {
        out.push({ pool: name, component: config.component, endpoint: config.endpoint });
      }
    }
    return out;
  }

  /** Returns the trigger for this metadata, or throws MetadataError naming the bad key. */
  resolve(metadata: Readonly<Record<string, string>>): Trigger {
    const key = metadataKey(metadata);
    let entry = this.cache.get(key);
    if (entry === undefined) {
      entry = this.build(metadata);
      if (this.cache.size >= MAX_CACHED) this.cache.clear();
      this.cache.set(key, entry);
    }
    if (entry instanceof MetadataError) throw entry;
    return entry;
  }

  private build(metadata: Readonly<Record<string, string>>): Trigger | MetadataError {
    try {
      const spec = parseTriggerMetadata(metadata, this);
      const pool = this.pools.get(spec.pool);
      if (!pool) return new MetadataError('pool', `unknown pool '${spec.pool}'`);
      const { signal, params } = spec.use;
      const historyMs = signal.params?.historyMs?.(params);
      if (historyMs !== undefined) pool.runtime.store.requireHistory(historyMs);
      for (const query of signal.params?.queries?.(params) ?? []) pool.runtime.store.requireQuery(query);
      return new Trigger(spec, pool.runtime, metadata);
    } catch (error) {
      if (error instanceof MetadataError) return error;
      throw error;
    }
  }

  /** Every trigger KEDA has asked about, for the explain API. */
  triggers(): Trigger[] {
    return [...this.cache.values()].filter((t): t is Trigger => t instanceof Trigger);
  }
}
