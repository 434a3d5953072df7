/**
 * The simulated side of a demo run: vLLM workers over HTTP, or NVIDIA Dynamo workers over NATS
 * (event plane) or their system port, plus the pool that reads them and what the banner says.
 */
import { ConfigError } from '../../config/load.js';
import { findOnPath, NatsServer } from './nats-server.js';
import type { DemoOptions } from './options.js';
import { SimulatedDynamoWorker, type DynamoTransport } from './simulated-dynamo.js';
import { SimulatedVllmWorker } from './simulated-worker.js';

export const DEMO_POOL = 'demo';

export interface DemoTrigger {
  readonly metric: string;
  readonly target: number;
}

/** The triggers the demo shows, as a ScaledObject would declare them. */
export const DEMO_TRIGGERS: readonly DemoTrigger[] = [
  { metric: 'kv_cache_usage', target: 0.7 },
  { metric: 'queue_depth', target: 5 },
  { metric: 'running_requests', target: 20 },
];

/** KV blocks of each simulated Dynamo worker. */
export const DYNAMO_DEMO_BLOCKS = 4096;

/**
 * The Dynamo demo's triggers: the same 70 % in three units. `load_avg` is Dynamo's llm_load_avg,
 * a mean count of blocks in use, so its target is in blocks (0.7 × 4096); metrics-keda compared it
 * with 0.7, which asks HPA for one pod per 0.7 blocks.
 */
export const DYNAMO_DEMO_TRIGGERS: readonly DemoTrigger[] = [
  { metric: 'kv_cache_usage', target: 0.7 },
  { metric: 'kv_blocks_usage_percent', target: 70 },
  { metric: 'load_avg', target: Math.round(0.7 * DYNAMO_DEMO_BLOCKS) },
];

/** What the demo needs of a simulated worker, vLLM or Dynamo. */
export interface DemoWorker {
  /** How the tables name the worker: host:port, or a Dynamo worker id. */
  readonly target: string;
  /** Where it can be read (its /metrics URL), when it serves HTTP. */
  readonly url?: string;
  state(): {
    readonly load: number;
    readonly kvUsage: number;
    readonly running: number;
    readonly waiting: number;
    readonly kvUsedBlocks?: number;
    readonly kvTotalBlocks?: number;
  };
  setLoad(load: number): void;
  tick?(seconds: number): void;
  close(): Promise<void>;
}

/** The simulated side of one demo run: workers, the pool that reads them, what the banner says. */
export interface DemoBackend {
  readonly workers: readonly DemoWorker[];
  /** The scaler's pool (before validation). */
  readonly pool: Record<string, unknown>;
  readonly triggers: readonly DemoTrigger[];
  /** "3 simulated vLLM workers" */
  readonly what: string;
  /** Rows of the banner after the addresses: label, text. */
  readonly rows: readonly (readonly [string, string])[];
  /** Extra commands for the "Try" list. */
  readonly tryLines: readonly string[];
  /** How to read the tables. */
  readonly explain: readonly string[];
  /** Set when the demo runs Dynamo over NATS. */
  readonly transport?: DynamoTransport;
  close(): Promise<void>;
}

const loadRow = (options: DemoOptions): readonly [string, string] => [
  'load',
  `rises and falls between 0.05 and 1.1 every ${options.periodMs / 1000}s; collected every ${options.intervalMs / 1000}s`,
];

/** The vLLM demo's banner rows and explanations (also the default when no backend is given). */
export function vllmBanner(options: DemoOptions, workers: readonly DemoWorker[]): Omit<DemoBackend, 'workers' | 'pool' | 'close'> {
  return {
    triggers: DEMO_TRIGGERS,
    what: `${workers.length} simulated vLLM workers`,
    rows: [['simulated workers', workers.map((w) => w.url ?? w.target).join('  ')], loadRow(options)],
    tryLines: [],
    explain: [
      "'value sent' follows metricType AverageValue: totals for queue_depth/running_requests, fleet mean x",
      "ready workers for kv_cache_usage. 'HPA desired' = ceil(value / target), before min/max replicas;",
      'the demo keeps its worker count fixed.',
    ],
  };
}

/** Three simulated vLLM workers behind a `vllm` pool. */
async function startVllmBackend(options: DemoOptions): Promise<DemoBackend> {
  const workers: SimulatedVllmWorker[] = [];
  for (let i = 0; i < options.workers; i++) workers.push(new SimulatedVllmWorker({ seed: i + 1 }));
  try {
    await Promise.all(workers.map((w) => w.start()));
  } catch (error) {
    await Promise.all(workers.map((w) => w.close()));
    throw error;
  }
  return {
    ...vllmBanner(options, workers),
    workers,
    pool: { name: DEMO_POOL, source: 'vllm', targets: workers.map((w) => w.target) },
    close: async () => {
      await Promise.all(workers.map((w) => w.close()));
    },
  };
}

const DYNAMO_NAMESPACE = 'dynamo';
const DYNAMO_COMPONENT = 'backend';

/**
 * Simulated Dynamo workers: publishing event-plane messages to a nats-server the demo starts, or
 * serving their system-port /metrics. `why` says why HTTP was chosen (shown in the banner).
 */
export async function startDynamoBackend(options: DemoOptions, transport: DynamoTransport, why?: string): Promise<DemoBackend> {
  let nats: NatsServer | undefined;
  const workers: SimulatedDynamoWorker[] = [];
  for (let i = 0; i < options.workers; i++) {
    workers.push(new SimulatedDynamoWorker({ seed: i + 1, namespace: DYNAMO_NAMESPACE, component: DYNAMO_COMPONENT, totalBlocks: DYNAMO_DEMO_BLOCKS }));
  }
  const close = async () => {
    await Promise.all(workers.map((w) => w.close()));
    await nats?.stop();
  };
  try {
    if (transport === 'nats') {
      const binary = findOnPath('nats-server');
      if (!binary) throw new ConfigError('--transport nats: nats-server is not on PATH (install it, or use --transport http)');
      nats = await NatsServer.start({ binary });
      const url = nats.url;
      await Promise.all(workers.map((w) => w.start('nats', url)));
    } else {
      await Promise.all(workers.map((w) => w.start('http')));
    }
  } catch (error) {
    await close();
    throw error;
  }
  const common = {
    triggers: DYNAMO_DEMO_TRIGGERS,
    what: `${workers.length} simulated NVIDIA Dynamo workers`,
    explain: [
      "'value sent' follows metricType AverageValue: fleet value x ready workers (all three are intensive);",
      "'HPA desired' = ceil(value / target), before min/max replicas; the demo keeps its worker count fixed.",
      `load_avg is Dynamo's llm_load_avg, mean KV blocks in use per worker: a count, so its target is in blocks`,
      `(0.7 x ${DYNAMO_DEMO_BLOCKS} = ${Math.round(0.7 * DYNAMO_DEMO_BLOCKS)}); metrics-keda compared it with 0.7. The llm_* gauges are on /metrics.`,
    ],
    workers,
    transport,
    close,
  };
  if (transport === 'nats' && nats) {
    const subject = workers[0]?.subject ?? `namespace.${DYNAMO_NAMESPACE}.kv_metrics`;
    return {
      ...common,
      pool: { name: DEMO_POOL, source: 'dynamo-nats', nats: { url: nats.url }, namespace: DYNAMO_NAMESPACE, component: DYNAMO_COMPONENT, mode: 'event-plane' },
      rows: [
        ['Dynamo path', `event plane over NATS: MessagePack ActiveLoad envelopes on ${subject}`],
        ['nats-server', `${nats.url} (started by the demo)`],
        ['pool', `source dynamo-nats, mode event-plane, namespace ${DYNAMO_NAMESPACE}, component ${DYNAMO_COMPONENT}`],
        ['simulated workers', workers.map((w) => w.target).join('  ')],
        loadRow(options),
      ],
      explain: [
        ...common.explain,
        'Over the event plane a worker reports the KV blocks it uses (ActiveLoad kv_used_blocks) but not how many',
        'it has, so kv_cache_usage and kv_blocks_usage_percent answer UNAVAILABLE (KEDA falls back), never a',
        'made-up number; `--transport http` reads the capacity from the system port (dynamo_component_total_blocks).',
      ],
      tryLines: [
        `{self} probe {grpc} component=${DYNAMO_COMPONENT} metric=load_avg threshold=${Math.round(0.7 * DYNAMO_DEMO_BLOCKS)}{http-flag}` +
          '   (metrics-keda style keys)',
        `nats sub -s ${nats.url} '${subject}'       (binary MessagePack)`,
        `curl -s {http}/metrics | grep '^llm_'`,
      ],
    };
  }
  return {
    ...common,
    pool: { name: DEMO_POOL, source: 'dynamo-http', targets: workers.map((w) => w.target) },
    rows: [
      ['Dynamo path', 'HTTP system port: each worker serves Dynamo /metrics (dynamo_component_*, vllm:* passed through)'],
      ['why not NATS', why ?? 'nats-server is not on PATH'],
      ['pool', 'source dynamo-http'],
      ['simulated workers', workers.map((w) => `http://${w.target}/metrics`).join('  ')],
      loadRow(options),
    ],
    tryLines: [`curl -s {http}/metrics | grep '^llm_'`],
  };
}

export function startBackend(options: DemoOptions): Promise<DemoBackend> {
  if (options.source !== 'dynamo') return startVllmBackend(options);
  if (options.transport === 'http') return startDynamoBackend(options, 'http', 'chosen with --transport http');
  if (options.transport === 'nats' || findOnPath('nats-server') !== undefined) return startDynamoBackend(options, 'nats');
  return startDynamoBackend(options, 'http', 'nats-server is not on PATH');
}
