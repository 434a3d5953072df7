import { afterEach, describe, expect, it, vi } from 'vitest';
import { probe } from '../src/cli/probe.js';
import { KedaClient } from './support/keda-client.js';
import { fixturePath } from './support/fixtures.js';
import { TestScaler } from './support/test-scaler.js';
import { FakeWorker } from './support/workers.js';

/**
 * `policy: sla` end to end: real HTTP workers serving vLLM expositions whose counters and
 * histograms grow with steady traffic, the real scaler with the polynomial profile
 * (test/fixtures/profiles/poly), and a real gRPC client polling as KEDA does. The expected counts
 * are derived in test/sla-plan.test.ts ("replica formulas and bounds, table"): 20 requests/s over
 * two workers, ISL 3000, OSL 300, TTFT 33.5 ms (correction 0.5), ITL 0.6 × 88.15 ms (correction
 * 0.6), mean duration 5 s, a 2 s adjustment interval.
 */
const harness = new TestScaler();
afterEach(() => harness.close());

const ITL = 0.6 * ((5 + 80 + (52 * 6000) / 99 / 1000) / 1000);
const LABELS = '{engine="0",model_name="llama"}';

interface Traffic {
  /** Requests per second of this worker; 0 freezes its counters (traffic stopped). */
  rate: number;
}

function histogram(name: string, count: number, mean: number): string[] {
  return [
    `# TYPE ${name} histogram`,
    `${name}_bucket{engine="0",model_name="llama",le="+Inf"} ${count}`,
    `${name}_sum${LABELS} ${count * mean}`,
    `${name}_count${LABELS} ${count}`,
  ];
}

/** A vLLM worker whose totals are rate × elapsed time at the moment it is scraped. */
async function trafficWorker(traffic: Traffic): Promise<FakeWorker> {
  let requests = 0;
  let last = Date.now();
  const worker = await FakeWorker.start();
  worker.serveWith(() => {
    const now = Date.now();
    requests += (traffic.rate * (now - last)) / 1000;
    last = now;
    return [
      '# TYPE vllm:num_requests_running gauge',
      `vllm:num_requests_running${LABELS} 50`,
      '# TYPE vllm:num_requests_waiting gauge',
      `vllm:num_requests_waiting${LABELS} 0`,
      '# TYPE vllm:kv_cache_usage_perc gauge',
      `vllm:kv_cache_usage_perc${LABELS} 0.5`,
      '# TYPE vllm:request_success_total counter',
      `vllm:request_success_total{engine="0",model_name="llama",finished_reason="stop"} ${requests}`,
      ...histogram('vllm:time_to_first_token_seconds', requests, 0.0335),
      // One ITL observation per output token after the first.
      ...histogram('vllm:inter_token_latency_seconds', requests * 299, ITL),
      ...histogram('vllm:e2e_request_latency_seconds', requests, 5),
      ...histogram('vllm:request_prompt_tokens', requests, 3000),
      ...histogram('vllm:request_generation_tokens', requests, 300),
      '',
    ].join('\n');
  });
  return harness.track(worker);
}

const INTERVAL_MS = 2000;
const base = { pool: 'llama', metric: 'desired_replicas', policy: 'sla', profile: 'poly', adjustmentInterval: '2s', predictor: 'constant' };
const ref = (metadata: Record<string, string>) => KedaClient.ref({ scalerAddress: 'scaler:9090', ...base, ...metadata });

async function answer(metadata: Record<string, string>): Promise<number> {
  const so = ref(metadata);
  const spec = (await harness.client.getMetricSpec(so)).metricSpecs[0]!;
  return (await harness.client.getMetrics(so, spec.metricName)).metricValues[0]!.metricValueFloat;
}

/** Both roles' answers for one plan configuration. */
async function answers(metadata: Record<string, string>): Promise<[number, number]> {
  return [await answer({ ...metadata, role: 'prefill' }), await answer({ ...metadata, role: 'decode' })];
}

interface Decision {
  metadata: Record<string, string>;
  details?: Record<string, unknown>;
}

async function decisionsFor(role: string, correction: string): Promise<Decision[]> {
  const body = (await (await fetch(`${harness.httpUrl}/api/v1/decisions`)).json()) as { decisions: Decision[] };
  return body.decisions.filter(
    (d) => d.metadata['role'] === role && (d.metadata['correction'] ?? 'true') === correction && !d.metadata['gpuBudget'] && !d.metadata['minReplicas'],
  );
}

async function startScaler(traffic: Traffic[]): Promise<FakeWorker[]> {
  const workers = await Promise.all(traffic.map((t) => trafficWorker(t)));
  await harness.start([{ name: 'llama', source: 'vllm', targets: workers.map((w) => w.target) }], {
    profiles: { poly: { dir: fixturePath('profiles', 'poly') } },
    historyWindow: '1m',
  });
  await harness.waitReady();
  return workers;
}

const CONFIGS = {
  corrected: {},
  uncorrected: { correction: 'false' },
  budget: { correction: 'false', gpuBudget: '6' },
  bounded: { correction: 'false', minReplicas: '4', maxReplicas: '5' },
} as const;

describe('policy sla with steady traffic from real vLLM workers', () => {
  it('answers the counts derived from Dynamo formulas, one plan per configuration shared by both roles', { timeout: 60_000 }, async () => {
    const traffic = [{ rate: 10 }, { rate: 10 }];
    await startScaler(traffic);
    // Before the first interval: the current count (2 discovered workers) for both roles.
    expect(await answers(CONFIGS.corrected)).toEqual([2, 2]);
    for (const c of Object.values(CONFIGS)) await answers(c); // KEDA's first poll starts each plan
    const expected: Record<keyof typeof CONFIGS, [number, number]> = {
      corrected: [2, 4], // p 0.5, d 0.6
      uncorrected: [3, 6],
      budget: [2, 4], // 9 GPUs over a budget of 6
      bounded: [4, 5], // min lifts prefill, max caps decode
    };
    // The first plan may see a window that begins at start-up: wait for a full interval's plan.
    await vi.waitFor(
      async () => {
        for (const [name, c] of Object.entries(CONFIGS)) expect(await answers(c), name).toEqual(expected[name as keyof typeof CONFIGS]);
      },
      { timeout: 20_000, interval: 250 },
    );
    const [prefill] = await decisionsFor('prefill', 'true');
    const [decode] = await decisionsFor('decode', 'true');
    // One plan, two answers: the same computation explains both triggers.
    expect(prefill?.details?.['plannedAt']).toBe(decode?.details?.['plannedAt']);
    expect(decode?.details).toMatchObject({ policy: 'sla', role: 'decode', answers: { prefill: 2, decode: 4 }, current: { prefill: 2, decode: 2 } });
    const d = decode!.details!;
    expect((d['observed'] as Record<string, number>)['isl']).toBeCloseTo(3000, 6);
    expect((d['observed'] as Record<string, number>)['requests']).toBeGreaterThan(38);
    expect((d['observed'] as Record<string, number>)['requests']).toBeLessThan(42);
    expect((d['corrections'] as Record<string, number>)['prefill']).toBeCloseTo(0.5, 4);
    expect((d['corrections'] as Record<string, number>)['decode']).toBeCloseTo(0.6, 4);
    expect(d['raw']).toMatchObject({ prefill: 2, decode: 4 });
    // probe explains the same plan from the same metadata.
    const probed = await probe(harness.grpcAddress, { ...base, ...CONFIGS.corrected, role: 'prefill' }, 5000, {
      httpAddress: `127.0.0.1:${harness.scaler.httpPort}`,
    });
    expect(probed.errors).toEqual([]);
    expect(probed.metrics?.metricValues[0]?.metricValueFloat).toBe(2);
    expect((probed.decision as Decision).details).toMatchObject({ role: 'prefill', answers: { prefill: 2, decode: 4 }, bounds: { minReplicas: 1 } });
    expect(JSON.stringify((probed.decision as Decision).details)).toMatch(/"forecasts":\{"requests":\{"value":/);
    // The status page says it in sentences.
    const pool = (await (await fetch(`${harness.httpUrl}/api/v1/status/pools/llama`)).json()) as {
      decisions: { metadata: Record<string, string>; headline: string; reasons: string[] }[];
    };
    const view = pool.decisions.find((v) => v.metadata['role'] === 'decode' && v.metadata['correction'] === undefined);
    expect(view?.headline).toBe('decode: 4 replicas from the SLA plan (prefill 2, decode 4)');
    expect(view?.reasons.join(' ')).toMatch(/Correction factors: prefill 0\.5\d*, decode 0\.6/);
    const metrics = await (await fetch(`${harness.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/keda_llm_scaler_plan_replicas\{pool="llama",role="decode"\} \d/);
    const factor = /keda_llm_scaler_plan_correction_factor\{pool="llama",role="prefill"\} (\S+)/.exec(metrics);
    expect(Number(factor?.[1])).toBeCloseTo(0.5, 4);
  });

  it(
    'traffic stops → both roles at minReplicas within an interval of silence (Dynamo #6985 stayed at 7P1D); workers stop answering → the plan holds (#14575)',
    { timeout: 60_000 },
    async () => {
      const traffic = [{ rate: 10 }, { rate: 10 }];
      const workers = await startScaler(traffic);
      const config = CONFIGS.uncorrected;
      await answers(config);
      await vi.waitFor(async () => expect(await answers(config)).toEqual([3, 6]), { timeout: 20_000, interval: 250 });

      for (const t of traffic) t.rate = 0;
      const stopped = Date.now();
      // The plan of the first wholly silent interval sees 0 finished requests (a plan whose window
      // straddles the stop may already answer 1 and 1 from the few requests before it).
      await vi.waitFor(
        async () => {
          const [decision] = await decisionsFor('decode', 'false');
          expect((decision?.details?.['observed'] as { requests?: number } | undefined)?.requests).toBe(0);
        },
        { timeout: 20_000, interval: 100 },
      );
      // At most two intervals after the stop, plus slack for a loaded machine.
      expect(Date.now() - stopped).toBeLessThan(2 * INTERVAL_MS + 3000);
      expect(await answers(config)).toEqual([1, 1]);
      const [decision] = await decisionsFor('decode', 'false');
      expect(JSON.stringify(decision?.details)).toMatch(/no request finished in the interval: the load is 0/);

      // Back to traffic, then an outage: the scrapes fail, the samples expire, and the plan holds.
      for (const t of traffic) t.rate = 10;
      await vi.waitFor(async () => expect(await answers(config)).toEqual([3, 6]), { timeout: 20_000, interval: 250 });
      await Promise.all(workers.map((w) => w.down()));
      const down = Date.now();
      // Samples expire after the 2 s cache TTL; then no plan has fresh data. Poll for four intervals: never a drop.
      const seen = new Set<string>();
      while (Date.now() - down < 2000 + 4 * INTERVAL_MS) {
        seen.add(JSON.stringify(await answers(config)));
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect([...seen]).toEqual(['[3,6]']);
      const [held] = await decisionsFor('prefill', 'false');
      expect(held?.details?.['decision']).toMatch(
        /no fresh observation \(2 of 2 workers have no fresh data \(.*\), so the interval's traffic is unknown\): holding the last plan/,
      );
    },
  );
});
