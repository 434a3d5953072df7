/**
 * Hardening benchmark: the built binary (`node dist/cli.js serve --config …`) under two hostile
 * loads, measured from outside as KEDA and an attacker would see it.
 *
 * 1. GetMetrics p99 (grpc-js client, paced) for `queue_depth` on a pool of one ordinary vLLM
 *    worker, then on the same pool with a second worker serving ~50,000 series: the hot path must
 *    not wait behind collection (goal: p99 ratio ≤ 2).
 * 2. Memory: RSS of the scaler before and after 2,000 GetMetricSpec calls, each with a distinct
 *    100 KB `model` value, and the time `/api/v1/decisions` takes afterwards.
 *
 * `--dist <dir>` runs another build (e.g. one of the unmodified code) with this same harness.
 * Options: --calls 2000 --rate 200 --series 50000 --triggers 2000 --value-kb 100 --dist dist
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { request } from 'undici';
import { externalScalerClientConstructor } from '../src/grpc/proto.js';
import type { GetMetricSpecResponse, GetMetricsResponse, ScaledObjectRef } from '../src/grpc/messages.js';
import { ensureBenchProto, fmt, isMain, percentile, processRssMiB, readVllmFixture, repoRoot, startFixtureServer, type FixtureServer } from './common.js';

export interface HardeningOptions {
  calls: number;
  rate: number;
  series: number;
  triggers: number;
  valueKb: number;
  dist: string;
}

export interface LatencyRun {
  readonly label: string;
  readonly calls: number;
  readonly errors: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export interface HardeningResult {
  readonly options: HardeningOptions;
  readonly without: LatencyRun;
  readonly with: LatencyRun;
  readonly ratio: number;
  readonly memory: {
    readonly rssBeforeMiB: number;
    readonly rssAfterMiB: number;
    readonly accepted: number;
    readonly refused: number;
    readonly otherErrors: number;
    readonly decisionsMs: number;
    readonly decisionsStatus: number;
    readonly decisionsBytes: number;
    readonly rssAfterDecisionsMiB: number;
    /** GetMetrics calls made while `/api/v1/decisions` was being answered, and the slowest of them. */
    readonly concurrentCalls: number;
    readonly concurrentMaxMs: number;
  };
}

export function parseHardeningArgs(argv: readonly string[]): HardeningOptions {
  const { values } = parseArgs({
    args: [...argv],
    strict: false,
    options: {
      'hardening-calls': { type: 'string' },
      'hardening-rate': { type: 'string' },
      'hardening-series': { type: 'string' },
      'hardening-triggers': { type: 'string' },
      'hardening-value-kb': { type: 'string' },
      'hardening-dist': { type: 'string' },
    },
  });
  const num = (key: string, fallback: number) => {
    const v = values[key];
    return typeof v === 'string' ? Number(v) : fallback;
  };
  const dist = values['hardening-dist'];
  return {
    calls: num('hardening-calls', 2000),
    rate: num('hardening-rate', 200),
    series: num('hardening-series', 50_000),
    triggers: num('hardening-triggers', 2000),
    valueKb: num('hardening-value-kb', 100),
    dist: typeof dist === 'string' ? path.resolve(dist) : path.join(repoRoot(), 'dist'),
  };
}

/** The vLLM fixture followed by `series` more engines' running-requests gauges: one worker with a very wide exposition. */
function wideExposition(series: number): string {
  const lines = [readVllmFixture()];
  // A name the vLLM profile reads, so every line is parsed, not skipped by name.
  lines.push('# TYPE vllm:num_requests_running gauge');
  for (let i = 0; i < series; i++) lines.push(`vllm:num_requests_running{engine="${i + 2}",model_name="Qwen/Qwen3-0.6B"} ${i % 3}`);
  return lines.join('\n') + '\n';
}

interface Serving {
  readonly child: ChildProcess;
  readonly grpcPort: number;
  readonly httpPort: number;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function serve(dist: string, targets: readonly string[]): Promise<Serving> {
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-hardening-'));
  const grpcPort = await freePort();
  const httpPort = await freePort();
  const file = path.join(dir, 'scaler.yaml');
  writeFileSync(
    file,
    [
      `grpc: { host: 127.0.0.1, port: ${grpcPort} }`,
      `http: { host: 127.0.0.1, port: ${httpPort} }`,
      'checkInterval: 1s',
      'cacheTtl: 5s',
      'logLevel: warn',
      'pools:',
      '  - name: llama',
      '    source: vllm',
      `    targets: [${targets.map((t) => `"${t}"`).join(', ')}]`,
      '',
    ].join('\n'),
  );
  const child = spawn(process.execPath, [path.join(dist, 'cli.js'), 'serve', '--config', file], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`scaler exited with ${child.exitCode} at start-up`);
    try {
      const r = await request(`http://127.0.0.1:${httpPort}/readyz`);
      await r.body.dump();
      if (r.statusCode === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('scaler not ready within 30 s');
    await sleep(100);
  }
  return {
    child,
    grpcPort,
    httpPort,
    stop: async () => {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

interface Client extends grpc.Client {
  GetMetrics(r: { scaledObjectRef: ScaledObjectRef; metricName: string }, cb: (e: grpc.ServiceError | null, r?: GetMetricsResponse) => void): void;
  GetMetricSpec(r: ScaledObjectRef, cb: (e: grpc.ServiceError | null, r?: GetMetricSpecResponse) => void): void;
}

function client(port: number): Client {
  const Ctor = externalScalerClientConstructor();
  return new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as Client;
}

const REF: ScaledObjectRef = { name: 'so', namespace: 'default', scalerMetadata: { pool: 'llama', metric: 'queue_depth', target: '5' } };

function getMetrics(c: Client): Promise<{ ms: number; ok: boolean }> {
  const started = performance.now();
  return new Promise((resolve) => c.GetMetrics({ scaledObjectRef: REF, metricName: '' }, (e) => resolve({ ms: performance.now() - started, ok: e === null })));
}

/** `calls` GetMetrics at `rate`/s (open loop: a slow answer does not delay the next call). */
async function pacedLatency(c: Client, label: string, calls: number, rate: number): Promise<LatencyRun> {
  const pending: Promise<{ ms: number; ok: boolean }>[] = [];
  const start = performance.now();
  for (let i = 0; i < calls; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    pending.push(getMetrics(c));
  }
  const results = await Promise.all(pending);
  const sorted = Float64Array.from(results.map((r) => r.ms)).sort();
  return {
    label,
    calls,
    errors: results.filter((r) => !r.ok).length,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted[sorted.length - 1] ?? NaN,
  };
}

async function latencyWith(options: HardeningOptions, targets: readonly string[], label: string): Promise<LatencyRun> {
  const scaler = await serve(options.dist, targets);
  const c = client(scaler.grpcPort);
  try {
    // Several collections first, so the wide worker's scrapes are under way throughout.
    await pacedLatency(c, 'warm-up', Math.min(200, options.calls), options.rate);
    await sleep(3000);
    return await pacedLatency(c, label, options.calls, options.rate);
  } finally {
    c.close();
    await scaler.stop();
  }
}

async function memoryBound(options: HardeningOptions, target: string): Promise<HardeningResult['memory']> {
  const scaler = await serve(options.dist, [target]);
  const c = client(scaler.grpcPort);
  try {
    await sleep(2000);
    const pid = scaler.child.pid;
    const rssBeforeMiB = processRssMiB(pid);
    let accepted = 0;
    let refused = 0;
    let otherErrors = 0;
    const filler = 'm'.repeat(options.valueKb * 1024 - 12);
    // 16 in flight: what one careless client loop does.
    let next = 0;
    const one = async (): Promise<void> => {
      while (next < options.triggers) {
        const i = next++;
        const ref: ScaledObjectRef = {
          name: `so-${i}`,
          namespace: 'default',
          scalerMetadata: { ...REF.scalerMetadata, model: `${String(i).padStart(10, '0')}-${filler}` },
        };
        const code = await new Promise<number>((resolve) => c.GetMetricSpec(ref, (e) => resolve(e ? e.code : 0)));
        if (code === 0) accepted++;
        else if (code === grpc.status.INVALID_ARGUMENT || code === grpc.status.RESOURCE_EXHAUSTED) refused++;
        else otherErrors++;
      }
    };
    await Promise.all(Array.from({ length: 16 }, one));
    await sleep(2000);
    const rssAfterMiB = processRssMiB(pid);

    // GetMetrics keeps coming while the decisions are answered: how long does the slowest wait?
    let concurrentCalls = 0;
    let concurrentMaxMs = 0;
    let done = false;
    const prober = (async () => {
      while (!done) {
        const r = await getMetrics(c);
        concurrentCalls++;
        concurrentMaxMs = Math.max(concurrentMaxMs, r.ms);
        await sleep(20);
      }
    })();
    const started = performance.now();
    let decisionsStatus = 0;
    let decisionsBytes = 0;
    try {
      const r = await request(`http://127.0.0.1:${scaler.httpPort}/api/v1/decisions`, { headersTimeout: 120_000, bodyTimeout: 120_000 });
      decisionsStatus = r.statusCode;
      decisionsBytes = (await r.body.arrayBuffer()).byteLength;
    } catch {
      decisionsStatus = -1;
    }
    const decisionsMs = performance.now() - started;
    done = true;
    await prober;
    const rssAfterDecisionsMiB = processRssMiB(pid);
    return {
      rssBeforeMiB,
      rssAfterMiB,
      accepted,
      refused,
      otherErrors,
      decisionsMs,
      decisionsStatus,
      decisionsBytes,
      rssAfterDecisionsMiB,
      concurrentCalls,
      concurrentMaxMs,
    };
  } finally {
    c.close();
    await scaler.stop();
  }
}

export async function runHardeningBench(options: HardeningOptions): Promise<HardeningResult> {
  console.log(
    `Hardening (${options.dist}): GetMetrics p99 with and without a ${fmt(options.series, 0)}-series worker; memory under ${options.triggers} triggers`,
  );
  const normal: FixtureServer = await startFixtureServer(readVllmFixture());
  const wide: FixtureServer = await startFixtureServer(wideExposition(options.series));
  try {
    const without = await latencyWith(options, [`127.0.0.1:${normal.port}`], 'one ordinary worker');
    const withWide = await latencyWith(options, [`127.0.0.1:${normal.port}`, `127.0.0.1:${wide.port}`], `plus a ${options.series}-series worker`);
    const ratio = withWide.p99Ms / without.p99Ms;
    for (const r of [without, withWide]) {
      console.log(
        `  GetMetrics ${r.label}: ${r.calls} calls at ${options.rate}/s, p50 ${fmt(r.p50Ms, 2)} ms, p99 ${fmt(r.p99Ms, 2)} ms, ` +
          `max ${fmt(r.maxMs, 1)} ms, ${r.errors} errors`,
      );
    }
    console.log(`  p99 ratio with/without the wide worker: ${fmt(ratio, 2)}× (goal ≤ 2×)`);
    const memory = await memoryBound(options, `127.0.0.1:${normal.port}`);
    console.log(
      `  ${options.triggers} GetMetricSpec with distinct ${options.valueKb} KB models: ${memory.accepted} accepted, ${memory.refused} refused, ` +
        `${memory.otherErrors} other errors; RSS ${fmt(memory.rssBeforeMiB, 0)} → ${fmt(memory.rssAfterMiB, 0)} MiB`,
    );
    console.log(
      `  /api/v1/decisions: HTTP ${memory.decisionsStatus}, ${fmt(memory.decisionsBytes / 1024, 0)} KiB in ${fmt(memory.decisionsMs, 0)} ms; ` +
        `RSS after ${fmt(memory.rssAfterDecisionsMiB, 0)} MiB; GetMetrics meanwhile: ${memory.concurrentCalls} calls, ` +
        `slowest ${fmt(memory.concurrentMaxMs, 1)} ms`,
    );
    return { options, without, with: withWide, ratio, memory };
  } finally {
    await normal.close();
    await wide.close();
  }
}

if (isMain(import.meta.url)) {
  ensureBenchProto();
  runHardeningBench(parseHardeningArgs(process.argv.slice(2))).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
