/**
 * End-to-end collection cost (budget: "1,000 HTTP workers every second within one CPU core"):
 * the real Scaler in a child process with one vLLM pool of `workers` static targets, each a
 * separate HTTP server (own port, own keep-alive connection) serving the fixture from a second
 * child process, `checkInterval: 1s`. Measures the scaler process's CPU while it collects, first
 * with no client attached, then with StreamIsActive streams open on the pool (KEDA's
 * `external-push` triggers), which are re-checked after every published snapshot (at most every 20 ms).
 * Last, with the streams closed, once the scaler has run long enough for every worker's history
 * to be full (`historySize` samples, 120 s at the defaults): the steady state, where the retained
 * samples make garbage collection dearer than in the first seconds.
 *
 * Run alone: node dist-bench/bench/collection.js [--collect-workers 1000] [--collect-streams 0,1,10] [--collect-duration 5]
 *            [--collect-steady 130 (0: skip)] [--collect-history-size 120]
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { ChildHandle } from './child-handle.js';
import type { ChildWindow } from './child.js';
import { ensureBenchProto, fmt, isMain, machineBusySeconds, otherLoadCores, table } from './common.js';
import { externalScalerClientConstructor } from '../src/grpc/proto.js';
import type { IsActiveResponse, ScaledObjectRef } from '../src/grpc/messages.js';

export interface CollectionOptions {
  workers: number;
  /** Open StreamIsActive streams per step (cumulative), e.g. 0, 1, 10. */
  streams: number[];
  warmupS: number;
  durationS: number;
  /** Measure once more, without streams, after this much scaler uptime (s); 0 skips it. */
  steadyAfterS: number;
  /** The scaler's `historySize` (samples kept per worker); undefined: the default, 120. */
  historySize?: number;
}

export const DEFAULT_COLLECTION_OPTIONS: CollectionOptions = { workers: 1000, streams: [0, 1, 10], warmupS: 3, durationS: 5, steadyAfterS: 130 };

export interface CollectionStep {
  streams: number;
  /** Measured after `steadyAfterS` of uptime (histories full), streams closed. */
  steady?: boolean;
  seconds: number;
  scrapesOkPerS: number;
  scrapesFailedPerS: number;
  /** Scaler process CPU, in cores (1 = one core fully busy). */
  scalerCores: number;
  scalerElu: number;
  fixtureCores: number;
  otherLoadCores: number;
  /** Scaler memory at the end of the step. */
  scalerRssMiB: number;
  scalerHeapUsedMiB: number;
  /** Seconds since the scaler started collecting, at the end of the step. */
  uptimeS: number;
  notReady?: string;
}

export interface CollectionResult {
  options: CollectionOptions;
  steps: CollectionStep[];
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
  log(
    `Collection benchmark: the scaler collecting ${options.workers} vLLM workers (one fixture server each) every 1 s; StreamIsActive streams ` +
      `${options.streams.join(' → ')}` +
      (options.steadyAfterS > 0 ? `, then none after ${options.steadyAfterS} s of uptime (steady state: histories full)` : '') +
      (options.historySize !== undefined ? `; historySize ${options.historySize}` : ''),
  );
  const fixture = await ChildHandle.start('fixture', ['--servers', String(options.workers)], 60_000);
  const ports = fixture.ready.fixturePorts ?? [];
  let scaler: ChildHandle | undefined;
  let client: StreamClient | undefined;
  const calls: grpc.ClientReadableStream<IsActiveResponse>[] = [];
  const steps: CollectionStep[] = [];
  try {
    const scalerStarted = performance.now();
    const historyArgs = options.historySize !== undefined ? ['--history-size', String(options.historySize)] : [];
    scaler = await ChildHandle.start('scaler', ['--target-ports', ports.join(','), ...historyArgs], 60_000);
    const Client = externalScalerClientConstructor();
    client = new Client(`127.0.0.1:${scaler.ready.grpcPort}`, grpc.credentials.createInsecure()) as unknown as StreamClient;
    const measure = async (streams: number, steady: boolean): Promise<void> => {
      if (!scaler) return;
      await Promise.all([scaler.begin(), fixture.begin()]);
      const busy = machineBusySeconds();
      const ownCpu = process.cpuUsage();
      const started = performance.now();
      await sleep(options.durationS * 1000);
      const seconds = (performance.now() - started) / 1000;
      const busyAfter = machineBusySeconds();
      const own = process.cpuUsage(ownCpu);
      const [s, f] = (await Promise.all([scaler.end(), fixture.end()])) as [ChildWindow, ChildWindow];
      const cpu = (w: ChildWindow) => (w.cpuUserUs + w.cpuSystemUs) / 1e6;
      const step: CollectionStep = {
        streams,
        ...(steady ? { steady } : {}),
        seconds,
        scrapesOkPerS: (s.scrapesOk ?? NaN) / seconds,
        scrapesFailedPerS: (s.scrapesFailed ?? NaN) / seconds,
        scalerCores: cpu(s) / seconds,
        scalerElu: s.elu,
        fixtureCores: cpu(f) / seconds,
        otherLoadCores: otherLoadCores(busy, busyAfter, cpu(s) + cpu(f) + (own.user + own.system) / 1e6, seconds),
        scalerRssMiB: s.rssBytes / 2 ** 20,
        scalerHeapUsedMiB: s.heapUsedBytes / 2 ** 20,
        uptimeS: (performance.now() - scalerStarted) / 1000,
        ...(s.notReady !== undefined ? { notReady: s.notReady } : {}),
      };
      steps.push(step);
      log(
        `  ${streams} stream(s)${steady ? ', steady state' : ''}: ${fmt(step.scrapesOkPerS, 0)} scrapes/s ok, ${fmt(step.scrapesFailedPerS, 0)} ` +
          `failed/s, scaler ${fmt(step.scalerCores, 2)} cores, ` +
          `heap ${fmt(step.scalerHeapUsedMiB, 0)} MiB after ${fmt(step.uptimeS, 0)} s, ` +
          `other load ${fmt(step.otherLoadCores, 2)} cores${step.notReady ? `, NOT READY: ${step.notReady}` : ''}`,
      );
    };
    for (const streams of options.streams) {
      while (calls.length < streams) {
        const i = calls.length;
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
      await measure(streams, false);
    }
    if (options.steadyAfterS > 0) {
      for (const call of calls.splice(0)) call.cancel();
      const wait = options.steadyAfterS * 1000 - (performance.now() - scalerStarted);
      await sleep(Math.max(options.warmupS * 1000, wait));
      await measure(0, true);
    }
  } finally {
    for (const call of calls) call.cancel();
    client?.close();
    await scaler?.stop();
    await fixture.stop();
  }
  const result: CollectionResult = { options, steps };
  log('');
  log(formatCollection(result));
  return result;
}

export function formatCollection(r: CollectionResult): string {
  const rows = r.steps.map((s) => [
    `${s.streams}${s.steady ? ' (steady state)' : ''}`,
    fmt(s.scrapesOkPerS, 0),
    fmt(s.scrapesFailedPerS, 0),
    fmt(s.scalerCores * 100, 1) + ' %',
    fmt(s.scalerElu * 100, 0) + ' %',
    fmt((s.scalerCores * 1e6) / s.scrapesOkPerS || NaN, 0),
    fmt(s.fixtureCores * 100, 1) + ' %',
    `${fmt(s.scalerHeapUsedMiB, 0)} / ${fmt(s.scalerRssMiB, 0)} (${fmt(s.uptimeS, 0)} s)`,
    fmt(s.otherLoadCores, 2),
  ]);
  const lines = [
    table(
      [
        'StreamIsActive streams',
        'scrapes/s ok',
        'failed/s',
        'scaler CPU (of one core)',
        'scaler ELU',
        'scaler CPU µs/scrape',
        'fixture servers CPU',
        'scaler heap / RSS MiB (uptime)',
        'other load',
      ],
      rows,
    ),
  ];
  const verdict = (s: CollectionStep) => (s.scalerCores <= 1 && s.scrapesOkPerS >= 0.95 * r.options.workers ? 'PASS' : 'FAIL');
  const idle = r.steps.find((s) => s.streams === 0 && !s.steady);
  if (idle) {
    lines.push(
      `${r.options.workers} workers every second, no client, first seconds: ${fmt(idle.scalerCores * 100, 1)} % of one core, ` +
        `${fmt(idle.scrapesOkPerS, 0)} scrapes/s  budget ≤ 100 %  ${verdict(idle)}`,
    );
  }
  const steady = r.steps.find((s) => s.steady);
  if (steady) {
    lines.push(
      `${r.options.workers} workers every second, no client, steady state (${fmt(steady.uptimeS, 0)} s): ${fmt(steady.scalerCores * 100, 1)} % of one ` +
        `core, ${fmt(steady.scrapesOkPerS, 0)} scrapes/s  budget ≤ 100 %  ${verdict(steady)}`,
    );
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
      'collect-streams': { type: 'string' },
      'collect-duration': { type: 'string' },
      'collect-steady': { type: 'string' },
      'collect-history-size': { type: 'string' },
    },
  });
  const d = DEFAULT_COLLECTION_OPTIONS;
  const num = (v: unknown, fallback: number) => (typeof v === 'string' && Number.isFinite(Number(v)) ? Number(v) : fallback);
  const streams =
    typeof values['collect-streams'] === 'string'
      ? values['collect-streams']
          .split(',')
          .map(Number)
          .filter((n) => Number.isInteger(n) && n >= 0)
      : d.streams;
  return {
    workers: num(values['collect-workers'], d.workers),
    streams: [...streams].sort((a, b) => a - b),
    warmupS: d.warmupS,
    durationS: num(values['collect-duration'], d.durationS),
    steadyAfterS: num(values['collect-steady'], d.steadyAfterS),
    ...(typeof values['collect-history-size'] === 'string' ? { historySize: num(values['collect-history-size'], 120) } : {}),
  };
}

if (isMain(import.meta.url)) {
  runCollectionBench(parseCollectionArgs(process.argv.slice(2))).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
