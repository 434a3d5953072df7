/**
 * How the in-process read path scales with pool size (no network): the real PoolStore,
 * TriggerRegistry/Trigger and ActivityStreams, fed with the vLLM fixture's WorkerSample.
 *
 *  1. GetMetrics' own work (resolve metadata → trigger → evaluate) per call, when nothing changed
 *     since the last call (memoised) and for the 1,000 calls right after a new snapshot was
 *     published (writes are published at most every 20 ms; the first trigger computes the
 *     signal once for that snapshot, the other 999 share it). The snapshot rebuild itself is
 *     timed separately.
 *  2. One collection round of a pool of W workers — W `recordSample` calls — with S open
 *     StreamIsActive streams on the pool, each re-checked after every published snapshot. The
 *     writes arrive (a) back to back, each on its own event-loop turn (the earlier results'
 *     method), and (b) spread over `roundMs` (1 s, checkInterval 1s) in timer turns at most every
 *     5 ms, as real scrape responses arrive; there the same timer turns without writes are
 *     measured too and subtracted. CPU per round and the core fraction at one round per second.
 *
 * Run alone: node dist-bench/bench/evaluation.js
 */
import { performance } from 'node:perf_hooks';
import { fmt, isMain, readVllmFixture, table } from './common.js';
import type { PoolConfig } from '../src/config/schema.js';
import { ActivityStreams } from '../src/grpc/activity-streams.js';
import { TriggerRegistry } from '../src/triggers/trigger-registry.js';
import type { PoolRuntime } from '../src/triggers/trigger.js';
import { profileFor } from '../src/sources/http/engine-profiles.js';
import { extractWorkerSample } from '../src/sources/http/extract-sample.js';
import { parsePrometheusText } from '../src/sources/http/prometheus-text.js';
import { PoolStore } from '../src/store/pool-store.js';
import type { WorkerSample } from '../src/store/sample.js';

export interface EvaluationOptions {
  workerCounts: number[];
  streamCounts: number[];
  triggers: number;
  metric: string;
  /** A collection round's writes are spread over this long (the check interval). */
  roundMs: number;
  /** Measured rounds per (workers, streams), after one warm-up round. */
  rounds: number;
}

export const DEFAULT_EVALUATION_OPTIONS: EvaluationOptions = {
  workerCounts: [4, 100, 1000],
  streamCounts: [0, 1, 10],
  triggers: 1000,
  metric: 'queue_depth',
  roundMs: 1000,
  rounds: 3,
};

export interface CallCost {
  workers: number;
  cachedUsPerCall: number;
  /** Mean over the `triggers` calls right after a new snapshot was published. */
  afterPublishUsPerCall: number;
  /** The first of those calls: it computes the signal for the new snapshot. */
  firstCallAfterPublishUs: number;
  snapshotRebuildUs: number;
}

export interface RoundCost {
  workers: number;
  streams: number;
  /**
   * `burst`: the W writes back to back, each on its own event-loop turn (the method of the
   * earlier results, before writes were published at most every 20 ms); `spread`: over the
   * check interval, as scrape responses arrive.
   */
  arrival: 'burst' | 'spread';
  /** CPU of the writes, snapshot publishes and stream checks of one round (harness subtracted). */
  cpuMsPerRound: number;
  /** CPU of the same timer turns without writes, subtracted from the above. */
  harnessMsPerRound: number;
  coreAtOneRoundPerS: number;
}

export interface EvaluationResult {
  options: EvaluationOptions;
  calls: CallCost[];
  rounds: RoundCost[];
}

function fixtureSample(): WorkerSample {
  const profile = profileFor('vllm');
  const result = extractWorkerSample(parsePrometheusText(readVllmFixture(), profile.wantedSeries), profile, { at: Date.now() });
  if (!result.ok) throw new Error(result.message);
  return result.sample;
}

function makePool(workers: number, sample: WorkerSample): { store: PoolStore; ids: string[]; registry: TriggerRegistry; runtime: PoolRuntime } {
  const store = new PoolStore('bench', { cacheTtlMs: 60_000, intervalMs: 1000, historyWindowMs: 600_000 });
  const ids = Array.from({ length: workers }, (_, i) => `10.0.${i >> 8}.${i & 255}:8000`);
  store.setWorkers(ids);
  for (const id of ids) store.recordSample(id, { ...sample, at: Date.now() });
  const runtime: PoolRuntime = { name: 'bench', store };
  const registry = new TriggerRegistry(new Map([['bench', { runtime, config: { name: 'bench' } as PoolConfig }]]));
  return { store, ids, registry, runtime };
}

const metadata = (i: number, metric: string) => ({
  scalerAddress: 'keda-llm-scaler.keda.svc:9090',
  pool: 'bench',
  metric,
  target: '5',
  metricName: `bench-so-${String(i).padStart(4, '0')}`,
});

/**
 * Resolves after the store's next publish (at most 20 ms after a write). The store's publish timer
 * is unref'd, so a ref'd timer keeps the process alive meanwhile.
 */
function nextPublish(store: PoolStore): Promise<void> {
  return new Promise((resolve, reject) => {
    const timeout = setTimeout(() => reject(new Error('the store did not publish within 1 s of a write')), 1000);
    const off = store.onChange(() => {
      clearTimeout(timeout);
      off();
      resolve();
    });
  });
}

async function callCost(workers: number, options: EvaluationOptions, sample: WorkerSample): Promise<CallCost> {
  const { store, ids, registry } = makePool(workers, sample);
  const metas = Array.from({ length: options.triggers }, (_, i) => metadata(i, options.metric));
  for (const m of metas) registry.resolve(m).evaluate();
  const passes = Math.max(3, Math.round(20_000 / options.triggers));
  let start = performance.now();
  for (let r = 0; r < passes; r++) for (const m of metas) registry.resolve(m).evaluate();
  const cachedUsPerCall = ((performance.now() - start) * 1000) / (passes * metas.length);
  const publishes = 20;
  let total = 0;
  let first = 0;
  for (let r = 0; r < publishes; r++) {
    const published = nextPublish(store);
    store.recordSample(ids[r % ids.length] as string, { ...sample, at: Date.now() });
    await published;
    start = performance.now();
    registry.resolve(metas[0] as Record<string, string>).evaluate();
    const afterFirst = performance.now();
    for (let i = 1; i < metas.length; i++) registry.resolve(metas[i] as Record<string, string>).evaluate();
    total += performance.now() - start;
    first += afterFirst - start;
  }
  const afterPublishUsPerCall = (total * 1000) / (publishes * metas.length);
  const firstCallAfterPublishUs = (first * 1000) / publishes;
  const rebuilds = 200;
  start = performance.now();
  for (let r = 0; r < rebuilds; r++) {
    store.recordSample(ids[r % ids.length] as string, { ...sample, at: Date.now() });
    store.snapshot();
  }
  // recordSample itself is O(1); the time is the O(workers) rebuild.
  const snapshotRebuildUs = ((performance.now() - start) * 1000) / rebuilds;
  return { workers, cachedUsPerCall, afterPublishUsPerCall, firstCallAfterPublishUs, snapshotRebuildUs };
}

/** A StreamIsActive call as ActivityStreams sees it; writes are dropped. */
function fakeStreamCall(): never {
  const call = { cancelled: false, writableEnded: false, write: () => true, on: () => call, end: () => undefined };
  return call as never;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Spreads `count` writes over `roundMs` in timer turns at most every 5 ms (a turn per write when
 * fewer than 200), as scrape responses arrive over a check interval. Returns the CPU it used (ms).
 */
async function spreadRound(count: number, roundMs: number, write: (i: number) => void): Promise<number> {
  const turns = Math.max(1, Math.min(count, Math.floor(roundMs / 5)));
  const cpu = process.cpuUsage();
  const started = performance.now();
  let next = 0;
  for (let t = 0; t < turns; t++) {
    const until = Math.round(((t + 1) * count) / turns);
    for (; next < until; next++) write(next);
    await sleep(Math.max(0, started + ((t + 1) * roundMs) / turns - performance.now()));
  }
  await sleep(50); // the last publish and its stream checks
  const used = process.cpuUsage(cpu);
  return (used.user + used.system) / 1000;
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

async function roundCost(
  workers: number,
  streams: number,
  arrival: RoundCost['arrival'],
  options: EvaluationOptions,
  sample: WorkerSample,
): Promise<RoundCost> {
  const { store, ids, registry } = makePool(workers, sample);
  const activity = new ActivityStreams();
  for (let i = 0; i < streams; i++) activity.open(fakeStreamCall(), registry.resolve(metadata(i, options.metric)));
  const write = (i: number) => store.recordSample(ids[i] as string, { ...sample, at: Date.now() });
  if (arrival === 'burst') {
    const round = async () => {
      for (let i = 0; i < ids.length; i++) {
        write(i);
        await nextTurn(); // the next scrape response arrives on a later turn
        await nextTurn(); // let a change notification run
      }
      await sleep(30); // the round's last publish and its stream checks
    };
    await round(); // warm-up
    const rounds = workers >= 1000 ? 2 : 5;
    const cpu = process.cpuUsage();
    for (let r = 0; r < rounds; r++) await round();
    const used = process.cpuUsage(cpu);
    const cpuMsPerRound = (used.user + used.system) / 1000 / rounds;
    return { workers, streams, arrival, cpuMsPerRound, harnessMsPerRound: 0, coreAtOneRoundPerS: cpuMsPerRound / 1000 };
  }
  await spreadRound(ids.length, options.roundMs, write); // warm-up
  let total = 0;
  let harness = 0;
  for (let r = 0; r < options.rounds; r++) {
    total += await spreadRound(ids.length, options.roundMs, write);
    // The same timer turns without writes: the benchmark's own cost, subtracted.
    harness += await spreadRound(ids.length, options.roundMs, () => undefined);
  }
  const cpuMsPerRound = Math.max(0, total - harness) / options.rounds;
  return { workers, streams, arrival, cpuMsPerRound, harnessMsPerRound: harness / options.rounds, coreAtOneRoundPerS: cpuMsPerRound / 1000 };
}

export async function runEvaluationBench(
  options: EvaluationOptions = DEFAULT_EVALUATION_OPTIONS,
  log: (line: string) => void = console.log,
): Promise<EvaluationResult> {
  log(
    `Evaluation benchmark (in-process): ${options.triggers} triggers (metric=${options.metric}), pools of ${options.workerCounts.join(' / ')} workers; ` +
      `collection rounds spread over ${options.roundMs} ms, ${options.rounds} measured after a warm-up`,
  );
  const sample = fixtureSample();
  const calls: CallCost[] = [];
  for (const w of options.workerCounts) calls.push(await callCost(w, options, sample));
  const rounds: RoundCost[] = [];
  for (const arrival of ['burst', 'spread'] as const) {
    for (const w of options.workerCounts) for (const s of options.streamCounts) rounds.push(await roundCost(w, s, arrival, options, sample));
  }
  const result: EvaluationResult = { options, calls, rounds };
  log('');
  log(formatEvaluation(result));
  return result;
}

export function formatEvaluation(r: EvaluationResult): string {
  const lines = [
    table(
      [
        'pool workers',
        'GetMetrics work, memoised (µs/call)',
        `${r.options.triggers} calls after a publish (µs/call)`,
        'first call after a publish (µs)',
        'snapshot rebuild (µs)',
      ],
      r.calls.map((c) => [
        String(c.workers),
        fmt(c.cachedUsPerCall, 2),
        fmt(c.afterPublishUsPerCall, 2),
        fmt(c.firstCallAfterPublishUs, 1),
        fmt(c.snapshotRebuildUs, 1),
      ]),
    ),
    '',
    table(
      ['writes arrive', 'pool workers', 'StreamIsActive streams', 'CPU per collection round (ms)', 'core at 1 round/s', 'harness (ms, subtracted)'],
      r.rounds.map((c) => [
        c.arrival === 'burst' ? 'back to back' : `over ${r.options.roundMs} ms`,
        String(c.workers),
        String(c.streams),
        fmt(c.cpuMsPerRound, 1),
        fmt(c.coreAtOneRoundPerS * 100, 1) + ' %',
        c.arrival === 'burst' ? '-' : fmt(c.harnessMsPerRound, 1),
      ]),
    ),
  ];
  return lines.join('\n');
}

if (isMain(import.meta.url)) {
  runEvaluationBench().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
