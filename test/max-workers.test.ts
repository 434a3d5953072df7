/**
 * `maxWorkers`: 50,000 invented Dynamo worker ids on a real nats-server must neither stall
 * GetMetrics nor grow the pool past its bound; the refusal is visible in /api/v1/pools.
 * And a static pool listing more targets than `maxWorkers` scrapes only that many.
 */
import { connect } from 'nats';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { fpmJson, type FpmLoad } from './support/dynamo-workers.js';
import { KedaClient } from './support/keda-client.js';
import { NatsServer } from './support/nats-server.js';
import { INTERVAL, TestScaler } from './support/test-scaler.js';
import { FakeWorker } from './support/workers.js';

let nats: NatsServer;
const harness = new TestScaler();
beforeAll(async () => {
  nats = await NatsServer.start();
});
afterAll(async () => {
  await nats.close();
});
afterEach(() => harness.close());

const LOAD: FpmLoad = { waiting: 1, activeSlots: 2, totalSlots: 8, kvActiveBlocks: 100, kvTotalBlocks: 1000, kvUsage: 0.1 };

async function pool(name: string): Promise<Record<string, unknown>> {
  return (await (await fetch(`${harness.httpUrl}/api/v1/pools/${name}`)).json()) as Record<string, unknown>;
}

describe('maxWorkers', () => {
  it('refuses Dynamo worker ids past maxWorkers, keeps GetMetrics answering meanwhile, and says so in /api/v1/pools', async () => {
    const ns = 'bounded';
    await harness.start([
      { name: 'dyn', source: 'dynamo-nats', nats: { url: nats.url }, component: 'backend', namespace: ns, mode: 'kv-metrics', maxWorkers: 100 },
    ]);
    await vi.waitFor(async () => expect(await (await fetch(`${harness.httpUrl}/metrics`)).text()).toContain('keda_llm_scaler_nats_connected{pool="dyn"} 1'), {
      timeout: 5000,
      interval: 20,
    });
    const nc = await connect({ servers: nats.url });
    const so = KedaClient.ref({ pool: 'dyn', metric: 'queue_depth', target: '1', valueMode: 'raw' });
    try {
      const encoder = new TextEncoder();
      const subject = `namespace.${ns}.kv_metrics`;
      const total = 50_000;
      const rssBefore = process.memoryUsage().rss;
      let slowest = 0;
      let answered = 0;
      let publishing = true;
      // KEDA's calls keep coming while the ids arrive: none may wait behind the ingest.
      const prober = (async () => {
        while (publishing) {
          const started = performance.now();
          await harness.client.getMetrics(so, '').catch(() => undefined);
          slowest = Math.max(slowest, performance.now() - started);
          answered++;
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      })();
      for (let i = 0; i < total; i++) {
        nc.publish(subject, encoder.encode(`{"worker_id":${1_000_000 + i},"data":${fpmJson(LOAD)}}`));
        if (i % 1000 === 999) {
          await nc.flush();
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
      await nc.flush();
      await vi.waitFor(
        async () => {
          const report = await pool('dyn');
          expect((report['workerBound'] as { refusals: number } | undefined)?.refusals).toBe(total - 100);
        },
        { timeout: 30_000, interval: 100 },
      );
      publishing = false;
      await prober;
      const report = await pool('dyn');
      expect((report['workers'] as unknown[]).length).toBe(100);
      expect(report['workerBound']).toMatchObject({
        maxWorkers: 100,
        refusedWorkerIds: 10_000,
        cause: 'max-workers: the pool already has 100 workers (maxWorkers); further workers are refused',
      });
      // The 100 admitted workers each wait 1: the refused ones add nothing.
      await vi.waitFor(async () => expect((await harness.client.getMetrics(so, '')).metricValues[0]?.metricValueFloat).toBe(100), {
        timeout: 5000,
        interval: 50,
      });
      expect(answered).toBeGreaterThan(0);
      // Generous for a loaded 2-core machine; the unbounded ingest stalled calls for 2–4 s.
      expect(slowest).toBeLessThan(1000);
      // The scaler runs in this process: 50,000 unbounded ids took it to ~1 GB; refused ones cost a counter.
      expect(process.memoryUsage().rss - rssBefore).toBeLessThan(150 * 2 ** 20);
      const metrics = await (await fetch(`${harness.httpUrl}/metrics`)).text();
      expect(metrics).toMatch(new RegExp(`^keda_llm_scaler_scrape_errors_total\\{pool="dyn",cause="max_workers"\\} ${total - 100}$`, 'm'));
    } finally {
      await nc.close();
    }
  });

  it('scrapes at most maxWorkers of a static target list and names the bound', async () => {
    const workers = await Promise.all([0, 1, 2].map(async () => harness.track(await FakeWorker.start())));
    await harness.start([{ name: 'llama', source: 'vllm', targets: workers.map((w) => w.target), maxWorkers: 2 }]);
    await vi.waitFor(
      async () => {
        const report = await pool('llama');
        expect((report['workers'] as unknown[]).length).toBe(2);
        expect(report['workerBound']).toMatchObject({ maxWorkers: 2, refusedWorkerIds: 1 });
      },
      { timeout: 5000, interval: 50 },
    );
    // Two workers of the fixture (3 waiting each): 6, never the third worker's share. Discovered
    // is not yet collected: the answer is waited for (UNAVAILABLE until the first scrape lands).
    const so = KedaClient.ref({ pool: 'llama', metric: 'queue_depth', target: '5', valueMode: 'raw' });
    await vi.waitFor(async () => expect((await harness.client.getMetrics(so, '')).metricValues[0]?.metricValueFloat).toBe(6), { timeout: 5000, interval: 50 });
    await new Promise((resolve) => setTimeout(resolve, 3 * INTERVAL));
    expect((await harness.client.getMetrics(so, '')).metricValues[0]?.metricValueFloat).toBe(6);
  });
});
