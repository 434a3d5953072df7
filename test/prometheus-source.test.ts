/**
 * `source: prometheus` against a real Prometheus (Debian's package, started by the test) scraping
 * real HTTP vLLM workers (the demo's simulated worker), side by side with a pool that scrapes the
 * same workers directly: the same signals, the same exclusions, and UNAVAILABLE (for that pool
 * only) when Prometheus is gone.
 */
import { createServer } from 'node:http';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { closeServer, listen } from '../src/cli/demo/net.js';
import { SimulatedVllmWorker } from '../src/cli/demo/simulated-worker.js';
import { KedaClient, statusOf } from './support/keda-client.js';
import { PrometheusServer } from './support/prometheus-server.js';
import { TestScaler } from './support/test-scaler.js';

const CHECK_INTERVAL = '250ms';
const harness = new TestScaler();
const workers: SimulatedVllmWorker[] = [];
let prometheus: PrometheusServer | undefined;

afterEach(async () => {
  await harness.close();
  await prometheus?.close();
  prometheus = undefined;
  await Promise.all(workers.splice(0).map((w) => w.close()));
});

/** Three vLLM workers with two engines each, at fixed loads (one overloaded, so it queues); histograms hold one tick of traffic. */
async function startWorkers(): Promise<SimulatedVllmWorker[]> {
  const loads = [0.4, 0.8, 1.3];
  for (const [i, load] of loads.entries()) {
    const worker = new SimulatedVllmWorker({ engines: 2, seed: i + 1, noise: 0, load });
    await worker.start();
    worker.tick(1);
    workers.push(worker);
  }
  return workers;
}

function logSink(): { lines: Record<string, unknown>[]; log: pino.Logger } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, log: pino({ level: 'info' }, sink) };
}

async function startScaler(prom: PrometheusServer, fleet: readonly SimulatedVllmWorker[], extraPools: unknown[] = []) {
  const { lines, log } = logSink();
  // A Prometheus just started has scraped nothing yet: the scaler would rightly report that the selector matches no target.
  await prom.waitForSeries('up{job="vllm"} == 1', fleet.length);
  await harness.start(
    [
      { name: 'direct', source: 'vllm', targets: fleet.map((w) => w.target) },
      { name: 'prom', source: 'prometheus', prometheus: { url: prom.url, selector: '{job="vllm"}', engine: 'vllm' } },
      ...extraPools,
    ],
    { checkInterval: CHECK_INTERVAL, cacheTtl: '2s', scrape: { timeout: '1s' } },
    { log },
  );
  return lines;
}

const ref = (pool: string, metadata: Record<string, string>) => KedaClient.ref({ pool, target: '1', valueMode: 'raw', ...metadata });

/** GetMetricSpec then GetMetrics, as KEDA calls them: the fleet value, or the gRPC status when there is none. */
async function value(pool: string, metadata: Record<string, string>): Promise<number | { code: grpc.status; details: string }> {
  const so = ref(pool, metadata);
  const spec = await harness.client.getMetricSpec(so);
  const name = spec.metricSpecs[0]!.metricName;
  try {
    return (await harness.client.getMetrics(so, name)).metricValues[0]!.metricValueFloat;
  } catch (error) {
    return statusOf(Promise.reject(error as Error));
  }
}

async function poolReport(pool: string): Promise<{ workers: { id: string; state: string; reason?: string }[] }> {
  const response = await fetch(`${harness.httpUrl}/api/v1/pools/${pool}`);
  return (await response.json()) as { workers: { id: string; state: string; reason?: string }[] };
}

describe('source: prometheus, read from a real Prometheus', () => {
  it('gives the same queue_depth, kv_cache_usage and windowed ttft as scraping the same workers directly', async () => {
    const fleet = await startWorkers();
    prometheus = await PrometheusServer.start({ jobs: { vllm: fleet.map((w) => w.target) } });
    await startScaler(prometheus, fleet);
    const ttft = { metric: 'ttft', window: '60s', quantile: '0.9' };
    // KEDA's first call registers the window, so both pools keep history from here on.
    await value('direct', ttft);
    await value('prom', ttft);

    const expectedQueue = fleet.reduce((n, w) => n + w.state().waiting, 0);
    const expectedKv = fleet.reduce((n, w) => n + w.state().kvUsage, 0) / fleet.length;
    expect(expectedQueue).toBeGreaterThan(0);
    await vi.waitFor(
      async () => {
        expect(await value('prom', { metric: 'queue_depth' })).toBe(expectedQueue);
        expect(await value('prom', { metric: 'kv_cache_usage' })).toBe(await value('direct', { metric: 'kv_cache_usage' }));
        expect(await value('direct', { metric: 'queue_depth' })).toBe(expectedQueue);
      },
      { timeout: 15_000, interval: 100 },
    );
    expect(await value('prom', { metric: 'kv_cache_usage' })).toBeCloseTo(expectedKv, 9);
    // A custom series with a label matcher, read raw in its own query: engine 1's running requests.
    const custom = { metric: 'custom', query: 'vllm:num_requests_running{engine="1"}' };
    const engine1 = fleet.reduce((n, w) => n + (w.state().engines.find((e) => e.engine === '1')?.running ?? NaN), 0);
    expect(engine1).toBeGreaterThan(0);
    await vi.waitFor(
      async () => {
        expect(await value('prom', custom)).toBe(engine1);
        expect(await value('direct', custom)).toBe(engine1);
      },
      { timeout: 10_000, interval: 100 },
    );
    // No request finished since the baseline while requests run: the window has no answer yet, in both.
    expect(await value('prom', ttft)).toMatchObject({ code: grpc.status.UNAVAILABLE });
    expect(await value('direct', ttft)).toMatchObject({ code: grpc.status.UNAVAILABLE });

    // Traffic, all at once between two scrapes: the window's growth is this traffic in both pools.
    for (const w of fleet) for (let i = 0; i < 20; i++) w.tick(0.25);
    await vi.waitFor(
      async () => {
        const direct = await value('direct', ttft);
        const viaPrometheus = await value('prom', ttft);
        expect(typeof direct).toBe('number');
        expect(viaPrometheus).toBe(direct);
      },
      { timeout: 15_000, interval: 100 },
    );
    expect(await value('prom', ttft)).toBeGreaterThan(0);
    const report = await poolReport('prom');
    expect(report.workers.map((w) => w.id).sort()).toEqual(fleet.map((w) => w.target).sort());
    expect(report.workers.every((w) => w.state === 'fresh')).toBe(true);
  });

  it('a worker that goes down is excluded in both pools, failing and explained, never idle', async () => {
    const fleet = await startWorkers();
    prometheus = await PrometheusServer.start({ jobs: { vllm: fleet.map((w) => w.target) } });
    const logs = await startScaler(prometheus, fleet);
    const all = fleet.reduce((n, w) => n + w.state().waiting, 0);
    await vi.waitFor(async () => expect(await value('prom', { metric: 'queue_depth' })).toBe(all), { timeout: 15_000, interval: 100 });

    const gone = fleet[2]!;
    const remaining = all - gone.state().waiting;
    await gone.close();
    await vi.waitFor(
      async () => {
        expect(await value('direct', { metric: 'queue_depth' })).toBe(remaining);
        expect(await value('prom', { metric: 'queue_depth' })).toBe(remaining);
      },
      { timeout: 15_000, interval: 100 },
    );
    const report = await poolReport('prom');
    const down = report.workers.find((w) => w.id === gone.target);
    expect(down?.state).toBe('failing');
    expect(down?.reason).toContain('target_down: Prometheus reports up == 0 for instance=');
    expect((await poolReport('direct')).workers.find((w) => w.id === gone.target)?.state).toBe('failing');
    // The running mean of KV usage counts the two workers left, in both pools.
    expect(await value('prom', { metric: 'kv_cache_usage' })).toBe(await value('direct', { metric: 'kv_cache_usage' }));
    // Logged once, however many rounds it stays down.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(logs.filter((l) => l['cause'] === 'target_down' && l['worker'] === gone.target)).toHaveLength(1);
  });

  it('Prometheus stopped: that pool is UNAVAILABLE, logged once, the direct pool unaffected; it recovers when Prometheus is back', async () => {
    const fleet = await startWorkers();
    prometheus = await PrometheusServer.start({ jobs: { vllm: fleet.map((w) => w.target) } });
    const logs = await startScaler(prometheus, fleet);
    const all = fleet.reduce((n, w) => n + w.state().waiting, 0);
    await vi.waitFor(async () => expect(await value('prom', { metric: 'queue_depth' })).toBe(all), { timeout: 15_000, interval: 100 });

    await prometheus.stop();
    await vi.waitFor(
      async () => {
        const status = await value('prom', { metric: 'queue_depth' });
        expect(status).toMatchObject({ code: grpc.status.UNAVAILABLE });
        expect((status as { details: string }).details).toContain(`Prometheus at ${prometheus!.url}`);
      },
      { timeout: 10_000, interval: 100 },
    );
    expect(await value('direct', { metric: 'queue_depth' })).toBe(all);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const failures = logs.filter((l) => l['subject'] === 'prom/prometheus' && l['cause'] !== undefined);
    expect(failures, JSON.stringify(failures)).toHaveLength(1);
    expect(failures[0]!['cause']).toBe('connect');

    await prometheus.launch();
    await vi.waitFor(async () => expect(await value('prom', { metric: 'queue_depth' })).toBe(all), { timeout: 20_000, interval: 100 });
    expect(logs.filter((l) => l['subject'] === 'prom/prometheus' && l['msg'] === 'recovered')).toHaveLength(1);
  });

  it('bad input (unreachable, no target matched, error answer, non-vector answer, body over the cap): clear, logged once, others unaffected', async () => {
    const fleet = await startWorkers();
    prometheus = await PrometheusServer.start({ jobs: { vllm: fleet.map((w) => w.target) } });
    // An engine that answers every query with a range (matrix) result, as a misrouted proxy could.
    const matrix = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'success', data: { resultType: 'matrix', result: [] } }));
    });
    const matrixPort = await listen(matrix, 0, '127.0.0.1');
    harness.onClose(() => closeServer(matrix));
    const logs = await startScaler(prometheus, fleet, [
      { name: 'matrix', source: 'prometheus', prometheus: { url: `http://127.0.0.1:${matrixPort}`, selector: 'job="vllm"', engine: 'vllm' } },
      { name: 'capped', source: 'prometheus', prometheus: { url: prometheus.url, selector: 'job="vllm"', engine: 'vllm', maxBodyBytes: 1024 } },
      { name: 'typo', source: 'prometheus', prometheus: { url: prometheus.url, selector: 'job="vlm"', engine: 'vllm' } },
      // A valid selector that PromQL refuses at evaluation: an unparseable regular expression.
      { name: 'broken', source: 'prometheus', prometheus: { url: prometheus.url, selector: 'job=~"vllm(", instance!=""', engine: 'vllm' } },
      { name: 'nothing', source: 'prometheus', prometheus: { url: 'http://127.0.0.1:1', selector: 'job="vllm"', engine: 'vllm', timeout: '300ms' } },
    ]);
    const all = fleet.reduce((n, w) => n + w.state().waiting, 0);
    await vi.waitFor(async () => expect(await value('prom', { metric: 'queue_depth' })).toBe(all), { timeout: 15_000, interval: 100 });
    expect(await value('direct', { metric: 'queue_depth' })).toBe(all);

    const typo = await value('typo', { metric: 'queue_depth' });
    expect(typo).toMatchObject({ code: grpc.status.UNAVAILABLE });
    expect((typo as { details: string }).details).toContain('the selector {job="vlm"} matches no scrape target');
    const broken = await value('broken', { metric: 'queue_depth' });
    expect(broken).toMatchObject({ code: grpc.status.UNAVAILABLE });
    expect((broken as { details: string }).details).toMatch(/HTTP 400 .*bad_data: .*vllm\(/);
    const notVector = await value('matrix', { metric: 'queue_depth' });
    expect((notVector as { details: string }).details).toContain('the query answered a "matrix" result, not an instant vector');
    const capped = await value('capped', { metric: 'queue_depth' });
    expect((capped as { details: string }).details).toContain('exceeds the 1024-byte cap');
    const unreachable = await value('nothing', { metric: 'queue_depth' });
    expect((unreachable as { details: string }).details).toContain('Prometheus at http://127.0.0.1:1');

    await new Promise((resolve) => setTimeout(resolve, 1000));
    for (const [pool, cause] of [
      ['typo', 'no_targets'],
      ['broken', 'query_error'],
      ['nothing', 'connect'],
      ['matrix', 'not_vector'],
      ['capped', 'body_too_large'],
    ] as const) {
      const lines = logs.filter((l) => l['subject'] === `${pool}/prometheus`);
      expect(lines, pool).toHaveLength(1);
      expect(lines[0]!['cause'], pool).toBe(cause);
    }
  });
});
