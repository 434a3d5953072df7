/**
 * What the status page's history costs per tick (`StatusHistory.record()`, run by the scaler's
 * background ticker once per check interval, at most once a second): one row for a pool of W
 * workers (its default signals and worker counts) and for T triggers on it, with the real
 * PoolStore and TriggerRegistry fed with the vLLM fixture's sample.
 *
 * Two cases per W: a new snapshot each tick that no one has evaluated yet (the history computes
 * the signals itself: the worst case), and a snapshot whose triggers KEDA already evaluated (the
 * evaluations are shared). The baseline, measured in the same run, is one rebuild of the pool's
 * snapshot — work every collection round already does at least once per tick. Printed: µs per
 * tick, the ratio to the baseline, and the share of one core at one tick a second.
 *
 * Each tick waits for the store's publication (20 ms), so the run takes ticks × 25 ms per pool size.
 *
 * Run alone: node dist-bench/bench/status-history.js
 */
import { performance } from 'node:perf_hooks';
import { fmt, isMain, readVllmFixture, table } from './common.js';
import type { PoolConfig } from '../src/config/schema.js';
import { StatusHistory } from '../src/http/status-history.js';
import { profileFor } from '../src/sources/http/engine-profiles.js';
import { extractWorkerSample } from '../src/sources/http/extract-sample.js';
import { parsePrometheusText } from '../src/sources/http/prometheus-text.js';
import { PoolStore } from '../src/store/pool-store.js';
import type { WorkerSample } from '../src/store/sample.js';
import { TriggerRegistry } from '../src/triggers/trigger-registry.js';
import type { PoolRuntime } from '../src/triggers/trigger.js';

export interface StatusHistoryOptions {
  workerCounts: number[];
  triggers: number;
  ticks: number;
}

export const DEFAULT_STATUS_HISTORY_OPTIONS: StatusHistoryOptions = { workerCounts: [4, 100, 1000], triggers: 200, ticks: 300 };

export interface StatusHistoryRow {
  workers: number;
  triggers: number;
  /** record() on a snapshot nobody evaluated yet. */
  coldUsPerTick: number;
  /** record() after KEDA's calls evaluated the triggers on the same snapshot. */
  sharedUsPerTick: number;
  /** One snapshot rebuild of the same pool. */
  baselineUsPerTick: number;
  coldRatio: number;
  sharedRatio: number;
  /** Share of a core at one tick per second, cold case. */
  coreFraction: number;
  historyBytes: number;
}

export interface StatusHistoryResult {
  options: StatusHistoryOptions;
  rows: StatusHistoryRow[];
}

function fixtureSample(): WorkerSample {
  const profile = profileFor('vllm');
  const result = extractWorkerSample(parsePrometheusText(readVllmFixture(), profile.wantedSeries), profile, { at: Date.now() });
  if (!result.ok) throw new Error(result.message);
  return result.sample;
}

async function measure(workers: number, triggerCount: number, ticks: number): Promise<StatusHistoryRow> {
  const base = fixtureSample();
  let now = Date.now();
  const store = new PoolStore('llama', { cacheTtlMs: 3_600_000, intervalMs: 1000, historyWindowMs: 600_000 }, () => now);
  const ids = Array.from({ length: workers }, (_, i) => `10.0.${Math.floor(i / 250)}.${i % 250}:8000`);
  store.setWorkers(ids);
  const runtime: PoolRuntime = { name: 'llama', store };
  const registry = new TriggerRegistry(new Map([['llama', { runtime, config: { name: 'llama', source: 'vllm', scheme: 'http' } as PoolConfig }]]));
  const metrics = ['kv_cache_usage', 'queue_depth', 'running_requests', 'saturation'];
  const triggers = Array.from({ length: triggerCount }, (_, i) =>
    registry.resolve(
      i % 10 === 9
        ? { pool: 'llama', metric: 'desired_replicas', policy: 'saturation', kvCacheThreshold: String(0.7 + (i % 7) / 100) }
        : { pool: 'llama', metric: metrics[i % metrics.length] as string, target: String(1 + i) },
    ),
  );
  const history = new StatusHistory({ pools: () => [runtime], triggers: () => registry.triggers() }, { now: () => now });

  for (const id of ids) store.recordSample(id, { ...base, at: now });
  let cold = 0;
  let shared = 0;
  let baseline = 0;
  for (let tick = 0; tick < ticks + 20; tick++) {
    // A new sample for one worker, published as after a scrape (20 ms later): a new snapshot.
    now += 1000;
    store.recordSample(ids[tick % workers] as string, { ...base, at: now, waiting: tick % 13 });
    await new Promise((resolve) => setTimeout(resolve, 25));
    let t = performance.now();
    store.snapshot();
    const rebuilt = performance.now() - t;
    t = performance.now();
    history.record();
    const coldTick = performance.now() - t;
    // The same snapshot once KEDA's calls evaluated its triggers: only the history's own work remains.
    for (const trigger of triggers) trigger.evaluate();
    t = performance.now();
    history.record();
    const sharedTick = performance.now() - t;
    if (tick >= 20) {
      baseline += rebuilt;
      cold += coldTick;
      shared += sharedTick;
    }
  }
  const us = (x: number) => (x * 1000) / ticks;
  return {
    workers,
    // Distinct triggers: metadata maps that repeat resolve to the same trigger.
    triggers: registry.triggers().length,
    coldUsPerTick: us(cold),
    sharedUsPerTick: us(shared),
    baselineUsPerTick: us(baseline),
    coldRatio: cold / baseline,
    sharedRatio: shared / baseline,
    coreFraction: cold / ticks / 1000,
    historyBytes: history.footprint().bytes,
  };
}

export async function runStatusHistoryBench(options: StatusHistoryOptions = DEFAULT_STATUS_HISTORY_OPTIONS): Promise<StatusHistoryResult> {
  console.log(`Status page history: record() per tick, ${options.triggers} trigger metadata maps, ${options.ticks} ticks, baseline = one snapshot rebuild`);
  const rows: StatusHistoryRow[] = [];
  for (const w of options.workerCounts) rows.push(await measure(w, options.triggers, options.ticks));
  console.log(
    table(
      ['workers', 'record, cold µs', 'record, shared µs', 'snapshot rebuild µs', 'cold ÷ rebuild', 'shared ÷ rebuild', '% core at 1/s', 'history KiB'],
      rows.map((r) => [
        String(r.workers),
        fmt(r.coldUsPerTick, 0),
        fmt(r.sharedUsPerTick, 0),
        fmt(r.baselineUsPerTick, 0),
        `${fmt(r.coldRatio, 2)}×`,
        `${fmt(r.sharedRatio, 2)}×`,
        fmt(r.coreFraction * 100, 2),
        fmt(r.historyBytes / 1024, 0),
      ]),
    ),
  );
  return { options, rows };
}

if (isMain(import.meta.url)) {
  await runStatusHistoryBench();
}
