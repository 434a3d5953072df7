/**
 * Simulated Dynamo workers over a real NATS connection, one per load-transport generation
 * (ai-dynamo/dynamo `lib/llm/src/kv_router/publisher.rs`, `lib/runtime/src/transports/event_plane/`): a `$SRV.STATS` responder, a JSON kv_metrics publisher,
 * and an event-plane MessagePack publisher (which can also play the frontend's KV router).
 *
 * Payloads are written the way Dynamo writes them: JSON by hand so 64-bit worker ids stay exact
 * (JSON.stringify of a JS number would round them), MessagePack with u64s as bigint.
 */
import { Packr } from 'msgpackr';
import { connect, type NatsConnection, type Subscription } from 'nats';

/** What a 2025 worker reports (ForwardPassMetrics), per data-parallel rank. */
export interface FpmLoad {
  readonly waiting: number;
  readonly activeSlots: number;
  readonly totalSlots: number;
  readonly kvActiveBlocks: number;
  readonly kvTotalBlocks: number;
  readonly kvUsage: number;
  readonly dpRank?: number;
}

/** Test publishers reconnect quickly, so a NATS restart costs them no more than the scaler. */
function testConnection(url: string, name: string): Promise<NatsConnection> {
  return connect({ servers: url, name, maxReconnectAttempts: -1, reconnectTimeWait: 20, reconnectJitter: 0, waitOnFirstConnect: true });
}

/** ForwardPassMetrics JSON in the nested (2025-07+) or flat (2025-03..07) shape. */
export function fpmJson(load: FpmLoad, shape: 'nested' | 'flat' = 'nested'): string {
  const rank = load.dpRank ?? 0;
  if (shape === 'flat') {
    return (
      `{"data_parallel_rank":${rank},"request_active_slots":${load.activeSlots},"request_total_slots":${load.totalSlots},` +
      `"kv_active_blocks":${load.kvActiveBlocks},"kv_total_blocks":${load.kvTotalBlocks},"num_requests_waiting":${load.waiting},` +
      `"gpu_cache_usage_perc":${load.kvUsage},"gpu_prefix_cache_hit_rate":0.25}`
    );
  }
  return (
    `{"worker_stats":{"data_parallel_rank":${rank},"request_active_slots":${load.activeSlots},"request_total_slots":${load.totalSlots},` +
    `"num_requests_waiting":${load.waiting}},` +
    `"kv_stats":{"kv_active_blocks":${load.kvActiveBlocks},"kv_total_blocks":${load.kvTotalBlocks},"gpu_cache_usage_perc":${load.kvUsage},` +
    `"gpu_prefix_cache_hit_rate":0.0},"spec_decode_stats":null}`
  );
}

/**
 * A worker of the pull generation: a NATS micro-service instance answering `$SRV.STATS.<service>`
 * with a stats_response whose `load_metrics-<lease hex>` endpoint carries its ForwardPassMetrics
 * (plus a `generate` endpoint with null data, as real workers have).
 */
export class StatsWorker {
  /** Set false to make the worker stop answering (it keeps its connection). */
  answering = true;
  /** When set, sent instead of a proper reply (to test malformed replies). */
  rawReply: string | Uint8Array | undefined;
  private subscription?: Subscription;

  private constructor(
    private readonly nc: NatsConnection,
    readonly leaseHex: string,
    public load: FpmLoad,
    readonly shape: 'nested' | 'flat',
  ) {}

  /** The worker id the scaler should report: the lease as an exact decimal. */
  get id(): string {
    return BigInt(`0x${this.leaseHex}`).toString();
  }

  static async start(url: string, options: { service: string; leaseHex: string; load: FpmLoad; shape?: 'nested' | 'flat' }): Promise<StatsWorker> {
    const nc = await testConnection(url, `stats-worker-${options.leaseHex}`);
    const worker = new StatsWorker(nc, options.leaseHex, options.load, options.shape ?? 'nested');
    worker.subscription = nc.subscribe(`$SRV.STATS.${options.service}`, {
      callback: (_error, msg) => {
        if (!worker.answering) return;
        msg.respond(worker.rawReply ?? worker.reply(options.service));
      },
    });
    await nc.flush();
    return worker;
  }

  private reply(service: string): string {
    const hex = this.leaseHex;
    const endpoint = (name: string, data: string) =>
      `{"name":"${service}-${name}-${hex}","subject":"${service}.${name}-${hex}","num_requests":0,"num_errors":0,"processing_time":0,` +
      `"average_processing_time":0,"last_error":"","data":${data},"queue_group":"q"}`;
    return (
      `{"type":"io.nats.micro.v1.stats_response","name":"${service}","id":"inst${hex}","version":"0.0.1","started":"2025-08-08T05:07:17.720783523Z",` +
      `"endpoints":[${endpoint('generate', 'null')},${endpoint('load_metrics', fpmJson(this.load, this.shape))}]}`
    );
  }

  async close(): Promise<void> {
    if (this.nc.isClosed()) return;
    this.subscription?.unsubscribe();
    await this.nc.close();
  }
}

/** The JSON push generation: LoadEvent / ActiveLoad on `namespace.<ns>.kv_metrics`. */
export class KvMetricsPublisher {
  private constructor(
    private readonly nc: NatsConnection,
    readonly subject: string,
  ) {}

  static async start(url: string, namespace: string): Promise<KvMetricsPublisher> {
    return new KvMetricsPublisher(await testConnection(url, 'kv-metrics-publisher'), `namespace.${namespace}.kv_metrics`);
  }

  async loadEvent(workerId: string, load: FpmLoad, shape: 'nested' | 'flat' = 'nested'): Promise<void> {
    await this.raw(`{"worker_id":${workerId},"data":${fpmJson(load, shape)}}`);
  }

  async activeLoad(workerId: string, dpRank: number, activeDecodeBlocks: number): Promise<void> {
    await this.raw(`{"worker_id":${workerId},"dp_rank":${dpRank},"active_decode_blocks":${activeDecodeBlocks},"active_prefill_tokens":null}`);
  }

  async raw(payload: string | Uint8Array, subject = this.subject): Promise<void> {
    this.nc.publish(subject, typeof payload === 'string' ? new TextEncoder().encode(payload) : payload);
    await this.nc.flush();
  }

  async close(): Promise<void> {
    await this.nc.close();
  }
}

export interface ActiveLoadFields {
  readonly workerId: bigint;
  readonly dpRank?: number;
  readonly activeDecodeBlocks?: number;
  readonly activePrefillTokens?: number;
  /** Engines send it; the KV router does not. */
  readonly kvUsedBlocks?: number;
}

export interface FpmV1Fields {
  readonly workerId: bigint;
  readonly dpRank?: number;
  /** 0 = idle heartbeat. */
  readonly wallTime?: number;
  readonly scheduled: { readonly prefill: number; readonly decode: number };
  readonly queued: { readonly prefill: number; readonly prefillTokens: number; readonly decode?: number };
}

export interface EnvelopeOverrides {
  readonly sequence?: bigint;
  readonly publishedAt?: bigint;
}

const packr = new Packr({ useRecords: false });

/**
 * The 2026 event plane: one publisher (one `publisher_id`, its own monotonic `sequence`) sending
 * MessagePack envelopes. A worker publishes ActiveLoad with kv_used_blocks and FPM about itself;
 * the KV router publishes ActiveLoad without kv_used_blocks about many workers.
 */
export class EventPlanePublisher {
  sequence = 0n;
  /** published_at (unix ms) of the last envelope sent in order. */
  lastPublishedAt = 0n;

  private constructor(
    private readonly nc: NatsConnection,
    readonly namespace: string,
    readonly publisherId: bigint,
  ) {}

  static async start(url: string, namespace: string, publisherId: bigint): Promise<EventPlanePublisher> {
    return new EventPlanePublisher(await testConnection(url, `event-plane-${publisherId}`), namespace, publisherId);
  }

  /** `sequence`/`publishedAt` override the envelope's (to replay a duplicate or an older message). */
  async activeLoad(fields: ActiveLoadFields, options: EnvelopeOverrides = {}): Promise<void> {
    const payload: Record<string, unknown> = {
      worker_id: fields.workerId,
      dp_rank: fields.dpRank ?? 0,
      active_decode_blocks: fields.activeDecodeBlocks ?? null,
      active_prefill_tokens: fields.activePrefillTokens ?? null,
    };
    if (fields.kvUsedBlocks !== undefined) payload['kv_used_blocks'] = fields.kvUsedBlocks;
    await this.send(`namespace.${this.namespace}.kv_metrics`, 'kv_metrics', packr.pack(payload), options);
  }

  async forwardPass(component: string, fields: FpmV1Fields, options: EnvelopeOverrides = {}): Promise<void> {
    const payload = packr.pack({
      version: 1,
      worker_id: fields.workerId.toString(), // msgspec sends it as a string
      dp_rank: fields.dpRank ?? 0,
      counter_id: 1,
      wall_time: fields.wallTime ?? 0.02,
      scheduled_requests: {
        num_prefill_requests: fields.scheduled.prefill,
        sum_prefill_tokens: 0,
        var_prefill_length: 0.0,
        sum_prefill_kv_tokens: 0,
        num_decode_requests: fields.scheduled.decode,
        sum_decode_kv_tokens: 0,
        var_decode_kv_tokens: 0.0,
      },
      queued_requests: {
        num_prefill_requests: fields.queued.prefill,
        sum_prefill_tokens: fields.queued.prefillTokens,
        var_prefill_length: 0.0,
        num_decode_requests: fields.queued.decode ?? 0,
        sum_decode_kv_tokens: 0,
        var_decode_kv_tokens: 0.0,
      },
    });
    await this.send(`namespace.${this.namespace}.component.${component}.forward-pass-metrics`, 'forward-pass-metrics', payload, options);
  }

  /** An envelope around any payload bytes (to test malformed payloads). */
  async send(subject: string, topic: string, payload: Uint8Array, options: EnvelopeOverrides = {}): Promise<void> {
    if (options.sequence === undefined) {
      this.sequence += 1n;
      this.lastPublishedAt = BigInt(Date.now());
    }
    const publishedAt = options.publishedAt ?? (options.sequence === undefined ? this.lastPublishedAt : BigInt(Date.now()));
    const envelope = packr.pack({
      publisher_id: this.publisherId,
      sequence: options.sequence ?? this.sequence,
      published_at: publishedAt,
      topic,
      payload: Buffer.from(payload),
    });
    await this.raw(subject, envelope);
  }

  async raw(subject: string, bytes: Uint8Array): Promise<void> {
    this.nc.publish(subject, bytes);
    await this.nc.flush();
  }

  async close(): Promise<void> {
    await this.nc.close();
  }
}
