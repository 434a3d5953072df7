/**
 * The panic window end to end (Knative KPA semantics, reference: knative/serving
 * pkg/autoscaler/scaling/autoscaler.go): real HTTP workers serving vLLM expositions whose queue
 * changes, the real scaler collecting every 100 ms, and a real gRPC client polling as KEDA does.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { KedaClient } from './support/keda-client.js';
import { TestScaler } from './support/test-scaler.js';
import { FakeWorker } from './support/workers.js';
import { vllmGauges } from './support/vllm-exposition.js';

const harness = new TestScaler();
afterEach(() => harness.close());

const vllm = (waiting: number): string => vllmGauges({ waiting, kv: 0.1 });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('panic window with real workers', () => {
  it('a doubling burst raises the answer at the next collection, holds it while panicking, lowers it after a quiet stable window', async () => {
    const start = async () => harness.track(await FakeWorker.start({ behaviour: { kind: 'text', body: vllm(10) } }));
    const workers = await Promise.all([start(), start()]);
    await harness.start([{ name: 'llama', source: 'vllm', targets: workers.map((w) => w.target) }]);
    await harness.waitReady();
    const so = KedaClient.ref({
      pool: 'llama',
      metric: 'desired_replicas',
      policy: 'composite',
      metrics: 'queue_depth:10',
      panicWindow: '1s',
      stableWindow: '6s',
    });
    const spec = (await harness.client.getMetricSpec(so)).metricSpecs[0]!;
    const answer = async () => (await harness.client.getMetrics(so, spec.metricName)).metricValues[0]!.metricValueFloat;
    const answerWithin = async (ms: number, wanted: (v: number) => boolean): Promise<{ value: number; afterMs: number }> => {
      const started = Date.now();
      for (;;) {
        const value = await answer();
        if (wanted(value)) return { value, afterMs: Date.now() - started };
        if (Date.now() - started > ms) return { value, afterMs: Date.now() - started };
        await sleep(20);
      }
    };

    // 2 workers × 10 waiting / target 10 → 2 replicas.
    expect((await answerWithin(3000, (v) => v === 2)).value).toBe(2);

    // The burst: 2 × 20 waiting → 4 = 2 × the 2 ready replicas ≥ panicThreshold 2: panic.
    for (const w of workers) w.serve(vllm(20));
    const burst = await answerWithin(1000, (v) => v === 4);
    // Within 1 s: the next collection (every 100 ms) plus publication and scheduling on a busy machine.
    expect(burst.value).toBe(4);
    expect(burst.afterMs).toBeLessThan(1000);

    // Load falls to 2 × 5 → 1 replica, but while panicking the answer never goes down.
    for (const w of workers) w.serve(vllm(5));
    const quietStarted = Date.now();
    const seen: number[] = [];
    while (Date.now() - quietStarted < 4000) {
      seen.push(await answer());
      await sleep(50);
    }
    expect(seen.length).toBeGreaterThan(10);
    expect(Math.min(...seen)).toBe(4);

    // After a full stable window (6 s) below the threshold, panic ends and the answer follows the load.
    const calm = await answerWithin(8000, (v) => v < 4);
    expect(calm.value).toBeLessThan(4);
    expect(Date.now() - quietStarted).toBeGreaterThanOrEqual(6000);
  }, 30_000);
});
