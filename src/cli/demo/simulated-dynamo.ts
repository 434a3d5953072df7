/**
 * A simulated NVIDIA Dynamo worker for `demo --source dynamo` and tests, over either of the two
 * surfaces a real one has (ai-dynamo/dynamo):
 *
 * - **event plane over NATS** (2026, `lib/runtime/src/transports/event_plane/`, ActiveLoad in
 *   `lib/kv-router/src/protocols.rs`): on every change of its load the worker publishes a
 *   MessagePack envelope `{publisher_id, sequence, published_at, topic, payload}` whose payload is
 *   a MessagePack `ActiveLoad {worker_id, dp_rank, active_decode_blocks, active_prefill_tokens,
 *   kv_used_blocks}`, on `namespace.<ns>.kv_metrics` — as the mocker does, `kv_used_blocks =
 *   active_decode_blocks`. Real workers publish on change only; the simulation also repeats its
 *   last message every `republishMs` so that a demo at a steady load keeps its workers fresh.
 * - **system port over HTTP** (`lib/runtime/src/metrics/prometheus_names.rs`): `/metrics` with the 2026 KV gauges
 *   `dynamo_component_total_blocks` / `dynamo_component_gpu_cache_usage_percent` per `dp_rank`,
 *   the work handler's `dynamo_component_inflight_requests`, and the engine's own
 *   `vllm:num_requests_*` passed through, written by prom-client.
 *
 * The load model is the simulated vLLM worker's (load-model.ts): running ∝ min(load, 1), a queue
 * past `saturationLoad`, KV usage = min(1, load × 0.9 + noise), blocks in use = round(usage × total).
 */
import { createServer, type Server } from 'node:http';
import { pack } from 'msgpackr';
import { connect as connectNats, type NatsConnection } from 'nats';
import { Counter, Gauge, Registry } from 'prom-client';
import { mulberry32 } from '../../simulation/random.js';
import { checkLoad, loadFigures, loadModel, type LoadModel } from './load-model.js';
import { closeServer, listen } from './net.js';

export type DynamoTransport = 'nats' | 'http';

export interface SimulatedDynamoWorkerOptions {
  /** Dynamo namespace (subject `namespace.<ns>.kv_metrics`, label `dynamo_namespace`); default dynamo. */
  namespace?: string;
  /** Dynamo component (label `dynamo_component`); default backend. */
  component?: string;
  /** `model` / `model_name` label; default Qwen/Qwen3-0.6B. */
  model?: string;
  /** Seed of the noise generator and of the worker id; default 1. */
  seed?: number;
  /** Amplitude of the KV-usage noise (uniform ±noise); default 0.02. */
  noise?: number;
  /** KV blocks of the worker; default 4096. */
  totalBlocks?: number;
  /** Running requests at load 1; default 32. */
  maxRunning?: number;
  /** Load above which requests queue; default 0.85. */
  saturationLoad?: number;
  /** Waiting requests per unit of load past saturation; default 40. */
  waitingPerLoad?: number;
  /** Prompt tokens per waiting request, for `active_prefill_tokens`; default 512. */
  promptTokens?: number;
  /** NATS only: repeat the last ActiveLoad after this long without a change; 0 = never. Default 1000. */
  republishMs?: number;
  /** HTTP only: listen address; default 127.0.0.1. */
  host?: string;
}

export interface DynamoWorkerState {
  readonly load: number;
  readonly kvUsage: number;
  readonly kvUsedBlocks: number;
  readonly kvTotalBlocks: number;
  readonly running: number;
  readonly waiting: number;
  readonly activePrefillTokens: number;
}

/** A 63-bit worker id, like Dynamo's connection ids (decimal in labels and metrics). */
function workerIdFor(random: () => number): bigint {
  const high = BigInt(Math.floor(random() * 0x7fffffff));
  const low = BigInt(Math.floor(random() * 0x100000000));
  return (high << 32n) | low;
}

export class SimulatedDynamoWorker {
  readonly namespace: string;
  readonly component: string;
  readonly model: string;
  readonly workerId: bigint;
  /** The envelope's publisher: one per process in Dynamo; one per simulated worker here. */
  readonly publisherId: bigint;
  /** Event-plane messages published, or `/metrics` bodies served. */
  published = 0;
  scrapes = 0;

  private readonly random: () => number;
  private readonly loadModel: LoadModel;
  private readonly totalBlocks: number;
  private readonly promptTokens: number;
  private readonly republishMs: number;
  private readonly host: string;
  private current: DynamoWorkerState;
  private transport?: DynamoTransport;
  private nats?: NatsConnection;
  private sequence = 0;
  private lastPublished?: string;
  private lastPublishAt = 0;
  private republishTimer?: NodeJS.Timeout;
  private server?: Server;
  private boundPort = 0;
  private readonly registry = new Registry();
  private readonly gauges: { total: Gauge; usage: Gauge; inflight: Gauge; waiting: Gauge; running: Gauge };

  constructor(options: SimulatedDynamoWorkerOptions = {}) {
    this.namespace = options.namespace ?? 'dynamo';
    this.component = options.component ?? 'backend';
    this.model = options.model ?? 'Qwen/Qwen3-0.6B';
    this.random = mulberry32(options.seed ?? 1);
    this.workerId = workerIdFor(this.random);
    this.publisherId = workerIdFor(this.random);
    this.loadModel = loadModel(options);
    this.totalBlocks = options.totalBlocks ?? 4096;
    this.promptTokens = options.promptTokens ?? 512;
    this.republishMs = options.republishMs ?? 1000;
    this.host = options.host ?? '127.0.0.1';

    const registers = [this.registry];
    const kvLabels = ['dp_rank', 'dynamo_component', 'dynamo_namespace', 'model'] as const;
    this.gauges = {
      total: new Gauge({
        name: 'dynamo_component_total_blocks',
        help: 'Total number of KV cache blocks available on the worker',
        labelNames: kvLabels,
        registers,
      }),
      usage: new Gauge({ name: 'dynamo_component_gpu_cache_usage_percent', help: 'GPU cache usage as a fraction (0.0-1.0)', labelNames: kvLabels, registers }),
      inflight: new Gauge({
        name: 'dynamo_component_inflight_requests',
        help: 'Number of requests currently being processed by the work handler',
        labelNames: ['dynamo_component', 'dynamo_endpoint', 'dynamo_namespace', 'model'],
        registers,
      }),
      waiting: new Gauge({
        name: 'vllm:num_requests_waiting',
        help: 'Number of requests waiting to be processed.',
        labelNames: ['engine', 'model_name'],
        registers,
      }),
      running: new Gauge({
        name: 'vllm:num_requests_running',
        help: 'Number of requests in model execution batches.',
        labelNames: ['engine', 'model_name'],
        registers,
      }),
    };
    new Counter({ name: 'dynamo_component_requests_total', help: 'Total number of requests processed by the work handler', registers }).inc(0);
    this.current = { load: 0, kvUsage: 0, kvUsedBlocks: 0, kvTotalBlocks: this.totalBlocks, running: 0, waiting: 0, activePrefillTokens: 0 };
    this.setLoad(0);
  }

  /**
   * Starts the worker on one transport: `nats` connects to `natsUrl` and publishes at once;
   * `http` serves `/metrics` on a free port.
   */
  async start(transport: DynamoTransport, natsUrl?: string): Promise<void> {
    if (this.transport) return;
    if (transport === 'nats') {
      if (!natsUrl) throw new Error('a NATS URL is needed for the event-plane transport');
      this.nats = await connectNats({ servers: natsUrl, name: `simulated-dynamo-${this.workerId}` });
      this.transport = 'nats';
      this.publish(true);
      if (this.republishMs > 0) {
        this.republishTimer = setInterval(
          () => {
            if (Date.now() - this.lastPublishAt >= this.republishMs) this.publish(true);
          },
          Math.max(50, Math.floor(this.republishMs / 2)),
        );
        this.republishTimer.unref();
      }
      return;
    }
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics\n');
        return;
      }
      this.registry.metrics().then(
        (body) => {
          this.scrapes++;
          res.writeHead(200, { 'content-type': this.registry.contentType }).end(body);
        },
        (error: unknown) => res.writeHead(500).end(String(error)),
      );
    });
    this.server = server;
    this.boundPort = await listen(server, 0, this.host);
    this.transport = 'http';
  }

  /** `host:port` of the system port (HTTP), or the worker id (NATS): how the demo table names it. */
  get target(): string {
    if (this.transport === 'http') return `${this.host}:${this.boundPort}`;
    return `worker_id ${this.workerId}`;
  }

  /** The NATS subject of the event plane's load topic. */
  get subject(): string {
    return `namespace.${this.namespace}.kv_metrics`;
  }

  /** Sets the load (0 idle, 1 full, above 1 overloaded); a NATS worker publishes if anything changed. */
  setLoad(load: number): void {
    checkLoad(load);
    const { running, waiting, kvUsage } = loadFigures(load, this.loadModel, this.random);
    const kvUsedBlocks = Math.round(kvUsage * this.totalBlocks);
    this.current = {
      load,
      kvUsage: kvUsedBlocks / this.totalBlocks,
      kvUsedBlocks,
      kvTotalBlocks: this.totalBlocks,
      running,
      waiting,
      activePrefillTokens: waiting * this.promptTokens,
    };
    const kvLabels = { dp_rank: '0', dynamo_component: this.component, dynamo_namespace: this.namespace, model: this.model };
    this.gauges.total.set(kvLabels, this.totalBlocks);
    this.gauges.usage.set(kvLabels, this.current.kvUsage);
    this.gauges.inflight.set({ dynamo_component: this.component, dynamo_endpoint: 'generate', dynamo_namespace: this.namespace, model: this.model }, running);
    this.gauges.waiting.set({ engine: '0', model_name: this.model }, waiting);
    this.gauges.running.set({ engine: '0', model_name: this.model }, running);
    this.publish(false);
  }

  state(): DynamoWorkerState {
    return this.current;
  }

  /** The event-plane message for the current load: the envelope, and the ActiveLoad inside it. */
  message(): { envelope: Buffer; activeLoad: Record<string, unknown> } {
    const activeLoad = {
      worker_id: this.workerId,
      dp_rank: 0,
      active_decode_blocks: this.current.kvUsedBlocks,
      active_prefill_tokens: this.current.activePrefillTokens,
      kv_used_blocks: this.current.kvUsedBlocks,
    };
    const envelope = pack({
      publisher_id: this.publisherId,
      sequence: BigInt(this.sequence),
      published_at: BigInt(Date.now()),
      topic: 'kv_metrics',
      payload: pack(activeLoad),
    });
    return { envelope, activeLoad };
  }

  /** Publishes the current ActiveLoad when it changed (or always, with `force`). NATS only. */
  private publish(force: boolean): void {
    const nats = this.nats;
    if (!nats || nats.isClosed()) return;
    const key = `${this.current.kvUsedBlocks}/${this.current.activePrefillTokens}`;
    if (!force && key === this.lastPublished) return;
    this.sequence += 1;
    nats.publish(this.subject, this.message().envelope);
    this.lastPublished = key;
    this.lastPublishAt = Date.now();
    this.published++;
  }

  async close(): Promise<void> {
    clearInterval(this.republishTimer);
    this.republishTimer = undefined;
    const nats = this.nats;
    this.nats = undefined;
    if (nats && !nats.isClosed()) await nats.drain().catch(() => nats.close());
    const server = this.server;
    this.server = undefined;
    if (server) await closeServer(server);
    this.transport = undefined;
  }
}
