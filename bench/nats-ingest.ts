/**
 * Dynamo NATS ingest throughput (budget: "10,000 NATS messages/s"): messages per second the
 * dynamo-nats source handles — decode, sequence check, per-worker merge, store write — for a fleet
 * of 10,000 simulated workers, against a bare `nats` subscription that does nothing with the same
 * messages, in the same run.
 *
 * A publisher child process sends a fixed number of messages as fast as it can; this process
 * receives them, first with the bare subscription, then with the real DynamoNatsSource and a real
 * PoolStore. Reported per case: wall throughput (first to last message), CPU of this process per
 * message, and the rate one core could sustain at that CPU cost.
 *
 * Modes: `event-plane` (MessagePack envelopes: worker ActiveLoad with kv_used_blocks, FPM v1 every
 * fourth message, KV-router ActiveLoad every twentieth) and `kv-metrics` (JSON LoadEvent).
 *
 *   node dist-bench/bench/nats-ingest.js [--workers 10000] [--messages 200000] [--mode event-plane|kv-metrics|both] [--url nats://...]
 *
 * Needs `nats-server` on PATH unless --url names a running server.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Packr } from 'msgpackr';
import { connect, type NatsConnection } from 'nats';
import { ScalerMetrics } from '../src/telemetry.js';
import { FailureLog, silentLogger } from '../src/log.js';
import { DynamoNatsSource } from '../src/sources/dynamo/dynamo-nats-source.js';
import { PoolStore } from '../src/store/pool-store.js';
import { fmt, isMain, machineInfo, table } from './common.js';
import { startNatsServer } from './services.js';

export type IngestMode = 'event-plane' | 'kv-metrics';

export interface NatsIngestOptions {
  workers: number;
  messages: number;
  modes: IngestMode[];
  /** A running nats-server; when absent one is started on a free port. */
  url?: string;
}

export const DEFAULT_NATS_INGEST_OPTIONS: NatsIngestOptions = { workers: 10_000, messages: 200_000, modes: ['event-plane', 'kv-metrics'] };

export interface IngestCase {
  name: string;
  messages: number;
  wallS: number;
  msgsPerS: number;
  cpuUsPerMsg: number;
  /** Messages/s one core could sustain at this CPU cost. */
  coreMsgsPerS: number;
}

export interface ModeResult {
  mode: IngestMode;
  bare: IngestCase;
  ingest: IngestCase;
  /** ingest ÷ bare wall throughput. */
  ratio: number;
  /** Workers in the store at the end (should equal the simulated fleet). */
  workersInStore: number;
  malformed: number;
}

export interface NatsIngestResult {
  options: NatsIngestOptions;
  modes: ModeResult[];
}

const NAMESPACE = 'bench';
const COMPONENT = 'backend';

// --- publisher child -----------------------------------------------------------------------------

type PublisherMessage = { type: 'go' } | { type: 'stop' };
type PublisherReply = { type: 'ready' } | { type: 'sent'; seconds: number } | { type: 'error'; message: string };

/** Builds the message stream once (so encoding is not timed), then sends it on every `go`. */
async function publisherMain(url: string, mode: IngestMode, workers: number, messages: number): Promise<void> {
  const send = (reply: PublisherReply) => process.send?.(reply);
  try {
    const nc = await connect({ servers: url, name: 'bench-publisher' });
    const stream = buildStream(mode, workers, messages);
    send({ type: 'ready' });
    process.on('message', (message: PublisherMessage) => {
      if (message.type === 'stop') {
        void nc.close().then(() => process.exit(0));
        return;
      }
      void (async () => {
        const started = performance.now();
        for (let i = 0; i < stream.length; i++) {
          const [subject, bytes] = stream[i]!;
          nc.publish(subject, bytes);
          // Backpressure: let the socket drain now and then instead of queueing everything.
          if (i % 2000 === 1999) await nc.flush();
        }
        await nc.flush();
        send({ type: 'sent', seconds: (performance.now() - started) / 1000 });
      })();
    });
  } catch (error) {
    send({ type: 'error', message: error instanceof Error ? error.message : String(error) });
    process.exit(1);
  }
}

/**
 * The message stream of one case. Event plane: worker w publishes as publisher 10^6 + w with its
 * own sequence; one router publisher speaks of all workers. Each case gets a fresh publisher child
 * (so a fresh stream): replayed sequences would be dropped as duplicates, which is not the work
 * being measured.
 */
function buildStream(mode: IngestMode, workers: number, messages: number): [string, Uint8Array][] {
  const packr = new Packr({ useRecords: false });
  const kv = `namespace.${NAMESPACE}.kv_metrics`;
  const fpm = `namespace.${NAMESPACE}.component.${COMPONENT}.forward-pass-metrics`;
  const sequences = new Map<bigint, bigint>();
  const envelope = (publisher: bigint, topic: string, payload: Uint8Array): Uint8Array => {
    const sequence = (sequences.get(publisher) ?? 0n) + 1n;
    sequences.set(publisher, sequence);
    return packr.pack({ publisher_id: publisher, sequence, published_at: BigInt(Date.now()), topic, payload: Buffer.from(payload) });
  };
  const stream: [string, Uint8Array][] = [];
  const encoder = new TextEncoder();
  for (let i = 0; i < messages; i++) {
    const w = i % workers;
    const workerId = 7_000_000_000_000_000_000n + BigInt(w); // > 2^53, like real ids
    const blocks = (i * 7) % 4096;
    if (mode === 'kv-metrics') {
      const load =
        `{"worker_stats":{"data_parallel_rank":0,"request_active_slots":${i % 64},"request_total_slots":256,` +
        `"num_requests_waiting":${i % 9}},"kv_stats":{"kv_active_blocks":${blocks},"kv_total_blocks":59064,` +
        `"gpu_cache_usage_perc":${blocks / 59064},"gpu_prefix_cache_hit_rate":0.0},"spec_decode_stats":null}`;
      stream.push([kv, encoder.encode(`{"worker_id":${workerId},"data":${load}}`)]);
    } else if (i % 20 === 19) {
      // The KV router's view of the worker (no kv_used_blocks): must not override the worker's own.
      stream.push([
        kv,
        envelope(1n, 'kv_metrics', packr.pack({ worker_id: workerId, dp_rank: 0, active_decode_blocks: blocks + 1, active_prefill_tokens: 0 })),
      ]);
    } else if (i % 4 === 3) {
      const fpmPayload = packr.pack({
        version: 1,
        worker_id: workerId.toString(),
        dp_rank: 0,
        counter_id: i,
        wall_time: 0.02,
        scheduled_requests: {
          num_prefill_requests: 1,
          sum_prefill_tokens: 512,
          var_prefill_length: 0.0,
          sum_prefill_kv_tokens: 512,
          num_decode_requests: i % 32,
          sum_decode_kv_tokens: 9000,
          var_decode_kv_tokens: 0.0,
        },
        queued_requests: {
          num_prefill_requests: i % 5,
          sum_prefill_tokens: 100 * (i % 5),
          var_prefill_length: 0.0,
          num_decode_requests: 0,
          sum_decode_kv_tokens: 0,
          var_decode_kv_tokens: 0.0,
        },
      });
      stream.push([fpm, envelope(1_000_000n + BigInt(w), 'forward-pass-metrics', fpmPayload)]);
    } else {
      stream.push([
        kv,
        envelope(
          1_000_000n + BigInt(w),
          'kv_metrics',
          packr.pack({ worker_id: workerId, dp_rank: 0, active_decode_blocks: blocks, active_prefill_tokens: 0, kv_used_blocks: blocks }),
        ),
      ]);
    }
  }
  return stream;
}

class Publisher {
  private constructor(private readonly child: ChildProcess) {}

  static async start(url: string, mode: IngestMode, workers: number, messages: number): Promise<Publisher> {
    const child = fork(fileURLToPath(import.meta.url), ['--publisher', url, mode, String(workers), String(messages)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    await new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`publisher exited with code ${code}`)));
      child.on('message', (message: PublisherReply) => {
        if (message.type === 'ready') resolve();
        else if (message.type === 'error') reject(new Error(`publisher failed: ${message.message}`));
      });
    });
    child.removeAllListeners('exit');
    return new Publisher(child);
  }

  /** Starts one send of the stream; resolves with the publisher's own send time. */
  go(): Promise<number> {
    return new Promise((resolve) => {
      const onMessage = (message: PublisherReply) => {
        if (message.type !== 'sent') return;
        this.child.off('message', onMessage);
        resolve(message.seconds);
      };
      this.child.on('message', onMessage);
      this.child.send({ type: 'go' } satisfies PublisherMessage);
    });
  }

  stop(): void {
    this.child.send({ type: 'stop' } satisfies PublisherMessage);
  }
}

// --- measurement ---------------------------------------------------------------------------------

/** Runs one case: `received()` must reach `expected`; times first-to-last and this process's CPU. */
async function measure(name: string, expected: number, publisher: Publisher, received: () => number, onFirst: (mark: () => void) => void): Promise<IngestCase> {
  let firstAt = 0;
  onFirst(() => {
    if (firstAt === 0) firstAt = performance.now();
  });
  const cpu = process.cpuUsage();
  void publisher.go();
  const deadline = Date.now() + 120_000;
  while (received() < expected) {
    if (Date.now() > deadline) throw new Error(`${name}: only ${received()} of ${expected} messages arrived within 120 s`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  const lastAt = performance.now();
  const used = process.cpuUsage(cpu);
  const wallS = (lastAt - firstAt) / 1000;
  const cpuUsPerMsg = (used.user + used.system) / expected;
  return { name, messages: expected, wallS, msgsPerS: expected / wallS, cpuUsPerMsg, coreMsgsPerS: 1e6 / cpuUsPerMsg };
}

async function runMode(url: string, mode: IngestMode, options: NatsIngestOptions): Promise<ModeResult> {
  const { workers, messages } = options;
  const publisherBare = await Publisher.start(url, mode, workers, messages);
  const subjects = [`namespace.${NAMESPACE}.kv_metrics`, `namespace.${NAMESPACE}.component.*.forward-pass-metrics`];

  // Bare: the same subjects, a callback that only counts.
  const nc: NatsConnection = await connect({ servers: url, name: 'bench-bare' });
  let bareCount = 0;
  let markBare = () => {};
  for (const subject of subjects) {
    nc.subscribe(subject, {
      callback: () => {
        markBare();
        bareCount++;
      },
    });
  }
  await nc.flush();
  const bare = await measure(
    'bare nats subscription',
    messages,
    publisherBare,
    () => bareCount,
    (mark) => (markBare = mark),
  );
  await nc.close();
  publisherBare.stop();

  // Ingest: the real source (its own connection) into a real store; a fresh publisher so its
  // sequences are new to this source.
  const publisher = await Publisher.start(url, mode, workers, messages);
  const metrics = new ScalerMetrics();
  const store = new PoolStore('bench', { cacheTtlMs: 5000, intervalMs: 1000, historyWindowMs: 600_000 });
  const source = new DynamoNatsSource({
    pool: 'bench',
    store,
    nats: { url },
    namespace: NAMESPACE,
    component: COMPONENT,
    endpoint: 'load_metrics',
    mode,
    intervalMs: 1000,
    cacheTtlMs: 5000,
    statsWindowMs: 300,
    workerTtlMs: 600_000,
    metrics,
    log: silentLogger(),
    failures: new FailureLog(silentLogger()),
  });
  source.start();
  const deadline = Date.now() + 10_000;
  while (source.describe()['connected'] !== true) {
    if (Date.now() > deadline) throw new Error('the dynamo-nats source did not connect');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const counts = source.messages;
  const handled = () => counts.ok + counts.malformed + counts.duplicate + counts.older + counts.ignored + counts.foreign;
  // The first handled message is noticed by polling: the source has no hook, and adding one to
  // time the benchmark would change what is measured. The poll interval (2 ms) is noise at 200k.
  let markIngest = () => {};
  const poll = setInterval(() => {
    if (handled() > 0) markIngest();
  }, 1);
  const ingest = await measure(`dynamo-nats ingest (${mode})`, messages, publisher, handled, (mark) => (markIngest = mark));
  clearInterval(poll);
  await source.collectOnce(); // flush the last turn's samples
  const result: ModeResult = {
    mode,
    bare,
    ingest,
    ratio: ingest.msgsPerS / bare.msgsPerS,
    workersInStore: store.size,
    malformed: counts.malformed,
  };
  await source.stop();
  publisher.stop();
  return result;
}

export async function run(options: Partial<NatsIngestOptions> = {}): Promise<NatsIngestResult> {
  const resolved: NatsIngestOptions = { ...DEFAULT_NATS_INGEST_OPTIONS, ...options };
  const server = resolved.url ? undefined : await startNatsServer();
  const url = resolved.url ?? server!.url;
  const results: ModeResult[] = [];
  try {
    console.log(`NATS ingest: ${resolved.messages} messages from ${resolved.workers} simulated workers, publisher in a child process, ${url}`);
    for (const mode of resolved.modes) {
      const result = await runMode(url, mode, resolved);
      results.push(result);
      console.log(
        table(
          ['case', 'msgs/s (wall)', 'CPU µs/msg', 'msgs/s per core'],
          [result.bare, result.ingest].map((c) => [c.name, fmt(c.msgsPerS, 0), fmt(c.cpuUsPerMsg, 2), fmt(c.coreMsgsPerS, 0)]),
        ),
      );
      console.log(
        `  ${mode}: ingest/bare throughput ratio ${fmt(result.ratio, 3)}; ${result.workersInStore} workers in the store; ${result.malformed} malformed\n`,
      );
    }
  } finally {
    server?.stop();
  }
  return { options: resolved, modes: results };
}

// --- nats-server ---------------------------------------------------------------------------------

// --- command line --------------------------------------------------------------------------------

export function parseNatsIngestArgs(argv: readonly string[]): Partial<NatsIngestOptions> {
  const { values } = parseArgs({
    args: [...argv],
    strict: false,
    allowPositionals: true,
    options: { workers: { type: 'string' }, messages: { type: 'string' }, mode: { type: 'string' }, url: { type: 'string' } },
  });
  const out: Partial<NatsIngestOptions> = {};
  if (typeof values.workers === 'string') out.workers = Number(values.workers);
  if (typeof values.messages === 'string') out.messages = Number(values.messages);
  if (values.mode === 'event-plane' || values.mode === 'kv-metrics') out.modes = [values.mode];
  if (typeof values.url === 'string') out.url = values.url;
  return out;
}

if (isMain(import.meta.url)) {
  const argv = process.argv.slice(2);
  if (argv[0] === '--publisher') {
    void publisherMain(argv[1]!, argv[2] as IngestMode, Number(argv[3]), Number(argv[4]));
  } else {
    const machine = machineInfo();
    console.log(`Node ${machine.node}, ${machine.platform}, ${machine.cpus} CPUs (${machine.cpuModel})`);
    run(parseNatsIngestArgs(argv)).then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  }
}
