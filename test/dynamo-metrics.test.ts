/**
 * Dynamo-compatible `llm_*` gauges on `/metrics` (Dynamo's metrics component and metrics-keda):
 * a live scaler with dynamo-http pools scraping FakeWorkers that serve worker system-port bodies,
 * plus a dynamo-nats pool's labels checked on a store filled by hand (the NATS source has its own tests).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { dynamoPoolLabels, registerPoolGauges } from '../src/http/pool-gauges.js';
import { ScalerMetrics } from '../src/telemetry.js';
import { parsePrometheusText } from '../src/sources/http/prometheus-text.js';
import { PoolStore } from '../src/store/pool-store.js';
import { TestScaler } from './support/test-scaler.js';
import { emptyDiscovery, emptyDnsServer } from './support/empty-dns.js';
import { FakeWorker } from './support/workers.js';

const harness = new TestScaler();
afterEach(() => harness.close());

const MODEL = 'Qwen/Qwen3-0.6B';
const LABELS = `dynamo_component="backend",dynamo_endpoint="generate",dynamo_namespace="dynamo",model="${MODEL}"`;

/** A worker system port of the kvstats era (2025): blocks in use reported exactly. */
function kvstatsWorker(active: number, total: number, running: number): string {
  return `# TYPE dynamo_component_kvstats_active_blocks gauge
dynamo_component_kvstats_active_blocks{${LABELS}} ${active}
# TYPE dynamo_component_kvstats_total_blocks gauge
dynamo_component_kvstats_total_blocks{${LABELS}} ${total}
# TYPE dynamo_component_kvstats_gpu_cache_usage_percent gauge
dynamo_component_kvstats_gpu_cache_usage_percent{${LABELS}} ${active / total}
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="${MODEL}"} ${running}.0
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="${MODEL}"} 0.0
`;
}

/** A 2026 worker system port: total blocks and usage per dp_rank; blocks in use = usage × total. */
function worker2026(usage: number, total: number, running: number): string {
  return `# TYPE dynamo_component_total_blocks gauge
dynamo_component_total_blocks{dp_rank="0",dynamo_component="backend",model="${MODEL}"} ${total}
# TYPE dynamo_component_gpu_cache_usage_percent gauge
dynamo_component_gpu_cache_usage_percent{dp_rank="0",dynamo_component="backend",model="${MODEL}"} ${usage}
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="${MODEL}"} ${running}.0
`;
}

/** Starts the scaler (with the scaler's own default cache TTL) and returns the URL of its /metrics. */
async function start(pools: unknown[]): Promise<string> {
  await harness.start(pools, { cacheTtl: '5s' });
  return `${harness.httpUrl}/metrics`;
}

/** Every `name{labels} value` line of an exposition, labels as a map. */
function series(text: string, name: string): { labels: Record<string, string>; value: number }[] {
  return [...(parsePrometheusText(text).series.get(name) ?? [])].map((s) => ({ labels: { ...s.labels }, value: s.value }));
}

describe('llm_* gauges on /metrics', () => {
  it('exports load_avg/load_std/kv_blocks_usage_percent per pool and blocks/slots per fresh worker', async () => {
    const a = harness.track(await FakeWorker.start({ behaviour: { kind: 'text', body: kvstatsWorker(120, 1000, 3) } }));
    const b = harness.track(await FakeWorker.start({ behaviour: { kind: 'text', body: worker2026(0.3, 1000, 5) } }));
    const down = harness.track(await FakeWorker.start());
    const vllm = harness.track(await FakeWorker.start());
    await down.down();
    const url = await start([
      { name: 'decode', source: 'dynamo-http', targets: [a.target, b.target, down.target] },
      { name: 'llama', source: 'vllm', targets: [vllm.target] },
    ]);

    const text = await vi.waitFor(
      async () => {
        const body = await (await fetch(url)).text();
        expect(body).toMatch(/^llm_load_avg\{/m);
        expect(body).toMatch(/^llm_kv_blocks_active\{.*\} 300$/m);
        return body;
      },
      { timeout: 5000, interval: 50 },
    );
    const pool = { pool: 'decode', component: 'decode', endpoint: 'generate' };
    // Fresh workers a (120 of 1000 blocks) and b (0.3 × 1000 = 300); the down worker is left out.
    expect(series(text, 'llm_load_avg')).toEqual([{ labels: pool, value: 210 }]); // (120 + 300) / 2
    expect(series(text, 'llm_load_std')).toEqual([{ labels: pool, value: 90 }]); // sqrt((90² + 90²) / 2)
    expect(series(text, 'llm_kv_blocks_usage_percent')).toEqual([{ labels: pool, value: 21 }]); // 100 × 420 / 2000
    expect(series(text, 'llm_kv_blocks_active')).toEqual([
      { labels: { ...pool, worker_id: a.target }, value: 120 },
      { labels: { ...pool, worker_id: b.target }, value: 300 },
    ]);
    expect(series(text, 'llm_kv_blocks_total').map((s) => [s.labels['worker_id'], s.value])).toEqual([
      [a.target, 1000],
      [b.target, 1000],
    ]);
    expect(series(text, 'llm_requests_active_slots').map((s) => [s.labels['worker_id'], s.value])).toEqual([
      [a.target, 3],
      [b.target, 5],
    ]);
    // No worker says how many slots it has: the series is absent, not 0.
    expect(series(text, 'llm_requests_total_slots')).toEqual([]);
    expect(text).toMatch(/^# TYPE llm_requests_total_slots gauge$/m);
    // The vLLM pool is not a Dynamo pool, and nothing is ever NaN.
    expect(text).not.toMatch(/^llm_\w+\{[^}]*pool="llama"/m);
    expect(text).not.toMatch(/^llm_\w+\{.*\} (NaN|[+-]Inf)$/m);

    // A worker that goes away takes its series with it once its last good value is cacheTtl (5 s)
    // old; pool values then follow the remaining one.
    await b.down();
    await vi.waitFor(
      async () => {
        const body = await (await fetch(url)).text();
        expect(series(body, 'llm_kv_blocks_active')).toEqual([{ labels: { ...pool, worker_id: a.target }, value: 120 }]);
        expect(series(body, 'llm_load_avg')).toEqual([{ labels: pool, value: 120 }]);
        expect(series(body, 'llm_load_std')).toEqual([{ labels: pool, value: 0 }]);
        expect(series(body, 'llm_kv_blocks_usage_percent')).toEqual([{ labels: pool, value: 12 }]);
      },
      { timeout: 12_000, interval: 50 },
    );
  });

  it('leaves a pool without fresh data out rather than exporting 0, and reports an empty pool as 0', async () => {
    const down = harness.track(await FakeWorker.start());
    const frontend = harness.track(
      await FakeWorker.start({
        behaviour: { kind: 'text', body: `dynamo_frontend_queued_requests{model="${MODEL}"} 2\ndynamo_frontend_inflight_requests{model="${MODEL}"} 4\n` },
      }),
    );
    await down.down();
    const url = await start([
      { name: 'broken', source: 'dynamo-http', targets: [down.target] },
      { name: 'empty', source: 'dynamo-http', discovery: emptyDiscovery(harness.track(await emptyDnsServer()).server) },
      { name: 'frontend', source: 'dynamo-http', targets: [frontend.target] },
    ]);
    const text = await vi.waitFor(
      async () => {
        const body = await (await fetch(url)).text();
        expect(body).toMatch(/keda_llm_scaler_pool_workers\{pool="broken",state="failing"\} 1/);
        expect(body).toMatch(/keda_llm_scaler_pool_workers\{pool="frontend",state="fresh"\} 1/);
        return body;
      },
      { timeout: 5000, interval: 50 },
    );
    // broken: its worker should exist but has no fresh data, so nothing at all.
    expect(text).not.toMatch(/^llm_\w+\{[^}]*pool="broken"/m);
    // empty: a healthy pool legitimately at zero workers answers 0 (as GetMetrics does).
    const empty = { pool: 'empty', component: 'empty', endpoint: 'generate' };
    expect(series(text, 'llm_load_avg').filter((s) => s.labels['pool'] === 'empty')).toEqual([{ labels: empty, value: 0 }]);
    expect(series(text, 'llm_kv_blocks_usage_percent').filter((s) => s.labels['pool'] === 'empty')).toEqual([{ labels: empty, value: 0 }]);
    // frontend: fresh, but a frontend reports no KV blocks: no block gauges; running as active slots.
    expect(text).not.toMatch(/^llm_(load_avg|load_std|kv_blocks_usage_percent|kv_blocks_active|kv_blocks_total)\{[^}]*pool="frontend"/m);
    expect(series(text, 'llm_requests_active_slots')).toEqual([
      { labels: { pool: 'frontend', component: 'frontend', endpoint: 'generate', worker_id: frontend.target }, value: 4 },
    ]);
  });
});

describe('dynamo-nats pools in the llm_* gauges', () => {
  it("label a dynamo-nats pool with its component and endpoint (the source's load_metrics when unset)", () => {
    expect(dynamoPoolLabels('decode', { source: 'dynamo-nats', component: 'backend', endpoint: 'generate' })).toEqual({
      pool: 'decode',
      component: 'backend',
      endpoint: 'generate',
    });
    expect(dynamoPoolLabels('decode', { source: 'dynamo-nats', component: 'backend' })).toEqual({
      pool: 'decode',
      component: 'backend',
      endpoint: 'load_metrics',
    });
    expect(dynamoPoolLabels('web', { source: 'dynamo-http' })).toEqual({ pool: 'web', component: 'web', endpoint: 'generate' });
    expect(dynamoPoolLabels('llama', { source: 'vllm' })).toBeUndefined();
  });

  it('export slots and blocks from a NATS-fed store, and nothing while the source is down', async () => {
    const metrics = new ScalerMetrics();
    const store = new PoolStore('decode', { cacheTtlMs: 5000, intervalMs: 1000, historyWindowMs: 600_000 });
    const runtime = { name: 'decode', store };
    const config = validateConfig({ pools: [{ name: 'decode', source: 'dynamo-nats', component: 'backend', endpoint: 'load_metrics' }] }).pools[0]!;
    registerPoolGauges(metrics.registry, () => [{ runtime, config }]);

    store.setWorkers(['7587888657184927289', '7587888657184927290']);
    const at = Date.now();
    store.recordSample('7587888657184927289', {
      at,
      models: [],
      kvBlocksUsed: 120,
      kvBlocksTotal: 59064,
      activeSlots: 3,
      totalSlots: 256,
      running: 3,
      counters: {},
      histograms: {},
    });
    store.recordSample('7587888657184927290', {
      at,
      models: [],
      kvBlocksUsed: 360,
      kvBlocksTotal: 59064,
      activeSlots: 9,
      totalSlots: 256,
      counters: {},
      histograms: {},
    });
    const text = await metrics.registry.metrics();
    const pool = { pool: 'decode', component: 'backend', endpoint: 'load_metrics' };
    expect(series(text, 'llm_load_avg')).toEqual([{ labels: pool, value: 240 }]);
    expect(series(text, 'llm_load_std')).toEqual([{ labels: pool, value: 120 }]);
    expect(series(text, 'llm_kv_blocks_usage_percent')[0]?.value).toBeCloseTo((100 * 480) / 118128, 12);
    expect(series(text, 'llm_requests_active_slots').map((s) => [s.labels['worker_id'], s.value])).toEqual([
      ['7587888657184927289', 3],
      ['7587888657184927290', 9],
    ]);
    expect(series(text, 'llm_requests_total_slots').map((s) => s.value)).toEqual([256, 256]);

    store.setSourceProblem('NATS not connected');
    // Changes reach readers when the store publishes them (within milliseconds).
    await vi.waitFor(async () => expect(await metrics.registry.metrics()).not.toMatch(/^llm_\w+\{/m), { timeout: 1000, interval: 5 });
  });
});
