/**
 * How the in-process read path scales with pool size (no network): the real PoolStore,
 * TriggerRegistry/Trigger and ActivityStreams, fed with the vLLM fixture's WorkerSample.
 *
 *  1. GetMetrics' own work (resolve metadata → trigger → evaluate) per call, when nothing changed
 *     since the last call (memoised) and right after a store write (every trigger re-evaluates
 *     and the first one rebuilds the pool snapshot).
 *  2. One collection round of a pool of W workers — W `recordSample` calls, each on its own
 *     event-loop turn as real scrape responses arrive — with S open StreamIsActive streams on
 *     the pool, each re-evaluated after every write. CPU per round and the core fraction at
 *     one round per second (checkInterval 1s).
 *
 * Run alone: node dist-bench/bench/evaluation.js
 */
import { performance } from 'node:perf_hooks';
import { fmt, isMain, readVllmFixture, table } from './common.js';
import type { PoolConfig } from '../src/config/schema.js';
import { ActivityStreams } from '../src/grpc/activity-streams.js';
import { TriggerRegistry } from '../src/policies/trigger-registry.js';
import type { PoolRuntime } from '../src/policies/trigger.js';
import { extractWorkerSample, profileFor } from '../src/sources/http/engine-profiles.js';
import { parsePrometheusText } from '../src/sources/http/prometheus-text.js';
import { PoolStore } from '../src/store/pool-store.js';
import type { WorkerSample } from '../src/store/sample.js';

export interface EvaluationOptions {
  workerCounts: number[];
  streamCounts: number[];
  triggers: number;
  metric: string;
}

export const DEFAULT_EVALUATION_OPTIONS: EvaluationOptions = { workerCounts: [4, 100, 1000], streamCounts: [0, 1, 10], triggers: 1000, metric: 'queue_depth' };

export interface CallCost {
  workers: number;
  cachedUsPerCall: number;
  afterWriteUsPerCall: number;
  snapshotRebuildUs: number;
}

export interface RoundCost {
  workers: number;
  streams: number;
  cpuMsPerRound: number;
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
  const store = new PoolStore('bench', 60_000, 120);
  const ids = Array.from({ length: workers }, (_, i) => `10.0.${i >> 8}.${i & 255}:8000`);
  store.setWorkers(ids);
  for (const id of ids) store.recordSample(id, { ...sample, at: Date.now() });
  const runtime: PoolRuntime = { name: 'bench', store };
  const registry = new TriggerRegistry(new Map([['bench', { runtime, config: { name: 'bench' } as PoolConfig }]]));
  return { store, ids, registry, runtime };
}

const metadata = (i: number, metric: string) => ({ scalerAddress: 'keda-llm-scaler.keda.svc:9090', pool: 'bench', metric, target: '5', metricName: `bench-so-${String(i).padStart(4, '0')}` });

function callCost(workers: number, options: EvaluationOptions, sample: WorkerSample): CallCost {
  const { store, ids, registry } = makePool(workers, sample);
  const metas = Array.from({ length: options.triggers }, (_, i) => metadata(i, options.metric));
  for (const m of metas) registry.resolve(m).evaluate();
  const passes = Math.max(3, Math.round(20_000 / options.triggers));
  let start = performance.now();
  for (let r = 0; r < passes; r++) for (const m of metas) registry.resolve(m).evaluate();
  const cachedUsPerCall = ((performance.now() - start) * 1000) / (passes * metas.length);
  const writes = Math.max(3, Math.min(20, Math.round(2_000_000 / (workers * options.triggers))));
  let total = 0;
  for (let r = 0; r < writes; r++) {
    store.recordSample(ids[r % ids.length] as string, { ...sample, at: Date.now() });
    start = performance.now();
    for (const m of metas) registry.resolve(m).evaluate();
    total += performance.now() - start;
  }
  const afterWriteUsPerCall = (total * 1000) / (writes * metas.length);
  const rebuilds = 200;
  start = performance.now();
  for (let r = 0; r < rebuilds; r++) {
    store.recordSample(ids[r % ids.length] as string, { ...sample, at: Date.now() });
    store.snapshot();
  }
  // recordSample itself is O(1); the time is the O(workers) rebuild.
  const snapshotRebuildUs = ((performance.now() - start) * 1000) / rebuilds;
  return { workers, cachedUsPerCall, afterWriteUsPerCall, snapshotRebuildUs };
}

/** A StreamIsActive call as ActivityStreams sees it; writes are dropped. */
function fakeStreamCall(): never {
  const call = { cancelled: false, writableEnded: false, write: () => true, on: () => call, end: () => undefined };
  return call as never;
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

async function roundCost(workers: number, streams: number, options: EvaluationOptions, sample: WorkerSample): Promise<RoundCost> {
  const { store, ids, registry } = makePool(workers, sample);
  const activity = new ActivityStreams();
  for (let i = 0; i < streams; i++) activity.open(fakeStreamCall(), registry.resolve(metadata(i, options.metric)));
  const round = async () => {
    for (const id of ids) {
      store.recordSample(id, { ...sample, at: Date.now() });
      await nextTurn(); // the next scrape response arrives on a later turn
      await nextTurn(); // let the coalesced change notification run
    }
  };
  await round(); // warm-up
  const rounds = workers >= 1000 ? 2 : 5;
  const cpu = process.cpuUsage();
  for (let r = 0; r < rounds; r++) await round();
  const used = process.cpuUsage(cpu);
  const cpuMsPerRound = (used.user + used.system) / 1000 / rounds;
  return { workers, streams, cpuMsPerRound, coreAtOneRoundPerS: cpuMsPerRound / 1000 };
}

export async function runEvaluationBench(options: EvaluationOptions = DEFAULT_EVALUATION_OPTIONS, log: (line: string) => void = console.log): Promise<EvaluationResult> {
  log(`Evaluation benchmark (in-process): ${options.triggers} triggers (metric=${options.metric}), pools of ${options.workerCounts.join(' / ')} workers`);
  const sample = fixtureSample();
  const calls = options.workerCounts.map((w) => callCost(w, options, sample));
  const rounds: RoundCost[] = [];
  for (const w of options.workerCounts) for (const s of options.streamCounts) rounds.push(await roundCost(w, s, options, sample));
  const result: EvaluationResult = { options, calls, rounds };
  log('');
  log(formatEvaluation(result));
  return result;
}

export function formatEvaluation(r: EvaluationResult): string {
  const lines = [
    table(
      ['pool workers', 'GetMetrics work, memoised (µs/call)', 'right after a store write (µs/call)', 'snapshot rebuild (µs)'],
      r.calls.map((c) => [String(c.workers), fmt(c.cachedUsPerCall, 2), fmt(c.afterWriteUsPerCall, 2), fmt(c.snapshotRebuildUs, 1)]),
    ),
    '',
    table(
      ['pool workers', 'StreamIsActive streams', 'CPU per collection round (ms)', 'core at 1 round/s'],
      r.rounds.map((c) => [String(c.workers), String(c.streams), fmt(c.cpuMsPerRound, 1), fmt(c.coreAtOneRoundPerS * 100, 1) + ' %']),
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
