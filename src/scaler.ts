import type { FastifyInstance } from 'fastify';
import type { ActivationConfig, PoolConfig, ScalerConfig } from './config/schema.js';
import { ConfigError } from './config/load.js';
import { loadProfiles } from './config/profiles.js';
import { GrpcServer } from './grpc/server.js';
import { createGrpcTls, type GrpcTls } from './grpc/tls.js';
import { createOpsServer } from './http/ops-server.js';
import { registerPoolGauges } from './http/pool-gauges.js';
import { StatusHistory } from './http/status-history.js';
import { loadUiAssets } from './http/ui-assets.js';
import { FailureLog, silentLogger, type Logger } from './log.js';
import { useOf } from './signals/evaluate.js';
import { createSource, type SourceConfig, type SourceContext } from './sources/create-source.js';
import { ScrapeClient } from './sources/http/scrape-client.js';
import type { Source } from './sources/source.js';
import { MAX_QUERIES, PoolStore } from './store/pool-store.js';
import { parseSeriesQuery } from './store/series-query.js';
import { ScalerMetrics } from './telemetry.js';
import { findSignal, signalNames } from './triggers/catalogue.js';
import type { ActivationRuntime, PoolRuntime } from './triggers/trigger.js';
import { SlaPlanners } from './triggers/sla-planner.js';
import { TriggerRegistry } from './triggers/trigger-registry.js';

export interface ScalerOptions {
  log?: Logger;
  /** Export Node's process metrics too (on for the service, off for embedded use and tests). */
  processMetrics?: boolean;
  /** How often the gRPC TLS files (config `tls`) are re-read for rotation; default 5 s. */
  tlsReloadIntervalMs?: number;
}

interface PoolEntry {
  readonly config: PoolConfig;
  readonly runtime: PoolRuntime;
  readonly source: string;
}

/**
 * The whole service: sources fill per-pool stores in the background; the gRPC server and the
 * ops HTTP server only read them.
 */
export class Scaler {
  private readonly sources: Source[] = [];
  private readonly stores: PoolStore[] = [];
  private readonly pools = new Map<string, PoolEntry>();
  private readonly client: ScrapeClient;
  private readonly grpc: GrpcServer;
  private readonly ops: FastifyInstance;
  private readonly registry: TriggerRegistry;
  /** What the status page charts, recorded once per tick (undefined with `http.ui: false`). */
  readonly statusHistory?: StatusHistory;
  private ticker?: NodeJS.Timeout;
  private tls?: GrpcTls;
  private stopped = false;
  readonly metrics: ScalerMetrics;
  grpcPort = 0;
  httpPort = 0;

  private constructor(
    readonly config: ScalerConfig,
    private readonly log: Logger,
    processMetrics: boolean,
    private readonly tlsReloadIntervalMs?: number,
  ) {
    // Profiles first: a bad file stops start-up (exit 2) before anything is opened.
    const profiles = loadProfiles(config.profiles);
    this.metrics = new ScalerMetrics({ defaultMetrics: processMetrics });
    this.client = new ScrapeClient({
      timeoutMs: config.scrape.timeout,
      maxBodyBytes: config.scrape.maxBodyBytes,
      maxSeries: config.scrape.maxSeries,
      concurrency: config.scrape.concurrency,
    });
    const context: SourceContext = { config, client: this.client, metrics: this.metrics, log, failures: new FailureLog(log) };
    for (const pool of config.pools) {
      if (pool.defaultMetric !== undefined && findSignal(pool.defaultMetric) === undefined) {
        throw new ConfigError(
          `invalid configuration:\n  - pools[${pool.name}].defaultMetric: unknown signal '${pool.defaultMetric.slice(0, 100)}'; accepted signals are ` +
            `${signalNames().join(', ')}`,
        );
      }
      const store = this.addSource(pool.name, pool, context);
      const activation = pool.activation ? this.activationRuntime(pool, pool.activation, context) : undefined;
      this.pools.set(pool.name, { config: pool, source: pool.source, runtime: { name: pool.name, store, activation } });
    }
    const planners = new SlaPlanners(profiles, this.metrics.registry);
    this.registry = new TriggerRegistry(
      new Map([...this.pools].map(([name, p]) => [name, { runtime: p.runtime, config: p.config }])),
      config.defaultTarget,
      planners,
    );
    registerPoolGauges(this.metrics.registry, () => this.pools.values());
    this.grpc = new GrpcServer(this.registry, this.metrics, log);
    let statusPage: { history: StatusHistory; assets: ReturnType<typeof loadUiAssets> } | undefined;
    if (config.http.ui) {
      const history = new StatusHistory({ pools: () => [...this.pools.values()].map((p) => p.runtime), triggers: () => this.registry.triggers() });
      try {
        statusPage = { history, assets: loadUiAssets() };
        this.statusHistory = history;
      } catch (error) {
        // A scaler run from an unbuilt checkout still scales; only the page is missing.
        log.warn({ err: (error as Error).message }, 'status page off');
      }
    }
    this.ops = createOpsServer({
      pools: this.pools,
      metrics: this.metrics,
      live: () => !this.stopped,
      notReadyReason: () => this.notReadyReason(),
      triggers: () => this.registry.triggers(),
      statusPage,
    });
  }

  static async start(config: ScalerConfig, options: ScalerOptions = {}): Promise<Scaler> {
    const scaler = new Scaler(config, options.log ?? silentLogger(), options.processMetrics ?? false, options.tlsReloadIntervalMs);
    try {
      await scaler.listen();
    } catch (error) {
      await scaler.stop();
      throw error;
    }
    scaler.run();
    return scaler;
  }

  private addSource(name: string, pool: SourceConfig, context: SourceContext): PoolStore {
    const { cacheTtl, checkInterval, historyWindow } = this.config;
    const maxWorkers = 'maxWorkers' in pool ? pool.maxWorkers : undefined;
    const store = new PoolStore(name, { cacheTtlMs: cacheTtl, intervalMs: checkInterval, historyWindowMs: historyWindow, maxWorkers });
    if ('queries' in pool) collectDeclaredQueries(name, pool.queries ?? [], store);
    this.stores.push(store);
    this.sources.push(createSource(name, pool, store, context));
    return store;
  }

  private activationRuntime(pool: PoolConfig, activation: ActivationConfig, context: SourceContext): ActivationRuntime {
    const signal = findSignal(activation.metric);
    if (!signal) {
      throw new ConfigError(
        `invalid configuration:\n  - pools[${pool.name}].activation.metric: unknown signal '${activation.metric}'; accepted signals are ` +
          `${signalNames().join(', ')}`,
      );
    }
    const store = this.addSource(`${pool.name}/activation`, { ...activation, scheme: pool.scheme }, context);
    return { store, use: useOf(signal, new Map()), threshold: activation.threshold, model: activation.model };
  }

  private async listen(): Promise<void> {
    const { grpc, http, tls } = this.config;
    if (tls) {
      // Reads and validates the PEM files first: a bad file stops start-up naming tls.cert/key/clientCa.
      this.tls = createGrpcTls(tls, { reloadIntervalMs: this.tlsReloadIntervalMs, log: this.log });
      const { fingerprint, subject, notAfter } = this.tls.provider.material;
      this.log.info({ mutualTls: this.tls.provider.mutualTls, fingerprint, subject, notAfter }, 'gRPC TLS on');
      if (Date.parse(notAfter) < Date.now()) this.log.warn({ notAfter }, 'the gRPC TLS certificate has expired: KEDA will refuse it until it is renewed');
    }
    this.grpcPort = await this.grpc.listen(grpc.host, grpc.port, this.tls?.credentials);
    try {
      await this.ops.listen({ host: http.host, port: http.port });
    } catch (error) {
      throw new Error(`cannot listen for HTTP on ${http.host}:${http.port}: ${(error as Error).message}`);
    }
    const address = this.ops.server.address();
    this.httpPort = typeof address === 'object' && address ? address.port : http.port;
    this.log.info({ grpcPort: this.grpcPort, httpPort: this.httpPort, pools: [...this.pools.keys()] }, 'keda-llm-scaler listening');
  }

  private run(): void {
    for (const source of this.sources) source.start();
    // Between collections nothing is written, yet samples can expire: re-check readiness and
    // wake StreamIsActive watchers once per interval so TTL expiry is observed promptly.
    this.ticker = setInterval(
      () => {
        this.grpc.setReady(this.notReadyReason() === undefined);
        for (const store of this.stores) store.notify();
        this.statusHistory?.record();
      },
      Math.min(this.config.checkInterval, 1000),
    );
  }

  /** Undefined when every pool has been collected and none that should have workers lacks fresh data. */
  notReadyReason(): string | undefined {
    const reasons: string[] = [];
    for (const store of this.stores) {
      const snapshot = store.published();
      if (snapshot.sourceProblem !== undefined) reasons.push(`${store.pool}: ${snapshot.sourceProblem}`);
      else if (!snapshot.collected) reasons.push(`${store.pool}: first collection not finished`);
      else if (snapshot.workers.length > 0 && snapshot.fresh.length === 0) reasons.push(`${store.pool}: no worker has fresh data`);
    }
    return reasons.length > 0 ? reasons.join('; ') : undefined;
  }

  /** Graceful stop: streams end with OK, in-flight calls finish, collection stops, sockets close. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.ticker);
    this.registry.close();
    await this.grpc.shutdown(graceMs);
    this.tls?.close();
    await Promise.all(this.sources.map((s) => s.stop()));
    await this.ops.close();
    await this.client.close();
    this.metrics.close();
    this.log.info('keda-llm-scaler stopped');
  }
}

/** Queries declared in a pool's configuration are collected from start-up; a bad one stops start-up naming it. */
function collectDeclaredQueries(pool: string, queries: readonly string[], store: PoolStore): void {
  queries.forEach((text, index) => {
    const parsed = parseSeriesQuery(text);
    if (!parsed.ok) throw new ConfigError(`invalid configuration:\n  - pools[${pool}].queries[${index}]: ${parsed.message}`);
    if (!store.requireQuery(parsed.query, { pinned: true })) {
      throw new ConfigError(
        `invalid configuration:\n  - pools[${pool}].queries[${index}]: the pool already collects ${MAX_QUERIES} distinct queries, the most a pool collects`,
      );
    }
  });
}
