/**
 * The dynamo-nats source end to end: simulated Dynamo workers of each generation publish on a real
 * nats-server; the real scaler (Scaler.start) collects them; a real gRPC client (KedaClient) asks
 * what KEDA asks. Expected values are computed by hand in the comments.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ScalerMetrics } from '../src/telemetry.js';
import { FailureLog, silentLogger } from '../src/log.js';
import { Scaler } from '../src/scaler.js';
import { defaultStatsWindow } from '../src/config/schema.js';
import { DynamoNatsSource } from '../src/sources/dynamo/dynamo-nats-source.js';
import { natsConnectionOptions, ReconnectBackoff, redactUrl } from '../src/sources/dynamo/nats-options.js';
import { PoolStore } from '../src/store/pool-store.js';
import { EventPlanePublisher, KvMetricsPublisher, StatsWorker, type FpmLoad } from './support/dynamo-workers.js';
import { KedaClient, healthCheck, statusOf } from './support/keda-client.js';
import { NatsServer } from './support/nats-server.js';
import { INTERVAL, TestScaler } from './support/test-scaler.js';

let nats: NatsServer;
const harness = new TestScaler();
let namespaceCounter = 0;

beforeAll(async () => {
  nats = await NatsServer.start();
});
afterAll(async () => {
  await nats.close();
});
afterEach(async () => {
  await harness.close();
  await nats.restart(); // a test that stopped the server leaves it running for the next
});

/** Each test gets its own Dynamo namespace, so nothing leaks between tests on the shared server. */
const freshNamespace = () => `ns${++namespaceCounter}`;

/**
 * Starts the scaler and, unless NATS is down, waits until its subscriptions are live: push messages
 * published before that would be lost, as they would be for a real scaler that is not yet running.
 */
async function startScaler(pool: Record<string, unknown>, config: Record<string, unknown> = {}): Promise<Scaler> {
  const scaler = await harness.start([{ name: 'dyn', source: 'dynamo-nats', nats: { url: nats.url }, component: 'backend', ...pool }], config);
  if (nats.running) {
    await vi.waitFor(async () => expect(await metricsText()).toContain('keda_llm_scaler_nats_connected{pool="dyn"} 1'), { timeout: 5000, interval: 10 });
  }
  return scaler;
}

const ref = (metric: string, extra: Record<string, string> = {}) => KedaClient.ref({ pool: 'dyn', metric, target: '1', ...extra });

/** The fleet value of a signal (valueMode raw), or the gRPC error. */
async function fleet(metric: string): Promise<number> {
  const response = await harness.client.getMetrics(ref(metric, { valueMode: 'raw' }), `dyn-${metric}`);
  return response.metricValues[0]!.metricValueFloat;
}

async function waitFleet(metric: string, expected: number, timeout = 5000, digits = 6): Promise<void> {
  await vi.waitFor(async () => expect(await fleet(metric)).toBeCloseTo(expected, digits), { timeout, interval: 20 });
}

async function poolWorkers(): Promise<string[]> {
  const response = await fetch(`${harness.httpUrl}/api/v1/pools/dyn`);
  const report = (await response.json()) as { workers: { id: string }[] };
  return report.workers.map((w) => w.id).sort();
}

async function metricsText(): Promise<string> {
  return (await fetch(`${harness.httpUrl}/metrics`)).text();
}

const readiness = () => healthCheck(harness.grpcAddress, 'readiness');

// The fixture worker (nested FPM) and a second one in the older flat shape.
const A_HEX = '694d988806b92e39';
const A_ID = '7587888657184927289';
const A_LOAD: FpmLoad = { waiting: 1, activeSlots: 3, totalSlots: 256, kvActiveBlocks: 120, kvTotalBlocks: 59064, kvUsage: 0.0020316 };
const B_HEX = 'ffffffffffffff00';
const B_ID = '18446744073709551360';
const B_LOAD: FpmLoad = { waiting: 2, activeSlots: 5, totalSlots: 256, kvActiveBlocks: 2048, kvTotalBlocks: 59064, kvUsage: 0.0346742 };
/**
 * A and B together: load_avg (120 + 2048)/2 = 1084; load_std |2048 − 120|/2 = 964;
 * kv_blocks_usage_percent 100 × 2168/118128; kv_cache_usage (0.0020316 + 0.0346742)/2 = 0.0183529;
 * queue_depth 1 + 2 = 3; running_requests 3 + 5 = 8.
 */
async function expectAandB(): Promise<void> {
  await waitFleet('load_avg', 1084);
  expect(await fleet('load_std')).toBeCloseTo(964, 9);
  expect(await fleet('kv_blocks_usage_percent')).toBeCloseTo((100 * 2168) / 118128, 9);
  expect(await fleet('kv_cache_usage')).toBeCloseTo(0.0183529, 9);
  expect(await fleet('queue_depth')).toBe(3);
  expect(await fleet('running_requests')).toBe(8);
  // KEDA's default AverageValue: intensive signals are fleet value × ready workers (2).
  const avg = await harness.client.getMetrics(ref('load_avg'), 'dyn-load_avg');
  expect(avg.metricValues[0]).toEqual({ metricName: 'dyn-load_avg', metricValue: 2168, metricValueFloat: 2168 });
  expect(await harness.client.isActive(ref('queue_depth'))).toBe(true);
  expect(await poolWorkers()).toEqual([A_ID, B_ID].sort()); // exact 64-bit ids
}

describe('stats generation ($SRV.STATS.<service>)', () => {
  it('collects the workers that answer, with exact ids and hand-computed values', async () => {
    const ns = freshNamespace();
    const service = `${ns}_backend`;
    harness.track(await StatsWorker.start(nats.url, { service, leaseHex: A_HEX, load: A_LOAD }));
    const b = harness.track(await StatsWorker.start(nats.url, { service, leaseHex: B_HEX, load: B_LOAD, shape: 'flat' }));
    // Another component's worker answers only its own service name: never counted.
    harness.track(await StatsWorker.start(nats.url, { service: `${ns}_prefill`, leaseHex: 'abc', load: A_LOAD }));
    await startScaler({ namespace: ns, mode: 'stats' });
    await expectAandB();

    // A load change reaches GetMetrics within about an interval.
    b.load = { ...B_LOAD, kvActiveBlocks: 4000 };
    await waitFleet('load_avg', (120 + 4000) / 2, 1000);
  });

  it('a worker that stops answering leaves load_avg within the cache TTL, then leaves the pool', async () => {
    const ns = freshNamespace();
    harness.track(await StatsWorker.start(nats.url, { service: `${ns}_backend`, leaseHex: A_HEX, load: A_LOAD }));
    const b = harness.track(await StatsWorker.start(nats.url, { service: `${ns}_backend`, leaseHex: B_HEX, load: B_LOAD }));
    await startScaler({ namespace: ns, mode: 'stats' }, { cacheTtl: '600ms' });
    await waitFleet('load_avg', 1084);
    b.answering = false;
    const stopped = Date.now();
    await waitFleet('load_avg', 120, 3000);
    expect(Date.now() - stopped).toBeLessThan(600 + 3 * INTERVAL + 300);
    await vi.waitFor(async () => expect(await poolWorkers()).toEqual([A_ID]), { timeout: 2000, interval: 20 });
  });
});

describe('kv-metrics generation (JSON push on namespace.<ns>.kv_metrics)', () => {
  it('LoadEvent and ActiveLoad, exact ids, hand-computed values; silent workers keep their value past the cache TTL', async () => {
    const ns = freshNamespace();
    await startScaler({ namespace: ns, mode: 'kv-metrics' }, { cacheTtl: '500ms' });
    const publisher = harness.track(await KvMetricsPublisher.start(nats.url, ns));
    await publisher.loadEvent(A_ID, A_LOAD);
    await publisher.loadEvent(B_ID, B_LOAD, 'flat');
    await expectAandB();

    // ActiveLoad (2026-01 JSON) updates A's active blocks: load_avg (500 + 2048)/2.
    await publisher.activeLoad(A_ID, 0, 500);
    await waitFleet('load_avg', 1274);

    // Both fall silent (idle workers publish nothing) for three cache TTLs: values stay.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await fleet('load_avg')).toBe(1274);
    // Ready once the start-up listening window (1.5 s, for heartbeating workers) has passed.
    await vi.waitFor(async () => expect(await readiness()).toBe('SERVING'), { timeout: 2000, interval: 20 });
    expect(await fleet('load_avg')).toBe(1274);
  });

  it('a push worker silent for longer than workerTtl leaves load_avg', async () => {
    const ns = freshNamespace();
    await startScaler({ namespace: ns, mode: 'kv-metrics', workerTtl: '1s' }, { cacheTtl: '500ms' });
    const publisher = harness.track(await KvMetricsPublisher.start(nats.url, ns));
    await publisher.loadEvent(B_ID, B_LOAD);
    const keepAlive = setInterval(() => void publisher.loadEvent(A_ID, A_LOAD), 200);
    harness.onClose(async () => clearInterval(keepAlive));
    await waitFleet('load_avg', 1084);
    const silentSince = Date.now();
    await waitFleet('load_avg', 120, 4000);
    const gone = Date.now() - silentSince;
    expect(gone).toBeGreaterThan(700); // not before its TTL…
    expect(gone).toBeLessThan(1000 + 3 * INTERVAL + 300); // …and promptly after
    expect(await poolWorkers()).toEqual([A_ID]);
  });
});

describe('event-plane generation (MessagePack envelopes)', () => {
  it('merges dp ranks and FPM, prefers worker publishers over the KV router, orders by sequence, ignores other components', async () => {
    const ns = freshNamespace();
    await startScaler({ namespace: ns, mode: 'event-plane' });
    const workerA = harness.track(await EventPlanePublisher.start(nats.url, ns, 1001n));
    const workerB = harness.track(await EventPlanePublisher.start(nats.url, ns, 1002n));
    const router = harness.track(await EventPlanePublisher.start(nats.url, ns, 9n));
    const prefill = harness.track(await EventPlanePublisher.start(nats.url, ns, 2001n));
    const A = BigInt(A_ID);
    const B = BigInt(B_ID);
    const C = 42n; // a worker only the router reports
    const D = 77n; // a prefill worker (another component), on the same namespace-wide kv_metrics

    // The router first, from its own bookkeeping: no kv_used_blocks, several workers.
    await router.activeLoad({ workerId: A, activeDecodeBlocks: 999, activePrefillTokens: 0 });
    await router.activeLoad({ workerId: B, activeDecodeBlocks: 999, activePrefillTokens: 0 });
    await router.activeLoad({ workerId: C, activeDecodeBlocks: 300, activePrefillTokens: 0 });
    // Worker A: two dp ranks, kv_used_blocks 130 + 70 = 200; FPM rank 0 running 2+30, queued 4 (9000
    // tokens); rank 1 running 1+10, queued 1 prefill + 1 preempted (1000 tokens).
    await workerA.activeLoad({ workerId: A, dpRank: 0, activeDecodeBlocks: 120, activePrefillTokens: 0, kvUsedBlocks: 130 });
    await workerA.activeLoad({ workerId: A, dpRank: 1, activeDecodeBlocks: 60, activePrefillTokens: 0, kvUsedBlocks: 70 });
    await workerA.forwardPass('backend', { workerId: A, dpRank: 0, scheduled: { prefill: 2, decode: 30 }, queued: { prefill: 4, prefillTokens: 9000 } });
    await workerA.forwardPass('backend', {
      workerId: A,
      dpRank: 1,
      scheduled: { prefill: 1, decode: 10 },
      queued: { prefill: 1, prefillTokens: 1000, decode: 1 },
    });
    // Worker B: 400 blocks, idle queue.
    await workerB.activeLoad({ workerId: B, kvUsedBlocks: 400, activeDecodeBlocks: 400 });
    await workerB.forwardPass('backend', { workerId: B, scheduled: { prefill: 0, decode: 8 }, queued: { prefill: 0, prefillTokens: 0 } });
    // A prefill worker: its FPM names component prefill, so its kv_metrics are not this pool's.
    await prefill.forwardPass('prefill', { workerId: D, scheduled: { prefill: 5, decode: 0 }, queued: { prefill: 50, prefillTokens: 99999 } });
    await prefill.activeLoad({ workerId: D, kvUsedBlocks: 5000 });
    // The router speaks again, later: still only the estimate for A and B.
    await router.activeLoad({ workerId: A, activeDecodeBlocks: 999, activePrefillTokens: 0 });

    // Blocks: A 200 (its own, not the router's 999), B 400, C 300 (router only) → mean 300,
    // population std √((100² + 100² + 0²)/3).
    await waitFleet('load_avg', 300);
    expect(await fleet('load_std')).toBeCloseTo(Math.sqrt(20000 / 3), 9);
    // Queue from FPM: A 4 + (1 + 1) = 6, B 0; C reports none (excluded, not zero). Running 43 + 8.
    // Each publisher has its own connection, so B's forward pass may land a collection after the
    // blocks above: wait for it rather than read once.
    await vi.waitFor(async () => expect(await fleet('queue_depth')).toBe(6), { timeout: 5000, interval: 20 });
    await vi.waitFor(async () => expect(await fleet('running_requests')).toBe(51), { timeout: 5000, interval: 20 });
    expect((await poolWorkers()).sort()).toEqual([A_ID, B_ID, '42'].sort());
    // The event plane carries no KV totals: usage signals are unavailable, never made up.
    for (const metric of ['kv_cache_usage', 'kv_blocks_usage_percent']) {
      const status = await statusOf(harness.client.getMetrics(ref(metric), `dyn-${metric}`));
      expect(status.code).toBe(grpc.status.UNAVAILABLE);
    }

    // The next envelope counts: B 700 → mean (200 + 700 + 300)/3 = 400…
    await workerB.activeLoad({ workerId: B, kvUsedBlocks: 700 });
    await waitFleet('load_avg', 400);
    // …while a duplicate of it (same sequence and time) and an older envelope are dropped.
    await workerB.activeLoad({ workerId: B, kvUsedBlocks: 10_000 }, { sequence: workerB.sequence, publishedAt: workerB.lastPublishedAt });
    await workerB.activeLoad({ workerId: B, kvUsedBlocks: 10_000 }, { sequence: workerB.sequence - 2n, publishedAt: workerB.lastPublishedAt - 5n });
    await vi.waitFor(
      async () => {
        const text = await metricsText();
        expect(text).toContain('keda_llm_scaler_nats_messages_total{pool="dyn",kind="kv_metrics_msgpack",result="duplicate"} 1');
        expect(text).toContain('keda_llm_scaler_nats_messages_total{pool="dyn",kind="kv_metrics_msgpack",result="older"} 1');
      },
      { timeout: 2000, interval: 20 },
    );
    expect(await fleet('load_avg')).toBe(400);
  });

  it('computes KV usage from kvBlocksPerWorker when the messages carry only blocks in use', async () => {
    const ns = freshNamespace();
    await startScaler({ namespace: ns, mode: 'event-plane', kvBlocksPerWorker: 1000 });
    const worker = harness.track(await EventPlanePublisher.start(nats.url, ns, 5n));
    await worker.activeLoad({ workerId: 1n, kvUsedBlocks: 250, activeDecodeBlocks: 250 });
    await worker.activeLoad({ workerId: 2n, kvUsedBlocks: 750, activeDecodeBlocks: 750 });
    // Usage 0.25 and 0.75 → mean 0.5; blocks 100 × 1000 / 2000 = 50 %.
    await waitFleet('kv_cache_usage', 0.5);
    expect(await fleet('kv_blocks_usage_percent')).toBeCloseTo(50, 9);
  });

  it('a worker that heartbeats (FPM, wall_time 0) stays; one whose heartbeats stop leaves after workerTtl', async () => {
    const ns = freshNamespace();
    await startScaler({ namespace: ns, mode: 'event-plane', workerTtl: '1s' }, { cacheTtl: '500ms' });
    const alive = harness.track(await EventPlanePublisher.start(nats.url, ns, 1n));
    const dying = harness.track(await EventPlanePublisher.start(nats.url, ns, 2n));
    const idle = { scheduled: { prefill: 0, decode: 0 }, queued: { prefill: 0, prefillTokens: 0 }, wallTime: 0 };
    await dying.forwardPass('backend', { workerId: 2n, scheduled: { prefill: 0, decode: 4 }, queued: { prefill: 3, prefillTokens: 30 } });
    const beat = setInterval(() => void alive.forwardPass('backend', { workerId: 1n, ...idle }), 200);
    harness.onClose(async () => clearInterval(beat));
    await waitFleet('queue_depth', 3);
    // No more heartbeats from worker 2: gone after workerTtl (1 s), like any silent push worker.
    await waitFleet('queue_depth', 0, 5000);
    expect(await poolWorkers()).toEqual(['1']);
  });
});

describe('auto mode', () => {
  it('probes $SRV.STATS until a generation answers, settles on it, and follows an upgrade to the event plane', async () => {
    const ns = freshNamespace();
    const a = harness.track(await StatsWorker.start(nats.url, { service: `${ns}_backend`, leaseHex: A_HEX, load: A_LOAD }));
    const b = harness.track(await StatsWorker.start(nats.url, { service: `${ns}_backend`, leaseHex: B_HEX, load: B_LOAD }));
    await startScaler({ namespace: ns }, { cacheTtl: '600ms' });
    await expectAandB();

    // The cluster is upgraded: the stats workers go away and event-plane workers appear.
    await a.close();
    await b.close();
    const upgraded = harness.track(await EventPlanePublisher.start(nats.url, ns, 5n));
    await upgraded.activeLoad({ workerId: 5n, kvUsedBlocks: 64 });
    await upgraded.forwardPass('backend', { workerId: 5n, scheduled: { prefill: 0, decode: 2 }, queued: { prefill: 7, prefillTokens: 700 } });
    await waitFleet('load_avg', 64, 3000);
    // The forward pass is a message of its own, maybe a collection later.
    await vi.waitFor(async () => expect(await fleet('queue_depth')).toBe(7), { timeout: 5000, interval: 20 });
    await vi.waitFor(async () => expect(await poolWorkers()).toEqual(['5']), { timeout: 2000, interval: 20 });
  });

  it('describes what it is connected to and which generation it detected', async () => {
    const ns = freshNamespace();
    const metrics = new ScalerMetrics();
    const store = new PoolStore('direct', { cacheTtlMs: 2000, intervalMs: 1000, historyWindowMs: 600_000 });
    const source = new DynamoNatsSource({
      pool: 'direct',
      store,
      nats: { url: nats.url.replace('nats://', 'nats://user:secret@') },
      namespace: ns,
      component: 'backend',
      endpoint: 'load_metrics',
      mode: 'auto',
      intervalMs: INTERVAL,
      cacheTtlMs: 2000,
      statsWindowMs: 50,
      workerTtlMs: 60_000,
      metrics,
      log: silentLogger(),
      failures: new FailureLog(silentLogger()),
    });
    harness.onClose(() => source.stop());
    // nats-server accepts any user when it has no auth configured.
    source.start();
    const publisher = harness.track(await KvMetricsPublisher.start(nats.url, ns));
    const router = harness.track(await EventPlanePublisher.start(nats.url, ns, 9n));
    await vi.waitFor(() => expect(source.describe()['connected']).toBe(true), { timeout: 3000 });
    await publisher.loadEvent(A_ID, A_LOAD);
    await router.activeLoad({ workerId: 11n, activeDecodeBlocks: 5 });
    await router.activeLoad({ workerId: 12n, activeDecodeBlocks: 6 });
    await vi.waitFor(() => expect(source.describe()['routerOnlyWorkers']).toMatchObject({ count: 2 }), { timeout: 3000 });
    const description = source.describe();
    expect(description).toMatchObject({
      transport: 'nats',
      url: nats.url, // credentials never shown
      connected: true,
      mode: 'auto',
      detectedMode: 'event-plane', // the newest generation heard
      service: `${ns}_backend`,
      subjects: [`$SRV.STATS.${ns}_backend`, `namespace.${ns}.kv_metrics`, `namespace.${ns}.component.*.forward-pass-metrics`],
      publishers: { workers: 0, routers: 1, unclassified: 0 },
    });
    const routerOnly = description['routerOnlyWorkers'] as { count: number; ids: string[]; why: string };
    expect(routerOnly.ids.sort()).toEqual(['11', '12']);
    expect(routerOnly.why).toContain('KV router');
    expect(JSON.stringify(description)).not.toContain('secret');
  });
});

describe('bad input and outages', () => {
  it('malformed messages on every subject are counted and change no value', async () => {
    const ns = freshNamespace();
    harness.track(await StatsWorker.start(nats.url, { service: `${ns}_backend`, leaseHex: A_HEX, load: A_LOAD }));
    const garbageWorker = harness.track(await StatsWorker.start(nats.url, { service: `${ns}_backend`, leaseHex: 'bad', load: A_LOAD }));
    garbageWorker.rawReply = '{"type":"io.nats.micro.v1.stats_response","endpoints":[{"subject":"x_backend.load_metrics-1","data":{"request_active_slots":-3}}';
    await startScaler({ namespace: ns }); // auto: every subject is listened to
    const json = harness.track(await KvMetricsPublisher.start(nats.url, ns));
    const plane = harness.track(await EventPlanePublisher.start(nats.url, ns, 3n));
    await json.loadEvent(B_ID, B_LOAD);
    await expectAandB();

    const kv = `namespace.${ns}.kv_metrics`;
    const fpm = `namespace.${ns}.component.backend.forward-pass-metrics`;
    const bad: [string, string | Uint8Array][] = [
      [
        kv,
        `{"worker_id":${B_ID},"data":{"worker_stats":{"request_active_slots":-1,"request_total_slots":1,"num_requests_waiting":0},` +
          `"kv_stats":{"kv_active_blocks":1,"kv_total_blocks":1,"gpu_cache_usage_perc":0.1}}}`,
      ],
      [kv, `{"worker_id":${B_ID},"data":{"request_active_slots":1,"request_total_slots":1,"kv_active_blocks":"lots","kv_total_blocks":1}}`],
      [kv, `{"worker_id":${B_ID},"dp_rank":0,"active_decode_blocks":1e400}`],
      [kv, '{"worker_id": 1, "data": '],
      [kv, new Uint8Array([0x85, 0xff, 0x00, 0x13])],
      [fpm, new Uint8Array([1, 2, 3])],
    ];
    for (const [subject, payload] of bad) await json.raw(payload, subject);
    await plane.send(kv, 'kv_metrics', new TextEncoder().encode('not msgpack'));
    await plane.send(fpm, 'forward-pass-metrics', new Uint8Array([0x81, 0xa7, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x09])); // version 9
    await plane.send(kv, 'forward-pass-metrics', new Uint8Array([0x80])); // topic does not match the subject

    await vi.waitFor(
      async () => {
        const text = await metricsText();
        const malformed = [...text.matchAll(/keda_llm_scaler_nats_messages_total\{pool="dyn",kind="[a-z_]+",result="malformed"\} (\d+)/g)].reduce(
          (sum, m) => sum + Number(m[1]),
          0,
        );
        expect(malformed).toBeGreaterThanOrEqual(bad.length + 3);
        expect(text).toMatch(/keda_llm_scaler_scrape_errors_total\{pool="dyn",cause="parse"\} \d+/);
      },
      { timeout: 3000, interval: 50 },
    );
    await expectAandB();
  });

  it('NATS down → UNAVAILABLE and readiness NOT_SERVING; back → values within two check intervals, same scaler', async () => {
    const ns = freshNamespace();
    const interval = 200;
    harness.track(await StatsWorker.start(nats.url, { service: `${ns}_backend`, leaseHex: A_HEX, load: A_LOAD }));
    const json = harness.track(await KvMetricsPublisher.start(nats.url, ns));
    await startScaler({ namespace: ns }, { checkInterval: `${interval}ms`, cacheTtl: '1s' });
    await json.loadEvent(B_ID, B_LOAD); // auto mode: a stats worker and a (silent) push worker
    await waitFleet('load_avg', 1084);
    await vi.waitFor(async () => expect(await readiness()).toBe('SERVING'), { timeout: 3000, interval: 20 });

    await nats.stop();
    await vi.waitFor(
      async () => {
        const status = await statusOf(harness.client.getMetrics(ref('load_avg'), 'dyn-load_avg'));
        expect(status.code).toBe(grpc.status.UNAVAILABLE);
        expect(status.details).toContain('NATS is not connected');
      },
      { timeout: 2000, interval: 20 },
    );
    await vi.waitFor(async () => expect(await readiness()).toBe('NOT_SERVING'), { timeout: 2000, interval: 20 });
    // GetMetricSpec comes from configuration: it keeps working for KEDA's fallback.
    expect((await harness.client.getMetricSpec(ref('load_avg'))).metricSpecs).toHaveLength(1);
    // Down for longer than the cache TTL, so the stats worker's last sample is stale by then.
    await new Promise((resolve) => setTimeout(resolve, 1200));

    await nats.restart();
    const back = Date.now();
    await waitFleet('load_avg', 1084, 3000);
    expect(Date.now() - back).toBeLessThanOrEqual(2 * interval + 100); // 100 ms for the test's own polling and the workers' reconnect
    await vi.waitFor(async () => expect(await readiness()).toBe('SERVING'), { timeout: 2000, interval: 20 });
  });

  it('zero workers: UNAVAILABLE while NATS is unreachable, then 0 and inactive on a healthy connection', async () => {
    const ns = freshNamespace();
    await nats.stop();
    await startScaler({ namespace: ns, mode: 'kv-metrics' });
    const unavailable = await statusOf(harness.client.getMetrics(ref('queue_depth'), 'dyn-queue_depth'));
    expect(unavailable.code).toBe(grpc.status.UNAVAILABLE);
    expect(unavailable.details).toContain('NATS is not connected');
    expect(await readiness()).toBe('NOT_SERVING');

    await nats.restart();
    // After listening long enough for heartbeating workers (1.5 s), nobody spoke: a real zero.
    await waitFleet('queue_depth', 0, 5000);
    expect(await fleet('load_avg')).toBe(0);
    expect(await harness.client.isActive(ref('queue_depth'))).toBe(false);
    await vi.waitFor(async () => expect(await readiness()).toBe('SERVING'), { timeout: 2000, interval: 20 });
  });

  it('zero workers in stats mode: 0 after the first round nobody answered', async () => {
    await startScaler({ namespace: freshNamespace(), mode: 'stats' });
    await waitFleet('load_avg', 0, 2000);
    expect(await harness.client.isActive(ref('load_avg'))).toBe(false);
  });
});

describe('connection settings', () => {
  it('maps credentials and TLS from the pool config, reconnects forever, names the connection', () => {
    const backoff = new ReconnectBackoff(1000);
    const options = natsConnectionOptions(
      {
        url: 'tls://nats.example:4222',
        user: 'u',
        pass: 'p',
        credsFile: '/nonexistent/user.creds',
        tls: { ca: '/etc/ca.pem', cert: '/etc/c.pem', key: '/etc/k.pem' },
      },
      1000,
      backoff,
    );
    expect(options).toMatchObject({
      servers: 'tls://nats.example:4222',
      name: 'keda-llm-scaler',
      maxReconnectAttempts: -1,
      user: 'u',
      pass: 'p',
      tls: { caFile: '/etc/ca.pem', certFile: '/etc/c.pem', keyFile: '/etc/k.pem' },
    });
    expect(typeof options.authenticator).toBe('function');
    const plain = natsConnectionOptions({ url: 'nats://127.0.0.1:4222' }, 1000, backoff);
    expect(plain.servers).toBe('nats://127.0.0.1:4222');
    expect(plain.tls).toBeUndefined();
    expect(redactUrl('nats://user:secret@host:4222')).toBe('nats://host:4222');
    expect(defaultStatsWindow(1000)).toBe(300); // Dynamo's own aggregators wait 300 ms
    expect(defaultStatsWindow(100)).toBe(50); // never more than half an interval
  });

  it('reconnect delays: exponential from 50 ms with 50–100 % jitter, capped at half an interval', () => {
    let random = 1;
    const backoff = new ReconnectBackoff(1000, () => random);
    expect([1, 2, 3, 4, 5, 6].map(() => backoff.next())).toEqual([50, 100, 200, 400, 500, 500]);
    random = 0;
    expect(backoff.next()).toBe(250);
    backoff.reset();
    expect(backoff.next()).toBe(25);
    expect(new ReconnectBackoff(60_000).capMs).toBe(5000);
    expect(new ReconnectBackoff(20).capMs).toBe(50);
  });
});
