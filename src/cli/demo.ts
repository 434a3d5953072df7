/**
 * `keda-llm-scaler demo`: the real scaler plus simulated vLLM workers in one process, no external
 * services. The workers' load rises and falls; every few seconds the demo asks its own gRPC
 * server what KEDA would get (GetMetricSpec → GetMetrics → IsActive) and prints it as a table.
 *
 * `--source dynamo` simulates NVIDIA Dynamo workers instead: over the 2026 event plane when
 * `nats-server` is on PATH (the demo starts one; the pool is `dynamo-nats`, mode `event-plane`),
 * else over the workers' system-port `/metrics` (the pool is `dynamo-http`).
 */
import { basename, relative } from 'node:path';
import { Command, Option } from 'commander';
import pino from 'pino';
import { parseDuration } from '../config/duration.js';
import { ConfigError, validateConfig } from '../config/load.js';
import type { Logger } from '../log.js';
import { Scaler } from '../scaler.js';
import { findOnPath, NatsServer } from './demo/nats-server.js';
import { SimulatedDynamoWorker, type DynamoTransport } from './demo/simulated-dynamo.js';
import { loadPattern, SimulatedVllmWorker } from './demo/simulated-worker.js';
import { probe, type ProbeResult } from './probe.js';

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

export const DEMO_SOURCES = ['vllm', 'dynamo'] as const;
export type DemoSource = (typeof DEMO_SOURCES)[number];
export const DEMO_TRANSPORTS = ['auto', 'nats', 'http'] as const;
export type DemoTransport = (typeof DEMO_TRANSPORTS)[number];

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

export interface DemoOptions {
  workers: number;
  host: string;
  port: number;
  httpPort: number;
  /** Collection period and load-update step, ms. */
  intervalMs: number;
  printEveryMs: number;
  /** Stop after this long; undefined runs until SIGINT/SIGTERM. */
  durationMs?: number;
  /** Period of the load wave, ms. */
  periodMs: number;
  logLevel: string;
  /** Which workers to simulate; default vllm. */
  source?: DemoSource;
  /** Dynamo only: event plane over NATS, system port over HTTP, or NATS when nats-server is on PATH. */
  transport?: DemoTransport;
}

interface RawDemoOptions {
  workers: string;
  host: string;
  port: string;
  httpPort: string;
  interval: string;
  printEvery: string;
  duration?: string;
  period: string;
  logLevel: string;
  source?: string;
  transport?: string;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function integer(flag: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`${flag}: '${text}' is not accepted; expected a whole number from ${min} to ${max}`);
  }
  return n;
}

function duration(flag: string, text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) {
    throw new ConfigError(`${flag}: '${text}' is not a positive duration; write e.g. 500ms, 2s, 1m or a number of seconds`);
  }
  return ms;
}

function oneOf<T extends string>(flag: string, text: string, accepted: readonly T[]): T {
  if (!(accepted as readonly string[]).includes(text)) {
    throw new ConfigError(`${flag}: '${text}' is not accepted; expected one of ${accepted.join(', ')}`);
  }
  return text as T;
}

export function parseDemoOptions(raw: RawDemoOptions): DemoOptions {
  if (!LOG_LEVELS.includes(raw.logLevel)) {
    throw new ConfigError(`--log-level: '${raw.logLevel}' is not accepted; expected one of ${LOG_LEVELS.join(', ')}`);
  }
  const source = oneOf('--source', raw.source ?? 'vllm', DEMO_SOURCES);
  if (raw.transport !== undefined && source !== 'dynamo') {
    throw new ConfigError('--transport: only applies to --source dynamo');
  }
  return {
    source,
    transport: oneOf('--transport', raw.transport ?? 'auto', DEMO_TRANSPORTS),
    workers: integer('--workers', raw.workers, 1, 64),
    host: raw.host,
    port: integer('--port', raw.port, 0, 65535),
    httpPort: integer('--http-port', raw.httpPort, 0, 65535),
    intervalMs: duration('--interval', raw.interval),
    printEveryMs: duration('--print-every', raw.printEvery),
    durationMs: raw.duration === undefined ? undefined : duration('--duration', raw.duration),
    periodMs: duration('--period', raw.period),
    logLevel: raw.logLevel,
  };
}

export function demoCommand(): Command {
  return new Command('demo')
    .description('run the scaler against simulated vLLM (or Dynamo) workers whose load rises and falls, and print what KEDA would see')
    .addOption(new Option('--source <kind>', `simulated workers: ${DEMO_SOURCES.join(' or ')}`).default('vllm'))
    .addOption(
      new Option(
        '--transport <how>',
        'with --source dynamo: nats (event plane; needs nats-server on PATH), http (worker system port), or auto = nats when nats-server is on PATH',
      ),
    )
    .addOption(new Option('--workers <n>', 'simulated workers').default('3'))
    .addOption(new Option('--host <host>', 'listen address of the scaler (gRPC and HTTP)').default('127.0.0.1'))
    .addOption(new Option('--port <port>', 'gRPC port, 0 = any free port').default('9090'))
    .addOption(new Option('--http-port <port>', 'HTTP ops port, 0 = any free port').default('8080'))
    .addOption(new Option('--interval <duration>', 'collection period and load step, e.g. 1s or 200ms').default('1s'))
    .addOption(new Option('--print-every <duration>', 'seconds between tables (or a duration like 500ms)').default('3'))
    .addOption(new Option('--duration <seconds>', 'stop after this many seconds (default: run until Ctrl-C)'))
    .addOption(new Option('--period <seconds>', 'period of the rising and falling load').default('60'))
    .addOption(new Option('--log-level <level>', `scaler log level on stderr: ${LOG_LEVELS.join(', ')}`).default('warn'))
    .action(async (raw: RawDemoOptions) => {
      let options: DemoOptions;
      try {
        options = parseDemoOptions(raw);
      } catch (error) {
        process.stderr.write(`keda-llm-scaler demo: ${(error as Error).message}\n`);
        process.exit(2);
      }
      await runDemo(options);
    });
}

/** How to run this CLI again from the same shell: `node dist/cli.js` from a checkout, else the bin name. */
function selfCommand(): string {
  const script = process.argv[1];
  if (script && basename(script) === 'cli.js') {
    const rel = relative(process.cwd(), script);
    return `node ${rel.startsWith('..') || rel === '' ? script : rel}`;
  }
  return 'keda-llm-scaler';
}

function shownHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

function formatValue(v: number): string {
  if (Number.isInteger(v)) return String(v);
  return v.toFixed(3);
}

function table(rows: readonly (readonly string[])[], rightAligned: ReadonlySet<number>): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row
      .map((cell, i) => (rightAligned.has(i) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

export interface TriggerView {
  readonly trigger: DemoTrigger;
  readonly metricName?: string;
  readonly value?: number;
  readonly desired?: number;
  readonly active?: boolean;
  readonly error?: string;
}

export function viewOf(trigger: DemoTrigger, result: ProbeResult): TriggerView {
  const metricName = result.spec?.metricSpecs[0]?.metricName;
  const value = result.metrics?.metricValues[0]?.metricValueFloat;
  const error = result.errors.map((e) => `${e.call}: ${e.code}`).join(', ') || undefined;
  return {
    trigger,
    metricName,
    value,
    desired: value === undefined ? undefined : Math.ceil(value / trigger.target),
    active: result.active,
    error,
  };
}

/** One print: what the workers report, then what KEDA would receive for each trigger. */
export function formatReport(elapsedMs: number, workers: readonly DemoWorker[], views: readonly TriggerView[]): string {
  const lines: string[] = [`[t=${(elapsedMs / 1000).toFixed(1)}s]`];
  const states = workers.map((w) => ({ target: w.target, ...w.state() }));
  if (states.length <= 6) {
    const rows = states.map((s, i) => [
      `  worker ${i + 1}`,
      s.target,
      `load ${s.load.toFixed(2)}`,
      `kv ${s.kvUsage.toFixed(2)}`,
      ...(s.kvUsedBlocks === undefined ? [] : [`blocks ${s.kvUsedBlocks}/${s.kvTotalBlocks ?? '?'}`]),
      `running ${s.running}`,
      `waiting ${s.waiting}`,
    ]);
    lines.push(...table(rows, new Set()));
  } else {
    const loads = states.map((s) => s.load);
    const kv = states.reduce((a, s) => a + s.kvUsage, 0) / states.length;
    lines.push(
      `  ${states.length} workers: load ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)}, mean kv ${kv.toFixed(2)}, ` +
        `Σ running ${states.reduce((a, s) => a + s.running, 0)}, Σ waiting ${states.reduce((a, s) => a + s.waiting, 0)}`,
    );
  }
  const rows: string[][] = [['  trigger', 'target', 'value sent', 'HPA desired', 'active']];
  for (const v of views) {
    if (v.value === undefined) {
      rows.push([`  ${v.trigger.metric}`, String(v.trigger.target), '-', '-', v.error ?? 'no answer']);
    } else {
      rows.push([`  ${v.trigger.metric}`, String(v.trigger.target), formatValue(v.value), String(v.desired), v.active === undefined ? '?' : v.active ? 'yes' : 'no']);
    }
  }
  lines.push(...table(rows, new Set([1, 2, 3])));
  const answered = views.filter((v) => v.desired !== undefined);
  if (answered.length === views.length && answered.length > 0) {
    const max = Math.max(...answered.map((v) => v.desired ?? 0));
    const anyActive = views.some((v) => v.active === true);
    const all = views.length === 3 ? 'all three' : `all ${views.length}`;
    lines.push(
      anyActive
        ? `  -> ${all} on one ScaledObject: HPA takes the largest, ${Math.max(1, max)} replica(s)`
        : '  -> every trigger inactive: KEDA scales to minReplicaCount (0 allowed)',
    );
  }
  return `${lines.join('\n')}\n`;
}

const loadRow = (options: DemoOptions): readonly [string, string] => [
  'load',
  `rises and falls between 0.05 and 1.1 every ${options.periodMs / 1000}s; collected every ${options.intervalMs / 1000}s`,
];

/** The vLLM demo's banner rows and explanations (also the default when no backend is given). */
function vllmBanner(options: DemoOptions, workers: readonly DemoWorker[]): Omit<DemoBackend, 'workers' | 'pool' | 'close'> {
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

export function formatBanner(
  options: DemoOptions,
  scaler: { grpcPort: number; httpPort: number },
  workers: readonly DemoWorker[],
  backend: Omit<DemoBackend, 'workers' | 'pool' | 'close'> = vllmBanner(options, workers),
): string {
  const host = shownHost(options.host);
  const grpcAddress = `${host}:${scaler.grpcPort}`;
  const httpAddress = `http://${host}:${scaler.httpPort}`;
  const first = backend.triggers[0] as DemoTrigger;
  const metadata = { pool: DEMO_POOL, metric: first.metric, target: String(first.target) };
  const request = JSON.stringify({
    scaledObjectRef: { name: 'demo', namespace: 'default', scalerMetadata: metadata },
    metricName: `${DEMO_POOL}-${first.metric}`,
  });
  const self = selfCommand();
  const row = (label: string, text: string) => `  ${label.padEnd(28)} ${text}`;
  const lines = [
    `keda-llm-scaler demo: the real scaler + ${backend.what}, pool '${DEMO_POOL}', no external services`,
    '',
    row('gRPC (KEDA external scaler)', grpcAddress),
    row('HTTP (ops)', `${httpAddress}  (/healthz /readyz /metrics /api/v1/pools/${DEMO_POOL})`),
    ...backend.rows.map(([label, text]) => row(label, text)),
    '',
    'Try, in another terminal:',
    `  ${self} probe ${grpcAddress} pool=${DEMO_POOL} metric=${first.metric} target=${first.target}`,
    ...backend.tryLines.map((line) => `  ${line.replaceAll('{self}', self).replaceAll('{grpc}', grpcAddress).replaceAll('{http}', httpAddress)}`),
    `  grpcurl -plaintext -d '${request}' ${grpcAddress} externalscaler.ExternalScaler/GetMetrics`,
    `  grpcurl -plaintext ${grpcAddress} grpc.health.v1.Health/Check`,
    `  curl -s ${httpAddress}/api/v1/pools/${DEMO_POOL}`,
    '',
    `Every table: what KEDA gets over gRPC (GetMetricSpec -> GetMetrics -> IsActive) for ${backend.triggers.length === 3 ? 'three' : backend.triggers.length} triggers.`,
    ...backend.explain,
    options.durationMs === undefined ? 'Ctrl-C stops.' : `Stops after ${options.durationMs / 1000}s.`,
    '',
  ];
  return `${lines.join('\n')}\n`;
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
async function startDynamoBackend(options: DemoOptions, transport: DynamoTransport, why?: string): Promise<DemoBackend> {
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
        `{self} probe {grpc} component=${DYNAMO_COMPONENT} metric=load_avg threshold=${Math.round(0.7 * DYNAMO_DEMO_BLOCKS)}   (metrics-keda style keys)`,
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

function startBackend(options: DemoOptions): Promise<DemoBackend> {
  if (options.source !== 'dynamo') return startVllmBackend(options);
  if (options.transport === 'http') return startDynamoBackend(options, 'http', 'chosen with --transport http');
  if (options.transport === 'nats' || findOnPath('nats-server') !== undefined) return startDynamoBackend(options, 'nats');
  return startDynamoBackend(options, 'http', 'nats-server is not on PATH');
}

function demoLogger(level: string): Logger {
  // Logs go to stderr so the tables on stdout stay readable.
  return pino({ level, base: { service: 'keda-llm-scaler' }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination(2));
}

/** Runs the demo until `durationMs` passes or SIGINT/SIGTERM arrives. */
export async function runDemo(options: DemoOptions, write: (text: string) => void = (t) => void process.stdout.write(t)): Promise<void> {
  const log = demoLogger(options.logLevel);
  const startScaler = (pool: Record<string, unknown>) =>
    Scaler.start(
      validateConfig({
        grpc: { host: options.host, port: options.port },
        http: { host: options.host, port: options.httpPort },
        checkInterval: `${options.intervalMs}ms`,
        cacheTtl: `${Math.max(5000, 5 * options.intervalMs)}ms`,
        logLevel: options.logLevel,
        pools: [pool],
      }),
      { log },
    );
  let backend: DemoBackend | undefined;
  let scaler: Scaler | undefined;
  try {
    backend = await startBackend(options);
    try {
      scaler = await startScaler(backend.pool);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      // With auto, a scaler that cannot read Dynamo over NATS falls back to the system port.
      if (backend.transport !== 'nats' || options.transport !== 'auto' || /listen|EADDRINUSE/i.test(message)) throw error;
      await backend.close();
      backend = undefined;
      process.stderr.write(`keda-llm-scaler demo: the dynamo-nats pool did not start (${message}); using the HTTP system port instead\n`);
      backend = await startDynamoBackend(options, 'http', `the dynamo-nats pool did not start: ${message}`);
      scaler = await startScaler(backend.pool);
    }
  } catch (error) {
    await backend?.close();
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`keda-llm-scaler demo: ${message}\n`);
    if (/listen|EADDRINUSE/i.test(message)) process.stderr.write('  choose other ports with --port/--http-port (0 = any free port)\n');
    process.exitCode = 1;
    return;
  }
  const running = scaler;
  const { workers, triggers } = backend;

  const started = Date.now();
  const elapsed = () => Date.now() - started;
  // Workers start at different points of the wave, so the fleet is never perfectly uniform.
  const phases = workers.map((_, i) => (i * Math.PI) / (2 * Math.max(1, workers.length)));
  let lastStep = started;
  const step = () => {
    const now = Date.now();
    const t = (now - started) / 1000;
    workers.forEach((w, i) => {
      w.setLoad(loadPattern(t, phases[i] ?? 0, options.periodMs / 1000));
      w.tick?.((now - lastStep) / 1000);
    });
    lastStep = now;
  };
  step();
  const stepper = setInterval(step, Math.min(options.intervalMs, 1000));

  write(formatBanner(options, running, workers, backend));

  const probeAddress = `${shownHost(options.host)}:${running.grpcPort}`;
  let printer: NodeJS.Timeout | undefined;
  let printing: Promise<void> = Promise.resolve();
  let stopping = false;
  const print = async () => {
    const results = await Promise.all(
      triggers.map((t) => probe(probeAddress, { pool: DEMO_POOL, metric: t.metric, target: String(t.target) }, 2000)),
    );
    if (stopping) return;
    write(`${formatReport(elapsed(), workers, triggers.map((t, i) => viewOf(t, results[i] as ProbeResult)))}\n`);
  };
  const schedule = () => {
    printer = setTimeout(() => {
      printing = print().catch((error: unknown) => {
        process.stderr.write(`keda-llm-scaler demo: probe failed: ${error instanceof Error ? error.message : String(error)}\n`);
      });
      void printing.then(() => {
        if (!stopping) schedule();
      });
    }, options.printEveryMs);
  };
  schedule();

  await new Promise<void>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = (why: string) => {
      if (stopping) return;
      stopping = true;
      clearTimeout(timer);
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      process.once('SIGINT', () => process.exit(130)); // a second Ctrl-C does not wait
      write(`stopping (${why}) ...\n`);
      resolve();
    };
    const onInt = () => finish('SIGINT');
    const onTerm = () => finish('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    const limit = options.durationMs;
    if (limit !== undefined) timer = setTimeout(() => finish(`--duration ${limit / 1000}s`), limit);
  });

  clearTimeout(printer);
  clearInterval(stepper);
  await printing;
  await running.stop(2000);
  await backend.close();
  write(`demo stopped after ${(elapsed() / 1000).toFixed(1)}s\n`);
  // Everything is closed; should a library keep a handle open, do not hang on it.
  setTimeout(() => process.exit(process.exitCode ?? 0), 2000).unref();
}
