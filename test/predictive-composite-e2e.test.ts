import { afterEach, describe, expect, it, vi } from 'vitest';
import { KedaClient } from './support/keda-client.js';
import { TestScaler } from './support/test-scaler.js';
import { FakeWorker } from './support/workers.js';
import { vllmGauges } from './support/vllm-exposition.js';

/**
 * The predictive composite end to end: a real HTTP worker serving a vLLM exposition whose queue
 * ramps, the real scaler, and a real gRPC client making KEDA's calls for two triggers on the same
 * pool — the plain composite and the same composite with `predictor` and `horizon`. Seed 001's
 * "predictive autoscaling": the forecast sees the ramp coming and asks for the replicas earlier.
 */
const harness = new TestScaler();
const timers: NodeJS.Timeout[] = [];

afterEach(async () => {
  for (const t of timers.splice(0)) clearInterval(t);
  await harness.close();
});

const vllm = (waiting: number): string => vllmGauges({ waiting, kv: 0.3 });

const PLAIN = { metric: 'desired_replicas', policy: 'composite', metrics: 'queue_depth:10' };
// horizon 10s: one point a second, forecast 10 points ahead.
// Kalman (Dynamo v2's filter) forecasts from 5 points; the arima package needs 11.
const PREDICTIVE = { ...PLAIN, predictor: 'kalman', horizon: '10s' };
const ref = (metadata: Record<string, string>) => KedaClient.ref({ scalerAddress: 'scaler:9090', pool: 'llama', ...metadata });

async function desired(metadata: Record<string, string>): Promise<number> {
  const so = ref(metadata);
  const spec = (await harness.client.getMetricSpec(so)).metricSpecs[0]!;
  return (await harness.client.getMetrics(so, spec.metricName)).metricValues[0]!.metricValueFloat;
}

interface Decision {
  metadata: Record<string, string>;
  details?: { signals?: { signal: string; forecast?: { seriesLength: number; forecast?: number; method?: string; note?: string } }[] };
}

describe('predictive composite through KEDA’s gRPC calls', () => {
  it('ramp makes the predictive composite scale up before the plain one does', { timeout: 120_000 }, async () => {
    const worker = harness.track(await FakeWorker.start({ behaviour: { kind: 'text', body: vllm(0) } }));
    await harness.start([{ name: 'llama', source: 'vllm', targets: [worker.target] }]);
    await harness.waitReady();

    // The queue grows by 4 a second: with target 10 the present asks for 5 replicas past 40 waiting
    // (10 s in); ten seconds ahead the forecast is ~40 higher, so the predictive trigger asks for 5
    // as soon as it has 5 points and a fit (~6 s in).
    const started = Date.now();
    const queue = (): number => Math.floor(((Date.now() - started) / 1000) * 4);
    timers.push(setInterval(() => worker.serve(vllm(queue())), 100));

    const firstAtFive: { plain?: number; predictive?: number; plainWhenPredictive?: number } = {};
    await vi.waitFor(
      async () => {
        // Polled like KEDA, both triggers in the same round.
        const [plain, predictive] = await Promise.all([desired(PLAIN), desired(PREDICTIVE)]);
        const at = Date.now() - started;
        if (predictive >= 5 && firstAtFive.predictive === undefined) {
          firstAtFive.predictive = at;
          firstAtFive.plainWhenPredictive = plain;
        }
        if (plain >= 5 && firstAtFive.plain === undefined) firstAtFive.plain = at;
        expect(firstAtFive.plain).toBeDefined();
      },
      { timeout: 90_000, interval: 200 },
    );

    // The predictive trigger got there first, while the plain one still asked for fewer.
    expect(firstAtFive.predictive).toBeDefined();
    expect(firstAtFive.predictive!).toBeLessThan(firstAtFive.plain!);
    expect(firstAtFive.plainWhenPredictive!).toBeLessThan(5);
    // By how much: the forecast is ~40 waiting ahead of the present, 10 s of this ramp; it needs
    // 5 points (5 s) first, so the lead is ~5 s (5.4 s measured). At least 2 s, with room for a loaded machine.
    expect(firstAtFive.plain! - firstAtFive.predictive!).toBeGreaterThanOrEqual(2000);

    // Why: the explanation shows the series, the forecast and the method per signal.
    const response = await fetch(`${harness.httpUrl}/api/v1/decisions`);
    const decisions = ((await response.json()) as { decisions: Decision[] }).decisions;
    const predictive = decisions.find((d) => d.metadata['predictor'] === 'kalman');
    const forecast = predictive?.details?.signals?.find((s) => s.signal === 'queue_depth')?.forecast;
    expect(forecast?.method).toBe('kalman');
    expect(forecast?.seriesLength).toBeGreaterThanOrEqual(5);
    expect(forecast?.forecast).toBeGreaterThan(40);
    const plain = decisions.find((d) => d.metadata['policy'] === 'composite' && d.metadata['predictor'] === undefined);
    expect(plain?.details?.signals?.[0]?.forecast).toBeUndefined();
  });

  it('refuses an unknown predictor and a bad horizon with INVALID_ARGUMENT naming the key', async () => {
    const worker = harness.track(await FakeWorker.start({ behaviour: { kind: 'text', body: vllm(0) } }));
    await harness.start([{ name: 'llama', source: 'vllm', targets: [worker.target] }]);
    await harness.expectInvalidArgument(ref({ ...PLAIN, predictor: 'lstm' }), "metadata 'predictor': 'lstm' is not accepted");
    await harness.expectInvalidArgument(ref({ ...PLAIN, predictor: 'holt', horizon: 'tomorrow' }), "metadata 'horizon': 'tomorrow' is not a duration");
  });
});
