/**
 * The simulator's vLLM replica: its step-by-step schedule worked out by hand, and its metrics as
 * production reads them — the exposition served over real HTTP and scraped by the real scaler
 * with the vLLM profile, so the simulator and production read the same signals.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { profileFor } from '../src/sources/http/engine-profiles.js';
import { extractWorkerSample } from '../src/sources/http/extract-sample.js';
import { parsePrometheusText } from '../src/sources/http/prometheus-text.js';
import { Engine, type RequestOutcome } from '../src/simulation/engine.js';
import type { EngineSettings } from '../src/simulation/scenario.js';
import { VLLM_ITL_BUCKETS, VLLM_REQUEST_LATENCY_BUCKETS, VLLM_TTFT_BUCKETS } from '../src/simulation/vllm-buckets.js';
import { KedaClient } from './support/keda-client.js';
import { TestScaler } from './support/test-scaler.js';
import { FakeWorker } from './support/workers.js';

const harness = new TestScaler();
afterEach(() => harness.close());

/** base 10 ms, 1 ms per prefill token, 2 ms per decoding sequence, no KV term. */
function settings(over: Partial<EngineSettings> = {}): EngineSettings {
  return {
    kvCacheTokens: 1000,
    maxNumSeqs: 4,
    maxBatchedTokens: 100,
    blockSize: 16,
    step: { base: 0.01, prefillToken: 0.001, decodeSeq: 0.002, kvToken: 0 },
    ...over,
  } as EngineSettings;
}

function engine(s: EngineSettings) {
  const finished: RequestOutcome[] = [];
  const e = new Engine(s, 'Qwen/Qwen3-0.6B', { finished: (o) => finished.push(o), firstToken: () => undefined });
  let id = 0;
  /** A request arriving at t; the engine starts a step at t if it is idle (as the simulator does after each instant's arrivals). */
  const submit = (t: number, promptTokens: number, outputTokens: number): RequestOutcome => {
    e.advanceTo(t);
    const o: RequestOutcome = { spec: { id: id++, arrival: t, promptTokens, outputTokens }, firstScheduledAt: -1, firstTokenAt: -1, finishedAt: -1 };
    e.submit(o);
    e.kick(t);
    return o;
  };
  return { e, submit, finished };
}

describe('one replica, step by step', () => {
  it('a 150-token prompt is prefilled in chunks of the batch budget, then decodes one token per step', () => {
    const { e, submit } = engine(settings());
    const o = submit(0, 150, 3);
    // Step 1: 100 prompt tokens (the budget): 0.01 + 0.100 = 0.110 s. Step 2: the other 50: 0.01 + 0.050 → 0.170, first token.
    // Steps 3 and 4: one decoding sequence each, 0.01 + 0.002 = 0.012 s → tokens 2 and 3 at 0.182 and 0.194.
    e.advanceTo(10);
    expect(o.firstScheduledAt).toBe(0);
    expect(o.firstTokenAt).toBeCloseTo(0.17, 12);
    expect(o.finishedAt).toBeCloseTo(0.194, 12);
    expect(e.steps).toBe(4);
    expect(e.busySeconds).toBeCloseTo(0.194, 12);
    const m = e.metrics;
    expect(m.promptTokens).toBe(150);
    expect(m.generationTokens).toBe(3);
    expect(m.histograms.ttft.count).toBe(1);
    expect(m.histograms.ttft.sum).toBeCloseTo(0.17, 12);
    expect(m.histograms.itl.count).toBe(2); // two inter-token gaps of 12 ms
    expect(m.histograms.itl.sum).toBeCloseTo(0.024, 12);
    expect(m.histograms.e2e.sum).toBeCloseTo(0.194, 12);
    expect(e.kvTokens).toBe(0);
    expect(e.idle).toBe(true);
  });

  it('a request arriving during a step waits for the next one, and shares it with the decoding one', () => {
    const { e, submit } = engine(settings());
    const a = submit(0, 50, 3); // step 1: 0.01 + 0.05 = 0.06 → first token at 0.06
    const b = submit(0.03, 20, 2); // arrives mid-step: scheduled at 0.06
    e.advanceTo(10);
    expect(b.firstScheduledAt).toBeCloseTo(0.06, 12);
    // Step 2 (from 0.06): a decodes (1 token of budget), b prefills 20: 0.01 + 0.020 + 0.002 = 0.032 → 0.092, b's first token.
    expect(b.firstTokenAt).toBeCloseTo(0.092, 12);
    expect(a.finishedAt).toBeCloseTo(0.06 + 0.032 + 0.014, 12); // step 3: both decode, 0.01 + 0.004 → a's third token
    expect(b.finishedAt).toBeCloseTo(0.106, 12);
  });

  it('requests wait while the KV cache cannot hold their prompt, and while every sequence slot is taken', () => {
    const kv = engine(settings({ kvCacheTokens: 300 }));
    const first = kv.submit(0, 200, 2);
    const second = kv.submit(0, 200, 2);
    kv.e.advanceTo(0.05);
    expect(kv.e.waitingCount).toBe(1); // 200 + 200 > 300
    kv.e.advanceTo(10);
    expect(second.firstScheduledAt).toBeCloseTo(first.finishedAt, 12);

    const slots = engine(settings({ maxNumSeqs: 2 }));
    const first3 = slots.submit(0, 10, 5);
    slots.e.advanceTo(1); // idle again
    // Three at once: they share the first step, as far as the sequence slots allow.
    const outcomes = [1, 1, 1].map((t) => {
      const o: RequestOutcome = { spec: { id: 10, arrival: t, promptTokens: 10, outputTokens: 5 }, firstScheduledAt: -1, firstTokenAt: -1, finishedAt: -1 };
      slots.e.submit(o);
      return o;
    });
    slots.e.kick(1);
    expect(first3.finishedAt).toBeLessThan(1);
    slots.e.advanceTo(1.001);
    expect(slots.e.runningCount).toBe(2);
    expect(slots.e.waitingCount).toBe(1);
    slots.e.advanceTo(10);
    expect(outcomes[2]!.firstScheduledAt).toBeCloseTo(Math.min(outcomes[0]!.finishedAt, outcomes[1]!.finishedAt), 12);
  });

  it('a full KV cache preempts the newest sequence, which is recomputed later; every token is counted once', () => {
    const { e, submit, finished } = engine(settings({ kvCacheTokens: 260, maxBatchedTokens: 300 }));
    submit(0, 100, 100);
    submit(0, 100, 100); // both fit (200), but 2 × 100 generated tokens cannot
    e.advanceTo(1000);
    expect(e.metrics.preemptions).toBeGreaterThan(0);
    expect(finished).toHaveLength(2);
    expect(e.metrics.generationTokens).toBe(200);
    expect(e.metrics.promptTokens).toBe(200);
    expect(e.kvTokens).toBe(0);
  });
});

describe("a simulated replica's metrics, scraped by the real scaler", () => {
  it('parse with the HTTP source’s vLLM profile into the values the replica holds', async () => {
    const { e, submit } = engine(settings({ kvCacheTokens: 2000 }));
    for (let i = 0; i < 12; i++) submit(i * 0.05, 120 + 10 * i, 30);
    e.advanceTo(1.5); // some finished, some running, some waiting
    e.updateGauges();
    const m = e.metrics;
    expect(m.running).toBeGreaterThan(0);
    expect(m.waiting).toBeGreaterThan(0);
    expect(m.histograms.e2e.count).toBeGreaterThan(0);

    // The parser and profile alone.
    const body = m.exposition();
    const extracted = extractWorkerSample(parsePrometheusText(body, profileFor('vllm').wantedSeries), profileFor('vllm'), { at: 1 });
    expect(extracted.ok).toBe(true);
    if (!extracted.ok) return;
    const sample = extracted.sample;
    expect(sample).toMatchObject({ models: ['Qwen/Qwen3-0.6B'], waiting: m.waiting, running: m.running, kvUsage: m.kvUsage });
    expect(sample.kvBlocksTotal).toBe(Math.floor(2000 / 16));
    expect(sample.counters).toEqual({ promptTokens: m.promptTokens, generationTokens: m.generationTokens, requestSuccess: m.finishedLength, preemptions: 0 });
    expect(sample.histograms.ttft?.bounds).toEqual([...VLLM_TTFT_BUCKETS, Infinity]);
    expect(sample.histograms.itl?.bounds).toEqual([...VLLM_ITL_BUCKETS, Infinity]);
    expect(sample.histograms.e2eLatency?.bounds).toEqual([...VLLM_REQUEST_LATENCY_BUCKETS, Infinity]);
    expect(sample.histograms.e2eLatency?.count).toBe(m.histograms.e2e.count);
    expect(sample.histograms.e2eLatency?.sum).toBeCloseTo(m.histograms.e2e.sum, 12);
    expect(sample.histograms.itl?.count).toBe(m.histograms.itl.count);
    expect(sample.histograms.requestPromptTokens?.count).toBe(m.finishedLength);

    // Over real HTTP, through the real scaler's collector, as KEDA asks.
    const worker = harness.track(await FakeWorker.start({ behaviour: { kind: 'text', body } }));
    await harness.start([{ name: 'sim', source: 'vllm', targets: [worker.target] }]);
    await harness.waitReady();
    const raw = async (metric: string) => {
      const so = KedaClient.ref({ pool: 'sim', metric, target: '1', valueMode: 'raw' });
      const spec = await harness.client.getMetricSpec(so);
      return (await harness.client.getMetrics(so, spec.metricSpecs[0]!.metricName)).metricValues[0]!.metricValueFloat;
    };
    expect(await raw('queue_depth')).toBe(m.waiting);
    expect(await raw('running_requests')).toBe(m.running);
    expect(await raw('kv_cache_usage')).toBeCloseTo(m.kvUsage, 9);
    const pool = (await (await fetch(`${harness.httpUrl}/api/v1/pools/sim`)).json()) as { workers: { state: string; last: Record<string, unknown> }[] };
    expect(pool.workers[0]).toMatchObject({ state: 'fresh', last: { waiting: m.waiting, running: m.running, models: ['Qwen/Qwen3-0.6B'] } });
  });
});
