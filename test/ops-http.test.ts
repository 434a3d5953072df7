import { afterEach, describe, expect, it, vi } from 'vitest';
import { KedaClient } from './support/keda-client.js';
import { TestScaler } from './support/test-scaler.js';
import { emptyDiscovery, emptyDnsServer } from './support/empty-dns.js';
import { FakeWorker } from './support/workers.js';

const harness = new TestScaler();
afterEach(() => harness.close());

/** Starts the scaler (with the scaler's own default cache TTL) and returns its ops server's URL. */
async function start(pools: unknown[]): Promise<string> {
  await harness.start(pools, { cacheTtl: '5s' });
  return harness.httpUrl;
}

async function json(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('ops HTTP server', () => {
  it('reports liveness, readiness with a reason, and per-pool state', async () => {
    const good = harness.track(await FakeWorker.start());
    const broken = harness.track(await FakeWorker.start());
    broken.status(500);
    const base = await start([
      { name: 'llama', source: 'vllm', targets: [good.target, broken.target] },
      { name: 'empty', source: 'vllm', discovery: emptyDiscovery(harness.track(await emptyDnsServer()).server) },
    ]);

    expect((await json(`${base}/healthz`)).status).toBe(200);
    await vi.waitFor(async () => expect((await json(`${base}/readyz`)).status).toBe(200), { timeout: 3000, interval: 50 });

    const pools = await json(`${base}/api/v1/pools`);
    expect(pools.body['pools']).toEqual([
      {
        name: 'llama',
        source: 'vllm',
        workers: 2,
        fresh: 1,
        stale: 0,
        failing: 1,
        pending: 0,
        draining: 0,
        // Each worker left out, with its cause.
        excluded: [{ id: broken.target, state: 'failing', cause: 'http_status', reason: expect.stringMatching(/^http_status: .*500/) as string }],
      },
      { name: 'empty', source: 'vllm', workers: 0, fresh: 0, stale: 0, failing: 0, pending: 0, draining: 0, excluded: [] },
    ]);

    const llama = (await json(`${base}/api/v1/pools/llama`)).body as {
      workers: { id: string; state: string; reason?: string; last?: { waiting: number; kvUsage: number } }[];
      signals: Record<string, { value?: number; included: { worker: string; value: number }[]; excluded: { worker: string; why: string }[] }>;
    };
    const byId = Object.fromEntries(llama.workers.map((w) => [w.id, w]));
    expect(byId[good.target]).toMatchObject({ state: 'fresh', last: { waiting: 3, running: 21 } });
    expect(byId[broken.target]).toMatchObject({ state: 'failing' });
    expect(byId[broken.target]!.reason).toMatch(/^http_status: .*500/);
    expect(llama.signals['queue_depth']).toMatchObject({ value: 3, included: [{ worker: good.target, value: 3 }] });
    expect(llama.signals['queue_depth']!.excluded).toEqual([{ worker: broken.target, why: expect.stringMatching(/^failing: http_status/) }]);

    const missing = await json(`${base}/api/v1/pools/nope`);
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ error: "unknown pool 'nope'", pools: ['llama', 'empty'] });
  });

  it('is not ready while a pool with workers has no fresh data, and says which', async () => {
    const down = harness.track(await FakeWorker.start());
    await down.down();
    const base = await start([{ name: 'llama', source: 'vllm', targets: [down.target] }]);
    await vi.waitFor(
      async () => {
        const ready = await json(`${base}/readyz`);
        expect(ready.status).toBe(503);
        expect(ready.body['reason']).toBe('llama: no worker has fresh data');
      },
      { timeout: 3000, interval: 50 },
    );
  });

  it('exports scrape, error, RPC and per-pool metrics for Prometheus', async () => {
    const good = harness.track(await FakeWorker.start());
    const garbage = harness.track(await FakeWorker.start());
    garbage.garbage();
    const base = await start([{ name: 'llama', source: 'vllm', targets: [good.target, garbage.target] }]);
    await vi.waitFor(async () => expect((await json(`${base}/readyz`)).status).toBe(200), { timeout: 3000, interval: 50 });

    const so = KedaClient.ref({ pool: 'llama', metric: 'queue_depth', target: '5' });
    await harness.client.getMetrics(so, 'llama-queue_depth');
    await harness.client.getMetrics(so, 'wrong').catch(() => undefined);

    const response = await fetch(`${base}/metrics`);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await response.text();
    expect(text).toMatch(/^keda_llm_scaler_scrapes_total\{pool="llama",result="ok"\} [1-9]/m);
    expect(text).toMatch(/^keda_llm_scaler_scrape_errors_total\{pool="llama",cause="no_metrics"\} [1-9]/m);
    expect(text).toMatch(/^keda_llm_scaler_grpc_requests_total\{method="GetMetrics",code="OK"\} 1$/m);
    expect(text).toMatch(/^keda_llm_scaler_grpc_requests_total\{method="GetMetrics",code="NOT_FOUND"\} 1$/m);
    expect(text).toMatch(/^keda_llm_scaler_grpc_request_duration_seconds_count\{method="GetMetrics"\} 2$/m);
    expect(text).toMatch(/^keda_llm_scaler_pool_workers\{pool="llama",state="fresh"\} 1$/m);
    expect(text).toMatch(/^keda_llm_scaler_pool_workers\{pool="llama",state="failing"\} 1$/m);
    expect(text).toMatch(/^keda_llm_scaler_signal_value\{pool="llama",signal="queue_depth"\} 3$/m);
    const kv = /^keda_llm_scaler_signal_value\{pool="llama",signal="kv_cache_usage"\} (\S+)$/m.exec(text);
    expect(Number(kv?.[1])).toBeCloseTo(0.34, 10);
  });

  it('leaves a signal out of /metrics when its pool has no fresh data rather than exporting 0', async () => {
    const down = harness.track(await FakeWorker.start());
    await down.down();
    const base = await start([{ name: 'llama', source: 'vllm', targets: [down.target] }]);
    await vi.waitFor(async () => expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/state="failing"\} 1/), { timeout: 3000, interval: 50 });
    expect(await (await fetch(`${base}/metrics`)).text()).not.toMatch(/keda_llm_scaler_signal_value\{pool="llama"/);
  });
});
