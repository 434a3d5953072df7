import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unpack } from 'msgpackr';
import { SimulatedDynamoWorker } from '../src/cli/demo/simulated-dynamo.js';
import { loadPattern, SimulatedVllmWorker, VLLM_ITL_BUCKETS, VLLM_REQUEST_LATENCY_BUCKETS, VLLM_TTFT_BUCKETS } from '../src/cli/demo/simulated-worker.js';
import { profileFor } from '../src/sources/http/engine-profiles.js';
import { extractWorkerSample } from '../src/sources/http/extract-sample.js';
import { parsePrometheusText } from '../src/sources/http/prometheus-text.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = resolve(ROOT, 'dist/cli.js');

function requireBuild(): void {
  if (!existsSync(CLI)) {
    throw new Error(`${CLI} is missing: run \`npm run build\` first (\`npm test\` builds before running vitest)`);
  }
}

interface Run {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  readonly exited: Promise<number | null>;
}

function runCli(args: readonly string[]): Run {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const run: Run = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise((resolveExit) => child.on('exit', (code) => resolveExit(code))),
  };
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (run.stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (run.stderr += chunk));
  return run;
}

async function waitFor<T>(what: string, run: Run, check: () => T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline || run.child.exitCode !== null) {
      throw new Error(`timed out waiting for ${what}\n--- stdout ---\n${run.stdout}\n--- stderr ---\n${run.stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Row {
  readonly target: number;
  readonly value: number;
  readonly desired: number;
  readonly active: string;
}

/** Splits demo output into its periodic reports and reads each trigger row. */
function parseReports(stdout: string): Map<string, Row>[] {
  const blocks = stdout.split(/^\[t=[0-9.]+s\]$/m).slice(1);
  return blocks.map((block) => {
    const rows = new Map<string, Row>();
    for (const match of block.matchAll(/^ {2}(kv_cache_usage|queue_depth|running_requests) +([0-9.]+) +([0-9.]+) +(\d+) +(yes|no)$/gm)) {
      rows.set(match[1] as string, {
        target: Number(match[2]),
        value: Number(match[3]),
        desired: Number(match[4]),
        active: match[5] as string,
      });
    }
    return rows;
  });
}

describe('keda-llm-scaler demo (built CLI)', () => {
  let demo: Run | undefined;

  beforeAll(requireBuild);
  afterAll(() => {
    if (demo && demo.child.exitCode === null) demo.child.kill('SIGKILL');
  });

  it('prints its addresses and tables whose values rise and fall, and answers probe over gRPC', async () => {
    demo = runCli(['demo', '--port', '0', '--http-port', '0', '--duration', '8', '--print-every', '1', '--period', '6', '--interval', '200ms']);
    const run = demo;

    const grpcPort = await waitFor('the gRPC address', run, () => /gRPC \(KEDA external scaler\)\s+127\.0\.0\.1:(\d+)/.exec(run.stdout)?.[1]);
    const httpPort = await waitFor('the HTTP address', run, () => /HTTP \(ops\)\s+http:\/\/127\.0\.0\.1:(\d+)/.exec(run.stdout)?.[1]);
    expect(Number(grpcPort)).toBeGreaterThan(0);
    expect(Number(httpPort)).toBeGreaterThan(0);
    // The status page's address comes first, and it is the page.
    expect(run.stdout.split('\n')[0]).toMatch(new RegExp(`^Status page: http://127\\.0\\.0\\.1:${httpPort}/pools/demo {3}<- open it in a browser`));
    const page = await fetch(`http://127.0.0.1:${httpPort}/pools/demo`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(run.stdout).toContain(`probe 127.0.0.1:${grpcPort} pool=demo metric=kv_cache_usage target=0.7`);
    expect(run.stdout).toContain(`grpcurl -plaintext -d '`);
    expect(run.stdout).toMatch(new RegExp(`127\\.0\\.0\\.1:${grpcPort} externalscaler\\.ExternalScaler/GetMetrics`));

    // Once a table shows a value, the scaler has collected: probe it as a separate process.
    await waitFor('a first table with values', run, () => (parseReports(run.stdout).some((r) => r.has('kv_cache_usage')) ? true : undefined));
    const probeRun = runCli(['probe', `127.0.0.1:${grpcPort}`, 'pool=demo', 'metric=kv_cache_usage', 'target=0.7']);
    const probeCode = await probeRun.exited;
    expect(probeCode, probeRun.stderr).toBe(0);
    const result = JSON.parse(probeRun.stdout) as {
      spec: { metricSpecs: { metricName: string; targetSizeFloat: number; targetSize: number }[] };
      metrics: { metricValues: { metricName: string; metricValueFloat: number }[] };
      active: unknown;
      errors: unknown[];
    };
    expect(result.errors).toEqual([]);
    expect(result.spec.metricSpecs).toHaveLength(1);
    expect(result.spec.metricSpecs[0]).toMatchObject({ metricName: 'demo-kv_cache_usage', targetSizeFloat: 0.7, targetSize: 1 });
    expect(result.metrics.metricValues[0]?.metricName).toBe('demo-kv_cache_usage');
    expect(result.metrics.metricValues[0]?.metricValueFloat).toBeGreaterThan(0);
    expect(typeof result.active).toBe('boolean');

    // The page shows the demo's triggers, and WVA's decision in words.
    const status = (await (await fetch(`http://127.0.0.1:${httpPort}/api/v1/status/pools/demo`)).json()) as {
      decisions: { signal: string; headline: string }[];
    };
    expect(status.decisions.map((d) => d.signal).sort()).toEqual(['desired_replicas', 'kv_cache_usage', 'queue_depth', 'running_requests']);
    expect(status.decisions.find((d) => d.signal === 'desired_replicas')!.headline).toMatch(/^(held at \d+|scale (up|down) to \d+ \(from \d+\)) because /);

    const code = await run.exited;
    expect(code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/demo stopped after [0-9.]+s/);

    const reports = parseReports(run.stdout).filter((r) => r.size === 3);
    expect(reports.length, run.stdout).toBeGreaterThanOrEqual(3);
    for (const report of reports) {
      expect(report.get('kv_cache_usage')?.target).toBe(0.7);
      expect(report.get('queue_depth')?.target).toBe(5);
      expect(report.get('running_requests')?.target).toBe(20);
      for (const row of report.values()) expect(row.desired).toBe(Math.ceil(row.value / row.target));
    }
    // The load rises and falls: between consecutive prints the value goes both up and down.
    for (const metric of ['kv_cache_usage', 'running_requests']) {
      const values = reports.map((r) => r.get(metric)?.value ?? NaN);
      const steps = values.slice(1).map((v, i) => v - (values[i] as number));
      expect(
        steps.some((d) => d > 0),
        `${metric} never rises: ${values.join(', ')}`,
      ).toBe(true);
      expect(
        steps.some((d) => d < 0),
        `${metric} never falls: ${values.join(', ')}`,
      ).toBe(true);
    }
  });
});

describe('SimulatedVllmWorker', () => {
  const workers: SimulatedVllmWorker[] = [];
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.close()));
  });

  async function scrape(worker: SimulatedVllmWorker): Promise<{ body: string; contentType: string | null }> {
    const response = await fetch(worker.url, { headers: { accept: 'text/plain' } });
    expect(response.status).toBe(200);
    return { body: await response.text(), contentType: response.headers.get('content-type') };
  }

  it('serves vLLM V1 exposition that the project parser reads back to the values it set', async () => {
    const worker = new SimulatedVllmWorker({ engines: 2, seed: 7, model: 'Qwen/Qwen3-0.6B' });
    workers.push(worker);
    const port = await worker.start();
    expect(worker.target).toBe(`127.0.0.1:${port}`);
    const profile = profileFor('vllm');

    for (const load of [0.3, 1.05]) {
      worker.setLoad(load);
      worker.tick(2);
      const { body, contentType } = await scrape(worker);
      expect(contentType).toMatch(/^text\/plain/);
      const parsed = parsePrometheusText(body, profile.wantedSeries);
      expect(parsed.invalidLines).toBe(0);
      const result = extractWorkerSample(parsed, profile, { at: Date.now() });
      if (!result.ok) throw new Error(result.message);
      const { sample } = result;
      const state = worker.state();

      expect(sample.models).toEqual(['Qwen/Qwen3-0.6B']);
      expect(sample.waiting).toBe(state.waiting);
      expect(sample.running).toBe(state.running);
      expect(sample.kvUsage).toBeCloseTo(state.kvUsage, 12);
      expect(sample.kvBlocksTotal).toBe(2 * 8192);
      expect(state.running).toBe(2 * Math.round(Math.min(load, 1) * 32));
      if (load < 0.85) expect(state.waiting).toBe(0);
      else expect(state.waiting).toBeGreaterThan(0);
      expect(state.kvUsage).toBeGreaterThan(load * 0.9 - 0.021);
      expect(state.kvUsage).toBeLessThan(Math.min(1, load * 0.9 + 0.021));

      expect(sample.counters.generationTokens).toBeGreaterThan(0);
      expect(sample.counters.promptTokens).toBeGreaterThan(0);
      expect(sample.counters.requestSuccess).toBeGreaterThan(0);
      const ttft = sample.histograms.ttft;
      const itl = sample.histograms.itl;
      const e2e = sample.histograms.e2eLatency;
      expect(ttft?.bounds).toEqual([...VLLM_TTFT_BUCKETS, Infinity]);
      expect(itl?.bounds).toEqual([...VLLM_ITL_BUCKETS, Infinity]);
      expect(e2e?.bounds).toEqual([...VLLM_REQUEST_LATENCY_BUCKETS, Infinity]);
      // One TTFT/e2e observation per finished request, one ITL observation per generated token.
      expect(ttft?.count).toBe(sample.counters.requestSuccess);
      expect(e2e?.count).toBe(sample.counters.requestSuccess);
      expect(itl?.count).toBe(sample.counters.generationTokens);
      expect(ttft?.sum).toBeGreaterThan(0);
    }
  });

  it('writes names, labels and types as vLLM V1 does on the wire', async () => {
    const worker = new SimulatedVllmWorker({ seed: 3 });
    workers.push(worker);
    await worker.start();
    worker.setLoad(0.5);
    worker.tick(1);
    const { body } = await scrape(worker);
    expect(body).toContain('# TYPE vllm:prompt_tokens_total counter');
    expect(body).toContain('# TYPE vllm:generation_tokens_total counter');
    expect(body).toContain('# TYPE vllm:num_requests_waiting gauge');
    expect(body).toContain('# TYPE vllm:time_to_first_token_seconds histogram');
    expect(body).toMatch(/^vllm:kv_cache_usage_perc\{engine="0",model_name="meta-llama\/Llama-3\.1-8B-Instruct"\} [0-9.e-]+$/m);
    expect(body).toMatch(/^vllm:cache_config_info\{[^}]*block_size="16"[^}]*engine="0"[^}]*num_gpu_blocks="8192"[^}]*\} 1$/m);
    for (const reason of ['stop', 'length', 'abort']) {
      expect(body).toMatch(new RegExp(`^vllm:request_success_total\\{engine="0",finished_reason="${reason}",model_name="[^"]+"\\} \\d+$`, 'm'));
    }
    expect(body).toMatch(/^vllm:time_to_first_token_seconds_bucket\{le="\+Inf",engine="0",model_name="[^"]+"\} \d+$/m);
    expect(body).not.toMatch(/_created/);
    expect((await fetch(`http://${worker.target}/nope`)).status).toBe(404);
  });

  it('is deterministic for a seed and rejects impossible loads', async () => {
    const a = new SimulatedVllmWorker({ seed: 42 });
    const b = new SimulatedVllmWorker({ seed: 42 });
    for (const w of [a, b]) {
      w.setLoad(0.9);
      w.tick(0.5);
      w.setLoad(0.4);
      w.tick(0.5);
    }
    expect(await a.metrics()).toBe(await b.metrics());
    expect(() => a.setLoad(-1)).toThrow(RangeError);
    expect(() => a.setLoad(Number.NaN)).toThrow(RangeError);
  });
});

describe('loadPattern', () => {
  it('rises from ~0.05 to ~1.1 and falls back within one period', () => {
    const samples = Array.from({ length: 601 }, (_, i) => loadPattern(i / 10, 0, 60));
    expect(Math.min(...samples)).toBeCloseTo(0.05, 6);
    expect(Math.max(...samples)).toBeCloseTo(1.1, 6);
    expect(loadPattern(0)).toBeCloseTo(0.05, 6);
    expect(loadPattern(30)).toBeCloseTo(1.1, 6);
    expect(loadPattern(60)).toBeCloseTo(0.05, 6);
    expect(loadPattern(15, Math.PI / 2)).toBeCloseTo(1.1, 6);
  });
});

const DYNAMO_ROW = /^ {2}(kv_cache_usage|kv_blocks_usage_percent|load_avg) +([0-9.]+) +(?:([0-9.]+) +(\d+) +(yes|no)|- +- +(.+))$/gm;

interface DynamoRow {
  readonly target: number;
  readonly value?: number;
  readonly desired?: number;
  readonly error?: string;
}

/** The Dynamo demo's reports: each trigger row, with a value or the error KEDA would get. */
function parseDynamoReports(stdout: string): Map<string, DynamoRow>[] {
  return stdout
    .split(/^\[t=[0-9.]+s\]$/m)
    .slice(1)
    .map((block) => {
      const rows = new Map<string, DynamoRow>();
      for (const m of block.matchAll(DYNAMO_ROW)) {
        rows.set(
          m[1] as string,
          m[3] === undefined ? { target: Number(m[2]), error: m[6] } : { target: Number(m[2]), value: Number(m[3]), desired: Number(m[4]) },
        );
      }
      return rows;
    })
    .filter((rows) => rows.size === 3);
}

function expectRisesAndFalls(reports: Map<string, DynamoRow>[], metric: string): void {
  const values = reports.map((r) => r.get(metric)?.value ?? NaN);
  const steps = values.slice(1).map((v, i) => v - (values[i] as number));
  expect(
    steps.some((d) => d > 0),
    `${metric} never rises: ${values.join(', ')}`,
  ).toBe(true);
  expect(
    steps.some((d) => d < 0),
    `${metric} never falls: ${values.join(', ')}`,
  ).toBe(true);
}

describe('keda-llm-scaler demo --source dynamo (built CLI)', () => {
  const runs: Run[] = [];
  beforeAll(requireBuild);
  afterAll(() => {
    for (const run of runs) if (run.child.exitCode === null) run.child.kill('SIGKILL');
  });
  const args = [
    'demo',
    '--source',
    'dynamo',
    '--port',
    '0',
    '--http-port',
    '0',
    '--duration',
    '7',
    '--print-every',
    '0.8',
    '--period',
    '4',
    '--interval',
    '200ms',
  ];

  it('names its path in the banner and shows load_avg, kv_blocks_usage_percent and kv_cache_usage changing', async () => {
    const run = runCli(args);
    runs.push(run);
    const path = await waitFor('the Dynamo path', run, () => /^ {2}Dynamo path +(event plane over NATS|HTTP system port)/m.exec(run.stdout)?.[1]);
    const httpPort = await waitFor('the HTTP address', run, () => /HTTP \(ops\)\s+http:\/\/127\.0\.0\.1:(\d+)/.exec(run.stdout)?.[1]);
    expect(run.stdout).toContain('simulated NVIDIA Dynamo workers');
    // The llm_* gauges are on the scaler's /metrics while it runs.
    await waitFor('llm_load_avg on /metrics', run, () => (parseDynamoReports(run.stdout).length > 0 ? true : undefined));
    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    expect(metrics).toMatch(/^llm_load_avg\{pool="demo",component="(backend|demo)",endpoint="(load_metrics|generate)"\} [0-9.]+$/m);
    expect(metrics).toMatch(/^llm_kv_blocks_active\{pool="demo",.*worker_id="[^"]+"\} \d+$/m);

    expect(await run.exited, run.stderr).toBe(0);
    const reports = parseDynamoReports(run.stdout);
    expect(reports.length, run.stdout).toBeGreaterThanOrEqual(4);
    for (const report of reports) {
      expect(report.get('kv_cache_usage')?.target).toBe(0.7);
      expect(report.get('kv_blocks_usage_percent')?.target).toBe(70);
      expect(report.get('load_avg')?.target).toBe(2867);
    }
    expectRisesAndFalls(reports, 'load_avg');
    if (path === 'event plane over NATS') {
      expect(run.stdout).toMatch(/^ {2}pool +source dynamo-nats, mode event-plane/m);
      expect(run.stdout).toMatch(/^ {2}nats-server +nats:\/\/127\.0\.0\.1:\d+ \(started by the demo\)$/m);
      // ActiveLoad carries blocks in use, not capacity: the ratios are unavailable, never invented.
      for (const report of reports) {
        expect(report.get('kv_cache_usage')?.error).toMatch(/GetMetrics: UNAVAILABLE/);
        expect(report.get('kv_blocks_usage_percent')?.error).toMatch(/GetMetrics: UNAVAILABLE/);
      }
    } else {
      expect(run.stdout).toMatch(/^ {2}pool +source dynamo-http$/m);
      expectRisesAndFalls(reports, 'kv_cache_usage');
      expectRisesAndFalls(reports, 'kv_blocks_usage_percent');
    }
  });

  it('--transport http: reads the workers’ system port, every ratio answered and consistent', async () => {
    const run = runCli([...args, '--transport', 'http']);
    runs.push(run);
    expect(await run.exited, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^ {2}Dynamo path +HTTP system port: each worker serves Dynamo \/metrics/m);
    expect(run.stdout).toMatch(/^ {2}why not NATS +chosen with --transport http$/m);
    const reports = parseDynamoReports(run.stdout);
    expect(reports.length, run.stdout).toBeGreaterThanOrEqual(4);
    for (const metric of ['kv_cache_usage', 'kv_blocks_usage_percent', 'load_avg']) expectRisesAndFalls(reports, metric);
    for (const report of reports) {
      for (const row of report.values()) expect(row.desired).toBe(Math.ceil((row.value ?? NaN) / row.target));
      // Every worker has 4096 blocks: 100 × used/total and the mean usage fraction agree.
      expect((report.get('kv_blocks_usage_percent')?.value ?? NaN) / 100).toBeCloseTo(report.get('kv_cache_usage')?.value ?? NaN, 2);
    }
  });

  it('rejects --transport without --source dynamo', async () => {
    const run = runCli(['demo', '--transport', 'http', '--duration', '1']);
    runs.push(run);
    expect(await run.exited).toBe(2);
    expect(run.stderr).toContain('--transport: only applies to --source dynamo');
  });
});

describe('SimulatedDynamoWorker', () => {
  const workers: SimulatedDynamoWorker[] = [];
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.close()));
  });

  it('builds 2026 event-plane envelopes around an ActiveLoad', () => {
    const worker = new SimulatedDynamoWorker({ seed: 5, totalBlocks: 1000, noise: 0 });
    worker.setLoad(1);
    const { envelope } = worker.message();
    const decoded = unpack(envelope) as { publisher_id: bigint; sequence: unknown; published_at: unknown; topic: string; payload: Uint8Array };
    expect(Object.keys(decoded)).toEqual(['publisher_id', 'sequence', 'published_at', 'topic', 'payload']);
    expect(decoded.topic).toBe('kv_metrics');
    expect(Number(decoded.published_at)).toBeGreaterThan(1.7e12);
    expect(unpack(decoded.payload)).toEqual({
      worker_id: worker.workerId,
      dp_rank: 0,
      active_decode_blocks: 900, // round(0.9 × 1000)
      active_prefill_tokens: 6 * 512, // round((1 − 0.85) × 40) = 6 waiting
      kv_used_blocks: 900,
    });
    expect(worker.subject).toBe('namespace.dynamo.kv_metrics');
  });

  it('serves a system-port exposition the dynamo-http profile reads back', async () => {
    const worker = new SimulatedDynamoWorker({ seed: 2, totalBlocks: 2048 });
    workers.push(worker);
    await worker.start('http');
    worker.setLoad(0.95);
    const body = await (await fetch(`http://${worker.target}/metrics`)).text();
    const profile = profileFor('dynamo-http');
    const result = extractWorkerSample(parsePrometheusText(body, profile.wantedSeries), profile, { at: Date.now(), model: 'Qwen/Qwen3-0.6B' });
    if (!result.ok) throw new Error(result.message);
    const state = worker.state();
    expect(result.sample).toMatchObject({ waiting: state.waiting, running: state.running, kvBlocksTotal: 2048, models: ['Qwen/Qwen3-0.6B'] });
    expect(result.sample.kvBlocksUsed).toBeCloseTo(state.kvUsedBlocks, 9);
    expect(result.sample.kvUsage).toBeCloseTo(state.kvUsage, 12);
    expect(state.waiting).toBe(4); // round(0.1 × 40)
  });
});
