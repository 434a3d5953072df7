import type { PoolConfig } from '../config/schema.js';
import { MetadataError, metadataKey, parseTriggerMetadata, type PoolCatalog } from './metadata.js';
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

  defaultMetric(pool: string): string | undefined {
    return this.pools.get(pool)?.config.defaultMetric;
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
      return new Trigger(spec, pool.runtime);
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
