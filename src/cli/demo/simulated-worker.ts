/**
 * A simulated vLLM V1 worker: a real HTTP server whose `/metrics` is genuine Prometheus text
 * exposition produced by prom-client, with vLLM's metric names, labels (`engine`, `model_name`)
 * and histogram bucket bounds (vllm-project/vllm `vllm/v1/metrics/loggers.py`). Used by `demo` and tests.
 *
 * The load model (load-model.ts, shared with the simulated Dynamo worker) is deliberately simple
 * and deterministic for a given seed:
 * - `running` ∝ min(load, 1) × `maxRunning`;
 * - `waiting` is 0 below `saturationLoad` and grows linearly past it;
 * - KV usage = min(1, load × 0.9 + noise), noise uniform in ±`noise` from a seeded PRNG;
 * - `tick(seconds)` advances token counters, finished requests and the latency histograms at the
 *   current load (decode speed slows as load rises, TTFT grows with the queue).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { mulberry32 } from '../../simulation/random.js';
import { checkLoad, loadFigures, loadModel, type LoadModel } from './load-model.js';
import { closeServer, listen } from './net.js';
// vLLM's bucket bounds live with the simulator's replicas; the demo worker uses the same.
import { build125Buckets, VLLM_ITL_BUCKETS, VLLM_REQUEST_LATENCY_BUCKETS, VLLM_TTFT_BUCKETS } from '../../simulation/vllm-buckets.js';

export { build125Buckets, VLLM_ITL_BUCKETS, VLLM_REQUEST_LATENCY_BUCKETS, VLLM_TTFT_BUCKETS };

export interface SimulatedWorkerOptions {
  /** Listen address; default 127.0.0.1. */
  host?: string;
  /** Listen port; default 0 (any free port). */
  port?: number;
  /** `model_name` label; default meta-llama/Llama-3.1-8B-Instruct. */
  model?: string;
  /** Data-parallel engines, each its own `engine` label value; default 1. */
  engines?: number;
  /** Seed of the noise generator; default 1. */
  seed?: number;
  /** Amplitude of the KV-usage noise (uniform ±noise); default 0.02, 0 for exact values. */
  noise?: number;
  /** Running requests per engine at load 1; default 32. */
  maxRunning?: number;
  /** Load above which requests start queueing; default 0.85. */
  saturationLoad?: number;
  /** Waiting requests per engine per unit of load past saturation; default 40. */
  waitingPerLoad?: number;
  /** KV blocks per engine (label of `vllm:cache_config_info`); default 8192. */
  numGpuBlocks?: number;
  /** Tokens per KV block; default 16. */
  blockSize?: number;
  /** Largest context, for the request-token histograms' bounds; default 8192. */
  maxModelLen?: number;
  /** When > 0, an internal timer calls `tick()` this often; default 0 (the caller ticks). */
  tickMs?: number;
  /** Initial load; default 0. */
  load?: number;
}

export interface EngineState {
  readonly engine: string;
  readonly waiting: number;
  readonly running: number;
  readonly kvUsage: number;
}

export interface WorkerState {
  readonly load: number;
  /** Σ over engines, as a scaler reads it. */
  readonly waiting: number;
  /** Σ over engines. */
  readonly running: number;
  /** Mean over engines. */
  readonly kvUsage: number;
  readonly engines: readonly EngineState[];
}

/**
 * A load that rises and falls: a cosine between 0.05 and 1.1 with the given period (default 60 s).
 * Phase 0 starts at the trough; `phase` is in radians.
 */
export function loadPattern(tSeconds: number, phase = 0, periodSeconds = 60): number {
  const period = periodSeconds > 0 ? periodSeconds : 60;
  return 0.575 - 0.525 * Math.cos((2 * Math.PI * tSeconds) / period + phase);
}

const FINISH_REASONS = ['stop', 'length', 'abort'] as const;

interface EngineRuntime {
  readonly labels: { engine: string; model_name: string };
  waiting: number;
  running: number;
  kvUsage: number;
  /** Fractional tokens and requests carried between ticks, so short ticks lose nothing. */
  tokenCarry: number;
  requestCarry: number;
}

export class SimulatedVllmWorker {
  readonly registry = new Registry();
  readonly model: string;
  /** How many times `/metrics` was served. */
  scrapes = 0;

  private readonly host: string;
  private readonly requestedPort: number;
  private readonly random: () => number;
  private readonly loadModel: LoadModel;
  private readonly tickMs: number;
  private readonly engines: EngineRuntime[];
  private server?: Server;
  private timer?: NodeJS.Timeout;
  private boundPort = 0;
  private currentLoad = 0;

  private readonly waitingGauge: Gauge;
  private readonly runningGauge: Gauge;
  private readonly kvGauge: Gauge;
  private readonly promptTokens: Counter;
  private readonly generationTokens: Counter;
  private readonly requestSuccess: Counter;
  private readonly preemptions: Counter;
  private readonly ttft: Histogram;
  private readonly itl: Histogram;
  private readonly e2e: Histogram;
  private readonly queueTime: Histogram;
  private readonly requestPromptTokens: Histogram;
  private readonly requestGenerationTokens: Histogram;

  constructor(options: SimulatedWorkerOptions = {}) {
    this.host = options.host ?? '127.0.0.1';
    this.requestedPort = options.port ?? 0;
    this.model = options.model ?? 'meta-llama/Llama-3.1-8B-Instruct';
    this.random = mulberry32(options.seed ?? 1);
    this.loadModel = loadModel(options);
    this.tickMs = options.tickMs ?? 0;
    const engineCount = Math.max(1, Math.floor(options.engines ?? 1));
    const blockSize = options.blockSize ?? 16;
    const numGpuBlocks = options.numGpuBlocks ?? 8192;
    const maxModelLen = options.maxModelLen ?? 8192;

    const registers = [this.registry];
    const labelNames = ['engine', 'model_name'] as const;
    // Help texts are vLLM's own (vllm/v1/metrics/loggers.py).
    this.waitingGauge = new Gauge({ name: 'vllm:num_requests_waiting', help: 'Number of requests waiting to be processed.', labelNames, registers });
    this.runningGauge = new Gauge({ name: 'vllm:num_requests_running', help: 'Number of requests in model execution batches.', labelNames, registers });
    this.kvGauge = new Gauge({ name: 'vllm:kv_cache_usage_perc', help: 'KV-cache usage. 1 means 100 percent usage.', labelNames, registers });
    const cacheConfig = new Gauge({
      name: 'vllm:cache_config_info',
      help: 'Information of the LLMEngine CacheConfig',
      labelNames: ['block_size', 'cache_dtype', 'enable_prefix_caching', 'engine', 'gpu_memory_utilization', 'num_gpu_blocks'],
      registers,
    });
    // prom-client appends nothing to counter names: write `_total` as it appears on the wire.
    this.promptTokens = new Counter({ name: 'vllm:prompt_tokens_total', help: 'Number of prefill tokens processed.', labelNames, registers });
    this.generationTokens = new Counter({ name: 'vllm:generation_tokens_total', help: 'Number of generation tokens processed.', labelNames, registers });
    this.preemptions = new Counter({ name: 'vllm:num_preemptions_total', help: 'Cumulative number of preemption from the engine.', labelNames, registers });
    this.requestSuccess = new Counter({
      name: 'vllm:request_success_total',
      help: 'Count of successfully processed requests.',
      labelNames: ['engine', 'finished_reason', 'model_name'],
      registers,
    });
    this.ttft = new Histogram({
      name: 'vllm:time_to_first_token_seconds',
      help: 'Histogram of time to first token in seconds.',
      labelNames,
      buckets: [...VLLM_TTFT_BUCKETS],
      registers,
    });
    this.itl = new Histogram({
      name: 'vllm:inter_token_latency_seconds',
      help: 'Histogram of inter-token latency in seconds.',
      labelNames,
      buckets: [...VLLM_ITL_BUCKETS],
      registers,
    });
    this.e2e = new Histogram({
      name: 'vllm:e2e_request_latency_seconds',
      help: 'Histogram of e2e request latency in seconds.',
      labelNames,
      buckets: [...VLLM_REQUEST_LATENCY_BUCKETS],
      registers,
    });
    this.queueTime = new Histogram({
      name: 'vllm:request_queue_time_seconds',
      help: 'Histogram of time spent in WAITING phase for request.',
      labelNames,
      buckets: [...VLLM_REQUEST_LATENCY_BUCKETS],
      registers,
    });
    const tokenBuckets = build125Buckets(maxModelLen);
    this.requestPromptTokens = new Histogram({
      name: 'vllm:request_prompt_tokens',
      help: 'Number of prefill tokens processed.',
      labelNames,
      buckets: tokenBuckets,
      registers,
    });
    this.requestGenerationTokens = new Histogram({
      name: 'vllm:request_generation_tokens',
      help: 'Number of generation tokens processed.',
      labelNames,
      buckets: tokenBuckets,
      registers,
    });

    this.engines = [];
    for (let i = 0; i < engineCount; i++) {
      const labels = { engine: String(i), model_name: this.model };
      this.engines.push({ labels, waiting: 0, running: 0, kvUsage: 0, tokenCarry: 0, requestCarry: 0 });
      cacheConfig.set(
        {
          block_size: String(blockSize),
          cache_dtype: 'auto',
          enable_prefix_caching: 'True',
          engine: String(i),
          gpu_memory_utilization: '0.9',
          num_gpu_blocks: String(numGpuBlocks),
        },
        1,
      );
      // V1 pre-binds every child, so series read 0 from start-up rather than being absent.
      for (const counter of [this.promptTokens, this.generationTokens, this.preemptions]) counter.inc(labels, 0);
      // Labels in sorted order, as prometheus_client writes them.
      for (const reason of FINISH_REASONS) this.requestSuccess.inc({ engine: labels.engine, finished_reason: reason, model_name: labels.model_name }, 0);
      for (const h of [this.ttft, this.itl, this.e2e, this.queueTime, this.requestPromptTokens, this.requestGenerationTokens]) h.zero(labels);
    }
    this.setLoad(options.load ?? 0);
  }

  /** Starts serving; resolves with the port. */
  async start(): Promise<number> {
    if (this.server) return this.boundPort;
    const server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`error: ${error instanceof Error ? error.message : String(error)}\n`);
      });
    });
    server.keepAliveTimeout = 30_000;
    this.server = server;
    this.boundPort = await listen(server, this.requestedPort, this.host);
    if (this.tickMs > 0) {
      this.timer = setInterval(() => this.tick(this.tickMs / 1000), this.tickMs);
      this.timer.unref();
    }
    return this.boundPort;
  }

  get port(): number {
    return this.boundPort;
  }

  /** `host:port`, as a pool's `targets` entry. */
  get target(): string {
    return `${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.boundPort}`;
  }

  get url(): string {
    return `http://${this.target}/metrics`;
  }

  get load(): number {
    return this.currentLoad;
  }

  /** Sets the load (0 idle, 1 full, above 1 overloaded) and the gauges that follow from it. */
  setLoad(load: number): void {
    checkLoad(load);
    this.currentLoad = load;
    for (const e of this.engines) {
      Object.assign(e, loadFigures(load, this.loadModel, this.random));
      this.waitingGauge.set(e.labels, e.waiting);
      this.runningGauge.set(e.labels, e.running);
      this.kvGauge.set(e.labels, e.kvUsage);
    }
  }

  /** What the worker currently reports. */
  state(): WorkerState {
    const engines = this.engines.map((e) => ({ engine: e.labels.engine, waiting: e.waiting, running: e.running, kvUsage: e.kvUsage }));
    return {
      load: this.currentLoad,
      waiting: engines.reduce((a, e) => a + e.waiting, 0),
      running: engines.reduce((a, e) => a + e.running, 0),
      kvUsage: engines.reduce((a, e) => a + e.kvUsage, 0) / engines.length,
      engines,
    };
  }

  /**
   * Advances time by `seconds` at the current load: tokens are generated by the running
   * requests, some requests finish, and their TTFT / ITL / e2e / queue time are observed.
   * Meant for short steps (one observation per generated token).
   */
  tick(seconds: number): void {
    if (!Number.isFinite(seconds) || seconds <= 0) return;
    const load = this.currentLoad;
    for (const e of this.engines) {
      // Decode slows down as the batch grows: ~15 ms per token idle, ~39 ms at full load.
      const itlMean = 0.015 + 0.02 * Math.min(load, 1.2);
      e.tokenCarry += (e.running * seconds) / itlMean;
      const tokens = Math.floor(e.tokenCarry);
      e.tokenCarry -= tokens;
      if (tokens > 0) {
        this.generationTokens.inc(e.labels, tokens);
        for (let i = 0; i < tokens; i++) this.itl.observe(e.labels, itlMean * (0.8 + 0.4 * this.random()));
      }

      // Mean output length 200 tokens: that many tokens finish one request on average.
      e.requestCarry += tokens / 200;
      const finished = Math.floor(e.requestCarry);
      e.requestCarry -= finished;
      let promptTotal = 0;
      for (let i = 0; i < finished; i++) {
        const promptTokens = 200 + Math.floor(800 * this.random());
        const outputTokens = 50 + Math.floor(300 * this.random());
        const queueDelay = e.waiting * 0.25 * (0.7 + 0.6 * this.random());
        const prefill = (0.02 + promptTokens * 0.0001) * (1 + load) * (0.8 + 0.4 * this.random());
        const ttft = queueDelay + prefill;
        promptTotal += promptTokens;
        this.queueTime.observe(e.labels, queueDelay);
        this.ttft.observe(e.labels, ttft);
        this.e2e.observe(e.labels, ttft + outputTokens * itlMean);
        this.requestPromptTokens.observe(e.labels, promptTokens);
        this.requestGenerationTokens.observe(e.labels, outputTokens);
        const reason = this.random() < 0.9 ? 'stop' : 'length';
        this.requestSuccess.inc({ engine: e.labels.engine, finished_reason: reason, model_name: e.labels.model_name });
      }
      if (promptTotal > 0) this.promptTokens.inc(e.labels, promptTotal);
      // A full KV cache forces the scheduler to preempt.
      if (e.kvUsage >= 0.98 && e.waiting > 0) this.preemptions.inc(e.labels, Math.max(1, Math.round(seconds * e.waiting * 0.1)));
    }
  }

  /** The exposition `/metrics` serves. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (path === '/metrics') {
      const body = await this.metrics();
      this.scrapes++;
      res.writeHead(200, { 'content-type': this.registry.contentType }).end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    if (path === '/health') {
      res.writeHead(200).end();
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics\n');
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    const server = this.server;
    this.server = undefined;
    if (server) await closeServer(server);
  }
}
