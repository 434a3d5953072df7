import { performance } from 'node:perf_hooks';
import type { HttpSourceKind } from '../../config/schema.js';
import type { Discovery, WorkerTarget } from '../../discovery/discovery.js';
import type { FailureLog, Logger } from '../../log.js';
import type { FailureCause, PoolStore, WorkerDetails } from '../../store/pool-store.js';
import type { SeriesQuery } from '../../store/series-query.js';
import type { ScalerMetrics } from '../../telemetry.js';
import type { Source } from '../source.js';
import { profileFor, type EngineProfile } from './engine-profiles.js';
import { extractWorkerSample } from './extract-sample.js';
import { ExpositionReader, type BodyShape, type Series } from './prometheus-text.js';
import { queryValues } from './query-values.js';
import type { ScrapeClient } from './scrape-client.js';

export interface HttpSourceOptions {
  readonly pool: string;
  readonly kind: HttpSourceKind;
  /** Only series of this `model_name` count; a worker serving another model is `model_mismatch`. */
  readonly model?: string;
  readonly store: PoolStore;
  readonly discovery: Discovery;
  readonly intervalMs: number;
  readonly client: ScrapeClient;
  readonly metrics: ScalerMetrics;
  readonly log: Logger;
  readonly failures: FailureLog;
  /** Clock for sample timestamps; must match the store's clock. */
  readonly now?: () => number;
}

/** Label of `keda_llm_scaler_scrape_errors_total` for a failed discovery (no worker was scraped). */
export const DISCOVERY_ERROR_CAUSE = 'discovery';
/** The same, when discovery answers from a cache it cannot refresh (a Kubernetes watch that keeps failing). */
export const DISCOVERY_OUTDATED_CAUSE = 'discovery_outdated';

/**
 * Polls every worker of one HTTP pool (vLLM, SGLang, TRT-LLM) into its store.
 *
 * Rounds start every `intervalMs` whatever the workers do: each worker has at most one scrape in
 * flight, and a worker whose previous scrape has not finished is skipped, so a hung worker costs
 * one request slot until the client's timeout, never the other workers' freshness.
 */
export class HttpSource implements Source {
  private readonly profile: EngineProfile;
  private readonly now: () => number;
  private readonly inFlight = new Map<string, Promise<void>>();
  /** The workers of the last successful discovery; kept when discovery fails. */
  private targets = new Map<string, WorkerTarget>();
  private discoveryError: string | undefined;
  /** A round between discovery and launching its scrapes; shared so rounds never interleave. */
  private pendingRound: Promise<Promise<void>[]> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private loop: Promise<void> | undefined;
  /**
   * The parser for the profile and the store's custom queries as last seen (rebuilt when queries
   * are added), and the shape of each worker's last body, which makes reading the next one cheap.
   */
  private parser: { queries: readonly SeriesQuery[]; reader: ExpositionReader; shapes: Map<string, BodyShape> } | undefined;

  constructor(private readonly options: HttpSourceOptions) {
    this.profile = profileFor(options.kind);
    this.now = options.now ?? Date.now;
  }

  /** The message of the last discovery failure, until discovery succeeds again. */
  get lastDiscoveryError(): string | undefined {
    return this.discoveryError;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.loop;
    await Promise.allSettled([...this.inFlight.values()]);
    await this.options.discovery.close?.();
  }

  async collectOnce(): Promise<void> {
    const outcomes = await this.round();
    await Promise.all(outcomes);
  }

  private schedule(delayMs: number): void {
    // A plain (ref'd) timer on purpose: collection is what keeps the service alive.
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const started = performance.now();
      this.loop = this.round()
        .then(
          () => undefined,
          // Unreachable by design (a round catches its own failures), but the loop must outlive bugs.
          (error: unknown) => this.options.log.error({ pool: this.options.pool, err: error }, 'collection round failed'),
        )
        .then(() => {
          this.loop = undefined;
          // Only discovery is awaited, so rounds keep their pace however slow the workers are.
          if (this.running) this.schedule(Math.max(0, this.options.intervalMs - (performance.now() - started)));
        });
    }, delayMs);
  }

  /** Discovers, updates the worker set, and starts a scrape per worker. Never rejects. */
  private round(): Promise<Promise<void>[]> {
    if (!this.pendingRound) {
      this.pendingRound = this.discoverAndLaunch().finally(() => {
        this.pendingRound = undefined;
      });
    }
    return this.pendingRound;
  }

  private async discoverAndLaunch(): Promise<Promise<void>[]> {
    await this.discover();
    // A worker already being scraped is not asked again; its running scrape is this round's outcome.
    // A draining worker is not scraped: it is shown as draining and counts nowhere.
    const launched: Promise<void>[] = [];
    for (const target of this.targets.values()) {
      if (target.draining === undefined) launched.push(this.inFlight.get(target.id) ?? this.scrape(target));
    }
    return launched;
  }

  private async discover(): Promise<void> {
    const { pool, discovery, store, failures, metrics, log } = this.options;
    const subject = `${pool}/discovery`;
    let found: WorkerTarget[];
    try {
      found = await discovery.resolve();
    } catch (error) {
      // Keep the previous workers (and leave the store untouched): "DNS failed once" is not
      // "every worker is gone", and before the first success it is not "zero workers" either.
      this.discoveryError = error instanceof Error ? error.message : String(error);
      metrics.scrapeErrors.inc({ pool, cause: DISCOVERY_ERROR_CAUSE });
      failures.failed(subject, DISCOVERY_ERROR_CAUSE, 'worker discovery failed; keeping the previous workers', {
        pool,
        discovery: discovery.describe(),
        error: this.discoveryError,
        workers: this.targets.size,
      });
      return;
    }
    this.discoveryError = discovery.problem?.();
    if (this.discoveryError === undefined) failures.recovered(subject, { pool, discovery: discovery.describe() });
    else {
      metrics.scrapeErrors.inc({ pool, cause: DISCOVERY_OUTDATED_CAUSE });
      failures.failed(subject, DISCOVERY_OUTDATED_CAUSE, 'worker discovery may be out of date; using its last answer', {
        pool,
        discovery: discovery.describe(),
        error: this.discoveryError,
        workers: found.length,
      });
    }

    found = this.withinBound(found);
    const next = new Map(found.map((target) => [target.id, target]));
    const added = [...next.keys()].filter((id) => !this.targets.has(id));
    const draining = found.filter((t) => t.draining !== undefined && this.targets.get(t.id)?.draining === undefined).map((t) => t.name ?? t.id);
    this.targets = next;
    const details = new Map<string, WorkerDetails>();
    for (const t of found) if (t.name !== undefined || t.draining !== undefined) details.set(t.id, { name: t.name, draining: t.draining });
    const removed = store.setWorkers(next.keys(), details);
    // A worker that leaves is forgotten, so if it ever comes back its first failure is logged again.
    for (const id of removed) {
      failures.forget(workerSubject(pool, id));
      this.parser?.shapes.delete(id);
    }
    if (added.length > 0 || removed.length > 0 || draining.length > 0) {
      log.info({ pool, discovery: discovery.describe(), added, removed, draining, workers: next.size }, 'pool workers changed');
    }
  }

  /**
   * At most `maxWorkers` targets: those already scraped first, then by id, so the same workers
   * stay in whatever order discovery lists them; the rest are refused (cause `max-workers`).
   */
  private withinBound(found: WorkerTarget[]): WorkerTarget[] {
    const { pool, store, failures, metrics } = this.options;
    const bound = store.workerBound;
    if (found.length <= bound.max) {
      if (bound.report() !== undefined) {
        bound.clear();
        failures.recovered(`${pool}/max-workers`, { pool });
      }
      return found;
    }
    const ordered = [...found].sort((a, b) => Number(this.targets.has(b.id)) - Number(this.targets.has(a.id)) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const refused = ordered.slice(bound.max);
    const now = Date.now();
    for (const t of refused) bound.refuse(t.id, now);
    metrics.scrapeErrors.inc({ pool, cause: 'max_workers' }, refused.length);
    failures.failed(
      `${pool}/max-workers`,
      'max-workers',
      `discovery found ${found.length} workers, more than maxWorkers (${bound.max}); the rest are not scraped`,
      {
        pool,
      },
    );
    return ordered.slice(0, bound.max);
  }

  private scrape(target: WorkerTarget): Promise<void> {
    const promise = this.scrapeWorker(target).finally(() => {
      if (this.inFlight.get(target.id) === promise) this.inFlight.delete(target.id);
    });
    this.inFlight.set(target.id, promise);
    return promise;
  }

  private async scrapeWorker(target: WorkerTarget): Promise<void> {
    const { pool, client, metrics } = this.options;
    const started = performance.now();
    let outcome: Outcome;
    try {
      outcome = await this.fetchAndRecord(target, client);
    } catch (error) {
      // Parser and extractor never throw by contract; this keeps one bug from killing the loop.
      outcome = { ok: false, cause: 'error', message: error instanceof Error ? error.message : String(error) };
    }
    metrics.scrapeDuration.observe({ pool }, (performance.now() - started) / 1000);
    if (outcome.ok) {
      metrics.scrapeSucceeded(pool);
      if (outcome.reset) metrics.counterResets.inc({ pool });
      this.reportRecovered(target, outcome.reset);
    } else {
      metrics.scrapeFailed(pool, outcome.cause);
      this.options.store.recordFailure(target.id, outcome.cause, outcome.message, outcome.models);
      this.reportFailure(target, outcome.cause, outcome.message);
    }
  }

  private async fetchAndRecord(target: WorkerTarget, client: ScrapeClient): Promise<Outcome> {
    const fetched = await client.fetchBody(target.url);
    if (!fetched.ok) return fetched;
    // Stamped when the body arrived: that is when the worker's numbers were true.
    const at = this.now();
    const { queries, reader, shapes } = this.reader();
    const { parsed, shape } = reader.read(fetched.body, shapes.get(target.id));
    shapes.set(target.id, shape);
    const extracted = extractWorkerSample(parsed, this.profile, { model: this.options.model, at });
    if (!extracted.ok) return extracted;
    const sample = queries.length > 0 ? { ...extracted.sample, custom: queryValues(parsed, queries, this.keepSeries) } : extracted.sample;
    return { ok: true, reset: this.options.store.recordSample(target.id, sample) };
  }

  /** Series of another model than the pool's do not count in custom queries either. */
  private readonly keepSeries = (series: Series): boolean => {
    const model = this.options.model;
    if (model === undefined) return true;
    for (const label of this.profile.modelLabels) {
      const value = series.labels[label];
      if (value !== undefined) return value === model;
    }
    return true;
  };

  /**
   * The parser for this pool: the profile's series plus those of the store's `custom` queries, and
   * the labels either reads. Rebuilt only when a query is added.
   */
  private reader(): { queries: readonly SeriesQuery[]; reader: ExpositionReader; shapes: Map<string, BodyShape> } {
    const queries = this.options.store.queries();
    if (this.parser?.queries !== queries) {
      const wanted = new Set(this.profile.wantedSeries);
      const labels = new Set(this.profile.readLabels);
      for (const query of queries) {
        wanted.add(query.name);
        for (const m of query.matchers) labels.add(m.label);
      }
      this.parser = { queries, reader: new ExpositionReader(wanted, labels), shapes: new Map() };
    }
    return this.parser;
  }

  /** A worker that left discovery mid-scrape is no longer ours to report on. */
  private isCurrent(target: WorkerTarget): boolean {
    return this.targets.get(target.id)?.url === target.url;
  }

  private reportFailure(target: WorkerTarget, cause: FailureCause, message: string): void {
    if (!this.isCurrent(target)) return;
    const { pool, failures } = this.options;
    failures.failed(workerSubject(pool, target.id), cause, `worker scrape failed: ${message}`, {
      pool,
      worker: target.id,
      url: target.url,
    });
  }

  private reportRecovered(target: WorkerTarget, reset: boolean): void {
    const { pool, failures, log } = this.options;
    if (!this.isCurrent(target)) return;
    failures.recovered(workerSubject(pool, target.id), { pool, worker: target.id });
    if (reset) log.info({ pool, worker: target.id }, 'worker counters went backwards (restart); rate history restarted');
  }
}

/** A scrape's outcome; `models` names what a worker of another model serves. */
type Outcome = { ok: true; reset: boolean } | { ok: false; cause: FailureCause; message: string; models?: readonly string[] };

function workerSubject(pool: string, id: string): string {
  return `${pool}/${id}`;
}
