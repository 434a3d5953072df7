import { BoundedCache } from '../config/bounds.js';
import type { PoolConfig } from '../config/schema.js';
import { MetadataError } from '../signals/metadata-error.js';
import { KEDA_KEYS, metadataKey, parseTriggerMetadata, type DynamoPoolIdentity, type PoolCatalog } from './metadata.js';
import { checkMetadataBounds } from './metadata-bounds.js';
import { MAX_QUERIES } from '../store/pool-store.js';
import { Trigger, type PoolRuntime } from './trigger.js';
import type { SlaParams } from '../policies/sla/params.js';
import type { SlaPlanners } from './sla-planner.js';

/** At most this many distinct metadata maps are cached; past it the oldest entries go first. */
const MAX_CACHED = 10_000;
/**
 * And at most about this many bytes of them (keys counted as UTF-16, twice: the map's key and the
 * trigger's own copy of its metadata), so the cache's memory is bounded whatever the maps hold.
 */
export const MAX_CACHED_BYTES = 32 * 1024 * 1024;
/** Per-entry overhead beyond its text: the parsed spec, trigger object and map slot. */
const ENTRY_OVERHEAD_BYTES = 1024;

/** Every query slot of the pool is held: refused now, but not cached, since slots are taken back (store/query-slots.ts). */
class QuerySlotsFull extends MetadataError {}

/**
 * Turns `scalerMetadata` into triggers, once per distinct metadata map: KEDA sends the same
 * map on every call, so parsing and validation happen off the hot path after the first call.
 */
export class TriggerRegistry implements PoolCatalog {
  private readonly cache = new BoundedCache<Trigger | MetadataError>(MAX_CACHED, MAX_CACHED_BYTES);
  private readonly keys = new WeakMap<object, string>();

  constructor(
    private readonly pools: ReadonlyMap<string, { runtime: PoolRuntime; config: PoolConfig }>,
    readonly defaultTarget?: number,
    /** Where `policy: sla` triggers get their plans (absent: no profile is configured). */
    private readonly planners?: SlaPlanners,
  ) {}

  poolNames(): readonly string[] {
    return [...this.pools.keys()];
  }

  hasPool(name: string): boolean {
    return this.pools.has(name);
  }

  /** The pool's `defaultMetric` (the configuration gives dynamo-nats pools one). */
  defaultMetric(pool: string): string | undefined {
    return this.pools.get(pool)?.config.defaultMetric;
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
    const key = this.keyOf(metadata);
    let entry = this.cache.get(key);
    if (entry === undefined) {
      try {
        entry = this.build(metadata);
      } catch (error) {
        if (!(error instanceof MetadataError)) throw error;
        if (error instanceof QuerySlotsFull) throw error;
        entry = error;
      }
      this.remember(key, entry);
    }
    if (entry instanceof MetadataError) throw entry;
    return entry;
  }

  /**
   * The cache key of a metadata map. A frozen map cannot change, so its key is kept with it: the
   * gRPC server hands every call with the same request bytes the same frozen message
   * (grpc/request-memo.ts), and keying it again would sort and join its entries on every call.
   */
  private keyOf(metadata: Readonly<Record<string, string>>): string {
    const known = this.keys.get(metadata);
    if (known !== undefined) return known;
    // Oversized metadata is refused before it is keyed, parsed or cached (a few length reads).
    checkMetadataBounds(metadata, KEDA_KEYS);
    const key = metadataKey(metadata);
    if (Object.isFrozen(metadata)) this.keys.set(metadata, key);
    return key;
  }

  /** Bytes the cached entries are estimated to hold (see MAX_CACHED_BYTES). */
  get cacheBytes(): number {
    return this.cache.bytes;
  }

  /** Caches an entry, first dropping the oldest ones past either bound (a dropped trigger is parsed again when asked for). */
  private remember(key: string, entry: Trigger | MetadataError): void {
    this.cache.set(key, entry, key.length * 4 + ENTRY_OVERHEAD_BYTES);
  }

  /** Parses the metadata and tells the pool's store what the trigger needs collected. */
  private build(metadata: Readonly<Record<string, string>>): Trigger {
    const spec = parseTriggerMetadata(metadata, this);
    const { runtime } = this.pools.get(spec.pool)!; // parseTriggerMetadata accepts configured pools only
    const { signal, params } = spec.use;
    const historyMs = signal.params?.historyMs?.(params);
    if (historyMs !== undefined) runtime.store.requireHistory(historyMs);
    for (const query of signal.params?.queries?.(params) ?? []) {
      if (!runtime.store.requireQuery(query)) {
        throw new QuerySlotsFull(
          'query',
          `'${query.key}' cannot be collected: pool '${spec.pool}' already collects ${MAX_QUERIES} distinct queries, the most a pool collects`,
        );
      }
    }
    const sla = slaParamsOf(params);
    if (sla) return new Trigger(spec, runtime, metadata, this.slaAnswer(sla, runtime));
    return new Trigger(spec, runtime, metadata);
  }

  /** Checks what only the configuration knows (profile, role pools) and attaches to the shared plan. */
  private slaAnswer(p: SlaParams, observed: PoolRuntime) {
    const profiles = this.planners ? [...this.planners.profiles.keys()] : [];
    if (!this.planners || !this.planners.profiles.has(p.profile)) {
      throw new MetadataError(
        'profile',
        `unknown profile '${p.profile}'; ${profiles.length ? `configured profiles are ${profiles.join(', ')}` : 'the scaler configuration has no profiles'}`,
      );
    }
    const poolOf = (key: 'prefillPool' | 'decodePool', name: string | undefined): PoolRuntime => {
      if (name === undefined) return observed;
      const entry = this.pools.get(name);
      if (!entry) throw new MetadataError(key, `unknown pool '${name}'; configured pools are ${this.poolNames().join(', ')}`);
      return entry.runtime;
    };
    const pools = { observed, prefill: poolOf('prefillPool', p.prefillPool), decode: poolOf('decodePool', p.decodePool) };
    // Observations need the interval's history from the observed pool.
    observed.store.requireHistory(p.adjustmentIntervalMs * 2);
    const loop = this.planners.attach(p, pools);
    return () => loop.answer(p.role);
  }

  /** Stops the SLA plans' timers. */
  close(): void {
    this.planners?.close();
  }

  /** Every trigger KEDA has asked about, for the explain API. */
  triggers(): Trigger[] {
    const out: Trigger[] = [];
    for (const entry of this.cache.values()) if (entry instanceof Trigger) out.push(entry);
    return out;
  }
}

function slaParamsOf(params: unknown): SlaParams | undefined {
  return typeof params === 'object' && params !== null && (params as { policy?: unknown }).policy === 'sla' ? (params as SlaParams) : undefined;
}
