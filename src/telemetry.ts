/**
 * The scaler's own telemetry: one prom-client registry per scaler, with the collection and RPC
 * metrics every layer records into. Any layer may import this module; it imports nothing of the
 * scaler's. The per-pool gauges (signal values, worker states, Dynamo's `llm_*`) are rendered by
 * the HTTP side (http/pool-gauges.ts), which can see the signals.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The scaler's own Prometheus metrics. One registry per scaler instance, so several scalers
 * (tests, the demo) can live in one process without colliding.
 */
export class ScalerMetrics {
  readonly registry = new Registry();
  readonly scrapes: Counter<'pool' | 'result'>;
  readonly scrapeErrors: Counter<'pool' | 'cause'>;
  readonly scrapeDuration: Histogram<'pool'>;
  readonly counterResets: Counter<'pool'>;
  readonly rpcs: Counter<'method' | 'code'>;
  readonly rpcDuration: Histogram<'method'>;
  readonly activeStreams: Gauge;
  readonly eventLoopDelayP99: Gauge;
  private readonly loopDelay: IntervalHistogram;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry });
    this.scrapes = new Counter({
      name: 'keda_llm_scaler_scrapes_total',
      help: 'Worker scrapes by pool and result (ok or error).',
      labelNames: ['pool', 'result'],
      registers,
    });
    this.scrapeErrors = new Counter({
      name: 'keda_llm_scaler_scrape_errors_total',
      help:
        'Failed worker scrapes by pool and cause (connect, timeout, http_status, body_too_large, too_many_series, parse, no_metrics, model_mismatch, ' +
        'target_down: up == 0 in Prometheus, error; prometheus_*: a prometheus pool could not be queried).',
      labelNames: ['pool', 'cause'],
      registers,
    });
    this.scrapeDuration = new Histogram({
      name: 'keda_llm_scaler_scrape_duration_seconds',
      help: 'Time to fetch and parse one worker exposition.',
      labelNames: ['pool'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.counterResets = new Counter({
      name: 'keda_llm_scaler_counter_resets_total',
      help: 'Worker counters seen going backwards (worker restarts).',
      labelNames: ['pool'],
      registers,
    });
    this.rpcs = new Counter({
      name: 'keda_llm_scaler_grpc_requests_total',
      help: 'KEDA gRPC calls by method and status code.',
      labelNames: ['method', 'code'],
      registers,
    });
    this.rpcDuration = new Histogram({
      name: 'keda_llm_scaler_grpc_request_duration_seconds',
      help: 'Time spent answering KEDA gRPC calls (unary calls only).',
      labelNames: ['method'],
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05],
      registers,
    });
    this.activeStreams = new Gauge({
      name: 'keda_llm_scaler_active_streams',
      help: 'Open StreamIsActive and StreamMetricSpec streams.',
      registers,
    });
    // KEDA's calls are answered on the event loop: its delay is how long a call can wait behind
    // collection work. Node's own sampler (node:perf_hooks monitorEventLoopDelay), read and reset
    // at each scrape of /metrics, so the value covers the time since the previous scrape.
    this.loopDelay = monitorEventLoopDelay({ resolution: 10 });
    this.loopDelay.enable();
    const loopDelay = this.loopDelay;
    this.eventLoopDelayP99 = new Gauge({
      name: 'keda_llm_scaler_event_loop_delay_p99_seconds',
      help: '99th percentile of the event-loop delay since the previous scrape of /metrics (10 ms sampling).',
      registers,
      collect() {
        const p99 = loopDelay.count > 0 ? loopDelay.percentile(99) / 1e9 : 0;
        this.set(p99);
        loopDelay.reset();
      },
    });
  }

  /** Stops the event-loop sampler (a scaler that stops leaves nothing running). */
  close(): void {
    this.loopDelay.disable();
  }

  scrapeFailed(pool: string, cause: string): void {
    this.scrapes.inc({ pool, result: 'error' });
    this.scrapeErrors.inc({ pool, cause });
  }

  scrapeSucceeded(pool: string): void {
    this.scrapes.inc({ pool, result: 'ok' });
  }
}
