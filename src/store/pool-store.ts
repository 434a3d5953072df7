import NodeCache from 'node-cache';
import { HISTORY_COUNTERS, WorkerHistory } from './history.js';
import type { WorkerSample } from './sample.js';
import type { SeriesQuery } from './series-query.js';
import { DEFAULT_MAX_WORKERS } from '../config/bounds.js';
import { QuerySlots } from './query-slots.js';
import { WorkerBound } from './worker-bound.js';

/** Why the last attempt to read a worker failed. Stable strings: they label metrics and logs. */
export type FailureCause =
  | 'connect'
  | 'timeout'
  | 'http_status'
  | 'body_too_large'
  | 'too_many_series'
  | 'parse'
  | 'no_metrics'
  | 'model_mismatch'
  | 'target_down'
  | 'error'
  | ValueFailureCause;

/**
 * The worker answered, but with values that cannot be true: a count beyond MAX_PLAUSIBLE_VALUE or
 * not finite (`implausible-value`), a value outside its range such as a negative KV usage or more
 * blocks in use than exist (`invalid-sample`), the same series twice in one exposition
 * (`duplicate-series`, which Prometheus refuses as well).
 */
export type ValueFailureCause = 'implausible-value' | 'invalid-sample' | 'duplicate-series';

/**
 * Causes that say the worker's own answer is wrong, so its last good sample is dropped at once.
 * Any other failure (a timeout, a refused connection: an overloaded worker looks like that) keeps
 * the last good sample until the cache TTL passes: an overloaded worker whose `/metrics` times out
 * must not lower the fleet's value and push it toward scale-down.
 */
const WRONG_ANSWER: ReadonlySet<FailureCause> = new Set<FailureCause>(['implausible-value', 'invalid-sample', 'duplicate-series', 'model_mismatch']);

export interface WorkerFailure {
  readonly cause: FailureCause;
  readonly message: string;
  readonly at: number;
  /** For `model_mismatch`: the models the worker does serve. */
  readonly models?: readonly string[];
}

/** Everything the store knows about one discovered worker. */
export interface WorkerRecord {
  readonly id: string;
  /** Last good sample, kept (even when stale) so operators can see what the worker said last. */
  last?: WorkerSample;
  /** Good samples' cumulative values over the pool's history window, for rates and histogram deltas. */
  readonly history: WorkerHistory;
  /** Set while the most recent attempt failed; cleared by the next good sample. */
  failure?: WorkerFailure;
  /** How often this worker's counters went backwards (a restart). */
  counterResets: number;
  /** When the worker was last known alive, if later than its last sample (see `confirmAlive`). */
  aliveAt?: number;
  /** The views the last snapshot built for this worker, reused while nothing about it changed. */
  views?: CachedViews;
}

interface CachedViews {
  readonly sample?: WorkerSample;
  readonly aliveAt?: number;
  readonly failure?: WorkerFailure;
  readonly counterResets: number;
  readonly view: WorkerView;
  readonly fresh?: FreshWorker;
  /** Until when the views hold without any write (a fresh worker's expiry); Infinity for a failing or pending one. */
  readonly until: number;
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
  /** While the pool has no workers: why its last one went, when its source said (a silent push worker past workerTtl). */
  readonly emptyBecause?: string;
}

export interface FreshWorker {
  readonly id: string;
  readonly sample: WorkerSample;
  /** Set when the latest attempt failed and `sample` is the last good one, still within the cache TTL. */
  readonly failure?: WorkerFailure;
  /**
   * The worker's history, live: rows written after this snapshot was taken are newer than
   * `sample`, and readers only use rows older than it (signals/windowed/window-span.ts).
   */
  readonly history: WorkerHistory;
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

/** Most distinct `custom` series queries collected per pool (each adds a lookup per scrape). */
export const MAX_QUERIES = 100;

/** The longest window a trigger can ask for, and so the longest history a pool keeps. */
export const MAX_HISTORY_WINDOW_MS = 3_600_000;

export interface PoolStoreOptions {
  /** A sample older than this is stale. */
  readonly cacheTtlMs: number;
  /** The collection interval: the history's finest spacing. */
  readonly intervalMs: number;
  /** How far back each worker's history reaches; grows when a trigger asks for a longer window. */
  readonly historyWindowMs: number;
  /**
   * Publish on read instead of on a 20 ms timer: each write marks the published snapshot out of
   * date, and the next `published()` rebuilds it (listeners are called at once). For a clock that
   * is not the wall clock (a simulation in virtual time), where no real timer may decide what a
   * reader sees.
   */
  readonly publishOnRead?: boolean;
  /** Most workers the pool holds (config `maxWorkers`); default DEFAULT_MAX_WORKERS. */
  readonly maxWorkers?: number;
}

/**
 * Latest sample per worker with TTL expiry (node-cache), plus each worker's history, kept for
 * every worker from its first sample (store/history.ts).
 *
 * A worker is fresh while its last good sample is younger than the TTL and its latest
 * attempt did not fail. Workers that leave discovery are forgotten at once, so no stale
 * series of a deleted pod lingers in a signal.
 */
export class PoolStore {
  /**
   * The TTL cache: per worker, when its last good sample (or a confirmation that it is alive) was
   * seen. The sample itself is the record's `last`; a number is all node-cache has to size and wrap.
   */
  private readonly freshAt: NodeCache;
  private readonly records = new Map<string, WorkerRecord>();
  private discoveryDone = false;
  private sourceProblem?: string;
  private readonly state = new StateScopes();
  private historyWindowMs: number;
  private readonly ttlMs: number;
  private readonly listeners = new Set<() => void>();
  private publishTimer?: NodeJS.Timeout;
  /** performance.now() of the last timed publication (a monotonic clock: the store's own may be a test's). */
  private lastPublishedAt = Number.NEGATIVE_INFINITY;
  private publishedSnapshot?: PoolSnapshot;
  /** publishOnRead: a write since the last publication. */
  private outOfDate = false;
  /** When the published snapshot may be wrong without any write: its earliest sample expiry. */
  private publishedExpiry = 0;
  private readonly querySlots = new QuerySlots(MAX_QUERIES);
  /** Names and draining marks from the last `setWorkers`, when discovery gives any. */
  private details?: ReadonlyMap<string, WorkerDetails>;
  /** Why the last worker removed with a reason went (see `removeWorker`). */
  private lastRemoval?: string;
  /** What the source refused past `maxWorkers` (sources enforce it; the store reports it). */
  readonly workerBound: WorkerBound;

  constructor(
    readonly pool: string,
    private readonly options: PoolStoreOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.ttlMs = options.cacheTtlMs;
    this.workerBound = new WorkerBound(options.maxWorkers ?? DEFAULT_MAX_WORKERS);
    this.historyWindowMs = Math.min(MAX_HISTORY_WINDOW_MS, options.historyWindowMs);
    // No check timer: expiry is evaluated on read, so the store never keeps the process alive.
    this.freshAt = new NodeCache({ stdTTL: this.ttlMs / 1000, checkperiod: 0, useClones: false });
  }

  private newRecord(id: string): WorkerRecord {
    return { id, history: new WorkerHistory({ intervalMs: this.options.intervalMs, coverageMs: this.historyWindowMs }), counterResets: 0 };
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
        this.freshAt.del(id);
        removed.push(id);
      }
    }
    let added = false;
    for (const id of wanted) {
      if (!this.records.has(id)) {
        this.records.set(id, this.newRecord(id));
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
    this.records.set(id, this.newRecord(id));
    this.notify();
  }

  /** Forgets a worker; `why` (e.g. "silent for longer than workerTtl") is shown while the pool is left without workers. */
  removeWorker(id: string, why?: string): void {
    if (this.records.delete(id)) {
      this.freshAt.del(id);
      if (why !== undefined) this.lastRemoval = `worker ${id} was removed: ${why}`;
      this.notify();
    }
  }

  /** Records a good sample. Returns true when the worker's counters went backwards (a restart). */
  recordSample(id: string, sample: WorkerSample): boolean {
    const record = this.records.get(id);
    if (!record) return false; // left discovery while the scrape was in flight
    // A counter going backwards is a restart; the history starts each field that went back again.
    const reset = record.last !== undefined && countersWentBack(record.last, sample);
    if (reset) record.counterResets += 1;
    // Samples with nothing cumulative (Dynamo's load messages: gauges only) add nothing to a window.
    if (hasCumulativeValues(sample)) record.history.append(sample, this.now());
    record.last = sample;
    record.aliveAt = undefined;
    record.failure = undefined;
    this.freshAt.set(id, sample.at);
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
    this.freshAt.set(id, Math.max(record.last.at, at));
    this.notify();
  }

  /**
   * Records a failed attempt. A wrong answer (WRONG_ANSWER) ends the worker's freshness at once; any
   * other failure leaves its last good sample in use until the cache TTL passes.
   */
  recordFailure(id: string, cause: FailureCause, message: string, models?: readonly string[]): void {
    const record = this.records.get(id);
    if (!record) return;
    record.failure = models === undefined ? { cause, message, at: this.now() } : { cause, message, at: this.now(), models };
    if (WRONG_ANSWER.has(cause)) this.freshAt.del(id);
    this.notify();
  }

  /** Makes every worker's history cover at least `windowMs` (a trigger asked for that window), up to an hour. */
  requireHistory(windowMs: number): void {
    const coverage = Math.min(MAX_HISTORY_WINDOW_MS, windowMs);
    if (coverage <= this.historyWindowMs) return;
    this.historyWindowMs = coverage;
    for (const record of this.records.values()) record.history.cover(coverage);
  }

  /** How far back histories reach. */
  get historyWindow(): number {
    return this.historyWindowMs;
  }

  /**
   * Asks the source to collect a `custom` series query into every sample's `custom` (by its
   * canonical key). Returns false when the pool already collects MAX_QUERIES other queries.
   */
  requireQuery(query: SeriesQuery, options: { pinned?: boolean } = {}): boolean {
    return this.querySlots.require(query, this.now(), this.matchedSince, options.pinned);
  }

  /** A trigger still reads this query (called per evaluation); false once its slot was given to another query. */
  touchQuery(key: string): boolean {
    return this.querySlots.touch(key, this.now());
  }

  /** The queries to collect; the same array until one is added or taken back. */
  queries(): readonly SeriesQuery[] {
    return this.querySlots.queries();
  }

  /** Whether a worker's sample taken after `since` has a value for the query; undefined while none was taken since. */
  private readonly matchedSince = (key: string, since: number): boolean | undefined => {
    let collected = false;
    for (const record of this.records.values()) {
      const sample = record.last;
      if (sample === undefined || sample.at <= since) continue;
      collected = true;
      if (sample.custom?.[key] !== undefined) return true;
    }
    return collected ? false : undefined;
  };

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
      // Most workers did not change since the last snapshot (it is rebuilt every 20 ms while
      // samples arrive): their views are reused as they are, nothing is allocated for them.
      const cached = record.views;
      if (
        cached !== undefined &&
        now < cached.until &&
        cached.sample === record.last &&
        cached.aliveAt === record.aliveAt &&
        cached.failure === record.failure &&
        cached.counterResets === record.counterResets
      ) {
        workers.push(cached.view);
        if (cached.fresh) {
          fresh.push(cached.fresh);
          nextExpiry = Math.min(nextExpiry, cached.until);
        } else if (cached.view.state === 'pending') collected = false;
        continue;
      }
      const remember = (view: WorkerView, until: number, freshView?: FreshWorker): void => {
        record.views = {
          sample: record.last,
          aliveAt: record.aliveAt,
          failure: record.failure,
          counterResets: record.counterResets,
          view,
          fresh: freshView,
          until,
        };
      };
      const sample = this.freshAt.has(record.id) ? record.last : undefined;
      const seenAt = sample ? Math.max(sample.at, record.aliveAt ?? 0) : 0;
      if (sample && now - seenAt < this.ttlMs) {
        const failure = record.failure;
        const freshView: FreshWorker = failure
          ? { id: record.id, sample, history: record.history, failure }
          : { id: record.id, sample, history: record.history };
        const view: WorkerView = failure
          ? { id: record.id, state: 'fresh', sample, failure, counterResets: record.counterResets, reason: lastGoodReason(failure, sample, this.ttlMs) }
          : { id: record.id, state: 'fresh', sample, counterResets: record.counterResets };
        fresh.push(freshView);
        workers.push(view);
        nextExpiry = Math.min(nextExpiry, seenAt + this.ttlMs);
        remember(view, seenAt + this.ttlMs, freshView);
        continue;
      }
      if (record.failure) {
        const view: WorkerView = {
          id: record.id,
          state: 'failing',
          sample: record.last,
          failure: record.failure,
          counterResets: record.counterResets,
          reason: `${record.failure.cause}: ${record.failure.message}`,
        };
        workers.push(view);
        remember(view, Number.POSITIVE_INFINITY);
      } else if (record.last) {
        // Stale: its reason says for how long, so it is built anew every time (stale workers are few).
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
        const view: WorkerView = { id: record.id, state: 'pending', counterResets: record.counterResets, reason: 'not collected yet' };
        workers.push(view);
        remember(view, Number.POSITIVE_INFINITY);
      }
    }
    const named = this.details === undefined ? workers : withNames(workers, this.details);
    return {
      snapshot: {
        pool: this.pool,
        at: now,
        workers: named,
        fresh,
        collected,
        sourceProblem: this.sourceProblem,
        state: this.state,
        ...(named.length === 0 && this.lastRemoval !== undefined ? { emptyBecause: this.lastRemoval } : {}),
      },
      expiry: nextExpiry,
    };
  }

  /**
   * The snapshot as last published: what KEDA's calls read. Writes are published at most every
   * PUBLISH_DELAY_MS, so a round of 1,000 scrapes rebuilds the snapshot a few times, not 1,000
   * times; a sample that may have expired since is caught here.
   */
  published(): PoolSnapshot {
    if (!this.publishedSnapshot || this.outOfDate || this.now() >= this.publishedExpiry) this.publishNow();
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
    if (this.options.publishOnRead) {
      this.outOfDate = true;
      for (const listener of this.listeners) listener();
      return;
    }
    if (this.publishTimer) return;
    // The first write after a quiet spell is published at once (after the current event-loop turn,
    // so the writes of one turn share it); later ones wait for PUBLISH_DELAY_MS after the last
    // publication. A Dynamo message reaches GetMetrics in about a millisecond, a round of scrapes
    // still rebuilds the snapshot at most every 20 ms.
    const wait = Math.max(0, this.lastPublishedAt + PUBLISH_DELAY_MS - performance.now());
    this.publishTimer = setTimeout(() => {
      this.publishTimer = undefined;
      this.lastPublishedAt = performance.now();
      this.publishNow();
      for (const listener of this.listeners) listener();
    }, wait);
    // Collection keeps the process alive, not this timer.
    this.publishTimer.unref();
  }

  private publishNow(): void {
    const { snapshot, expiry } = this.build();
    this.publishedSnapshot = snapshot;
    this.publishedExpiry = expiry;
    this.outOfDate = false;
  }
}

/** Why a failing worker still counts: the failure, and which sample stands in until when. */
export function lastGoodReason(failure: WorkerFailure, sample: WorkerSample, ttlMs: number): string {
  return (
    `latest attempt failed (${failure.cause}: ${failure.message}); using its last good value from ${new Date(sample.at).toISOString()} ` +
    `until it is ${ttlMs / 1000}s old (cache TTL)`
  );
}

function hasCumulativeValues(sample: WorkerSample): boolean {
  for (const _ in sample.counters) return true;
  for (const _ in sample.histograms) return true;
  for (const _ in sample.custom ?? {}) return true;
  return false;
}

function withNames(workers: readonly WorkerView[], details: ReadonlyMap<string, WorkerDetails>): WorkerView[] {
  return workers.map((w) => {
    const name = details.get(w.id)?.name;
    return name === undefined || w.name !== undefined ? w : { ...w, name };
  });
}

function countersWentBack(previous: WorkerSample, next: WorkerSample): boolean {
  for (const name of HISTORY_COUNTERS) {
    const before = previous.counters[name];
    const after = next.counters[name];
    if (before !== undefined && after !== undefined && after < before) return true;
  }
  return false;
}
