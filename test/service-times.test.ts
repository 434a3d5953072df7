/**
 * `/api/v1/service-times` and `keda-llm-scaler service-times` against the real scaler, with real
 * HTTP workers whose end-to-end latencies are known (prom-client histograms with vLLM's names and
 * buckets), then `plan` on the file it writes.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Gauge, Histogram, Registry } from 'prom-client';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { VLLM_REQUEST_LATENCY_BUCKETS } from '../src/cli/demo/simulated-worker.js';
import { TestScaler } from './support/test-scaler.js';
import { FakeWorker } from './support/workers.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist', 'cli.js');
beforeAll(() => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first (npm test does)`);
});

const harness = new TestScaler();
afterEach(() => harness.close());

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { cwd: root });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A vLLM exposition whose e2e latency histogram holds exactly the observations a test makes. */
class E2eWorker {
  private readonly registry = new Registry();
  private readonly labels = { engine: '0', model_name: 'm' };
  private readonly e2e: Histogram;
  constructor(readonly worker: FakeWorker) {
    const registers = [this.registry];
    const labelNames = ['engine', 'model_name'] as const;
    new Gauge({ name: 'vllm:num_requests_waiting', help: 'w', labelNames, registers }).set(this.labels, 0);
    new Gauge({ name: 'vllm:num_requests_running', help: 'r', labelNames, registers }).set(this.labels, 1);
    new Gauge({ name: 'vllm:kv_cache_usage_perc', help: 'kv', labelNames, registers }).set(this.labels, 0.2);
    this.e2e = new Histogram({ name: 'vllm:e2e_request_latency_seconds', help: 'e2e', labelNames, buckets: [...VLLM_REQUEST_LATENCY_BUCKETS], registers });
    this.e2e.zero(this.labels);
  }
  static async start(): Promise<E2eWorker> {
    const w = new E2eWorker(harness.track(await FakeWorker.start()));
    await w.publish();
    return w;
  }
  observe(seconds: number, times: number): this {
    for (let i = 0; i < times; i++) this.e2e.observe(this.labels, seconds);
    return this;
  }
  async publish(): Promise<void> {
    this.worker.serve(await this.registry.metrics());
  }
  async scrapedAgain(n = 2): Promise<void> {
    const start = this.worker.requests;
    await vi.waitFor(() => expect(this.worker.requests).toBeGreaterThanOrEqual(start + n), { timeout: 5000, interval: 10 });
  }
}

async function serviceTimes(query: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${harness.httpUrl}/api/v1/service-times?${query}`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('service times from a running scaler', () => {
  it('p50/p95/count of e2e latency over the window, written for plan, which accepts the file', async () => {
    const sentence = await E2eWorker.start();
    const token = await E2eWorker.start();
    await harness.start([
      { name: 'sentence', source: 'vllm', targets: [sentence.worker.target] },
      { name: 'token', source: 'vllm', targets: [token.worker.target] },
    ]);
    await harness.waitReady();
    // Asking makes the pools keep the window's history; with nothing finished yet there is no service time.
    for (const pool of ['sentence', 'token']) {
      const empty = await serviceTimes(`pool=${pool}&window=1m`);
      expect(empty.status).toBe(503);
      expect(String(empty.body['error'])).toMatch(/no finished request was observed|no request finished|over two samples/);
    }
    await Promise.all([sentence.scrapedAgain(), token.scrapedAgain()]);

    // Sentence: 100 requests of 0.4 s (bucket 0.3–0.5). Token: 80 of 1.2 s (1.0–1.5) and 20 of 2.2 s (2.0–2.5):
    // the p95's rank 95 falls among the 20 slow ones: 2.0 + 0.5 × (95 − 80) / 20 = 2.375 s, in the bucket of the true 2.2 s;
    // the p50's rank 50 among the 80: 1.0 + 0.5 × 50 / 80 = 1.3125 s.
    sentence.observe(0.4, 100);
    token.observe(1.2, 80).observe(2.2, 20);
    await Promise.all([sentence.publish(), token.publish()]);
    await Promise.all([sentence.scrapedAgain(), token.scrapedAgain()]);

    const direct = await serviceTimes('pool=token&window=1m');
    expect(direct.status).toBe(200);
    expect(direct.body).toMatchObject({ pool: 'token', window: '60s', count: 100, p95Bucket: [2, 2.5], p50Bucket: [1, 1.5] });
    expect(direct.body['p95']).toBeCloseTo(2.375, 9);
    expect(direct.body['p50']).toBeCloseTo(1.3125, 9);

    const dir = await mkdtemp(path.join(tmpdir(), 'service-times-'));
    const file = path.join(dir, 'service_times.json');
    const address = harness.httpUrl.replace('http://', '');
    const written = await runCli([
      'service-times',
      '--http',
      address,
      '--classes',
      'sentence=sentence,token=token',
      '--window',
      '1m',
      '--output',
      file,
      '--kafka-partitions',
      '6',
    ]);
    expect(written.stderr).toContain('history covers'); // the scaler has watched for a few seconds, not a minute
    expect(written.code).toBe(0);
    const times = JSON.parse(readFileSync(file, 'utf8'));
    expect(times.sentence.count).toBe(100);
    expect(times.sentence.p95).toBeGreaterThanOrEqual(0.3);
    expect(times.sentence.p95).toBeLessThanOrEqual(0.5);
    expect(times.token).toEqual({ p50: direct.body['p50'], p95: direct.body['p95'], count: 100 });
    expect(times.kafka).toEqual({ enabled: true, partitions: 6 });
    expect(times.observed).toMatchObject({ http: address, window: '1m', pools: { sentence: 'sentence', token: 'token' } });

    const plan = await runCli([
      'plan',
      '--backlog-seconds-slo',
      '1.0,3.0',
      '--observed-service-times-json',
      file,
      '--target-rps',
      '500',
      '--attach-rate',
      '0.3',
      '--token-mix',
      '0.1',
      '--gpu-throughput-sentence',
      '5',
      '--gpu-throughput-token',
      '0.6',
    ]);
    expect(plan.code).toBe(0);
    const result = JSON.parse(plan.stdout);
    // t_token = 3.0 − 2.375 = 0.625 s, straight from the observed p95.
    expect(result.classes.token.t).toBeCloseTo(3 - 2.375, 9);
    expect(result.kafka.partitions).toBe(6);
  });

  it('refuses an unknown pool, a bad window and incomplete classes, naming them', async () => {
    const w = await E2eWorker.start();
    await harness.start([{ name: 'sentence', source: 'vllm', targets: [w.worker.target] }]);
    const unknown = await serviceTimes('pool=nope&window=1m');
    expect(unknown.status).toBe(404);
    expect(unknown.body['error']).toBe("unknown pool 'nope'");
    const badWindow = await serviceTimes('pool=sentence&window=2d');
    expect(badWindow.status).toBe(400);
    expect(badWindow.body['key']).toBe('window');
    const address = harness.httpUrl.replace('http://', '');
    const missing = await runCli(['service-times', '--http', address, '--classes', 'sentence=sentence']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("--classes: class 'token' is missing");
    const noPool = await runCli(['service-times', '--http', address, '--classes', 'sentence=nope,token=sentence']);
    expect(noPool.code).toBe(1);
    expect(noPool.stderr).toContain("pool 'nope': unknown pool 'nope'");
  });
});
