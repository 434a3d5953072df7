/**
 * `source: prometheus` versus direct scraping, in the same run: 1,000 vLLM workers (fixture
 * servers, two data-parallel engines each, in their own child process) scraped every second by a
 * real Prometheus, and the scaler (a child process of its own) collecting one pool of those workers
 * either directly (`source: vllm`, every worker scraped every 1 s check interval) or from Prometheus
 * (`source: prometheus`, a fixed set of instant queries every interval), in alternating windows.
 *
 * Printed: the scaler's CPU per check interval for each (ms of CPU per 1 s round, and in % of one
 * core), their ratio, samples recorded per second, and Prometheus's own CPU in each window (it
 * scrapes the fleet throughout, and answers the queries during the Prometheus windows). Needs the
 * `prometheus` binary on PATH; skipped otherwise.
 *
 * Run alone: node dist-bench/bench/prometheus-source.js [--prom-workers 1000] [--prom-duration 15] [--prom-rounds 2]
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { ChildHandle } from './child-handle.js';
import type { ChildWindow } from './child.js';
import { ensureBenchProto, fmt, isMain, machineBusySeconds, onPath, otherLoadCores, processCpuSeconds, table } from './common.js';
import { PrometheusRun } from './services.js';

export interface PrometheusSourceBenchOptions {
  workers: number;
  /** Seconds measured per window, after `warmupS`. */
  durationS: number;
  warmupS: number;
  /** Rounds of direct then Prometheus (the order reverses every other round). */
  rounds: number;
}

export const DEFAULT_PROMETHEUS_SOURCE_OPTIONS: PrometheusSourceBenchOptions = { workers: 1000, durationS: 15, warmupS: 8, rounds: 2 };

export interface SourceWindow {
  source: 'direct' | 'prometheus';
  round: number;
  seconds: number;
  /** Scaler CPU per 1 s check interval, in ms. */
  scalerCpuMsPerInterval: number;
  /** Scaler CPU per 1,000 worker samples recorded (one full round of the fleet), in ms: the cost of the same work. */
  scalerCpuMsPer1000Samples: number;
  /** Rounds of queries completed per second (prometheus only; 1 when the engine keeps up). */
  roundsPerS?: number;
  samplesPerS: number;
  failedPerS: number;
  scalerRssMiB: number;
  prometheusCores: number;
  otherLoadCores: number;
  notReady?: string;
}

export interface PrometheusSourceBenchResult {
  options: PrometheusSourceBenchOptions;
  windows: SourceWindow[];
  /** Mean scaler CPU per interval through Prometheus / directly. */
  ratio: number;
  /** Mean scaler CPU per 1,000 samples through Prometheus / directly. */
  ratioPerSample: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function runPrometheusSourceBench(
  options: PrometheusSourceBenchOptions = DEFAULT_PROMETHEUS_SOURCE_OPTIONS,
  log: (line: string) => void = console.log,
): Promise<PrometheusSourceBenchResult | undefined> {
  const binary = onPath('prometheus');
  if (binary === undefined) {
    log('source: prometheus benchmark SKIPPED: prometheus is not on PATH');
    return undefined;
  }
  ensureBenchProto();
  log(
    `source: prometheus vs direct: ${options.workers} vLLM workers scraped every 1 s by Prometheus; the scaler collects them every 1 s ` +
      `directly or through Prometheus, ${options.rounds} rounds of ${options.durationS} s windows`,
  );
  const fixture = await ChildHandle.start('fixture', ['--servers', String(options.workers)], 60_000);
  const ports = fixture.ready.fixturePorts ?? [];
  let prometheus: PrometheusRun | undefined;
  const windows: SourceWindow[] = [];
  try {
    prometheus = await PrometheusRun.start(binary, ports, 1, 'bench');
    // Every target scraped once: the scaler's first round then sees the whole fleet.
    await prometheus.waitAllUp(ports.length);
    const args = {
      direct: ['--target-ports', ports.join(',')],
      // A generous query timeout: on a small machine Prometheus may need more than one interval to answer for 1,000 workers.
      prometheus: ['--prometheus-url', prometheus.url, '--prometheus-selector', '{job="bench"}', '--prometheus-timeout', '20s'],
    } as const;
    for (let round = 1; round <= options.rounds; round++) {
      const order: ('direct' | 'prometheus')[] = round % 2 === 1 ? ['direct', 'prometheus'] : ['prometheus', 'direct'];
      for (const source of order) {
        const scaler = await ChildHandle.start('scaler', args[source], 90_000);
        try {
          await sleep(options.warmupS * 1000);
          await scaler.begin();
          const busy = machineBusySeconds();
          const promCpu = processCpuSeconds(prometheus.pid);
          const ownCpu = process.cpuUsage();
          const t0 = performance.now();
          await sleep(options.durationS * 1000);
          const seconds = (performance.now() - t0) / 1000;
          const busyAfter = machineBusySeconds();
          const promCores = (processCpuSeconds(prometheus.pid) - promCpu) / seconds;
          const own = process.cpuUsage(ownCpu);
          const w: ChildWindow = await scaler.end();
          const cpu = (w.cpuUserUs + w.cpuSystemUs) / 1e6;
          const window: SourceWindow = {
            source,
            round,
            seconds,
            scalerCpuMsPerInterval: (cpu / seconds) * 1000,
            scalerCpuMsPer1000Samples: (cpu * 1e6) / (w.scrapesOk ?? NaN),
            ...(source === 'prometheus' ? { roundsPerS: (w.collections ?? NaN) / seconds } : {}),
            samplesPerS: (w.scrapesOk ?? NaN) / seconds,
            failedPerS: (w.scrapesFailed ?? NaN) / seconds,
            scalerRssMiB: w.rssBytes / 2 ** 20,
            prometheusCores: promCores,
            otherLoadCores: otherLoadCores(busy, busyAfter, cpu + promCores * seconds + (own.user + own.system) / 1e6, seconds),
            ...(w.notReady !== undefined ? { notReady: w.notReady } : {}),
          };
          windows.push(window);
          log(
            `  round ${round}, ${source}: scaler ${fmt(window.scalerCpuMsPerInterval, 1)} ms CPU per interval, ${fmt(window.samplesPerS, 0)} samples/s, ` +
              (window.roundsPerS !== undefined ? `${fmt(window.roundsPerS, 2)} query rounds/s, ` : '') +
              `Prometheus ${fmt(window.prometheusCores * 100, 1)} % of a core, other load ${fmt(window.otherLoadCores, 2)} cores` +
              (window.notReady ? `, NOT READY: ${window.notReady}` : ''),
          );
        } finally {
          await scaler.stop();
        }
      }
    }
  } finally {
    await prometheus?.stop();
    await fixture.stop();
  }
  const mean = (source: SourceWindow['source'], key: 'scalerCpuMsPerInterval' | 'scalerCpuMsPer1000Samples') => {
    const ws = windows.filter((w) => w.source === source);
    return ws.reduce((n, w) => n + w[key], 0) / ws.length;
  };
  const result: PrometheusSourceBenchResult = {
    options,
    windows,
    ratio: mean('prometheus', 'scalerCpuMsPerInterval') / mean('direct', 'scalerCpuMsPerInterval'),
    ratioPerSample: mean('prometheus', 'scalerCpuMsPer1000Samples') / mean('direct', 'scalerCpuMsPer1000Samples'),
  };
  log('');
  log(formatPrometheusSource(result));
  return result;
}

export function formatPrometheusSource(r: PrometheusSourceBenchResult): string {
  const rows = r.windows.map((w) => [
    String(w.round),
    w.source,
    fmt(w.scalerCpuMsPerInterval, 1),
    fmt(w.scalerCpuMsPerInterval / 10, 1) + ' %',
    fmt(w.scalerCpuMsPer1000Samples, 0),
    fmt(w.samplesPerS, 0),
    w.roundsPerS !== undefined ? fmt(w.roundsPerS, 2) : '',
    fmt(w.failedPerS, 0),
    fmt(w.scalerRssMiB, 0),
    fmt(w.prometheusCores * 100, 1) + ' %',
    fmt(w.otherLoadCores, 2),
  ]);
  return [
    table(
      [
        'round',
        'scaler source',
        'scaler CPU ms / interval',
        'of one core',
        'scaler CPU ms / 1,000 samples',
        'samples/s',
        'query rounds/s',
        'failed/s',
        'scaler RSS MiB',
        'Prometheus CPU',
        'other load',
      ],
      rows,
    ),
    `${r.options.workers} workers: scaler CPU through Prometheus / directly = ${fmt(r.ratio, 3)} per interval, ${fmt(r.ratioPerSample, 3)} per 1,000 ` +
      'samples (query rounds/s below 1: the engine needs longer than an interval to answer)',
  ].join('\n');
}

export function parsePrometheusSourceArgs(argv: readonly string[]): PrometheusSourceBenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: false,
    options: { 'prom-workers': { type: 'string' }, 'prom-duration': { type: 'string' }, 'prom-rounds': { type: 'string' } },
  });
  const d = DEFAULT_PROMETHEUS_SOURCE_OPTIONS;
  const num = (v: unknown, fallback: number) => (typeof v === 'string' && Number.isFinite(Number(v)) && Number(v) > 0 ? Number(v) : fallback);
  return {
    workers: num(values['prom-workers'], d.workers),
    durationS: num(values['prom-duration'], d.durationS),
    warmupS: d.warmupS,
    rounds: num(values['prom-rounds'], d.rounds),
  };
}

if (isMain(import.meta.url)) {
  runPrometheusSourceBench(parsePrometheusSourceArgs(process.argv.slice(2))).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
