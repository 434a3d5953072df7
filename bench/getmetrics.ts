/**
 * GetMetrics throughput and latency with 1,000 simulated ScaledObjects, against a do-nothing
 * grpc-js ExternalScaler measured the same way in the same run (SPEC §8).
 *
 * The server under test (the real Scaler, one vLLM pool whose workers are local HTTP servers
 * serving the fixture) and the baseline each run in a child process; this process is the load
 * generator, identical for both. Each ScaledObject has its own trigger metadata (distinct
 * `metricName`); KEDA's GetMetricSpec is called once per ScaledObject first, then GetMetrics with
 * the returned name, over one HTTP/2 connection (KEDA shares one connection per scaler address):
 *
 *   1. closed loop: `concurrency` calls always in flight for `duration` seconds after a warm-up,
 *      driven (a) by a raw HTTP/2 caller (h2-client.ts: cheap enough that the server is the
 *      bottleneck, so the throughput ratio is meaningful) and (b) by grpc-js's own client (the
 *      brief's KEDA-like client; on two cores it is the bottleneck, costing ~2× the server);
 *   2. paced (open loop): `rate` calls/s spread over the ScaledObjects, with both callers — the
 *      latency a call sees when the server is not saturated (1,000 ScaledObjects polled every
 *      second is 30× KEDA's default 30 s polling interval).
 *
 * Phases run in `rounds` alternating baseline/scaler rounds so drift in machine load hits both.
 *
 * Run alone: node dist-bench/bench/getmetrics.js [--metric queue_depth] [--meta key=value ...]
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { request } from 'undici';
import { ChildHandle } from './child-handle.js';
import { grpcFrame, RawGrpcClient } from './h2-client.js';
import type { ChildWindow } from './child.js';
import { distribution, ensureBenchProto, fmt, isMain, machineBusySeconds, machineInfo, ms, otherLoadCores, Samples, table, type Distribution } from './common.js';
import { externalScalerClientConstructor, externalScalerService } from '../src/grpc/proto.js';
import type { GetMetricSpecResponse, GetMetricsResponse, ScaledObjectRef } from '../src/grpc/messages.js';
import { parsePrometheusText } from '../src/sources/http/prometheus-text.js';

export interface GetMetricsOptions {
  metric: string;
  /** Extra trigger metadata for every ScaledObject (e.g. quantile, window). */
  meta: Record<string, string>;
  target: string;
  objects: number;
  concurrency: number;
  warmupS: number;
  durationS: number;
  rate: number;
  pacedS: number;
  workers: number;
  /** Alternating baseline/scaler rounds, so drift in machine load hits both alike. */
  rounds: number;
}

export const DEFAULT_GETMETRICS_OPTIONS: GetMetricsOptions = {
  metric: 'queue_depth',
  meta: {},
  target: '5',
  objects: 1000,
  concurrency: 1000,
  warmupS: 2,
  durationS: 5,
  rate: 1000,
  pacedS: 4,
  workers: 4,
  rounds: 2,
};

export interface PhaseResult {
  seconds: number;
  calls: number;
  callsPerS: number;
  /** Client-side latency in ms (includes the client's own grpc-js work). */
  latencyMs: Distribution;
  errors: Record<string, number>;
  server: ChildWindow & { cpuUsPerCall: number };
  /** CPU of the load generator (this process) during the window. */
  clientCpuUs: number;
  clientCpuUsPerCall: number;
  /** CPU used by other processes on the machine during the window, in cores (Linux only). */
  otherLoadCores: number;
  /** Estimated from the scaler's own /metrics histogram (bucketed), in µs (scaler only). */
  promHandlerUs?: { count: number; p50: number; p99: number };
}

export interface ServerResult {
  name: 'scaler' | 'baseline';
  /** All rounds together. */
  closed: PhaseResult;
  /** Closed loop driven by the raw HTTP/2 caller (server-bound). */
  closedH2: PhaseResult;
  paced: PhaseResult;
  /** Paced, driven by the raw HTTP/2 caller (closer to KEDA's light Go client). */
  pacedH2: PhaseResult;
  closedRounds: PhaseResult[];
  closedH2Rounds: PhaseResult[];
  pacedRounds: PhaseResult[];
  pacedH2Rounds: PhaseResult[];
  /** Codes seen when first calling GetMetrics once per ScaledObject. */
  firstCall: Record<string, number>;
}

export interface GetMetricsResult {
  options: GetMetricsOptions;
  machine: ReturnType<typeof machineInfo>;
  scaler: ServerResult;
  baseline: ServerResult;
  /** Scaler/baseline closed-loop throughput with grpc-js's client (client-bound on 2 cores). */
  throughputRatio: number;
  /** Scaler/baseline closed-loop throughput with the raw HTTP/2 caller (server-bound). */
  throughputRatioH2: number;
  /** Scaler/baseline closed-loop throughput of each round. */
  roundRatios: number[];
  roundRatiosH2: number[];
  cpuPerCallRatio: number;
}

type Callback<Res> = (error: grpc.ServiceError | null, response?: Res) => void;
interface BenchClient extends grpc.Client {
  GetMetricSpec(request: ScaledObjectRef, callback: Callback<GetMetricSpecResponse>): grpc.ClientUnaryCall;
  GetMetrics(request: { scaledObjectRef: ScaledObjectRef; metricName: string }, callback: Callback<GetMetricsResponse>): grpc.ClientUnaryCall;
}

function codeName(error: grpc.ServiceError | null): string {
  return error ? (grpc.status[error.code] ?? String(error.code)) : 'OK';
}

function refs(options: GetMetricsOptions): ScaledObjectRef[] {
  return Array.from({ length: options.objects }, (_, i) => ({
    name: `bench-so-${i}`,
    namespace: 'bench',
    // Distinct per ScaledObject, as KEDA forwards each trigger's own metadata (scalerAddress included).
    scalerMetadata: {
      scalerAddress: 'keda-llm-scaler.keda.svc:9090',
      pool: 'bench',
      metric: options.metric,
      target: options.target,
      metricName: `bench-so-${String(i).padStart(4, '0')}`,
      ...options.meta,
    },
  }));
}

/** Runs `fn` for `count` items with at most `limit` in flight. */
async function forEachLimited(count: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, count) }, async () => {
      while (next < count) await fn(next++);
    }),
  );
}

interface HistogramState {
  bounds: number[];
  counts: number[];
  count: number;
}

async function scrapeHandlerHistogram(httpPort: number): Promise<HistogramState | undefined> {
  const { body } = await request(`http://127.0.0.1:${httpPort}/metrics`);
  const parsed = parsePrometheusText(await body.text(), new Set(['keda_llm_scaler_grpc_request_duration_seconds_bucket', 'keda_llm_scaler_grpc_request_duration_seconds_count']));
  const buckets = (parsed.series.get('keda_llm_scaler_grpc_request_duration_seconds_bucket') ?? []).filter((s) => s.labels['method'] === 'GetMetrics');
  const count = parsed.series.get('keda_llm_scaler_grpc_request_duration_seconds_count')?.find((s) => s.labels['method'] === 'GetMetrics')?.value;
  if (buckets.length === 0 || count === undefined) return undefined;
  const pairs = buckets.map((s) => [Number(s.labels['le'] === '+Inf' ? Infinity : s.labels['le']), s.value] as const).sort((a, b) => a[0] - b[0]);
  return { bounds: pairs.map((p) => p[0]), counts: pairs.map((p) => p[1]), count };
}

/** histogram_quantile over the delta of two cumulative histograms; µs. */
function quantileOfDelta(before: HistogramState, after: HistogramState, q: number): number {
  const counts = after.counts.map((c, i) => c - (before.counts[i] ?? 0));
  const total = counts[counts.length - 1] ?? 0;
  if (total <= 0) return NaN;
  const rank = q * total;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i] as number;
    if (c >= rank) {
      const upper = after.bounds[i] as number;
      const lower = i === 0 ? 0 : (after.bounds[i - 1] as number);
      if (!Number.isFinite(upper)) return lower * 1e6;
      const below = i === 0 ? 0 : (counts[i - 1] as number);
      return (lower + ((upper - lower) * (rank - below)) / Math.max(1, c - below)) * 1e6;
    }
  }
  return NaN;
}

interface Target {
  name: 'scaler' | 'baseline';
  child: ChildHandle;
  client: BenchClient;
  raw: RawGrpcClient;
  requests: { scaledObjectRef: ScaledObjectRef; metricName: string }[];
  /** The same requests encoded once, for the raw HTTP/2 caller. */
  frames: Buffer[];
  firstCall: Record<string, number>;
}

const GET_METRICS_PATH = '/externalscaler.ExternalScaler/GetMetrics';

/** Which load generator drives a phase: grpc-js's client (KEDA-like) or the raw HTTP/2 caller. */
export type Via = 'grpc-js' | 'h2';

/** Starts one server in its child process, connects, and does KEDA's GetMetricSpec round. */
async function setUp(name: Target['name'], options: GetMetricsOptions, log: (line: string) => void): Promise<Target> {
  const child = await ChildHandle.start(name, ['--workers', String(options.workers)]);
  const Client = externalScalerClientConstructor();
  // One channel = one HTTP/2 connection, as KEDA keeps one connection per scaler address.
  const client = new Client(`127.0.0.1:${child.ready.grpcPort}`, grpc.credentials.createInsecure()) as unknown as BenchClient;
  try {
    await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 10_000, (error) => (error ? reject(error) : resolve())));
    const objects = refs(options);
    // KEDA asks for the spec first; GetMetrics then uses the name it returned.
    const requests: Target['requests'] = new Array(objects.length);
    await forEachLimited(objects.length, options.concurrency, (i) => {
      const ref = objects[i] as ScaledObjectRef;
      return new Promise<void>((resolve, reject) =>
        client.GetMetricSpec(ref, (error, response) => {
          const metricName = response?.metricSpecs[0]?.metricName;
          if (error || !metricName) reject(new Error(`${name}: GetMetricSpec for ${ref.name} failed: ${error?.details ?? 'no spec'}`));
          else {
            requests[i] = { scaledObjectRef: ref, metricName };
            resolve();
          }
        }),
      );
    });
    const firstCall: Record<string, number> = {};
    await forEachLimited(objects.length, options.concurrency, (i) =>
      new Promise<void>((resolve) =>
        client.GetMetrics(requests[i] as Target['requests'][number], (error) => {
          const code = codeName(error);
          firstCall[code] = (firstCall[code] ?? 0) + 1;
          resolve();
        }),
      ),
    );
    if (Object.keys(firstCall).some((code) => code !== 'OK')) {
      log(`  WARNING ${name}: the first GetMetrics per ScaledObject answered ${JSON.stringify(firstCall)}; error answers are measured too`);
    }
    const serialize = (externalScalerService()['GetMetrics'] as grpc.MethodDefinition<unknown, unknown>).requestSerialize;
    const frames = requests.map((r) => grpcFrame(serialize(r)));
    const raw = await RawGrpcClient.connect('127.0.0.1', child.ready.grpcPort as number);
    return { name, child, client, raw, requests, frames, firstCall };
  } catch (error) {
    client.close();
    await child.stop();
    throw error;
  }
}

async function tearDown(target: Target): Promise<void> {
  target.client.close();
  await target.raw.close();
  await target.child.stop();
}

interface PhaseRun {
  result: PhaseResult;
  latency: Float64Array;
}

async function runPhase(target: Target, kind: 'closed' | 'paced', via: Via, options: GetMetricsOptions): Promise<PhaseRun> {
  const { client, raw, requests, frames, child, name } = target;
  const latency = new Samples(1 << 20);
  const errors: Record<string, number> = {};
  let recording = false;
  let running = true;
  let calls = 0;
  let inFlight = 0;
  let drained: (() => void) | undefined;
  const completed = (i: number, again: boolean, started: number, code: string) => {
    const took = performance.now() - started;
    inFlight--;
    if (recording) {
      latency.push(took);
      calls++;
      if (code !== 'OK') errors[code] = (errors[code] ?? 0) + 1;
    }
    if (again && running) fire(i, true);
    else if (!running && inFlight === 0) drained?.();
  };
  const fire =
    via === 'grpc-js'
      ? (i: number, again: boolean) => {
          const started = performance.now();
          inFlight++;
          client.GetMetrics(requests[i] as Target['requests'][number], (error) => completed(i, again, started, codeName(error)));
        }
      : (i: number, again: boolean) => {
          const started = performance.now();
          inFlight++;
          raw.unary(GET_METRICS_PATH, frames[i] as Buffer, (code) => completed(i, again, started, code === 0 ? 'OK' : (grpc.status[code] ?? `status ${code}`)));
        };

  let pacer: NodeJS.Timeout | undefined;
  const warmupS = kind === 'closed' ? options.warmupS : 1;
  const seconds = kind === 'closed' ? options.durationS : options.pacedS;
  if (kind === 'closed') {
    for (let i = 0; i < options.concurrency; i++) fire(i % requests.length, true);
  } else {
    // Open loop: the schedule never waits for answers. Latency is taken from the moment a call
    // is issued, so the pacer's own timer lateness is not charged to the server.
    const interval = 1000 / options.rate;
    let next = performance.now();
    let i = 0;
    const tick = () => {
      const now = performance.now();
      while (next <= now && running) {
        fire(i++ % requests.length, false);
        next += interval;
      }
      if (running) pacer = setTimeout(tick, 1);
    };
    tick();
  }
  await sleep(warmupS * 1000);
  const httpPort = name === 'scaler' ? child.ready.httpPort : undefined;
  const before = httpPort ? await scrapeHandlerHistogram(httpPort) : undefined;
  await child.begin();
  const busyBefore = machineBusySeconds();
  const cpuBefore = process.cpuUsage();
  recording = true;
  const started = performance.now();
  await sleep(seconds * 1000);
  recording = false;
  const elapsed = (performance.now() - started) / 1000;
  const clientCpu = process.cpuUsage(cpuBefore);
  const busyAfter = machineBusySeconds();
  const window = await child.end();
  const after = httpPort ? await scrapeHandlerHistogram(httpPort) : undefined;
  running = false;
  clearTimeout(pacer);
  if (inFlight > 0) await new Promise<void>((resolve) => (drained = resolve));
  const serverCpuUs = window.cpuUserUs + window.cpuSystemUs;
  const clientCpuUs = clientCpu.user + clientCpu.system;
  const result: PhaseResult = {
    seconds: elapsed,
    calls,
    callsPerS: calls / elapsed,
    latencyMs: distribution(latency),
    errors,
    server: { ...window, cpuUsPerCall: calls > 0 ? serverCpuUs / calls : NaN },
    clientCpuUs,
    clientCpuUsPerCall: calls > 0 ? clientCpuUs / calls : NaN,
    otherLoadCores: otherLoadCores(busyBefore, busyAfter, (serverCpuUs + clientCpuUs) / 1e6, elapsed),
  };
  if (before && after) {
    result.promHandlerUs = { count: after.count - before.count, p50: quantileOfDelta(before, after, 0.5), p99: quantileOfDelta(before, after, 0.99) };
  }
  return { result, latency: latency.values() };
}

/** Several rounds of one phase as one result: totals, pooled latencies, pooled handler times. */
function combine(runs: readonly PhaseRun[]): PhaseResult {
  const first = runs[0] as PhaseRun;
  if (runs.length === 1) return first.result;
  const total = (f: (r: PhaseResult) => number) => runs.reduce((a, r) => a + f(r.result), 0);
  const seconds = total((r) => r.seconds);
  const calls = total((r) => r.calls);
  const pooled = new Float64Array(runs.reduce((n, r) => n + r.latency.length, 0));
  let at = 0;
  for (const r of runs) {
    pooled.set(r.latency, at);
    at += r.latency.length;
  }
  const errors: Record<string, number> = {};
  for (const r of runs) for (const [k, v] of Object.entries(r.result.errors)) errors[k] = (errors[k] ?? 0) + v;
  const serverCpuUs = total((r) => r.server.cpuUserUs + r.server.cpuSystemUs);
  const handlers = runs.map((r) => r.result.server.handlerUs).filter((h): h is Distribution => h !== undefined);
  const weighted = (f: (r: PhaseResult) => number) => total((r) => f(r) * r.seconds) / seconds;
  const server: PhaseResult['server'] = {
    cpuUserUs: total((r) => r.server.cpuUserUs),
    cpuSystemUs: total((r) => r.server.cpuSystemUs),
    wallMs: total((r) => r.server.wallMs),
    elu: weighted((r) => r.server.elu),
    rssBytes: (runs[runs.length - 1] as PhaseRun).result.server.rssBytes,
    heapUsedBytes: (runs[runs.length - 1] as PhaseRun).result.server.heapUsedBytes,
    cpuUsPerCall: serverCpuUs / calls,
  };
  if (handlers.length > 0) {
    // Percentiles cannot be pooled exactly from summaries: report the worst round's, the conservative choice.
    server.handlerUs = {
      count: handlers.reduce((n, h) => n + h.count, 0),
      mean: handlers.reduce((n, h) => n + h.mean * h.count, 0) / Math.max(1, handlers.reduce((n, h) => n + h.count, 0)),
      p50: Math.max(...handlers.map((h) => h.p50)),
      p90: Math.max(...handlers.map((h) => h.p90)),
      p99: Math.max(...handlers.map((h) => h.p99)),
      max: Math.max(...handlers.map((h) => h.max)),
    };
  }
  const proms = runs.map((r) => r.result.promHandlerUs).filter((p) => p !== undefined);
  return {
    seconds,
    calls,
    callsPerS: calls / seconds,
    latencyMs: distribution(pooled),
    errors,
    server,
    clientCpuUs: total((r) => r.clientCpuUs),
    clientCpuUsPerCall: total((r) => r.clientCpuUs) / calls,
    otherLoadCores: weighted((r) => r.otherLoadCores),
    ...(proms.length > 0
      ? { promHandlerUs: { count: proms.reduce((n, p) => n + p.count, 0), p50: Math.max(...proms.map((p) => p.p50)), p99: Math.max(...proms.map((p) => p.p99)) } }
      : {}),
  };
}

function sleep(msDelay: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, msDelay));
}

export async function runGetMetricsBench(options: GetMetricsOptions, log: (line: string) => void = console.log): Promise<GetMetricsResult> {
  ensureBenchProto();
  log(
    `GetMetrics benchmark: ${options.objects} ScaledObjects (metric=${options.metric}${Object.keys(options.meta).length ? ', ' + JSON.stringify(options.meta) : ''}), ` +
      `pool of ${options.workers} fixture workers, ${options.rounds} alternating rounds`,
  );
  const targets: Target[] = [];
  try {
    const baseline = await setUp('baseline', options, log);
    targets.push(baseline);
    const scaler = await setUp('scaler', options, log);
    targets.push(scaler);
    const empty = () => ({ closed: [] as PhaseRun[], closedH2: [] as PhaseRun[], paced: [] as PhaseRun[], pacedH2: [] as PhaseRun[] });
    const runs = { baseline: empty(), scaler: empty() };
    const phases = [
      { key: 'closedH2', kind: 'closed', via: 'h2', what: `closed loop, raw HTTP/2 caller, ${options.concurrency} in flight, ${options.warmupS} s warm-up + ${options.durationS} s` },
      { key: 'closed', kind: 'closed', via: 'grpc-js', what: `closed loop, grpc-js client, ${options.concurrency} in flight, ${options.warmupS} s warm-up + ${options.durationS} s` },
      { key: 'pacedH2', kind: 'paced', via: 'h2', what: `paced ${options.rate} calls/s, raw HTTP/2 caller, 1 s warm-up + ${options.pacedS} s` },
      { key: 'paced', kind: 'paced', via: 'grpc-js', what: `paced ${options.rate} calls/s, grpc-js client, 1 s warm-up + ${options.pacedS} s` },
    ] as const;
    for (const { key, kind, via, what } of phases) {
      for (let round = 1; round <= options.rounds; round++) {
        // Alternate which server goes first, so a trend in machine load does not favour one.
        const order = round % 2 === 1 ? [baseline, scaler] : [scaler, baseline];
        for (const target of order) {
          const run = await runPhase(target, kind, via, options);
          runs[target.name][key].push(run);
          const r = run.result;
          log(`  round ${round} ${target.name.padEnd(8)} ${what}: ${fmt(r.callsPerS, 0)} calls/s, p50 ${ms(r.latencyMs.p50)}, p99 ${ms(r.latencyMs.p99)}, other load ${fmt(r.otherLoadCores, 2)} cores`);
        }
      }
    }
    const serverResult = (t: Target): ServerResult => ({
      name: t.name,
      closed: combine(runs[t.name].closed),
      closedH2: combine(runs[t.name].closedH2),
      paced: combine(runs[t.name].paced),
      pacedH2: combine(runs[t.name].pacedH2),
      closedRounds: runs[t.name].closed.map((r) => r.result),
      closedH2Rounds: runs[t.name].closedH2.map((r) => r.result),
      pacedRounds: runs[t.name].paced.map((r) => r.result),
      pacedH2Rounds: runs[t.name].pacedH2.map((r) => r.result),
      firstCall: t.firstCall,
    });
    const s = serverResult(scaler);
    const b = serverResult(baseline);
    const result: GetMetricsResult = {
      options,
      machine: machineInfo(),
      scaler: s,
      baseline: b,
      throughputRatio: s.closed.callsPerS / b.closed.callsPerS,
      throughputRatioH2: s.closedH2.callsPerS / b.closedH2.callsPerS,
      roundRatios: s.closedRounds.map((r, i) => r.callsPerS / (b.closedRounds[i]?.callsPerS ?? NaN)),
      roundRatiosH2: s.closedH2Rounds.map((r, i) => r.callsPerS / (b.closedH2Rounds[i]?.callsPerS ?? NaN)),
      cpuPerCallRatio: s.closedH2.server.cpuUsPerCall / b.closedH2.server.cpuUsPerCall,
    };
    log('');
    log(formatGetMetrics(result));
    return result;
  } finally {
    await Promise.all(targets.map(tearDown));
  }
}

/** The worst GetMetrics handler p99 (µs) over every phase. */
export function worstHandlerP99Us(s: ServerResult): number {
  return Math.max(...[s.closedH2, s.closed, s.pacedH2, s.paced].map((p) => p.server.handlerUs?.p99 ?? NaN));
}

function errorsText(errors: Record<string, number>): string {
  const entries = Object.entries(errors);
  return entries.length === 0 ? '0' : entries.map(([k, v]) => `${k}:${v}`).join(' ');
}

export function formatGetMetrics(r: GetMetricsResult): string {
  const row = (label: string, p: PhaseResult) => [
    label,
    fmt(p.callsPerS, 0),
    ms(p.latencyMs.p50),
    ms(p.latencyMs.p99),
    ms(p.latencyMs.max),
    fmt(p.server.cpuUsPerCall, 1),
    fmt(p.server.elu * 100, 0) + ' %',
    p.server.handlerUs ? `${fmt(p.server.handlerUs.p50, 1)} / ${fmt(p.server.handlerUs.p99, 1)}` : '-',
    fmt(p.clientCpuUsPerCall, 1),
    fmt(p.otherLoadCores, 2),
    errorsText(p.errors),
  ];
  const header = ['server / phase', 'calls/s', 'p50', 'p99', 'max', 'srv CPU µs/call', 'srv ELU', 'handler p50/p99 µs', 'client CPU µs/call', 'other load', 'errors'];
  const n = r.options.concurrency;
  const lines = [
    table(header, [
      row(`baseline closed, raw h2 (${n} in flight)`, r.baseline.closedH2),
      row(`scaler   closed, raw h2 (${n} in flight)`, r.scaler.closedH2),
      row(`baseline closed, grpc-js (${n} in flight)`, r.baseline.closed),
      row(`scaler   closed, grpc-js (${n} in flight)`, r.scaler.closed),
      row(`baseline paced, raw h2 (${r.options.rate}/s)`, r.baseline.pacedH2),
      row(`scaler   paced, raw h2 (${r.options.rate}/s)`, r.scaler.pacedH2),
      row(`baseline paced, grpc-js (${r.options.rate}/s)`, r.baseline.paced),
      row(`scaler   paced, grpc-js (${r.options.rate}/s)`, r.scaler.paced),
    ]),
    '(latencies client-side; srv = the server child process; other load = CPU cores used by other processes on the machine meanwhile)',
    '',
  ];
  const prom = r.scaler.closedH2.promHandlerUs;
  if (prom) {
    lines.push(
      `scaler /metrics keda_llm_scaler_grpc_request_duration_seconds{method="GetMetrics"} (bucket estimate, closed loop raw h2): ` +
        `${prom.count} calls, p50 ≈ ${fmt(prom.p50, 0)} µs, p99 ≈ ${fmt(prom.p99, 0)} µs`,
    );
  }
  const pass = (ok: boolean) => (ok ? 'PASS' : 'FAIL');
  const pacedP99 = r.scaler.pacedH2.latencyMs.p99;
  const handlerP99Ms = worstHandlerP99Us(r.scaler) / 1000;
  const rounds = (xs: number[]) => xs.map((x) => fmt(x, 3)).join(', ');
  lines.push(
    `throughput ratio scaler/baseline, server-bound (raw h2): ${fmt(r.throughputRatioH2, 3)} (rounds: ${rounds(r.roundRatiosH2)})  budget ≥ 0.8  ${pass(r.throughputRatioH2 >= 0.8)}`,
    `throughput ratio scaler/baseline, grpc-js client:        ${fmt(r.throughputRatio, 3)} (rounds: ${rounds(r.roundRatios)})  budget ≥ 0.8  ${pass(r.throughputRatio >= 0.8)}  (client-bound: see client CPU/call)`,
    `server CPU per call scaler/baseline (raw h2): ${fmt(r.cpuPerCallRatio, 2)}× (${fmt(r.scaler.closedH2.server.cpuUsPerCall, 1)} vs ${fmt(r.baseline.closedH2.server.cpuUsPerCall, 1)} µs)`,
    `p99 server handler (worst phase): ${ms(handlerP99Ms)}  budget < 1 ms  ${pass(handlerP99Ms < 1)}`,
    `p99 client-side, paced ${r.options.rate}/s, raw h2: scaler ${ms(pacedP99)}, baseline ${ms(r.baseline.pacedH2.latencyMs.p99)}  budget < 1 ms  ${pass(pacedP99 < 1)}  (includes the client, loopback and scheduling)`,
    `p99 client-side, paced ${r.options.rate}/s, grpc-js: scaler ${ms(r.scaler.paced.latencyMs.p99)}, baseline ${ms(r.baseline.paced.latencyMs.p99)}`,
    `p99 client-side, closed loop ${n} in flight: ${ms(r.scaler.closedH2.latencyMs.p99)} raw h2, ${ms(r.scaler.closed.latencyMs.p99)} grpc-js  (queueing: ≈ in-flight ÷ throughput, Little's law)`,
  );
  return lines.join('\n');
}

export function parseGetMetricsArgs(argv: readonly string[]): GetMetricsOptions {
  const { values } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: false,
    options: {
      metric: { type: 'string' },
      meta: { type: 'string', multiple: true },
      target: { type: 'string' },
      objects: { type: 'string' },
      concurrency: { type: 'string' },
      warmup: { type: 'string' },
      duration: { type: 'string' },
      rate: { type: 'string' },
      paced: { type: 'string' },
      workers: { type: 'string' },
      rounds: { type: 'string' },
    },
  });
  const d = DEFAULT_GETMETRICS_OPTIONS;
  const num = (v: unknown, fallback: number) => (typeof v === 'string' && Number.isFinite(Number(v)) ? Number(v) : fallback);
  const meta: Record<string, string> = {};
  for (const pair of (values.meta as string[] | undefined) ?? []) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new Error(`--meta '${pair}' is not key=value`);
    meta[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return {
    metric: typeof values.metric === 'string' ? values.metric : d.metric,
    meta,
    target: typeof values.target === 'string' ? values.target : d.target,
    objects: num(values.objects, d.objects),
    concurrency: num(values.concurrency, d.concurrency),
    warmupS: num(values.warmup, d.warmupS),
    durationS: num(values.duration, d.durationS),
    rate: num(values.rate, d.rate),
    pacedS: num(values.paced, d.pacedS),
    workers: num(values.workers, d.workers),
    rounds: Math.max(1, num(values.rounds, d.rounds)),
  };
}

if (isMain(import.meta.url)) {
  runGetMetricsBench(parseGetMetricsArgs(process.argv.slice(2))).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
