/**
 * Windowed signals end to end: real workers over HTTP (prom-client expositions with known
 * observations, or counters that grow at known rates), the real scaler (Scaler.start) and a real
 * gRPC client asking what KEDA asks. Expected values are computed by hand in the comments.
 */
import * as grpc from '@grpc/grpc-js';
import { Gauge, Histogram, Registry, Counter } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { VLLM_ITL_BUCKETS, VLLM_REQUEST_LATENCY_BUCKETS, VLLM_TTFT_BUCKETS } from '../src/cli/demo/simulated-worker.js';
import { findSignal } from '../src/triggers/catalogue.js';
import { useOf } from '../src/signals/evaluate.js';
import type { SignalContext } from '../src/signals/types.js';
import { StateScope, type FreshWorker, type PoolSnapshot } from '../src/store/pool-store.js';
import type { WorkerSample } from '../src/store/sample.js';
import { EventPlanePublisher } from './support/dynamo-workers.js';
import { KedaClient, statusOf } from './support/keda-client.js';
import { NatsServer } from './support/nats-server.js';
import { TestScaler } from './support/test-scaler.js';
import { freshWorker } from './support/history.js';
import { FakeWorker, RenderingWorker } from './support/workers.js';

const MODEL = 'meta-llama/Llama-3.1-8B-Instruct';
const harness = new TestScaler();
afterEach(() => harness.close());

const startScaler = (pool: Record<string, unknown>) => harness.start([{ name: 'llama', ...pool }]);

const ref = (metadata: Record<string, string>) => KedaClient.ref({ pool: 'llama', target: '1', ...metadata });

/** The metric name GetMetricSpec gives, then GetMetrics' float value (KEDA's sequence). */
async function metricValue(metadata: Record<string, string>): Promise<number> {
  const so = ref(metadata);
  const spec = await harness.client.getMetricSpec(so);
  const response = await harness.client.getMetrics(so, spec.metricSpecs[0]!.metricName);
  return response.metricValues[0]!.metricValueFloat;
}

/** A trigger as KEDA first sends it (GetMetricSpec): its window now sizes the pool's history. */
async function register(metadata: Record<string, string>): Promise<void> {
  await harness.client.getMetricSpec(ref(metadata));
}

/** The fleet value in the signal's own unit (valueMode raw). */
const fleet = (metadata: Record<string, string>) => metricValue({ ...metadata, valueMode: 'raw' });

/** Resolves once `worker` has answered `n` more scrapes (so the scaler has seen what it serves now). */
async function scrapedAgain(worker: { requests: number }, n = 2): Promise<void> {
  const start = worker.requests;
  await vi.waitFor(() => expect(worker.requests).toBeGreaterThanOrEqual(start + n), { timeout: 5000, interval: 10 });
}

/** A vLLM V1 exposition (prom-client, vLLM's names, labels and bucket bounds) with chosen observations. */
class VllmMetrics {
  readonly registry = new Registry();
  private readonly labels = { engine: '0', model_name: MODEL };
  private readonly waiting: Gauge;
  private readonly running: Gauge;
  private readonly generation: Counter;
  private readonly ttft: Histogram;
  private readonly itl: Histogram;
  private readonly e2e: Histogram;

  constructor() {
    const registers = [this.registry];
    const labelNames = ['engine', 'model_name'] as const;
    this.waiting = new Gauge({ name: 'vllm:num_requests_waiting', help: 'waiting', labelNames, registers });
    this.running = new Gauge({ name: 'vllm:num_requests_running', help: 'running', labelNames, registers });
    new Gauge({ name: 'vllm:kv_cache_usage_perc', help: 'kv', labelNames, registers }).set(this.labels, 0.1);
    this.generation = new Counter({ name: 'vllm:generation_tokens_total', help: 'generation tokens', labelNames, registers });
    this.ttft = new Histogram({ name: 'vllm:time_to_first_token_seconds', help: 'ttft', labelNames, buckets: [...VLLM_TTFT_BUCKETS], registers });
    this.itl = new Histogram({ name: 'vllm:inter_token_latency_seconds', help: 'itl', labelNames, buckets: [...VLLM_ITL_BUCKETS], registers });
    this.e2e = new Histogram({ name: 'vllm:e2e_request_latency_seconds', help: 'e2e', labelNames, buckets: [...VLLM_REQUEST_LATENCY_BUCKETS], registers });
    this.setLoad(0, 0);
    this.generation.inc(this.labels, 0);
    for (const h of [this.ttft, this.itl, this.e2e]) h.zero(this.labels);
  }

  setLoad(waiting: number, running: number): this {
    this.waiting.set(this.labels, waiting);
    this.running.set(this.labels, running);
    return this;
  }

  observe(which: 'ttft' | 'itl' | 'e2e', value: number, times: number): this {
    for (let i = 0; i < times; i++) this[which].observe(this.labels, value);
    if (which === 'itl') this.generation.inc(this.labels, times);
    return this;
  }

  generated(tokens: number): this {
    this.generation.inc(this.labels, tokens);
    return this;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}

async function fakeVllm(metrics: VllmMetrics): Promise<FakeWorker> {
  return harness.track(await FakeWorker.start({ behaviour: { kind: 'text', body: await metrics.render() } }));
}

async function serve(worker: FakeWorker, metrics: VllmMetrics): Promise<void> {
  worker.serve(await metrics.render());
  await scrapedAgain(worker);
}

describe('latency quantiles over a window, from histogram deltas', () => {
  it('TTFT / ITL / e2e p50 and p95 are those of the observations inside the window only, merged over workers', async () => {
    const a = new VllmMetrics();
    const b = new VllmMetrics();
    const [wa, wb] = [await fakeVllm(a), await fakeVllm(b)];
    await startScaler({ source: 'vllm', targets: [wa.target, wb.target] });
    const window = '3s';
    for (const metric of ['ttft', 'itl', 'e2e_latency']) await register({ metric, window });
    await Promise.all([scrapedAgain(wa), scrapedAgain(wb)]);
    // Observed while the scaler watches, but before the window: slow requests that must not count
    // (TTFT 6 s, ITL 0.6 s, e2e 40 s). Then let them age out of the 3 s window.
    for (const m of [a, b]) m.observe('ttft', 6, 300).observe('itl', 0.6, 1000).observe('e2e', 40, 300);
    await Promise.all([serve(wa, a), serve(wb, b)]);
    await new Promise((resolve) => setTimeout(resolve, 3300));

    // Inside the window:
    //   TTFT A: 60 × 0.05, 20 × 0.09; B: 40 × 0.05, 30 × 0.09, 50 × 0.3 → 200 observations:
    //     cumulative le 0.04: 0, 0.06: 100, 0.08: 100, 0.1: 150, 0.25: 150, 0.5: 200.
    //     p50: rank 100 → bucket (0.04, 0.06]: 0.04 + 0.02 × 100/100 = 0.06 (true p50 0.05, same bucket);
    //     p95: rank 190 → bucket (0.25, 0.5]: 0.25 + 0.25 × 40/50 = 0.45 (true p95 0.3, same bucket).
    //   ITL A: 500 × 0.02; B: 300 × 0.03, 200 × 0.12 → 1000: le 0.025: 500, 0.05: 800, 0.1: 800, 0.15: 1000.
    //     p50: rank 500 → 0.01 + 0.015 × 500/500 = 0.025 (true 0.02); p95: rank 950 → 0.1 + 0.05 × 150/200 = 0.1375 (true 0.12).
    //   e2e A: 10 × 0.9; B: 10 × 1.2 → le 1.0: 10, 1.5: 20. p50: rank 10 → 0.8 + 0.2 × 10/10 = 1.0;
    //     p95: rank 19 → 1.0 + 0.5 × 9/10 = 1.45.
    a.observe('ttft', 0.05, 60).observe('ttft', 0.09, 20).observe('itl', 0.02, 500).observe('e2e', 0.9, 10);
    b.observe('ttft', 0.05, 40).observe('ttft', 0.09, 30).observe('ttft', 0.3, 50).observe('itl', 0.03, 300).observe('itl', 0.12, 200).observe('e2e', 1.2, 10);
    await Promise.all([serve(wa, a), serve(wb, b)]);

    const expected: [string, string, number, [number, number]][] = [
      ['ttft', '0.5', 0.06, [0.04, 0.06]],
      ['ttft', '0.95', 0.45, [0.25, 0.5]],
      ['itl', '0.5', 0.025, [0.01, 0.025]],
      ['itl', '0.95', 0.1375, [0.1, 0.15]],
      ['e2e_latency', '0.5', 1.0, [0.8, 1.0]],
      ['e2e_latency', '0.95', 1.45, [1.0, 1.5]],
    ];
    await vi.waitFor(
      async () => {
        for (const [metric, quantile, value, [lower, upper]] of expected) {
          const got = await fleet({ metric, quantile, window });
          // Within the bucket that holds the true quantile, and exactly the interpolation there.
          expect(got).toBeGreaterThanOrEqual(lower);
          expect(got).toBeLessThanOrEqual(upper);
          expect(got).toBeCloseTo(value, 9);
        }
      },
      { timeout: 2500, interval: 20 },
    );
    // Intensive under AverageValue: fleet p95 × 2 ready workers.
    expect(await metricValue({ metric: 'ttft', quantile: '0.95', window })).toBeCloseTo(0.9, 9);
    // The default quantile is 0.95.
    expect(await fleet({ metric: 'ttft', window })).toBeCloseTo(0.45, 9);
  });

  it('no observation in the window: 0 for an idle fleet, UNAVAILABLE while requests are in flight', async () => {
    const m = new VllmMetrics().observe('ttft', 2, 10);
    const w = await fakeVllm(m);
    await startScaler({ source: 'vllm', targets: [w.target] });
    const metadata = { metric: 'ttft', window: '1s' };
    // Idle (0 waiting, 0 running) and nothing observed for a window: latency 0, not unknown.
    await vi.waitFor(async () => expect(await fleet(metadata)).toBe(0), { timeout: 5000, interval: 20 });
    m.setLoad(0, 3);
    w.serve(await m.render());
    await vi.waitFor(
      async () => {
        const status = await statusOf(harness.client.getMetrics(ref(metadata), 'llama-ttft'));
        expect(status.code).toBe(grpc.status.UNAVAILABLE);
        expect(status.details).toContain('while 3 requests are waiting or running');
      },
      { timeout: 5000, interval: 20 },
    );
  });

  it('a worker restart (counters and histograms drop) never yields a negative or huge value', async () => {
    let m = new VllmMetrics().observe('ttft', 6, 300).generated(1_000_000);
    const w = await fakeVllm(m);
    await startScaler({ source: 'vllm', targets: [w.target] });
    const ttft = { metric: 'ttft', quantile: '0.5', window: '2s' };
    const rate = { metric: 'tokens_per_second', window: '2s' };
    await register(ttft);
    await scrapedAgain(w);

    // The restart: a fresh process whose counters start again from 0.
    m = new VllmMetrics();
    await serve(w, m);
    m.observe('ttft', 0.05, 100).generated(500);
    await serve(w, m);
    // p50 of 100 × 0.05: rank 50 in (0.04, 0.06] → 0.04 + 0.02 × 50/100 = 0.05. The 300 × 6 s of the
    // previous process are never mixed in, and nothing is computed across the drop.
    await vi.waitFor(async () => expect(await fleet(ttft)).toBeCloseTo(0.05, 9), { timeout: 3000, interval: 20 });
    const rates: number[] = [];
    for (let i = 0; i < 20; i++) {
      rates.push(await fleet(rate));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // 500 tokens in a window of at most 2 s + a few intervals: a rate in (0, 500/0.1 s].
    for (const r of rates) {
      expect(r).toBeGreaterThan(0);
      expect(r).toBeLessThanOrEqual(5000);
    }
  });
});

/**
 * A vLLM worker whose counters grow linearly with time at set rates (as a worker under steady load
 * does), rendered per request: gauges, token and request counters, and request-token histograms
 * with every prompt exactly `promptLength` and every output `outputLength` tokens.
 */
class SteadyWorker extends RenderingWorker {
  waiting = 0;
  running = 0;
  promptLength = 1000;
  outputLength = 500;
  private rates = { prompt: 0, generation: 0, requests: 0 };
  private base = { prompt: 0, generation: 0, requests: 0 };
  private since = Date.now();

  static async start(): Promise<SteadyWorker> {
    return harness.track(await new SteadyWorker().listen());
  }

  /** Per-second rates from now on. */
  setRates(rates: { prompt: number; generation: number; requests: number }): void {
    this.base = this.counters();
    this.since = Date.now();
    this.rates = rates;
  }

  /** A new process: every counter starts again from 0. */
  restart(): void {
    this.base = { prompt: 0, generation: 0, requests: 0 };
    this.since = Date.now();
  }

  private counters() {
    const t = (Date.now() - this.since) / 1000;
    return {
      prompt: this.base.prompt + this.rates.prompt * t,
      generation: this.base.generation + this.rates.generation * t,
      requests: this.base.requests + this.rates.requests * t,
    };
  }

  protected body(): string {
    const c = this.counters();
    const l = `engine="0",model_name="${MODEL}"`;
    const histogram = (name: string, length: number) =>
      [
        `# TYPE ${name} histogram`,
        `${name}_sum{${l}} ${length * c.requests}`,
        `${name}_bucket{engine="0",le="${(length / 2).toFixed(1)}",model_name="${MODEL}"} 0.0`,
        `${name}_bucket{engine="0",le="${length.toFixed(1)}",model_name="${MODEL}"} ${c.requests}`,
        `${name}_bucket{engine="0",le="+Inf",model_name="${MODEL}"} ${c.requests}`,
        `${name}_count{${l}} ${c.requests}`,
      ].join('\n');
    return [
      `vllm:num_requests_waiting{${l}} ${this.waiting}`,
      `vllm:num_requests_running{${l}} ${this.running}`,
      `vllm:kv_cache_usage_perc{${l}} 0.2`,
      `# TYPE vllm:prompt_tokens_total counter`,
      `vllm:prompt_tokens_total{${l}} ${c.prompt}`,
      `vllm:generation_tokens_total{${l}} ${c.generation}`,
      `vllm:request_success_total{engine="0",finished_reason="stop",model_name="${MODEL}"} ${c.requests}`,
      histogram('vllm:request_prompt_tokens', this.promptLength),
      histogram('vllm:request_generation_tokens', this.outputLength),
      '',
    ].join('\n');
  }
}

/**
 * Rates are Δcounter / Δ(sample time). The worker's counters are exact functions of the time it
 * renders the body, the scaler stamps the sample when the body arrives: the measured rate is off by
 * (latency₂ − latency₁) / window. With a 2 s window and loopback latencies well under 100 ms that is
 * under 5 %; 10 % leaves room for a loaded machine.
 */
const RATE_TOLERANCE = 0.1;

function expectNear(actual: number, expected: number, relative = RATE_TOLERANCE): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(Math.abs(expected) * relative);
}

describe('rates, means and backlog over a window, from counters', () => {
  it('tokens_per_second, request_rate, context_length, tokens_in_queue and backlog_seconds against hand-computed values', async () => {
    const [a, b] = [await SteadyWorker.start(), await SteadyWorker.start()];
    // Each worker: 3000 prompt tokens/s, 400 generation tokens/s, 20 finished requests/s.
    for (const w of [a, b]) w.setRates({ prompt: 3000, generation: 400, requests: 20 });
    a.waiting = 4;
    b.waiting = 2;
    await startScaler({ source: 'vllm', targets: [a.target, b.target] });
    const window = '2s';
    for (const metric of ['tokens_per_second', 'request_rate', 'context_length', 'tokens_in_queue', 'backlog_seconds']) await register({ metric, window });
    await new Promise((resolve) => setTimeout(resolve, 2300)); // a full window of samples

    // Σ over 2 workers: 800 generation tokens/s, 6000 prompt, 6800 total; 40 requests/s.
    expectNear(await fleet({ metric: 'tokens_per_second', window }), 800);
    expectNear(await fleet({ metric: 'tokens_per_second', window, tokens: 'prompt' }), 6000);
    expectNear(await fleet({ metric: 'tokens_per_second', window, tokens: 'TOTAL' }), 6800);
    expectNear(await fleet({ metric: 'request_rate', window }), 40);
    // Extensive: GetMetrics under AverageValue is the fleet total too.
    expectNear(await metricValue({ metric: 'request_rate', window }), 40);
    // Every request: 1000 prompt + 500 output tokens (histogram sums / counts) → exactly 1500,
    // whatever the timing; intensive: × 2 ready workers under AverageValue.
    expect(await fleet({ metric: 'context_length', window })).toBeCloseTo(1500, 6);
    expect(await metricValue({ metric: 'context_length', window })).toBeCloseTo(3000, 6);
    // Waiting 4 + 2 requests × mean prompt 1000 tokens = 6000 tokens, exactly.
    expect(await fleet({ metric: 'tokens_in_queue', window })).toBeCloseTo(6000, 6);
    // 6000 queued tokens ÷ 6000 prompt tokens/s = 1 s to drain; intensive: × 2 workers.
    expectNear(await fleet({ metric: 'backlog_seconds', window }), 1);
    expectNear(await metricValue({ metric: 'backlog_seconds', window }), 2);

    // Counters that stop moving: a rate of 0 is a true value, not "unknown".
    for (const w of [a, b]) w.setRates({ prompt: 0, generation: 0, requests: 0 });
    await vi.waitFor(async () => expect(await fleet({ metric: 'tokens_per_second', window })).toBe(0), { timeout: 5000, interval: 50 });
    expect(await fleet({ metric: 'request_rate', window })).toBe(0);
    // Queued tokens with no prefill throughput: the backlog does not drain, so its time is unknown.
    const stuck = await statusOf(harness.client.getMetrics(ref({ metric: 'backlog_seconds', window }), 'llama-backlog_seconds'));
    expect(stuck.code).toBe(grpc.status.UNAVAILABLE);
    expect(stuck.details).toContain('not draining');
    // No request finished in the window, but 6 are waiting: the mean context length is unknown.
    expect((await statusOf(harness.client.getMetrics(ref({ metric: 'context_length', window }), 'llama-context_length'))).code).toBe(grpc.status.UNAVAILABLE);
    // The prompt length of the queue falls back to the workers' lifetime mean (still 1000).
    expect(await fleet({ metric: 'tokens_in_queue', window })).toBeCloseTo(6000, 6);
  });

  it('a worker restart: its counters drop, the fleet rate stays within bounds and recovers', async () => {
    const [a, b] = [await SteadyWorker.start(), await SteadyWorker.start()];
    for (const w of [a, b]) w.setRates({ prompt: 3000, generation: 400, requests: 20 });
    await startScaler({ source: 'vllm', targets: [a.target, b.target] });
    const metadata = { metric: 'tokens_per_second', window: '2s' };
    await register(metadata);
    await new Promise((resolve) => setTimeout(resolve, 2300));
    expectNear(await fleet(metadata), 800);

    a.restart();
    const seen: number[] = [];
    const until = Date.now() + 1500;
    while (Date.now() < until) {
      seen.push(await fleet(metadata)); // B always counts, so the fleet is never unavailable
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    // Without reset handling A's delta would be about −1000 tokens: a negative fleet rate. While A is
    // excluded (a single sample since its restart), the fleet is B's 400; then A's short window.
    for (const value of seen) {
      expect(value).toBeGreaterThanOrEqual(400 * (1 - RATE_TOLERANCE));
      expect(value).toBeLessThanOrEqual(800 * (1 + RATE_TOLERANCE));
    }
    await vi.waitFor(async () => expectNear(await fleet(metadata), 800), { timeout: 5000, interval: 50 });
  });
});

describe('tokens_in_queue from Dynamo forward-pass metrics', () => {
  let nats: NatsServer;
  beforeAll(async () => {
    nats = await NatsServer.start();
  });
  afterAll(async () => {
    await nats.close();
  });

  it('uses the queued prefill tokens exactly where workers report them', async () => {
    await harness.start([{ name: 'dyn', source: 'dynamo-nats', nats: { url: nats.url }, component: 'backend', namespace: 'wq', mode: 'event-plane' }]);
    const metricsText = async () => (await fetch(`${harness.httpUrl}/metrics`)).text();
    await vi.waitFor(async () => expect(await metricsText()).toContain('keda_llm_scaler_nats_connected{pool="dyn"} 1'), { timeout: 5000, interval: 10 });
    const a = await EventPlanePublisher.start(nats.url, 'wq', 1001n);
    const b = await EventPlanePublisher.start(nats.url, 'wq', 1002n);
    harness.track(a);
    harness.track(b);
    // A: rank 0 queues 4 requests of 9000 tokens in all, rank 1 one of 1000; B: nothing queued.
    await a.forwardPass('backend', { workerId: 1001n, dpRank: 0, scheduled: { prefill: 2, decode: 30 }, queued: { prefill: 4, prefillTokens: 9000 } });
    await a.forwardPass('backend', { workerId: 1001n, dpRank: 1, scheduled: { prefill: 1, decode: 10 }, queued: { prefill: 1, prefillTokens: 1000 } });
    await b.forwardPass('backend', { workerId: 1002n, scheduled: { prefill: 0, decode: 8 }, queued: { prefill: 0, prefillTokens: 0 } });
    // 9000 + 1000 + 0, exactly: no prompt-length estimate (these workers have no histograms at all).
    const so = KedaClient.ref({ pool: 'dyn', metric: 'tokens_in_queue', target: '1000' });
    await vi.waitFor(async () => expect((await harness.client.getMetrics(so, 'dyn-tokens_in_queue')).metricValues[0]!.metricValueFloat).toBe(10_000), {
      timeout: 5000,
      interval: 20,
    });
  });

  it('prefers the exact count over waiting × mean prompt length when a worker has both', () => {
    const signal = findSignal('tokens_in_queue')!;
    const use = useOf(signal, new Map([['window', '10s']]));
    const prompt = (count: number) => ({ bounds: [Number.POSITIVE_INFINITY], counts: [count], count, sum: 1000 * count });
    const worker = (id: string, extra: Partial<WorkerSample>): FreshWorker =>
      freshWorker(id, [
        { at: 0, models: [], counters: {}, histograms: { requestPromptTokens: prompt(10) } },
        { at: 10_000, models: [], counters: {}, histograms: { requestPromptTokens: prompt(20) }, ...extra },
      ]);
    const workers = [worker('exact', { waiting: 5, queuedPrefillTokens: 123 }), worker('estimated', { waiting: 3 })];
    const context: SignalContext = {
      snapshot: { at: 10_000 } as PoolSnapshot,
      state: new StateScope('test'),
      evaluate: () => ({ ok: false, reason: '', contributions: [] }),
    };
    const outcome = signal.compute(workers, use.params, context);
    // 123 exact + 3 waiting × (Δsum 10 000 / Δcount 10 = 1000) = 3123.
    expect(outcome).toMatchObject({ ok: true, value: 3123, readyWorkers: 2, details: { exactWorkers: 1, estimatedWorkers: 1, meanPromptTokens: 1000 } });
  });
});

describe('metadata of windowed signals', () => {
  it('refuses every bad value with INVALID_ARGUMENT naming the key and what is accepted', async () => {
    const w = await fakeVllm(new VllmMetrics());
    await startScaler({ source: 'vllm', targets: [w.target] });
    const cases: [Record<string, string>, string][] = [
      [{ metric: 'ttft', window: 'soon' }, "metadata 'window': 'soon' is not a duration; expected a duration from 1s to 1h"],
      [{ metric: 'ttft', window: '500ms' }, "metadata 'window': '500ms' is out of range"],
      [{ metric: 'request_rate', window: '2h' }, "metadata 'window': '2h' is out of range"],
      [{ metric: 'itl', quantile: '0.3' }, "metadata 'quantile': '0.3' is not accepted; expected a number from 0.5 to 0.99 (default 0.95)"],
      [{ metric: 'e2e_latency', quantile: 'p95' }, "metadata 'quantile': 'p95'"],
      [{ metric: 'ttft', quantile: '1' }, "metadata 'quantile': '1'"],
      [{ metric: 'tokens_per_second', tokens: 'input' }, "metadata 'tokens': 'input' is not accepted; expected generation, prompt, total"],
      [{ metric: 'request_rate', quantile: '0.9' }, "metadata 'quantile': unknown key for metric 'request_rate'"],
      [{ metric: 'ttft', tokens: 'prompt' }, "metadata 'tokens': unknown key for metric 'ttft'"],
    ];
    for (const [metadata, message] of cases) {
      await harness.expectInvalidArgument(ref(metadata), message);
    }
    // Defaults: every windowed signal works without window / quantile / tokens.
    for (const metric of ['ttft', 'itl', 'e2e_latency', 'tokens_per_second', 'request_rate', 'context_length', 'tokens_in_queue', 'backlog_seconds']) {
      const spec = await harness.client.getMetricSpec(ref({ metric }));
      expect(spec.metricSpecs[0]!.metricName).toBe(`llama-${metric}`);
    }
  });
});
