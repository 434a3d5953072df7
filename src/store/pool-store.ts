import NodeCache from 'node-cache';
import type { CounterName, WorkerSample } from './sample.js';
import type { SeriesQuery } from './series-query.js';

/** Why the last attempt to read a worker failed. Stable strings: they label metrics and logs. */
export type FailureCause = 'connect' | 'timeout' | 'http_status' | 'body_too_large' | 'parse' | 'no_metrics' | 'model_mismatch' | 'target_down' | 'error';

export interface WorkerFailure {
  readonly cause: FailureCause;
  readonly message: string;
  readonly at: number;
}

/** Everything the store knows about one discovered worker. */
export interface WorkerRecord {
  readonly id: string;
  /** Last good sample, kept (even when stale) so operators can see what the worker said last. */
  last?: WorkerSample;
  /** Recent good samples, oldest first, for rates and histogram deltas over a window. */
  readonly history: WorkerSample[];
  /** Set while the most recent attempt failed; cleared by the next good sample. */
  failure?: WorkerFailure;
  /** How often this worker's counters went backwards (a restart). */
  counterResets: number;
  /** When the worker was last known alive, if later than its last sample (see `confirmAlive`). */
  aliveAt?: number;
}

/** `draining`: discovery says the worker is terminating but still serving (Kubernetes); shown, never counted. */
export type WorkerState = 'fresh' | 'stale' | 'failing' | 'pending' | 'draining';

/** What discovery knows about a worker beyond its id (see `setWorkers`). */
export interface WorkerDetails {
  /** A name for explanations, e.g. the worker's pod. */
  readonly name?: string;
  /** Set (to the reason) while the worker drains: it is left out of every signal and replica count. */
  readonly draining?: string;
}

export interface WorkerView {
  readonly id: string;
  readonly state: WorkerState;
  /** The name discovery gave the worker (its pod), when it has one. */
  readonly name?: string;
  readonly sample?: WorkerSample;
  readonly failure?: WorkerFailure;
  readonly counterResets: number;
  /** A human-readable reason when the worker is not fresh. */
  readonly reason?: string;
}

/**
 * The identity of state that outlives one snapshot, for one pool and one key (e.g. a policy's
 * stabilization window for its parameters). Modules keep their state in a `WeakMap` keyed by it,
 * typed as they need, so the store never has to know what they keep.
 */
export class StateScope {
  constructor(readonly key: string) {}
}

/** One StateScope per key, for the lifetime of a pool. */
export class StateScopes {
  private readonly scopes = new Map<string, StateScope>();

  scope(key: string): StateScope {
    let scope = this.scopes.get(key);
    if (!scope) {
      scope = new StateScope(key);
      this.scopes.set(key, scope);
    }
    return scope;
  }
}

/** An immutable picture of a pool at one moment: what signals are computed from. */
export interface PoolSnapshot {
  readonly pool: string;
  readonly at: number;
  readonly workers: readonly WorkerView[];
  readonly fresh: readonly FreshWorker[];
  /** True once every discovered worker has been attempted at least once. */
  readonly collected: boolean;
  /**
   * Set while the source itself cannot observe the workers (e.g. NATS is down): then nothing
   * in the snapshot can be trusted, not even "zero workers".
   */
  readonly sourceProblem?: string;
  /** Pool-lifetime state that policies keep across snapshots (see SignalContext.state). */
  readonly state: StateScopes;
}

export interface FreshWorker {
  readonly id: string;
  readonly sample: WorkerSample;
  /** Recent good samples, oldest first, ending with `sample`: for rates and windowed histograms. */
  readonly history: readonly WorkerSample[];
}

/**
 * The workers of the fleet that are not fresh: stale, failing or not yet collected. A worker whose
 * exposition serves another model is not in this fleet at all.
 */
export function notFreshMembers(snapshot: PoolSnapshot): WorkerView[] {
  return snapshot.workers.filter((w) => w.state !== 'fresh' && w.state !== 'draining' && w.failure?.cause !== 'model_mismatch');
}

/** How many workers are in each state. */
export function countByState(snapshot: PoolSnapshot): Record<WorkerState, number> {
  const counts: Record<WorkerState, number> = { fresh: 0, stale: 0, failing: 0, pending: 0, draining: 0 };
  for (const w of snapshot.workers) counts[w.state] += 1;
  return counts;
}

/** Longest delay between a write and its publication to KEDA's readers and StreamIsActive. */
const PUBLISH_DELAY_MS = 20;

const COUNTER_NAMES: readonly CounterName[] = ['promptTokens', 'generationTokens', 'requestSuccess', 'preemptions'];

/** Most distinct `custom` series queries collected per pool (each adds a lookup per scrape). */
export const MAX_QUERIES = 100;

/**
 * Latest sample per worker with TTL expiry (node-cache), plus a short history per worker.
 *
 * A worker is fresh while its last good sample is younger than the TTL and its latest
 * attempt did not fail. Workers that leave discovery are forgotten at once, so no stale
 * series of a deleted pod lingers in a signal.
 */
export class PoolStore {
  private readonly freshSamples: NodeCache;
  private readonly records = new Map<string, WorkerRecord>();
  private discoveryDone = false;
  private sourceProblem?: string;
  private readonly state = new StateScopes();
  private historyWindowMs = 0;
  /**
   * Samples kept per worker: two until a trigger needs a window. Most pools scale on gauges
   * (queue, KV) and need no history; keeping it anyway costs memory and GC time at 1,000 workers.
   */
  private historyCapacity = 2;
  private historySpacingMs = 0;
  private readonly listeners = new Set<() => void>();
  private publishTimer?: NodeJS.Timeout;
  private publishedSnapshot?: PoolSnapshot;
  /** When the published snapshot may be wrong without any write: its earliest sample expiry. */
  private publishedExpiry = 0;
  private customQueries: readonly SeriesQuery[] = [];
  /** Names and draining marks from the last `setWorkers`, when discovery gives any. */
  private details?: ReadonlyMap<string, WorkerDetails>;

  constructor(
    readonly pool: string,
    private readonly ttlMs: number,
    private readonly historySize: number,
    private readonly now: () => number = Date.now,
  ) {
    // No check timer: expiry is evaluated on read, so the store never keeps the process alive.
    this.freshSamples = new NodeCache({ stdTTL: ttlMs / 1000, checkperiod: 0, useClones: false });
  }

  /**
   * Replaces the set of workers the pool should have. Returns the ids that were removed.
   * `details` (replacing the previous ones) names workers and marks those draining.
   */
  setWorkers(ids: Iterable<string>, details?: ReadonlyMap<string, WorkerDetails>): string[] {
    const wanted = new Set(ids);
    if (details !== this.details && (details?.size || this.details?.size)) this.notify();
    this.details = details?.size ? details : undefined;
    const removed: string[] = [];
    for (const id of this.records.keys()) {
      if (!wanted.has(id)) {
        this.records.delete(id);
        this.freshSamples.del(id);
        removed.push(id);
      }
    }
    let added = false;
    for (const id of wanted) {
      if (!this.records.has(id)) {
        this.records.set(id, { id, history: [], counterResets: 0 });
        added = true;
      }
    }
    if (removed.length > 0 || added || !this.discoveryDone) this.notify();
    this.discoveryDone = true;
    return removed;
  }

  /** Adds a worker if unknown (for sources where workers announce themselves). */
  ensureWorker(id: string): void {
    if (this.records.has(id)) return;
    this.records.set(id, { id, history: [], counterResets: 0 });
    this.notify();
  }

  removeWorker(id: string): void {
    if (this.records.delete(id)) {
      this.freshSamples.del(id);
      this.notify();
    }
  }

  /** Records a good sample. Returns true when the worker's counters went backwards (a restart). */
  recordSample(id: string, sample: WorkerSample): boolean {
    const record = this.records.get(id);
    if (!record) return false; // left discovery while the scrape was in flight
    const reset = record.last !== undefined && countersWentBack(record.last, sample);
    if (reset) {
      record.counterResets += 1;
      // Deltas across a restart are meaningless: start the history again from this sample.
      record.history.length = 0;
    }
    appendHistory(record.history, sample, this.historySpacingMs, this.historyCapacity);
    record.last = sample;
    record.aliveAt = undefined;
    record.failure = undefined;
    this.freshSamples.set(id, sample);
    this.notify();
    return reset;
  }

  /**
   * Keeps a silent worker's last sample fresh. Push transports (Dynamo's kv_metrics) publish only
   * on change, so an idle worker says nothing; its source vouches that it is still there.
   */
  confirmAlive(id: string, at: number = this.now()): void {
    const record = this.records.get(id);
    if (!record?.last || record.failure) return;
    record.aliveAt = at;
    this.freshSamples.set(id, record.last);
    this.notify();
  }

  recordFailure(id: string, cause: FailureCause, message: string): void {
    const record = this.records.get(id);
    if (!record) return;
    record.failure = { cause, message, at: this.now() };
    this.freshSamples.del(id);
    this.notify();
  }

  /**
   * Makes the history cover at least `windowMs` (the longest window a trigger asked for). The
   * number of samples kept per worker stays `historySize`: for long windows, samples are thinned
   * to one per windowMs / (historySize − 2), so memory is bounded whatever the window.
   */
  requireHistory(windowMs: number): void {
    if (windowMs <= this.historyWindowMs) return;
    this.historyWindowMs = windowMs;
    this.historyCapacity = this.historySize;
    this.historySpacingMs = windowMs / Math.max(1, this.historySize - 2);
  }

  /**
   * Asks the source to collect a `custom` series query into every sample's `custom` (by its
   * canonical key). Returns false when the pool already collects MAX_QUERIES other queries.
   */
  requireQuery(query: SeriesQuery): boolean {
    if (this.customQueries.some((q) => q.key === query.key)) return true;
    if (this.customQueries.length >= MAX_QUERIES) return false;
    // A new array on change: sources compare identities to notice new queries.
    this.customQueries = Object.freeze([...this.customQueries, query]);
    return true;
  }

  /** The queries to collect; the same array until one is added. */
  queries(): readonly SeriesQuery[] {
    return this.customQueries;
  }

  /** Marks the whole pool unobservable (reason) or observable again (undefined). */
  setSourceProblem(reason: string | undefined): void {
    if (reason === this.sourceProblem) return;
    this.sourceProblem = reason;
    this.notify();
  }

  get size(): number {
    return this.records.size;
  }

  record(id: string): WorkerRecord | undefined {
    return this.records.get(id);
  }

  /**
   * The pool as it is now, built on every call. Readers on KEDA's path use `published()`, which
   * builds it at most once per publication.
   */
  snapshot(): PoolSnapshot {
    return this.build().snapshot;
  }

  private build(): { snapshot: PoolSnapshot; expiry: number } {
    const now = this.now();
    const workers: WorkerView[] = [];
    const fresh: FreshWorker[] = [];
    let nextExpiry = Number.POSITIVE_INFINITY;
    let collected = this.discoveryDone;
    for (const record of this.records.values()) {
      const details = this.details?.get(record.id);
      if (details?.draining !== undefined) {
        workers.push({
          id: record.id,
          state: 'draining',
          name: details.name,
          sample: record.last,
          counterResets: record.counterResets,
          reason: details.draining,
        });
        continue;
      }
      const sample = this.freshSamples.get<WorkerSample>(record.id);
      const seenAt = sample ? Math.max(sample.at, record.aliveAt ?? 0) : 0;
      if (sample && now - seenAt < this.ttlMs) {
        fresh.push({ id: record.id, sample, history: record.history });
        workers.push({ id: record.id, state: 'fresh', sample, counterResets: record.counterResets });
        nextExpiry = Math.min(nextExpiry, seenAt + this.ttlMs);
        continue;
      }
      if (record.failure) {
        workers.push({
          id: record.id,
          state: 'failing',
          sample: record.last,
          failure: record.failure,
          counterResets: record.counterResets,
          reason: `${record.failure.cause}: ${record.failure.message}`,
        });
      } else if (record.last) {
        const silentFor = now - Math.max(record.last.at, record.aliveAt ?? 0);
        workers.push({
          id: record.id,
          state: 'stale',
          sample: record.last,
          counterResets: record.counterResets,
          reason: `no sample for ${Math.round(silentFor / 100) / 10}s (cache TTL ${this.ttlMs / 1000}s)`,
        });
      } else {
        collected = false;
        workers.push({ id: record.id, state: 'pending', counterResets: record.counterResets, reason: 'not collected yet' });
      }
    }
    const named = this.details === undefined ? workers : withNames(workers, this.details);
    return {
      snapshot: { pool: this.pool, at: now, workers: named, fresh, collected, sourceProblem: this.sourceProblem, state: this.state },
      expiry: nextExpiry,
    };
  }

  /**
   * The snapshot as last published: what KEDA's calls read. Writes are published at most every
   * PUBLISH_DELAY_MS, so a round of 1,000 scrapes rebuilds the snapshot a few times, not 1,000
   * times; a sample that may have expired since is caught here.
   */
  published(): PoolSnapshot {
    if (!this.publishedSnapshot || this.now() >= this.publishedExpiry) this.publishNow();
    return this.publishedSnapshot as PoolSnapshot;
  }

  /**
   * Calls `listener` after each publish (changes, or `notify`). Returns the function that
   * unsubscribes.
   */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Publishes soon even if nothing was written, so observers see time-based changes (TTL expiry). */
  notify(): void {
    if (this.publishTimer) return;
    this.publishTimer = setTimeout(() => {
      this.publishTimer = undefined;
      this.publishNow();
      for (const listener of this.listeners) listener();
    }, PUBLISH_DELAY_MS);
    // Collection keeps the process alive, not this timer.
    this.publishTimer.unref();
  }

  private publishNow(): void {
    const { snapshot, expiry } = this.build();
    this.publishedSnapshot = snapshot;
    this.publishedExpiry = expiry;
  }
}

/**
 * Appends `sample`, keeping entries at least `spacingMs` apart and at most `max` entries: the
 * newest entry keeps being replaced until it is `spacingMs` after the one before; only then is
 * it kept and a new newest entry started. So `max` entries span at least (max − 2) × spacing.
 */
function appendHistory(history: WorkerSample[], sample: WorkerSample, spacingMs: number, max: number): void {
  const last = history[history.length - 1];
  const beforeLast = history[history.length - 2];
  if (spacingMs > 0 && last !== undefined && beforeLast !== undefined && last.at - beforeLast.at < spacingMs) {
    history[history.length - 1] = sample;
  } else {
    history.push(sample);
  }
  if (history.length > max) history.splice(0, history.length - max);
}

function withNames(workers: readonly WorkerView[], details: ReadonlyMap<string, WorkerDetails>): WorkerView[] {
  return workers.map((w) => {
    const name = details.get(w.id)?.name;
    return name === undefined || w.name !== undefined ? w : { ...w, name };
  });
}

function countersWentBack(previous: WorkerSample, next: WorkerSample): boolean {
  for (const name of COUNTER_NAMES) {
    const before = previous.counters[name];
    const after = next.counters[name];
    if (before !== undefined && after !== undefined && after < before) return true;
  }
  return false;
}
