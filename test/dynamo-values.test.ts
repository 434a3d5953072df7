/**
 * Dynamo workers on a real nats-server, the real scaler, a real gRPC client: more KV blocks in use
 * than a worker has is an invalid sample (excluded, counted), and a worker whose forward-pass
 * metrics stop keeps its last value until `workerTtl`; a pool that loses its last worker that way
 * says why in `/api/v1/pools`.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { EventPlanePublisher } from './support/dynamo-workers.js';
import { KedaClient } from './support/keda-client.js';
import { NatsServer } from './support/nats-server.js';
import { TestScaler } from './support/test-scaler.js';

let nats: NatsServer;
const harness = new TestScaler();
let namespaceCounter = 0;

beforeAll(async () => {
  nats = await NatsServer.start();
});
afterAll(async () => {
  await nats.close();
});
afterEach(() => harness.close());

const freshNamespace = () => `values${++namespaceCounter}`;

async function startScaler(pool: Record<string, unknown>, config: Record<string, unknown> = {}): Promise<void> {
  await harness.start([{ name: 'dyn', source: 'dynamo-nats', nats: { url: nats.url }, component: 'backend', ...pool }], config);
  await vi.waitFor(async () => expect(await text('/metrics')).toContain('keda_llm_scaler_nats_connected{pool="dyn"} 1'), { timeout: 5000, interval: 10 });
}

async function text(path: string): Promise<string> {
  return (await fetch(`${harness.httpUrl}${path}`)).text();
}

async function fleet(metric: string): Promise<number> {
  const response = await harness.client.getMetrics(KedaClient.ref({ pool: 'dyn', metric, target: '1', valueMode: 'raw' }), `dyn-${metric}`);
  return response.metricValues[0]!.metricValueFloat;
}

interface Summary {
  workers: number;
  excluded: { id: string; cause: string; reason?: string }[];
  emptyBecause?: string;
}

async function summary(): Promise<Summary> {
  return (JSON.parse(await text('/api/v1/pools')) as { pools: Summary[] }).pools[0]!;
}

describe('Dynamo values', () => {
  it('kv_used_blocks above kvBlocksPerWorker is an invalid sample: the worker is excluded, never 99,999.9 %', async () => {
    const ns = freshNamespace();
    await startScaler({ namespace: ns, mode: 'event-plane', kvBlocksPerWorker: 1000 });
    const publisher = harness.track(await EventPlanePublisher.start(nats.url, ns, 5n));
    await publisher.activeLoad({ workerId: 1n, kvUsedBlocks: 250, activeDecodeBlocks: 250 });
    await publisher.activeLoad({ workerId: 2n, kvUsedBlocks: 999_999, activeDecodeBlocks: 999_999 });
    // Only worker 1 counts: 100 × 250 / 1000.
    await vi.waitFor(async () => expect(await fleet('kv_blocks_usage_percent')).toBeCloseTo(25, 9), { timeout: 5000, interval: 20 });
    expect(await fleet('kv_cache_usage')).toBeCloseTo(0.25, 9);
    expect((await summary()).excluded).toEqual([
      expect.objectContaining({
        id: '2',
        cause: 'invalid-sample',
        reason: 'invalid-sample: 999999 KV blocks in use exceed the 1000 (kvBlocksPerWorker) the worker has',
      }),
    ]);
    expect(await text('/metrics')).toMatch(/keda_llm_scaler_scrape_errors_total\{pool="dyn",cause="invalid-sample"\} [1-9]/);
    // A possible value makes it count again.
    await publisher.activeLoad({ workerId: 2n, kvUsedBlocks: 750, activeDecodeBlocks: 750 });
    await vi.waitFor(async () => expect(await fleet('kv_blocks_usage_percent')).toBeCloseTo(50, 9), { timeout: 5000, interval: 20 });
  });

  it('a worker whose forward-pass metrics stop keeps its last value until workerTtl; the emptied pool says why', async () => {
    const ns = freshNamespace();
    await startScaler({ namespace: ns, mode: 'event-plane', workerTtl: '6s' }, { cacheTtl: '500ms' });
    const worker = harness.track(await EventPlanePublisher.start(nats.url, ns, 2n));
    await worker.forwardPass('backend', { workerId: 2n, scheduled: { prefill: 0, decode: 4 }, queued: { prefill: 3, prefillTokens: 30 } });
    const stopped = Date.now();
    await vi.waitFor(async () => expect(await fleet('queue_depth')).toBe(3), { timeout: 5000, interval: 20 });
    // Well past the cache TTL and three missed heartbeats, well before workerTtl: still counted.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, stopped + 4000 - Date.now())));
    expect(await fleet('queue_depth')).toBe(3);
    expect((await summary()).workers).toBe(1);
    // Past workerTtl the worker is gone; the pool's 0 comes with the reason.
    await vi.waitFor(async () => expect((await summary()).workers).toBe(0), { timeout: 10_000, interval: 50 });
    expect(Date.now() - stopped).toBeGreaterThanOrEqual(6000);
    expect(await fleet('queue_depth')).toBe(0);
    expect((await summary()).emptyBecause).toMatch(/^worker 2 was removed: silent for longer than workerTtl \(6s; last heard \d{4}-\d\d-\d\dT[\d:.]+Z\)$/);
  });
});
