/**
 * A worker whose exposition is written by Python's prometheus_client and served by uvicorn over
 * keep-alive HTTP, as real vLLM serves it (test/support/prometheus_client_vllm_worker.py): two
 * data-parallel engines, counters with `_created` series, `# HELP`/`# TYPE` lines, whole numbers
 * written as `2.0`. The scaler reads gauges, rates and quantiles from it as KEDA would ask.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { freePort } from '../src/cli/demo/net.js';
import { KedaClient } from './support/keda-client.js';
import { TestScaler } from './support/test-scaler.js';

const WORKER = fileURLToPath(new URL('./support/prometheus_client_vllm_worker.py', import.meta.url));
const MODEL = 'meta-llama/Llama-3.1-8B-Instruct';
/** As the worker's traffic thread: 2 engines × 2 requests every 100 ms × 50 tokens. */
const TOKENS_PER_S = 2 * 2 * 10 * 50;

/** The first Python that has prometheus_client and uvicorn (Debian: python3-prometheus-client, python3-uvicorn). */
function python(): string {
  for (const candidate of ['/usr/bin/python3', 'python3']) {
    const probe = spawnSync(candidate, ['-c', 'import prometheus_client, uvicorn'], { stdio: 'ignore' });
    if (probe.status === 0) return candidate;
  }
  throw new Error('no python3 with prometheus_client and uvicorn (apt-get install python3-prometheus-client python3-uvicorn)');
}

class PythonWorker {
  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    readonly target: string,
  ) {}

  static async start(): Promise<PythonWorker> {
    const port = await freePort();
    const child = spawn(python(), [WORKER, String(port), MODEL, '2'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const worker = new PythonWorker(child, `127.0.0.1:${port}`);
    await vi.waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`the Python worker exited with code ${child.exitCode}`);
        expect((await fetch(`http://${worker.target}/metrics`)).ok).toBe(true);
      },
      { timeout: 15_000, interval: 100 },
    );
    return worker;
  }

  async body(): Promise<string> {
    return (await fetch(`http://${this.target}/metrics`)).text();
  }

  /** Sets one engine's gauge (`waiting`, `running` or `kv`) and waits until the exposition shows it. */
  async set(what: 'waiting' | 'running' | 'kv', engine: number, value: number): Promise<void> {
    this.child.stdin.write(`${what} ${engine} ${value}\n`);
    const name = { waiting: 'vllm:num_requests_waiting', running: 'vllm:num_requests_running', kv: 'vllm:kv_cache_usage_perc' }[what];
    const line = `${name}{engine="${engine}",model_name="${MODEL}"} ${Number.isInteger(value) ? `${value}.0` : value}`;
    await vi.waitFor(async () => expect(await this.body()).toContain(line), { timeout: 5000, interval: 20 });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGKILL');
    await exited;
  }
}

const harness = new TestScaler();
let worker: PythonWorker | undefined;
afterEach(async () => {
  await harness.close();
  await worker?.stop();
  worker = undefined;
});

async function value(metadata: Record<string, string>): Promise<number> {
  const ref = KedaClient.ref({ pool: 'llama', target: '1', valueMode: 'raw', ...metadata });
  const spec = await harness.client.getMetricSpec(ref);
  const response = await harness.client.getMetrics(ref, spec.metricSpecs[0]!.metricName);
  return response.metricValues[0]!.metricValueFloat;
}

describe("a worker served by Python's prometheus_client, as vLLM's is", () => {
  it('gauges summed over its engines, token rate and TTFT/ITL quantiles from its histograms', async () => {
    worker = await PythonWorker.start();
    const body = await worker.body();
    // What makes this exposition prometheus_client's and not ours.
    expect(body).toContain('# TYPE vllm:generation_tokens_total counter');
    expect(body).toMatch(/^vllm:generation_tokens_created\{engine="0",model_name="[^"]+"\} \d+\.\d+(e\+\d+)?$/m);
    expect(body).toMatch(/^vllm:num_requests_running\{engine="1",model_name="[^"]+"\} 1\.0$/m);

    await harness.start([{ name: 'llama', source: 'vllm', model: MODEL, targets: [worker.target] }]);
    await harness.waitReady();

    await worker.set('waiting', 0, 3);
    await worker.set('waiting', 1, 4);
    await vi.waitFor(async () => expect(await value({ metric: 'queue_depth' })).toBe(7), { timeout: 3000, interval: 50 });
    await worker.set('kv', 0, 0.5);
    await worker.set('kv', 1, 0.7);
    // One worker: its usage is its engines' average.
    await vi.waitFor(async () => expect(await value({ metric: 'kv_cache_usage' })).toBeCloseTo(0.6, 6), { timeout: 3000, interval: 50 });

    // Traffic has run since the worker started; give the window 3 s of scrapes.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const tokens = await value({ metric: 'tokens_per_second', window: '3s' });
    expect(tokens).toBeGreaterThan(TOKENS_PER_S * 0.9);
    expect(tokens).toBeLessThan(TOKENS_PER_S * 1.1);
    // Every TTFT is 0.05 s: vLLM's bucket (0.04, 0.06]; every ITL 0.02 s: (0.01, 0.025].
    const ttft = await value({ metric: 'ttft', window: '3s', quantile: '0.5' });
    expect(ttft).toBeGreaterThan(0.04);
    expect(ttft).toBeLessThanOrEqual(0.06);
    const itl = await value({ metric: 'itl', window: '3s', quantile: '0.9' });
    expect(itl).toBeGreaterThan(0.01);
    expect(itl).toBeLessThanOrEqual(0.025);
  }, 40_000);
});
