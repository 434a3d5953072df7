import { performance } from 'node:perf_hooks';
import type { PrometheusSourceConfig } from '../../config/schema.js';
import { formatPromMatchers } from '../../config/prom-selector.js';
import type { FailureLog, Logger } from '../../log.js';
import type { FailureCause, PoolStore } from '../../store/pool-store.js';
import type { SeriesQuery } from '../../store/series-query.js';
import type { ScalerMetrics } from '../../telemetry.js';
import type { Source } from '../source.js';
import { profileFor, type EngineProfile } from '../http/engine-profiles.js';
import { extractWorkerSample } from '../http/extract-sample.js';
import type { ParsedExposition, Series } from '../http/prometheus-text.js';
import { queryValues } from '../http/query-values.js';
import { PrometheusQueryClient, type QueryFailureCause } from './query-client.js';
import { expositionsByWorker, profileNameGroups, roundQueries, targetsOf, type NameGroups, type SeriesQueries, type TargetState } from './queries.js';

export interface PrometheusSourceOptions {
  readonly pool: string;
  readonly config: PrometheusSourceConfig;
  /** Only series of this `model_name` count; a worker serving another model is `model_mismatch`. */
  readonly model?: string;
  readonly store: PoolStore;
  readonly intervalMs: number;
  /** The store's TTL: a worker whose newest scrape is older is stale, and a warning says why. */
  readonly cacheTtlMs: number;
  readonly metrics: ScalerMetrics;
  readonly log: Logger;
  readonly failures: FailureLog;
  /** Clock for sample timestamps; must match the store's clock. */
  readonly now?: () => number;
}

/** Why a round could not observe the pool (the pool is then UNAVAILABLE). */
type RoundProblem = { readonly cause: QueryFailureCause | 'no_targets' | 'no_worker_label'; readonly message: string };

const EMPTY_EXPOSITION: ParsedExposition = { series: new Map(), sampleLines: 0, invalidLines: 0 };

/**
 * Reads one pool's workers from a Prometheus-compatible engine instead of scraping them: every
 * interval, a fixed set of instant queries (see queries.ts) whose answers are grouped by
 * `workerLabel` into one parsed exposition per worker, turned into samples by the same engine
 * profile and extraction as a direct scrape, and written into the store with the time Prometheus
 * scraped the worker. So rates and windowed histograms work from the raw cumulative series exactly
 * as with scraping, and a worker the engine has not scraped again adds no sample.
 *
 * A target whose `up` is 0 is a failing worker. A query that fails (unreachable, timeout, an
 * error answer, a result that is not a vector) makes the whole pool unobservable for the round
 * (`sourceProblem`, so UNAVAILABLE), never zero; so does a selector that matches no target, since
 * the engine cannot tell "no worker" from "wrong selector".
 */
export class PrometheusSource implements Source {
  private readonly profile: EngineProfile;
  private readonly client: PrometheusQueryClient;
  private readonly groups: NameGroups;
  private readonly now: () => number;
  private readonly subject: string;
  private queries: { custom: readonly SeriesQuery[]; round: SeriesQueries } | undefined;
  /** The Prometheus scrape each worker's last recorded sample came from. */
  private readonly recordedScrape = new Map<string, number>();
  private pendingRound: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private loop: Promise<void> | undefined;
  private lastRound: { at: number; ms: number; queries: number; bytes: number; workers: number } | undefined;
  private lastProblem: RoundProblem | undefined;

  constructor(private readonly options: PrometheusSourceOptions) {
    this.profile = profileFor(options.config.engine);
    this.client = new PrometheusQueryClient(options.config);
    this.groups = profileNameGroups(this.profile);
    this.now = options.now ?? Date.now;
    this.subject = `${options.pool}/prometheus`;
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
    await this.pendingRound;
    await this.client.close();
  }

  collectOnce(): Promise<void> {
    this.pendingRound ??= this.round().finally(() => {
      this.pendingRound = undefined;
    });
    return this.pendingRound;
  }

  describe(): Record<string, unknown> {
    const { config } = this.options;
    return {
      transport: 'prometheus',
      url: this.client.displayUrl,
      selector: `{${formatPromMatchers(config.selector)}}`,
      engine: config.engine,
      workerLabel: config.workerLabel,
      queriesPerRound: this.currentQueries().round.series.length + 2 + (this.currentQueries().round.custom !== undefined ? 1 : 0),
      lastRound: this.lastRound
        ? { at: new Date(this.lastRound.at).toISOString(), ms: this.lastRound.ms, bytes: this.lastRound.bytes, workers: this.lastRound.workers }
        : undefined,
      problem: this.lastProblem?.message,
    };
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const started = performance.now();
      this.loop = this.collectOnce().then(() => {
        this.loop = undefined;
        if (this.running) this.schedule(Math.max(0, this.options.intervalMs - (performance.now() - started)));
      });
    }, delayMs);
  }

  /** One round: every query at one evaluation time, then the store updated from all answers, or a source problem. Never rejects. */
  private async round(): Promise<void> {
    const { pool, metrics, log } = this.options;
    const started = performance.now();
    const { round, custom } = this.currentQueries();
    // One evaluation time for every query, so all answers describe the same moment.
    const time = this.now() / 1000;
    const texts = [round.up, round.scrapedAt, ...round.series, ...(round.custom !== undefined ? [round.custom] : [])];
    let answers;
    try {
      answers = await Promise.all(texts.map((q) => this.client.query(q, time)));
    } catch (error) {
      // Unreachable by contract (query never rejects), but a bug must not kill the loop.
      answers = [{ ok: false as const, cause: 'error' as const, message: error instanceof Error ? error.message : String(error) }];
    }
    metrics.scrapeDuration.observe({ pool }, (performance.now() - started) / 1000);
    const failed = answers.findIndex((a) => !a.ok);
    if (failed >= 0) {
      const answer = answers[failed];
      const why = answer && !answer.ok ? answer : { cause: 'error' as const, message: 'no answer' };
      this.problem({ cause: why.cause, message: `query ${texts[failed]} failed: ${why.message}` });
      return;
    }
    const results = answers.map((a) => (a.ok ? a.result : []));
    const warnings = answers.flatMap((a) => (a.ok ? a.warnings : []));
    if (warnings.length > 0) log.warn({ pool, warnings: warnings.slice(0, 5) }, 'the Prometheus-compatible engine answered with warnings');
    const [up = [], scrapedAt = [], ...rest] = results;
    const series = rest.slice(0, round.series.length);
    const customAnswer = rest.slice(round.series.length);
    const targets = targetsOf(up, scrapedAt, this.options.config.workerLabel);
    if (targets.workers.size === 0) {
      const selector = `{${formatPromMatchers(this.options.config.selector)}}`;
      this.problem(
        targets.unlabelled > 0
          ? {
              cause: 'no_worker_label',
              message:
                `${targets.unlabelled} targets match ${selector} but none carries the worker label ` +
                `'${this.options.config.workerLabel}' (prometheus.workerLabel)`,
            }
          : { cause: 'no_targets', message: `the selector ${selector} matches no scrape target (up${selector} is empty): check prometheus.selector` },
      );
      return;
    }
    this.recovered();
    const ids = new Set(targets.workers.keys());
    const workerLabel = this.options.config.workerLabel;
    this.record(targets.workers, expositionsByWorker(series, workerLabel, ids), custom, expositionsByWorker(customAnswer, workerLabel, ids));
    this.lastRound = {
      at: this.now(),
      ms: Math.round(performance.now() - started),
      queries: texts.length,
      bytes: answers.reduce((n, a) => n + (a.ok ? a.bytes : 0), 0),
      workers: targets.workers.size,
    };
  }

  private record(
    workers: ReadonlyMap<string, TargetState>,
    expositions: ReadonlyMap<string, ParsedExposition>,
    custom: readonly SeriesQuery[],
    customExpositions: ReadonlyMap<string, ParsedExposition>,
  ): void {
    const { pool, store, metrics, failures, log, config, cacheTtlMs } = this.options;
    const removed = store.setWorkers(workers.keys());
    for (const id of removed) {
      this.recordedScrape.delete(id);
      failures.forget(`${pool}/${id}`);
    }
    if (removed.length > 0) log.info({ pool, removed, workers: workers.size }, 'pool workers changed');
    const now = this.now();
    let oldest = 0;
    for (const [id, state] of workers) {
      if (!state.up) {
        const message = `Prometheus reports up == 0 for ${config.workerLabel}="${id}": its last scrape failed, so its series are stale`;
        metrics.scrapeFailed(pool, 'target_down');
        store.recordFailure(id, 'target_down', message);
        failures.failed(`${pool}/${id}`, 'target_down', `worker down: ${message}`, { pool, worker: id });
        this.recordedScrape.delete(id);
        continue;
      }
      const scrapedAt = state.scrapedAtMs;
      // The same scrape seen again adds nothing: its sample is already in the store, ageing as it should.
      if (scrapedAt !== undefined && this.recordedScrape.get(id) === scrapedAt) continue;
      const at = Math.min(scrapedAt ?? now, now);
      oldest = Math.max(oldest, now - at);
      const outcome = this.sampleOf(id, expositions.get(id) ?? EMPTY_EXPOSITION, at, custom, customExpositions.get(id) ?? EMPTY_EXPOSITION);
      if (outcome.ok) {
        metrics.scrapeSucceeded(pool);
        if (outcome.reset) metrics.counterResets.inc({ pool });
        if (scrapedAt !== undefined) this.recordedScrape.set(id, scrapedAt);
        failures.recovered(`${pool}/${id}`, { pool, worker: id });
      } else {
        metrics.scrapeFailed(pool, outcome.cause);
        store.recordFailure(id, outcome.cause, outcome.message);
        failures.failed(`${pool}/${id}`, outcome.cause, `worker series unusable: ${outcome.message}`, { pool, worker: id });
      }
    }
    if (oldest >= cacheTtlMs) {
      failures.failed(`${pool}/prometheus-age`, 'old_scrapes', 'Prometheus scrapes some workers less often than cacheTtl: they read as stale between scrapes', {
        pool,
        newestScrapeAgeMs: oldest,
        cacheTtlMs,
      });
    } else if (oldest > 0) {
      failures.recovered(`${pool}/prometheus-age`, { pool });
    }
  }

  private sampleOf(
    id: string,
    parsed: ParsedExposition,
    at: number,
    custom: readonly SeriesQuery[],
    customParsed: ParsedExposition,
  ): { ok: true; reset: boolean } | { ok: false; cause: FailureCause; message: string } {
    const extracted = extractWorkerSample(parsed, this.profile, { model: this.options.model, at });
    if (!extracted.ok) {
      const message =
        extracted.cause === 'no_metrics' && parsed.sampleLines === 0
          ? `Prometheus has no ${this.profile.kind} series for ${this.options.config.workerLabel}="${id}" (is prometheus.engine right?)`
          : extracted.message;
      return { ok: false, cause: extracted.cause, message };
    }
    const sample = custom.length > 0 ? { ...extracted.sample, custom: queryValues(customParsed, custom, this.keepSeries) } : extracted.sample;
    return { ok: true, reset: this.options.store.recordSample(id, sample) };
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

  /** The round's queries, rebuilt when triggers register new `custom` queries on the store. */
  private currentQueries(): { custom: readonly SeriesQuery[]; round: SeriesQueries } {
    const custom = this.options.store.queries();
    if (this.queries?.custom !== custom) {
      const keep = { workerLabel: this.options.config.workerLabel, modelLabels: this.profile.modelLabels };
      this.queries = { custom, round: roundQueries(this.groups, this.options.config.selector, keep, custom) };
    }
    return this.queries;
  }

  private problem(problem: RoundProblem): void {
    const { pool, store, failures, metrics } = this.options;
    const message = `Prometheus at ${this.client.displayUrl}: ${problem.message}`;
    this.lastProblem = { cause: problem.cause, message };
    metrics.scrapeErrors.inc({ pool, cause: `prometheus_${problem.cause}` });
    store.setSourceProblem(message);
    failures.failed(this.subject, problem.cause, `pool cannot be observed: ${message}`, { pool });
  }

  private recovered(): void {
    const { pool, store, failures } = this.options;
    this.lastProblem = undefined;
    store.setSourceProblem(undefined);
    failures.recovered(this.subject, { pool, url: this.client.displayUrl });
  }
}
