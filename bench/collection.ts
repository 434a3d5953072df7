/**
 * End-to-end collection cost, side by side with Prometheus: the real Scaler in a child process
 * with one vLLM pool of `workers` targets (history on, as always), `checkInterval: 1s`, and —
 * when a `prometheus` binary is on PATH — Prometheus scraping the same workers every 1 s, in
 * alternating rounds of the same run. The workers (a second child, bench/vllm-fleet.ts) are vLLM
 * expositions in prometheus_client's format, two data-parallel engines each, whose gauges,
 * counters and histograms change every tick (500 ms), each its own keep-alive HTTP server.
 *
 * Printed: CPU time per scrape of each collector and their ratio (goal ≤ 0.5), the scaler's
 * cores, heap and RSS; with StreamIsActive streams open on the pool; and, with `--collect-soak`,
 * heap and RSS over a long run (flat within ± 5 % from minute 2 on).
 *
 * Run alone: node dist-bench/bench/collection.js [--collect-workers 1000] [--collect-duration 20] [--collect-rounds 2]
 *            [--collect-streams 10] [--collect-soak 600]
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { ChildHandle } from './child-handle.js';
import type { ChildWindow } from './child.js';
import { ensureBenchProto, fmt, isMain, machineBusySeconds, onPath, otherLoadCores, processCpuSeconds, processRssMiB, table } from './common.js';
import { externalScalerClientConstructor } from '../src/grpc/proto.js';
import type { IsActiveResponse, ScaledObjectRef } from '../src/grpc/messages.js';
import { PrometheusRun, prometheusVersion } from './services.js';

export interface CollectionOptions {
  workers: number;
  /** Seconds measured per step, after `warmupS`. */
  durationS: number;
  warmupS: number;
  /** Rounds of scaler then Prometheus (the order reverses every other round). */
  rounds: number;
  /** StreamIsActive streams opened for one more scaler step (0 skips it). */
  streams: number;
  /** Seconds of a scaler-only soak with heap and RSS sampled every 30 s (0 skips it). */
  soakS: number;
  /** The workers' tick: how often their bodies change. */
  tickMs: number;
}

export const DEFAULT_COLLECTION_OPTIONS: CollectionOptions = { workers: 1000, durationS: 20, warmupS: 12, rounds: 2, streams: 10, soakS: 0, tickMs: 500 };

export interface CollectorStep {
  collector: 'scaler' | 'prometheus';
  round: number;
  streams: number;
  seconds: number;
  scrapesPerS: number;
  /** Process CPU, in cores (1 = one core fully busy). */
  cores: number;
  cpuUsPerScrape: number;
  rssMiB: number;
  heapUsedMiB?: number;
  otherLoadCores: number;
  notReady?: string;
}

export interface SoakPoint {
  minute: number;
  heapUsedMiB: number;
  rssMiB: number;
}

export interface CollectionResult {
  options: CollectionOptions;
  steps: CollectorStep[];
  soak?: SoakPoint[];
  prometheusVersion?: string;
}

interface StreamClient extends grpc.Client {
  StreamIsActive(request: ScaledObjectRef): grpc.ClientReadableStream<IsActiveResponse>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function runCollectionBench(
  options: CollectionOptions = DEFAULT_COLLECTION_OPTIONS,
  log: (line: string) => void = console.log,
): Promise<CollectionResult> {
  ensureBenchProto();
  const prometheus = onPath('prometheus');
  const result: CollectionResult = { options, steps: [] };
  if (prometheus) result.prometheusVersion = await prometheusVersion(prometheus);
  log(
    `Collection benchmark: ${options.workers} vLLM workers (prometheus_client format, 2 engines, bodies changing every ${options.tickMs} ms) ` +
      `scraped every 1 s by the scaler${prometheus ? ` and by Prometheus ${result.prometheusVersion}` : ' (no prometheus on PATH: scaler only)'}; ` +
      `${options.rounds} round(s), ${options.warmupS} s warm-up + ${options.durationS} s each`,
  );
  const fleet = await ChildHandle.start('fleet', ['--servers', String(options.workers), '--tick-ms', String(options.tickMs)], 120_000);
  const ports = fleet.ready.fixturePorts ?? [];

  const measureScaler = async (round: number, streams: number): Promise<CollectorStep> => {
    const scaler = await ChildHandle.start('scaler', ['--target-ports', ports.join(',')], 120_000);
    const Client = externalScalerClientConstructor();
    const client = new Client(`127.0.0.1:${scaler.ready.grpcPort}`, grpc.credentials.createInsecure()) as unknown as StreamClient;
    const calls: grpc.ClientReadableStream<IsActiveResponse>[] = [];
    try {
      for (let i = 0; i < streams; i++) {
        const call = client.StreamIsActive({
          name: `bench-push-${i}`,
          namespace: 'bench',
          scalerMetadata: { pool: 'bench', metric: 'queue_depth', target: '5', activationThreshold: '1000000', metricName: `bench-push-${i}` },
        });
        call.on('data', () => undefined);
        call.on('error', () => undefined);
        calls.push(call);
      }
      await sleep(options.warmupS * 1000);
      await scaler.begin();
      const busy = machineBusySeconds();
      const own = process.cpuUsage();
      const started = performance.now();
      await sleep(options.durationS * 1000);
      const seconds = (performance.now() - started) / 1000;
      const busyAfter = machineBusySeconds();
      const ownCpu = process.cpuUsage(own);
      const w: ChildWindow = await scaler.end();
      const cpu = (w.cpuUserUs + w.cpuSystemUs) / 1e6;
      const scrapes = w.scrapesOk ?? NaN;
      return {
        collector: 'scaler',
        round,
        streams,
        seconds,
        scrapesPerS: scrapes / seconds,
        cores: cpu / seconds,
        cpuUsPerScrape: (cpu * 1e6) / scrapes,
        rssMiB: w.rssBytes / 2 ** 20,
        heapUsedMiB: w.heapUsedBytes / 2 ** 20,
        // The fleet's CPU counts as other load here, as it does for Prometheus.
        otherLoadCores: otherLoadCores(busy, busyAfter, cpu + (ownCpu.user + ownCpu.system) / 1e6, seconds),
        ...(w.notReady !== undefined ? { notReady: w.notReady } : {}),
      };
    } finally {
      for (const call of calls) call.cancel();
      client.close();
      await scaler.stop();
    }
  };

  const measurePrometheus = async (binary: string, round: number): Promise<CollectorStep> => {
    const run = await PrometheusRun.start(binary, ports);
    try {
      await sleep(options.warmupS * 1000);
      const cpu0 = processCpuSeconds(run.pid);
      const scrapes0 = await run.scrapes();
      const busy = machineBusySeconds();
      const started = performance.now();
      await sleep(options.durationS * 1000);
      const seconds = (performance.now() - started) / 1000;
      const cpu = processCpuSeconds(run.pid) - cpu0;
      const scrapes = (await run.scrapes()) - scrapes0;
      return {
        collector: 'prometheus',
        round,
        streams: 0,
        seconds,
        scrapesPerS: scrapes / seconds,
        cores: cpu / seconds,
        cpuUsPerScrape: (cpu * 1e6) / scrapes,
        rssMiB: processRssMiB(run.pid),
        otherLoadCores: otherLoadCores(busy, machineBusySeconds(), cpu, seconds),
      };
    } finally {
      await run.stop();
    }
  };

  const logStep = (s: CollectorStep) =>
    log(
      `  round ${s.round} ${s.collector}${s.streams ? ` + ${s.streams} streams` : ''}: ${fmt(s.scrapesPerS, 0)} scrapes/s, ${fmt(s.cores, 2)} cores, ` +
        `${fmt(s.cpuUsPerScrape, 0)} µs CPU per scrape, RSS ${fmt(s.rssMiB, 0)} MiB` +
        `${s.heapUsedMiB !== undefined ? `, heap ${fmt(s.heapUsedMiB, 0)} MiB` : ''}, ` +
        `other load ${fmt(s.otherLoadCores, 2)} cores${s.notReady ? `, NOT READY: ${s.notReady}` : ''}`,
    );
  try {
    for (let round = 1; round <= options.rounds; round++) {
      const order = round % 2 === 1 ? ['scaler', 'prometheus'] : ['prometheus', 'scaler'];
      for (const which of order) {
        if (which === 'prometheus' && !prometheus) continue;
        const step = which === 'scaler' ? await measureScaler(round, 0) : await measurePrometheus(prometheus as string, round);
        result.steps.push(step);
        logStep(step);
      }
    }
    if (options.streams > 0) {
      const step = await measureScaler(options.rounds, options.streams);
      result.steps.push(step);
      logStep(step);
    }
    if (options.soakS > 0) result.soak = await soak(ports, options.soakS, log);
  } finally {
    await fleet.stop();
  }
  log('');
  log(formatCollection(result));
  return result;
}

/** The scaler alone for `seconds`, heap and RSS read every 30 s. */
async function soak(ports: readonly number[], seconds: number, log: (line: string) => void): Promise<SoakPoint[]> {
  log(`  soak: the scaler alone for ${seconds} s, live heap (after a full GC) and RSS every 30 s`);
  const scaler = await ChildHandle.start('scaler', ['--target-ports', ports.join(',')], 120_000, ['--expose-gc']);
  const points: SoakPoint[] = [];
  const started = performance.now();
  try {
    while ((performance.now() - started) / 1000 < seconds) {
      await sleep(30_000);
      await scaler.begin();
      const w = await scaler.end();
      const point = { minute: (performance.now() - started) / 60_000, heapUsedMiB: w.heapUsedBytes / 2 ** 20, rssMiB: w.rssBytes / 2 ** 20 };
      points.push(point);
      log(`    ${fmt(point.minute, 1)} min: heap ${fmt(point.heapUsedMiB, 1)} MiB, RSS ${fmt(point.rssMiB, 1)} MiB`);
    }
  } finally {
    await scaler.stop();
  }
  return points;
}

function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/** Spread of a series from minute 2 on: (max − min) ÷ mean, as ± half of it. */
function flatness(points: readonly SoakPoint[], pick: (p: SoakPoint) => number): { min: number; max: number; plusMinusPercent: number } | undefined {
  const after = points.filter((p) => p.minute >= 2).map(pick);
  if (after.length < 2) return undefined;
  const min = Math.min(...after);
  const max = Math.max(...after);
  return { min, max, plusMinusPercent: ((max - min) / 2 / mean(after)) * 100 };
}

export function formatCollection(r: CollectionResult): string {
  const rows = r.steps.map((s) => [
    String(s.round),
    s.collector + (s.streams ? ` + ${s.streams} streams` : ''),
    fmt(s.scrapesPerS, 0),
    fmt(s.cores * 100, 1) + ' %',
    fmt(s.cpuUsPerScrape, 0),
    s.heapUsedMiB === undefined ? '-' : fmt(s.heapUsedMiB, 0),
    fmt(s.rssMiB, 0),
    fmt(s.otherLoadCores, 2),
  ]);
  const lines = [table(['round', 'collector', 'scrapes/s', 'CPU (of one core)', 'CPU µs/scrape', 'heap MiB', 'RSS MiB', 'other load'], rows)];
  const scaler = r.steps.filter((s) => s.collector === 'scaler' && s.streams === 0);
  const prometheus = r.steps.filter((s) => s.collector === 'prometheus');
  if (scaler.length > 0) {
    const perScrape = mean(scaler.map((s) => s.cpuUsPerScrape));
    lines.push(
      `${r.options.workers} workers every second: the scaler ${fmt(mean(scaler.map((s) => s.cores)) * 100, 1)} % of one core, ${fmt(perScrape, 0)} µs CPU ` +
        `per scrape  budget ≤ 50 % of a core  ${mean(scaler.map((s) => s.cores)) <= 0.5 ? 'PASS' : 'FAIL'}`,
    );
    if (prometheus.length > 0) {
      const ratio = perScrape / mean(prometheus.map((s) => s.cpuUsPerScrape));
      const rounds = scaler.map((s) => {
        const p = prometheus.find((q) => q.round === s.round);
        return p ? fmt(s.cpuUsPerScrape / p.cpuUsPerScrape, 2) : '-';
      });
      lines.push(
        `CPU per scrape, scaler / Prometheus ${r.prometheusVersion ?? ''}: ${fmt(ratio, 2)} (rounds: ${rounds.join(', ')})  ` +
          `goal ≤ 0.5  ${ratio <= 0.5 ? 'PASS' : 'FAIL'}`,
      );
    }
  }
  if (r.soak && r.soak.length > 0) {
    const heap = flatness(r.soak, (p) => p.heapUsedMiB);
    const rss = flatness(r.soak, (p) => p.rssMiB);
    const show = (f: ReturnType<typeof flatness>) => (f ? `${fmt(f.min, 0)}–${fmt(f.max, 0)} MiB (± ${fmt(f.plusMinusPercent, 1)} %)` : 'too short');
    const ok = heap !== undefined && rss !== undefined && heap.plusMinusPercent <= 5 && rss.plusMinusPercent <= 5 && heap.max <= 200;
    lines.push(`soak from minute 2 on: heap ${show(heap)}, RSS ${show(rss)}  budget heap ≤ 200 MiB and flat ± 5 %  ${ok ? 'PASS' : 'FAIL'}`);
  }
  return lines.join('\n');
}

export function parseCollectionArgs(argv: readonly string[]): CollectionOptions {
  const { values } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: false,
    options: {
      'collect-workers': { type: 'string' },
      'collect-duration': { type: 'string' },
      'collect-warmup': { type: 'string' },
      'collect-rounds': { type: 'string' },
      'collect-streams': { type: 'string' },
      'collect-soak': { type: 'string' },
      'collect-tick-ms': { type: 'string' },
    },
  });
  const d = DEFAULT_COLLECTION_OPTIONS;
  const num = (v: unknown, fallback: number) => (typeof v === 'string' && Number.isFinite(Number(v)) ? Number(v) : fallback);
  return {
    workers: num(values['collect-workers'], d.workers),
    durationS: num(values['collect-duration'], d.durationS),
    warmupS: num(values['collect-warmup'], d.warmupS),
    rounds: num(values['collect-rounds'], d.rounds),
    streams: num(values['collect-streams'], d.streams),
    soakS: num(values['collect-soak'], d.soakS),
    tickMs: num(values['collect-tick-ms'], d.tickMs),
  };
}

if (isMain(import.meta.url)) {
  runCollectionBench(parseCollectionArgs(process.argv.slice(2))).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
