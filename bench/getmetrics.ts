/**
 * GetMetrics throughput and latency with 1,000 simulated ScaledObjects, against a do-nothing
 * grpc-js ExternalScaler measured the same way in the same run (the budgets in docs/benchmarks.md), for one or several
 * signals (`--metrics queue_depth,ttft,desired_replicas`): each signal gets its own scaler child
 * with its own 1,000 ScaledObjects, all reading the same workers, and every signal after the
 * first is also compared with the first (the issue's "within 20 % of queue_depth").
 *
 * Each server (the real Scaler with one vLLM pool, and the baseline) runs in a child process;
 * this process is the load generator, identical for all. Workers are static copies of the vLLM
 * fixture inside each scaler child, or — when a windowed signal such as `ttft` is measured, whose
 * value needs histograms that grow between scrapes — SimulatedVllmWorkers (src/cli/demo) ticking
 * in a child of their own. Each ScaledObject has its own trigger metadata (distinct `metricName`;
 * `ttft` with `window`/`quantile`, `desired_replicas` with `policy: saturation` and target 1);
 * KEDA's GetMetricSpec is called once per ScaledObject first, then GetMetrics with the returned
 * name, over one HTTP/2 connection (KEDA shares one connection per scaler address):
 *
 *   1. closed loop: `concurrency` calls always in flight for `duration` seconds after a warm-up,
 *      driven (a) by a raw HTTP/2 caller (h2-client.ts: cheap enough that the server is the
 *      bottleneck, so the throughput ratio is meaningful) and (b) by grpc-js's own client (the
 *      brief's KEDA-like client; on two cores it is the bottleneck, costing ~2× the server);
 *   2. paced (open loop): `rate` calls/s spread over the ScaledObjects, with both callers — the
 *      latency a call sees when the server is not saturated (1,000 ScaledObjects polled every
 *      second is 30× KEDA's default 30 s polling interval).
 *
 * Phases run in `rounds` rounds over all servers, odd rounds forward and even rounds backward,
 * so drift in machine load hits each alike. Each scaler's value is read before and after.
 *
 * Run alone: node dist-bench/bench/getmetrics.js [--metric queue_depth | --metrics queue_depth,ttft,desired_replicas]
 *            [--meta key=value ...] [--target N] [--workers-from auto|fixture|simulated]
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { request } from 'undici';
import { ChildHandle } from './child-handle.js';
import { grpcFrame, RawGrpcClient } from './h2-client.js';
import type { ChildWindow } from './child.js';
import {
  distribution,
  ensureBenchProto,
  fixturePath,
  fmt,
  isMain,
  machineBusySeconds,
  machineInfo,
  ms,
  otherLoadCores,
  Samples,
  table,
  type Distribution,
} from './common.js';
import { externalScalerClientConstructor, externalScalerService } from '../src/grpc/proto.js';
import type { GetMetricSpecResponse, GetMetricsResponse, ScaledObjectRef } from '../src/grpc/messages.js';
import { parsePrometheusText } from '../src/sources/http/prometheus-text.js';
import { WINDOWED_SIGNALS } from '../src/signals/windowed/signals.js';

export type WorkersFrom = 'auto' | 'fixture' | 'simulated';

export interface GetMetricsOptions {
  /**
   * Signals measured, each by its own scaler child with its own 1,000 ScaledObjects, in the same
   * alternating rounds as the baseline. The first is the reference the others are compared with.
   */
  metrics: string[];
  /** Overrides every measured signal's default `target` (see DEFAULT_TRIGGER_METADATA). */
  target?: string;
  /** Extra trigger metadata for every ScaledObject (e.g. quantile, window), over the defaults. */
  meta: Record<string, string>;
  objects: number;
  concurrency: number;
  warmupS: number;
  durationS: number;
  rate: number;
  pacedS: number;
  workers: number;
  /** Alternating rounds over all servers, so drift in machine load hits each alike. */
  rounds: number;
  /**
   * `fixture`: static copies of the vLLM fixture inside each scaler child (counters and histograms
   * never move, so windowed signals have no data); `simulated`: SimulatedVllmWorkers in a child of
   * their own, ticking so histograms grow; `auto`: simulated when a windowed signal is measured.
   */
  workersFrom: WorkersFrom;
  /** Simulated workers: tick period and per-worker loads (cycled). */
  tickMs: number;
  loads: number[];
}

/**
 * Valid trigger metadata per signal, besides pool/metric/metricName. `desired_replicas` is a
 * replica count and only accepts target 1; `ttft` takes `window` and `quantile`.
 */
export const DEFAULT_TRIGGER_METADATA: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  queue_depth: { target: '5' },
  kv_cache_usage: { target: '0.7' },
  ttft: { target: '0.5', window: '60s', quantile: '0.95' },
  desired_replicas: { target: '1', policy: 'saturation' },
  // `sla` is desired_replicas with policy sla, planned every 5 s from the polynomial test profile.
  sla: { target: '1', policy: 'sla', role: 'decode', profile: 'bench', adjustmentInterval: '5s', predictor: 'constant' },
  // `signal@variant`: the same signal with other metadata, measured as a signal of its own.
  'desired_replicas@saturation-v2': { target: '1', policy: 'saturation-v2' },
  'desired_replicas@panic': { target: '1', policy: 'composite', metrics: 'queue_depth:5,kv_cache_usage:0.7', panicWindow: '6s', stableWindow: '60s' },
  // queue_depth with metadata as long as the panic composite's (KEDA's own keys, which the scaler
  // skips): what the request's size costs apart from the policy.
  'queue_depth@long-metadata': {
    target: '5',
    scalerAddress: 'keda-llm-scaler.keda.svc.cluster.local:9090',
    enableTLS: 'false',
    unsafeSsl: 'false',
    activationThreshold: '0',
  },
};

/** Bench cases that are a policy of another signal: the `metric` their triggers name (`desired_replicas@panic` is `desired_replicas`). */
const CASE_SIGNAL: Readonly<Record<string, string>> = { sla: 'desired_replicas' };
export const signalOf = (metric: string): string => CASE_SIGNAL[metric] ?? (metric.split('@')[0] as string);

/** Scaler configuration a case needs besides its pool (the sla case's profile). */
function caseConfig(metric: string): string[] {
  if (metric !== 'sla') return [];
  return ['--config', JSON.stringify({ profiles: { bench: { dir: fixturePath('profiles', 'poly') } } })];
}

export const DEFAULT_GETMETRICS_OPTIONS: GetMetricsOptions = {
  metrics: ['queue_depth'],
  meta: {},
  objects: 1000,
  concurrency: 1000,
  warmupS: 2,
  durationS: 5,
  rate: 1000,
  pacedS: 4,
  workers: 4,
  rounds: 2,
  workersFrom: 'auto',
  tickMs: 100,
  loads: [0.5, 0.6, 0.8, 0.95],
};

/** The signals `npm run bench` compares (the budget for each, and each against queue_depth). */
export const COMPARED_METRICS = ['queue_depth', 'ttft', 'desired_replicas'] as const;

/** The metadata every ScaledObject of `metric` carries (before its distinct metricName). */
export function triggerMetadata(metric: string, options: Pick<GetMetricsOptions, 'target' | 'meta'>): Record<string, string> {
  const defaults = DEFAULT_TRIGGER_METADATA[metric] ?? { target: '5' };
  return { ...defaults, ...(options.target !== undefined ? { target: options.target } : {}), ...options.meta };
}

/** Whether the workers are simulated (live histograms) or the static fixture. */
export function usesSimulatedWorkers(options: Pick<GetMetricsOptions, 'metrics' | 'workersFrom'>): boolean {
  if (options.workersFrom !== 'auto') return options.workersFrom === 'simulated';
  return options.metrics.some((m) => m === 'sla' || WINDOWED_SIGNALS.some((s) => s.name === m));
}

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

/** What a scaler answered for its signal: once ready, and after the measurements. */
export interface SignalValue {
  ok: boolean;
  /** GetMetrics' metricValueFloat (KEDA's number; AverageValue semantics). */
  value?: number;
  /** Status and message when not OK. */
  error?: string;
  /** From /api/v1/decisions for the first ScaledObject: the fleet value and how it was computed. */
  decision?: { fleetValue?: number; readyWorkers?: number; explanation?: string; details?: unknown };
}

export interface ServerResult {
  /** `baseline`, or `scaler` with the signal its ScaledObjects ask for. */
  name: 'scaler' | 'baseline';
  metric?: string;
  /** The metadata of every ScaledObject (each adds its own metricName). */
  metadata: Record<string, string>;
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
  /** Scaler only: the value before the first call round (after waiting for one) and after the last phase. */
  valueAtStart?: SignalValue;
  valueAtEnd?: SignalValue;
  /** Scaler only: ms waited after readiness until GetMetrics answered OK (windowed signals need two samples). */
  waitedForValueMs?: number;
}

/** One scaler against the do-nothing baseline (the budgets in docs/benchmarks.md). */
export interface VersusBaseline {
  metric: string;
  /** Scaler/baseline closed-loop throughput with the raw HTTP/2 caller (server-bound). */
  throughputRatioH2: number;
  /** Scaler/baseline closed-loop throughput with grpc-js's client (client-bound on 2 cores). */
  throughputRatio: number;
  roundRatiosH2: number[];
  roundRatios: number[];
  cpuPerCallRatio: number;
}

/** One signal against the reference signal (the first measured, normally queue_depth). */
export interface VersusReference {
  metric: string;
  reference: string;
  /** calls/s ÷ reference calls/s, closed loop (≥ 0.8 is "within 20 %"). */
  throughputRatioH2: number;
  throughputRatio: number;
  roundRatiosH2: number[];
  /** Server CPU per call ÷ reference's (raw h2 closed loop). */
  cpuPerCallRatio: number;
  /** Handler p99 ÷ reference's, worst phase and raw-h2 closed loop (≤ 1.2 is "within 20 %"). */
  handlerP99Ratio: number;
  handlerP99RatioClosedH2: number;
  /** Client-side paced p99 ÷ reference's (scheduling noise dominates on a shared 2-core VM). */
  pacedP99RatioH2: number;
  pacedP99Ratio: number;
  withinThroughput: boolean;
  withinHandlerP99: boolean;
}

export interface GetMetricsResult {
  options: GetMetricsOptions;
  machine: ReturnType<typeof machineInfo>;
  /** Simulated workers (live histograms) or the static fixture. */
  workers: 'simulated' | 'fixture';
  /** The reference signal's scaler (the first in `metrics`): kept for readers of earlier results. */
  scaler: ServerResult;
  baseline: ServerResult;
  /** Every measured scaler, in `metrics` order. */
  scalers: ServerResult[];
  versusBaseline: VersusBaseline[];
  versusReference: VersusReference[];
  /** Reference scaler/baseline, as in earlier results. */
  throughputRatio: number;
  throughputRatioH2: number;
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

function refs(metadata: Record<string, string>, objects: number): ScaledObjectRef[] {
  return Array.from({ length: objects }, (_, i) => ({
    name: `bench-so-${i}`,
    namespace: 'bench',
    // Distinct per ScaledObject, as KEDA forwards each trigger's own metadata (scalerAddress included).
    scalerMetadata: {
      scalerAddress: 'keda-llm-scaler.keda.svc:9090',
      pool: 'bench',
      ...metadata,
      metricName: `bench-so-${String(i).padStart(4, '0')}`,
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
  const parsed = parsePrometheusText(
    await body.text(),
    new Set(['keda_llm_scaler_grpc_request_duration_seconds_bucket', 'keda_llm_scaler_grpc_request_duration_seconds_count']),
  );
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
  /** The scaler's signal; undefined for the baseline. */
  metric?: string;
  /** `baseline` or `scaler:<metric>`, for log lines. */
  label: string;
  metadata: Record<string, string>;
  child: ChildHandle;
  client: BenchClient;
  raw: RawGrpcClient;
  requests: { scaledObjectRef: ScaledObjectRef; metricName: string }[];
  /** The same requests encoded once, for the raw HTTP/2 caller. */
  frames: Buffer[];
  firstCall: Record<string, number>;
  valueAtStart?: SignalValue;
  waitedForValueMs?: number;
}

const GET_METRICS_PATH = '/externalscaler.ExternalScaler/GetMetrics';

/** Which load generator drives a phase: grpc-js's client (KEDA-like) or the raw HTTP/2 caller. */
export type Via = 'grpc-js' | 'h2';

interface ServerSpec {
  name: Target['name'];
  metric?: string;
  metadata: Record<string, string>;
  childArgs: string[];
}

/** One GetMetrics call through grpc-js: the value, or the status when not OK. */
function getValue(client: BenchClient, request: Target['requests'][number]): Promise<SignalValue> {
  return new Promise((resolve) =>
    client.GetMetrics(request, (error, response) => {
      if (error) resolve({ ok: false, error: `${codeName(error)}: ${error.details}` });
      else resolve({ ok: true, value: response?.metricValues[0]?.metricValueFloat });
    }),
  );
}

/** The scaler's own explanation of the first ScaledObject's value (GET /api/v1/decisions). */
async function decisionOf(httpPort: number, metricName: string): Promise<SignalValue['decision']> {
  try {
    const { body } = await request(`http://127.0.0.1:${httpPort}/api/v1/decisions?pool=bench&metricName=${encodeURIComponent(metricName)}`);
    const report = (await body.json()) as { decisions?: { fleetValue?: number; readyWorkers?: number; explanation?: string; details?: unknown }[] };
    const d = report.decisions?.[0];
    return d ? { fleetValue: d.fleetValue, readyWorkers: d.readyWorkers, explanation: d.explanation, details: d.details } : undefined;
  } catch {
    return undefined;
  }
}

async function valueWithDecision(target: Target): Promise<SignalValue> {
  const value = await getValue(target.client, target.requests[0] as Target['requests'][number]);
  const httpPort = target.child.ready.httpPort;
  const decision = httpPort ? await decisionOf(httpPort, target.requests[0]?.metricName ?? '') : undefined;
  return decision ? { ...value, decision } : value;
}

/** Starts one server in its child process, connects, and does KEDA's GetMetricSpec round. */
async function setUp(spec: ServerSpec, options: GetMetricsOptions, log: (line: string) => void): Promise<Target> {
  const { name, metric, metadata } = spec;
  const label = metric ? `${name}:${metric}` : name;
  const child = await ChildHandle.start(name, spec.childArgs);
  const Client = externalScalerClientConstructor();
  // One channel = one HTTP/2 connection, as KEDA keeps one connection per scaler address.
  const client = new Client(`127.0.0.1:${child.ready.grpcPort}`, grpc.credentials.createInsecure()) as unknown as BenchClient;
  try {
    await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 10_000, (error) => (error ? reject(error) : resolve())));
    const objects = refs(metadata, options.objects);
    // KEDA asks for the spec first; GetMetrics then uses the name it returned.
    const requests: Target['requests'] = new Array(objects.length);
    await forEachLimited(objects.length, options.concurrency, (i) => {
      const ref = objects[i] as ScaledObjectRef;
      return new Promise<void>((resolve, reject) =>
        client.GetMetricSpec(ref, (error, response) => {
          const metricName = response?.metricSpecs[0]?.metricName;
          if (error || !metricName) reject(new Error(`${label}: GetMetricSpec for ${ref.name} failed: ${error?.details ?? 'no spec'}`));
          else {
            requests[i] = { scaledObjectRef: ref, metricName };
            resolve();
          }
        }),
      );
    });
    // Ready means one collection; a windowed signal needs a second sample before it has a value.
    let valueAtStart: SignalValue | undefined;
    let waitedForValueMs: number | undefined;
    if (name === 'scaler') {
      const waitStarted = performance.now();
      const deadline = Date.now() + 15_000;
      for (;;) {
        valueAtStart = await getValue(client, requests[0] as Target['requests'][number]);
        if (valueAtStart.ok || Date.now() > deadline) break;
        await sleep(100);
      }
      waitedForValueMs = performance.now() - waitStarted;
      if (!valueAtStart.ok) log(`  WARNING ${label}: no value 15 s after readiness (${valueAtStart.error}); error answers are measured`);
    }
    const firstCall: Record<string, number> = {};
    await forEachLimited(
      objects.length,
      options.concurrency,
      (i) =>
        new Promise<void>((resolve) =>
          client.GetMetrics(requests[i] as Target['requests'][number], (error) => {
            const code = codeName(error);
            firstCall[code] = (firstCall[code] ?? 0) + 1;
            resolve();
          }),
        ),
    );
    if (Object.keys(firstCall).some((code) => code !== 'OK')) {
      log(`  WARNING ${label}: the first GetMetrics per ScaledObject answered ${JSON.stringify(firstCall)}; error answers are measured too`);
    }
    const serialize = (externalScalerService()['GetMetrics'] as grpc.MethodDefinition<unknown, unknown>).requestSerialize;
    const frames = requests.map((r) => grpcFrame(serialize(r)));
    const raw = await RawGrpcClient.connect('127.0.0.1', child.ready.grpcPort as number);
    return { name, metric, label, metadata, child, client, raw, requests, frames, firstCall, valueAtStart, waitedForValueMs };
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
      mean:
        handlers.reduce((n, h) => n + h.mean * h.count, 0) /
        Math.max(
          1,
          handlers.reduce((n, h) => n + h.count, 0),
        ),
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
      ? {
          promHandlerUs: {
            count: proms.reduce((n, p) => n + p.count, 0),
            p50: Math.max(...proms.map((p) => p.p50)),
            p99: Math.max(...proms.map((p) => p.p99)),
          },
        }
      : {}),
  };
}

function sleep(msDelay: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, msDelay));
}

export async function runGetMetricsBench(options: GetMetricsOptions, log: (line: string) => void = console.log): Promise<GetMetricsResult> {
  ensureBenchProto();
  if (options.metrics.length === 0) throw new Error('GetMetrics benchmark: no signal to measure');
  const simulated = usesSimulatedWorkers(options);
  const workersText = simulated
    ? `${options.workers} simulated vLLM workers (own child, tick ${options.tickMs} ms, loads ${options.loads.join('/')})`
    : `${options.workers} fixture workers in each scaler child`;
  log(
    `GetMetrics benchmark: ${options.objects} ScaledObjects per server, signals ${options.metrics
      .map((m) => `${m} ${JSON.stringify(triggerMetadata(m, options))}`)
      .join(', ')}; pool of ${workersText}; ${options.rounds} alternating rounds`,
  );
  const targets: Target[] = [];
  let workers: ChildHandle | undefined;
  try {
    let scalerArgs = ['--workers', String(options.workers)];
    if (simulated) {
      workers = await ChildHandle.start('simulated', [
        '--servers',
        String(options.workers),
        '--tick-ms',
        String(options.tickMs),
        '--loads',
        options.loads.join(','),
      ]);
      scalerArgs = ['--target-ports', (workers.ready.fixturePorts ?? []).join(',')];
    }
    // The baseline answers with a constant; it gets the reference signal's requests.
    const reference = options.metrics[0] as string;
    const baseline = await setUp(
      { name: 'baseline', metadata: { metric: signalOf(reference), ...triggerMetadata(reference, options) }, childArgs: [] },
      options,
      log,
    );
    targets.push(baseline);
    const scalers: Target[] = [];
    for (const metric of options.metrics) {
      const scaler = await setUp(
        {
          name: 'scaler',
          metric,
          metadata: { metric: signalOf(metric), ...triggerMetadata(metric, options) },
          childArgs: [...scalerArgs, ...caseConfig(metric)],
        },
        options,
        log,
      );
      targets.push(scaler);
      scalers.push(scaler);
      const v = scaler.valueAtStart;
      log(`  scaler:${metric} ready; first value ${v?.ok ? fmt(v.value ?? NaN, 3) : `none (${v?.error})`} after ${fmt(scaler.waitedForValueMs ?? 0, 0)} ms`);
    }
    const empty = () => ({ closed: [] as PhaseRun[], closedH2: [] as PhaseRun[], paced: [] as PhaseRun[], pacedH2: [] as PhaseRun[] });
    const runs = new Map<Target, ReturnType<typeof empty>>(targets.map((t) => [t, empty()]));
    const phases = [
      {
        key: 'closedH2',
        kind: 'closed',
        via: 'h2',
        what: `closed loop, raw HTTP/2 caller, ${options.concurrency} in flight, ${options.warmupS} s warm-up + ${options.durationS} s`,
      },
      {
        key: 'closed',
        kind: 'closed',
        via: 'grpc-js',
        what: `closed loop, grpc-js client, ${options.concurrency} in flight, ${options.warmupS} s warm-up + ${options.durationS} s`,
      },
      { key: 'pacedH2', kind: 'paced', via: 'h2', what: `paced ${options.rate} calls/s, raw HTTP/2 caller, 1 s warm-up + ${options.pacedS} s` },
      { key: 'paced', kind: 'paced', via: 'grpc-js', what: `paced ${options.rate} calls/s, grpc-js client, 1 s warm-up + ${options.pacedS} s` },
    ] as const;
    const width = Math.max(...targets.map((t) => t.label.length));
    for (const { key, kind, via, what } of phases) {
      for (let round = 1; round <= options.rounds; round++) {
        // Odd rounds forward, even rounds backward: every server's mean position is the same, so a
        // trend in machine load does not favour one.
        const order = round % 2 === 1 ? targets : [...targets].reverse();
        for (const target of order) {
          const run = await runPhase(target, kind, via, options);
          runs.get(target)?.[key].push(run);
          const r = run.result;
          const errors = Object.keys(r.errors).length > 0 ? `, errors ${errorsText(r.errors)}` : '';
          log(
            `  round ${round} ${target.label.padEnd(width)} ${what}: ${fmt(r.callsPerS, 0)} calls/s, p50 ${ms(r.latencyMs.p50)}, p99 ` +
              `${ms(r.latencyMs.p99)}, other load ${fmt(r.otherLoadCores, 2)} cores${errors}`,
          );
        }
      }
    }
    const valuesAtEnd = new Map<Target, SignalValue>();
    for (const scaler of scalers) valuesAtEnd.set(scaler, await valueWithDecision(scaler));
    for (const scaler of scalers) {
      // The SLA plan is computed once per adjustment interval, off the RPC path: its time per interval.
      const details = valuesAtEnd.get(scaler)?.decision?.details as { planComputeMs?: number; answers?: unknown } | undefined;
      if (details?.planComputeMs !== undefined) {
        log(`  scaler:${scaler.metric} plan computation per interval: ${fmt(details.planComputeMs, 3)} ms (last plan ${JSON.stringify(details.answers)})`);
      }
    }
    const serverResult = (t: Target): ServerResult => {
      const r = runs.get(t) ?? empty();
      return {
        name: t.name,
        ...(t.metric !== undefined ? { metric: t.metric } : {}),
        metadata: t.metadata,
        closed: combine(r.closed),
        closedH2: combine(r.closedH2),
        paced: combine(r.paced),
        pacedH2: combine(r.pacedH2),
        closedRounds: r.closed.map((x) => x.result),
        closedH2Rounds: r.closedH2.map((x) => x.result),
        pacedRounds: r.paced.map((x) => x.result),
        pacedH2Rounds: r.pacedH2.map((x) => x.result),
        firstCall: t.firstCall,
        ...(t.valueAtStart ? { valueAtStart: t.valueAtStart, waitedForValueMs: t.waitedForValueMs } : {}),
        ...(valuesAtEnd.has(t) ? { valueAtEnd: valuesAtEnd.get(t) } : {}),
      };
    };
    const b = serverResult(baseline);
    const ss = scalers.map(serverResult);
    const versusBaseline = ss.map((s) => compareServers(s, b));
    const ref = ss[0] as ServerResult;
    const versusReference = ss.slice(1).map((s) => compareToReference(s, ref));
    const first = versusBaseline[0] as VersusBaseline;
    const result: GetMetricsResult = {
      options,
      machine: machineInfo(),
      workers: simulated ? 'simulated' : 'fixture',
      scaler: ref,
      baseline: b,
      scalers: ss,
      versusBaseline,
      versusReference,
      throughputRatio: first.throughputRatio,
      throughputRatioH2: first.throughputRatioH2,
      roundRatios: first.roundRatios,
      roundRatiosH2: first.roundRatiosH2,
      cpuPerCallRatio: first.cpuPerCallRatio,
    };
    log('');
    log(formatGetMetrics(result));
    return result;
  } finally {
    await Promise.all(targets.map(tearDown));
    await workers?.stop();
  }
}

function compareServers(s: ServerResult, b: ServerResult): VersusBaseline {
  return {
    metric: s.metric ?? '',
    throughputRatio: s.closed.callsPerS / b.closed.callsPerS,
    throughputRatioH2: s.closedH2.callsPerS / b.closedH2.callsPerS,
    roundRatios: s.closedRounds.map((r, i) => r.callsPerS / (b.closedRounds[i]?.callsPerS ?? NaN)),
    roundRatiosH2: s.closedH2Rounds.map((r, i) => r.callsPerS / (b.closedH2Rounds[i]?.callsPerS ?? NaN)),
    cpuPerCallRatio: s.closedH2.server.cpuUsPerCall / b.closedH2.server.cpuUsPerCall,
  };
}

/** "Within 20 %" of the reference signal: throughput ≥ 0.8× and server-side p99 ≤ 1.2×. */
export const REFERENCE_TOLERANCE = 0.2;

function compareToReference(s: ServerResult, ref: ServerResult): VersusReference {
  const throughputRatioH2 = s.closedH2.callsPerS / ref.closedH2.callsPerS;
  const handlerP99Ratio = worstHandlerP99Us(s) / worstHandlerP99Us(ref);
  return {
    metric: s.metric ?? '',
    reference: ref.metric ?? '',
    throughputRatioH2,
    throughputRatio: s.closed.callsPerS / ref.closed.callsPerS,
    roundRatiosH2: s.closedH2Rounds.map((r, i) => r.callsPerS / (ref.closedH2Rounds[i]?.callsPerS ?? NaN)),
    cpuPerCallRatio: s.closedH2.server.cpuUsPerCall / ref.closedH2.server.cpuUsPerCall,
    handlerP99Ratio,
    handlerP99RatioClosedH2: (s.closedH2.server.handlerUs?.p99 ?? NaN) / (ref.closedH2.server.handlerUs?.p99 ?? NaN),
    pacedP99RatioH2: s.pacedH2.latencyMs.p99 / ref.pacedH2.latencyMs.p99,
    pacedP99Ratio: s.paced.latencyMs.p99 / ref.paced.latencyMs.p99,
    withinThroughput: throughputRatioH2 >= 1 - REFERENCE_TOLERANCE,
    withinHandlerP99: handlerP99Ratio <= 1 + REFERENCE_TOLERANCE,
  };
}

/** The worst GetMetrics handler p99 (µs) over every phase. */
export function worstHandlerP99Us(s: ServerResult): number {
  return Math.max(...[s.closedH2, s.closed, s.pacedH2, s.paced].map((p) => p.server.handlerUs?.p99 ?? NaN));
}

function errorsText(errors: Record<string, number>): string {
  const entries = Object.entries(errors);
  return entries.length === 0 ? '0' : entries.map(([k, v]) => `${k}:${v}`).join(' ');
}

function valueText(v: SignalValue | undefined): string {
  if (!v) return '-';
  if (!v.ok) return `none (${v.error})`;
  const fleet = v.decision?.fleetValue;
  const fleetNote = fleet !== undefined && fleet !== v.value ? ` (fleet value ${fmt(fleet, 3)}, ${v.decision?.readyWorkers} ready workers)` : '';
  return `${fmt(v.value ?? NaN, 3)}${fleetNote}`;
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
  const header = [
    'server / phase',
    'calls/s',
    'p50',
    'p99',
    'max',
    'srv CPU µs/call',
    'srv ELU',
    'handler p50/p99 µs',
    'client CPU µs/call',
    'other load',
    'errors',
  ];
  const n = r.options.concurrency;
  const servers = [r.baseline, ...r.scalers];
  const label = (s: ServerResult) => (s.metric ? `scaler ${s.metric}` : 'baseline');
  const width = Math.max(...servers.map((s) => label(s).length));
  const phaseRows = (what: string, pick: (s: ServerResult) => PhaseResult) => servers.map((s) => row(`${label(s).padEnd(width)} ${what}`, pick(s)));
  const lines = [
    table(header, [
      ...phaseRows(`closed, raw h2 (${n} in flight)`, (s) => s.closedH2),
      ...phaseRows(`closed, grpc-js (${n} in flight)`, (s) => s.closed),
      ...phaseRows(`paced, raw h2 (${r.options.rate}/s)`, (s) => s.pacedH2),
      ...phaseRows(`paced, grpc-js (${r.options.rate}/s)`, (s) => s.paced),
    ]),
    `(latencies client-side; srv = the server child process; other load = CPU cores used by other processes on the machine meanwhile; workers: ${r.workers})`,
    '',
  ];
  const pass = (ok: boolean) => (ok ? 'PASS' : 'FAIL');
  const rounds = (xs: number[]) => xs.map((x) => fmt(x, 3)).join(', ');
  for (const [i, s] of r.scalers.entries()) {
    const v = r.versusBaseline[i] as VersusBaseline;
    lines.push(`scaler ${s.metric} ${JSON.stringify(s.metadata)}: value ${valueText(s.valueAtStart)} at start, ${valueText(s.valueAtEnd)} at end`);
    const prom = s.closedH2.promHandlerUs;
    if (prom) {
      lines.push(
        `  /metrics keda_llm_scaler_grpc_request_duration_seconds{method="GetMetrics"} (bucket estimate, closed loop raw h2): ` +
          `${prom.count} calls, p50 ≈ ${fmt(prom.p50, 0)} µs, p99 ≈ ${fmt(prom.p99, 0)} µs`,
      );
    }
    const pacedP99 = s.pacedH2.latencyMs.p99;
    const handlerP99Ms = worstHandlerP99Us(s) / 1000;
    lines.push(
      `  throughput ratio scaler/baseline, server-bound (raw h2): ${fmt(v.throughputRatioH2, 3)} (rounds: ${rounds(v.roundRatiosH2)})  budget ≥ 0.8  ` +
        `${pass(v.throughputRatioH2 >= 0.8)}`,
      `  throughput ratio scaler/baseline, grpc-js client:        ${fmt(v.throughputRatio, 3)} (rounds: ${rounds(v.roundRatios)})  budget ≥ 0.8  ` +
        `${pass(v.throughputRatio >= 0.8)}  (client-bound: see client CPU/call)`,
      `  server CPU per call scaler/baseline (raw h2): ${fmt(v.cpuPerCallRatio, 2)}× (${fmt(s.closedH2.server.cpuUsPerCall, 1)} vs ` +
        `${fmt(r.baseline.closedH2.server.cpuUsPerCall, 1)} µs)`,
      `  p99 server handler (worst phase): ${ms(handlerP99Ms)}  budget < 1 ms  ${pass(handlerP99Ms < 1)}`,
      `  p99 client-side, paced ${r.options.rate}/s, raw h2: scaler ${ms(pacedP99)}, baseline ${ms(r.baseline.pacedH2.latencyMs.p99)}  budget < 1 ms  ` +
        `${pass(pacedP99 < 1)}  (includes the client, loopback and scheduling)`,
      `  p99 client-side, paced ${r.options.rate}/s, grpc-js: scaler ${ms(s.paced.latencyMs.p99)}, baseline ${ms(r.baseline.paced.latencyMs.p99)}`,
      `  p99 client-side, closed loop ${n} in flight: ${ms(s.closedH2.latencyMs.p99)} raw h2, ${ms(s.closed.latencyMs.p99)} grpc-js  (queueing: ≈ ` +
        `in-flight ÷ throughput, Little's law)`,
    );
  }
  if (r.versusReference.length > 0) {
    const ref = r.scaler;
    lines.push(
      '',
      `Each signal against ${ref.metric} (same run, same workers; within ${REFERENCE_TOLERANCE * 100} %: throughput ratio ≥ ` +
        `${1 - REFERENCE_TOLERANCE}, server-side p99 ratio ≤ ${1 + REFERENCE_TOLERANCE})`,
      table(
        [
          'signal',
          'calls/s raw h2',
          'ratio',
          'rounds',
          'calls/s grpc-js',
          'ratio',
          'srv CPU µs/call',
          'ratio',
          'handler p99 µs (worst / closed h2)',
          'ratio',
          'paced p99 raw h2 / grpc-js',
          'ratio',
          'verdict',
        ],
        [
          [
            ref.metric ?? '',
            fmt(ref.closedH2.callsPerS, 0),
            '1',
            '',
            fmt(ref.closed.callsPerS, 0),
            '1',
            fmt(ref.closedH2.server.cpuUsPerCall, 1),
            '1',
            `${fmt(worstHandlerP99Us(ref), 1)} / ${fmt(ref.closedH2.server.handlerUs?.p99 ?? NaN, 1)}`,
            '1',
            `${ms(ref.pacedH2.latencyMs.p99)} / ${ms(ref.paced.latencyMs.p99)}`,
            '1',
            'reference',
          ],
          ...r.versusReference.map((c) => {
            const s = r.scalers.find((x) => x.metric === c.metric) as ServerResult;
            return [
              c.metric,
              fmt(s.closedH2.callsPerS, 0),
              fmt(c.throughputRatioH2, 3),
              rounds(c.roundRatiosH2),
              fmt(s.closed.callsPerS, 0),
              fmt(c.throughputRatio, 3),
              fmt(s.closedH2.server.cpuUsPerCall, 1),
              fmt(c.cpuPerCallRatio, 2),
              `${fmt(worstHandlerP99Us(s), 1)} / ${fmt(s.closedH2.server.handlerUs?.p99 ?? NaN, 1)}`,
              `${fmt(c.handlerP99Ratio, 2)} / ${fmt(c.handlerP99RatioClosedH2, 2)}`,
              `${ms(s.pacedH2.latencyMs.p99)} / ${ms(s.paced.latencyMs.p99)}`,
              `${fmt(c.pacedP99RatioH2, 2)} / ${fmt(c.pacedP99Ratio, 2)}`,
              `throughput ${pass(c.withinThroughput)}, p99 ${pass(c.withinHandlerP99)}`,
            ];
          }),
        ],
      ),
    );
  }
  return lines.join('\n');
}

export function parseGetMetricsArgs(argv: readonly string[]): GetMetricsOptions {
  const { values } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: false,
    options: {
      metric: { type: 'string' },
      metrics: { type: 'string' },
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
      'workers-from': { type: 'string' },
      'tick-ms': { type: 'string' },
      loads: { type: 'string' },
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
  const list = (v: unknown) =>
    typeof v === 'string'
      ? v
          .split(',')
          .map((x) => x.trim())
          .filter((x) => x !== '')
      : undefined;
  // --metrics a,b,c measures several signals in one run; --metric a is the one-signal form.
  const metrics = list(values.metrics) ?? list(values.metric) ?? d.metrics;
  const from = values['workers-from'];
  if (from !== undefined && from !== 'auto' && from !== 'fixture' && from !== 'simulated')
    throw new Error(`--workers-from '${String(from)}': expected auto, fixture or simulated`);
  const loads = list(values.loads)?.map(Number);
  if (loads?.some((l) => !Number.isFinite(l) || l < 0)) throw new Error(`--loads '${String(values.loads)}': expected comma-separated loads ≥ 0`);
  return {
    metrics,
    ...(typeof values.target === 'string' ? { target: values.target } : {}),
    meta,
    objects: num(values.objects, d.objects),
    concurrency: num(values.concurrency, d.concurrency),
    warmupS: num(values.warmup, d.warmupS),
    durationS: num(values.duration, d.durationS),
    rate: num(values.rate, d.rate),
    pacedS: num(values.paced, d.pacedS),
    workers: num(values.workers, d.workers),
    rounds: Math.max(1, num(values.rounds, d.rounds)),
    workersFrom: (from as WorkersFrom | undefined) ?? d.workersFrom,
    tickMs: num(values['tick-ms'], d.tickMs),
    loads: loads ?? d.loads,
  };
}

if (isMain(import.meta.url)) {
  runGetMetricsBench(parseGetMetricsArgs(process.argv.slice(2))).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
