import { afterEach, describe, expect, it, vi } from 'vitest';
import { freePort } from '../src/cli/demo/net.js';
import { defaultHttpAddress, probe } from '../src/cli/probe.js';
import { findSignal } from '../src/triggers/catalogue.js';
import { KedaClient } from './support/keda-client.js';
import { INTERVAL, TestScaler } from './support/test-scaler.js';
import { FakeWorker } from './support/workers.js';

/**
 * `desired_replicas` (policy saturation = llm-d WVA V1, and composite) and `saturation` end to end:
 * real HTTP workers serving vLLM expositions, the real scaler, and a real gRPC client calling
 * KEDA's sequence. Seed 002's point: WVA leaves a saturated replica out of the spare-capacity
 * averages, so one hot replica does not make it scale, where an average-based HPA does.
 */

const harness = new TestScaler();

afterEach(async () => {
  vi.restoreAllMocks();
  await harness.close();
});

/** A vLLM V1 exposition with one engine and the given load. */
function vllm(load: { kv: number; waiting: number; running?: number }): string {
  const labels = '{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"}';
  return [
    '# HELP vllm:num_requests_running Number of requests in model execution batches.',
    '# TYPE vllm:num_requests_running gauge',
    `vllm:num_requests_running${labels} ${(load.running ?? 4).toFixed(1)}`,
    '# HELP vllm:num_requests_waiting Number of requests waiting to be processed.',
    '# TYPE vllm:num_requests_waiting gauge',
    `vllm:num_requests_waiting${labels} ${load.waiting.toFixed(1)}`,
    '# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.',
    '# TYPE vllm:kv_cache_usage_perc gauge',
    `vllm:kv_cache_usage_perc${labels} ${load.kv}`,
    '',
  ].join('\n');
}

async function startWorkers(...loads: { kv: number; waiting: number }[]): Promise<FakeWorker[]> {
  return Promise.all(loads.map(async (load) => harness.track(await FakeWorker.start({ behaviour: { kind: 'text', body: vllm(load) } }))));
}

async function startScaler(targets: string[]): Promise<void> {
  await harness.start([{ name: 'llama', source: 'vllm', targets }]);
  await harness.waitReady();
}

const ref = (metadata: Record<string, string>) => KedaClient.ref({ scalerAddress: 'scaler:9090', pool: 'llama', ...metadata });

/** KEDA's sequence for one trigger: GetMetricSpec, GetMetrics with the returned name, IsActive. */
async function kedaPoll(metadata: Record<string, string>) {
  const so = ref(metadata);
  const spec = (await harness.client.getMetricSpec(so)).metricSpecs[0]!;
  const value = (await harness.client.getMetrics(so, spec.metricName)).metricValues[0]!;
  const active = await harness.client.isActive(so);
  return { spec, value, active };
}

async function metricValue(metadata: Record<string, string>): Promise<number> {
  return (await kedaPoll(metadata)).value.metricValueFloat;
}

interface Decision {
  metricName: string;
  signal: string;
  metadata: Record<string, string>;
  value?: number;
  explanation: string;
  included: { worker: string; value?: number }[];
  excluded: { worker: string; why: string }[];
  details?: Record<string, unknown>;
}

async function decisions(): Promise<Decision[]> {
  const response = await fetch(`${harness.httpUrl}/api/v1/decisions`);
  return ((await response.json()) as { decisions: Decision[] }).decisions;
}

const SATURATION_POLICY = { metric: 'desired_replicas', policy: 'saturation' };

describe('desired_replicas policy saturation (WVA V1) through KEDA’s gRPC calls', () => {
  it('seed 002: one saturated and one busy replica → WVA holds at 2 while kv_cache_usage asks HPA for 3', async () => {
    const [hot, busy] = await startWorkers({ kv: 0.9, waiting: 0 }, { kv: 0.5, waiting: 1 });
    await startScaler([hot!.target, busy!.target]);

    // WVA: hot is saturated (kv 0.9 ≥ 0.8) and left out of the averages. busy: spare kv 0.8 − 0.5 =
    // 0.3 ≥ 0.1, spare queue 5 − 1 = 4 ≥ 3 → no scale-up; 1 non-saturated replica < 2 → no
    // scale-down. Target = the 2 replicas with metrics.
    const wva = await kedaPoll(SATURATION_POLICY);
    expect(wva.spec).toEqual({ metricName: 'llama-desired_replicas', targetSize: 1, targetSizeFloat: 1 });
    expect(wva.value).toEqual({ metricName: 'llama-desired_replicas', metricValue: 2, metricValueFloat: 2 });
    expect(wva.active).toBe(true);

    // The same fleet through an average: mean kv (0.9 + 0.5) / 2 = 0.7 per worker × 2 = 1.4;
    // HPA (AverageValue 0.6): ceil(1.4 / 0.6) = ceil(2.33) = 3 — it scales because of the hot replica.
    const kv = await kedaPoll({ metric: 'kv_cache_usage', target: '0.6' });
    expect(kv.value.metricValueFloat).toBeCloseTo(1.4, 10);
    expect(Math.ceil(kv.value.metricValueFloat / kv.spec.targetSizeFloat)).toBe(3);

    // EPP's roofline agrees with WVA: hot max(0/5, 0.9/0.8) = 1.125, busy max(1/5, 0.5/0.8) = 0.625;
    // mean 0.875 × 2 workers = 1.75 → HPA with target 1: ceil(1.75) = 2.
    const roofline = await kedaPoll({ metric: 'saturation', target: '1' });
    expect(roofline.value.metricValueFloat).toBeCloseTo(1.75, 10);

    // "Why did it (not) scale?": the explain API lists the saturated worker as excluded, with WVA's internals.
    const decision = (await decisions()).find((d) => d.signal === 'desired_replicas')!;
    expect(decision.value).toBe(2);
    expect(decision.metadata).toEqual({ pool: 'llama', metric: 'desired_replicas', policy: 'saturation' }); // scalerAddress is not echoed
    expect(decision.excluded).toEqual([{ worker: hot!.target, why: 'saturated (kv 0.9 ≥ 0.8): left out of the spare-capacity averages' }]);
    expect(decision.included).toEqual([{ worker: busy!.target, value: 0.3 }]);
    expect(decision.details).toMatchObject({
      policy: 'saturation',
      currentReplicas: 2,
      readyReplicas: 2,
      nonSaturatedCount: 1,
      saturatedReplicas: [hot!.target],
      avgSpareKv: 0.3,
      avgSpareQueue: 4,
      shouldScaleUp: false,
      scaleDownSafe: false,
      decision: 'steady',
      recommendation: 2,
    });
    expect(decision.details!['scaleDownCheck']).toMatch(/1 non-saturated replica\(s\); scale-down needs at least 2/);
    expect(decision.explanation).toMatch(/^desired_replicas = 2 \(no change: .*\); with metricType AverageValue HPA wants ceil\(2 \/ 1\) = 2 replicas/);
    const kvDecision = (await decisions()).find((d) => d.signal === 'kv_cache_usage')!;
    expect(kvDecision.explanation).toMatch(
      /kv_cache_usage = 0.7 per worker × 2 ready workers = 1.4; with metricType AverageValue HPA wants ceil\(1.4 \/ 0.6\) = 3 replicas/,
    );
    // The pool page shows the same decisions for its triggers; ?pool= filters the decisions.
    const pool = (await (await fetch(`${harness.httpUrl}/api/v1/pools/llama`)).json()) as { triggers: Decision[] };
    expect(pool.triggers.find((t) => t.signal === 'desired_replicas')?.excluded).toEqual(decision.excluded);
    const other = (await (await fetch(`${harness.httpUrl}/api/v1/decisions?pool=mistral`)).json()) as { decisions: Decision[] };
    expect(other.decisions).toEqual([]);
    const rooflineDecision = (await decisions()).find((d) => d.signal === 'saturation')!;
    expect(rooflineDecision.included).toEqual([
      { worker: hot!.target, value: 1.125 },
      { worker: busy!.target, value: 0.625 },
    ]);
  });

  it('all replicas saturated → +1; one saturated among three idle → −1 (the N−1 check passes)', async () => {
    const [a, b, c, d] = await startWorkers({ kv: 0.9, waiting: 0 }, { kv: 0.9, waiting: 2 }, { kv: 0, waiting: 0 }, { kv: 0, waiting: 0 });
    // Two replicas, both saturated (kv 0.9 ≥ 0.8): no non-saturated replica → average spare 0 <
    // kvSpareTrigger 0.1 → 2 + 1 = 3.
    await startScaler([a!.target, b!.target]);
    expect(await metricValue(SATURATION_POLICY)).toBe(3);
    await harness.stopScaler(); // the next start closes its client

    // Four replicas: a saturated, b, c, d idle (b now at kv 0, queue 0). Spare over the 3
    // non-saturated: kv 0.8, queue 5 → no scale-up. N−1: load 0 × 3/2 = 0 → spare 0.8 ≥ 0.1 and
    // 5 ≥ 3 → safe → 4 − 1 = 3.
    b!.serve(vllm({ kv: 0, waiting: 0 }));
    await startScaler([a!.target, b!.target, c!.target, d!.target]);
    expect(await metricValue(SATURATION_POLICY)).toBe(3);
    const decision = (await decisions()).find((x) => x.signal === 'desired_replicas')!;
    expect(decision.details).toMatchObject({ decision: 'scale-down', currentReplicas: 4, nonSaturatedCount: 3, scaleDownSafe: true });
    expect(decision.details!['rule']).toMatch(
      /^scale down by 1: load of 3 non-saturated replicas spread over 2: spare KV 0.8 ≥ kvSpareTrigger 0.1, spare queue 5 ≥ queueSpareTrigger 3/,
    );

    // Load arrives on the idle ones: the answer follows within a collection interval.
    for (const w of [b, c, d]) w!.serve(vllm({ kv: 0.75, waiting: 1 }));
    // Spare kv 0.05 < 0.1 → 4 + 1 = 5.
    await vi.waitFor(async () => expect(await metricValue(SATURATION_POLICY)).toBe(5), { timeout: 3000, interval: 50 });
  });

  it('holds at the current count while a replica is missing metrics or down (WVA: model in transition)', async () => {
    const [a, b, c, d] = await startWorkers({ kv: 0.9, waiting: 0 }, { kv: 0, waiting: 0 }, { kv: 0, waiting: 0 }, { kv: 0, waiting: 0 });
    await startScaler([a!.target, b!.target, c!.target, d!.target]);
    expect(await metricValue(SATURATION_POLICY)).toBe(3); // as above: −1

    // d stops answering: 4 discovered, 3 with metrics → hold at 4 (the 3 left would otherwise say −1).
    await d!.down();
    await vi.waitFor(async () => expect(await metricValue(SATURATION_POLICY)).toBe(4), { timeout: 3000, interval: 50 });
    const held = (await decisions()).find((x) => x.signal === 'desired_replicas')!;
    expect(held.details).toMatchObject({ decision: 'hold', currentReplicas: 4, readyReplicas: 3 });
    expect(held.details!['rule']).toMatch(/in transition \(metrics\(3\) != current\(4\)\): hold at current 4/);
    expect(held.excluded.find((e) => e.worker === d!.target)?.why).toMatch(/^failing: connect/);

    // d is back but does not report KV usage: still not "ready" → still hold.
    d!.serve(vllm({ kv: 0, waiting: 0 }).replace(/^vllm:kv_cache_usage_perc.*$/m, ''));
    await d!.up();
    await vi.waitFor(
      async () => {
        const missing = (await decisions()).find((x) => x.signal === 'desired_replicas')!;
        expect(missing.excluded.find((e) => e.worker === d!.target)?.why).toMatch(
          /does not report KV-cache usage: counted in current replicas, not in ready ones/,
        );
      },
      { timeout: 3000, interval: 50 },
    );
    expect(await metricValue(SATURATION_POLICY)).toBe(4);

    // Reporting again → the decision resumes: 3.
    d!.serve(vllm({ kv: 0, waiting: 0 }));
    await vi.waitFor(async () => expect(await metricValue(SATURATION_POLICY)).toBe(3), { timeout: 3000, interval: 50 });
  });

  it('refuses bad metadata with INVALID_ARGUMENT naming the key, on every rpc', async () => {
    const [a] = await startWorkers({ kv: 0.5, waiting: 1 });
    await startScaler([a!.target]);
    const cases: [Record<string, string>, string][] = [
      [{ metric: 'desired_replicas', target: '2' }, "metadata 'target': '2' is not accepted for desired_replicas"],
      [{ metric: 'desired_replicas', policy: 'magic' }, "metadata 'policy': unknown policy 'magic'"],
      [{ metric: 'desired_replicas', kvCacheThreshold: '0.05' }, "metadata 'kvSpareTrigger'"],
      [{ metric: 'desired_replicas', queueLengthThreshold: 'many' }, "metadata 'queueLengthThreshold': 'many' is not a number"],
      [{ metric: 'desired_replicas', minReplicas: '0' }, "metadata 'minReplicas'"],
      [{ metric: 'desired_replicas', scaleDownStabilizationWindow: 'forever' }, "metadata 'scaleDownStabilizationWindow': 'forever' is not a duration"],
      [{ metric: 'desired_replicas', policy: 'composite', metrics: 'queue_depth' }, "metadata 'metrics': 'queue_depth' is not signal:target"],
      [{ metric: 'desired_replicas', policy: 'composite', metrics: 'queue_depth:5', strategy: 'mean' }, "metadata 'strategy'"],
      [{ metric: 'desired_replicas', policy: 'composite', metrics: 'queue_depth:5', scaleUpMaxChangePercent: '-5' }, "metadata 'scaleUpMaxChangePercent'"],
      [{ metric: 'saturation', target: '1', queueThreshold: '0' }, "metadata 'queueThreshold'"],
      [{ metric: 'saturation', target: '1', kvCacheThreshold: '2' }, "metadata 'kvCacheThreshold'"],
    ];
    for (const [metadata, message] of cases) {
      await harness.expectInvalidArgument(ref(metadata), message, 'llama-desired_replicas');
    }
  });
});

describe('desired_replicas policy composite through KEDA’s gRPC calls and the probe', () => {
  it('combines signals with their own targets, and the probe prints the same explanation', async () => {
    // waiting 12 + 4 = 16, running 10 + 6 = 16, kv mean (0.6 + 0.2) / 2 = 0.4.
    const [a, b] = await startWorkers({ kv: 0.6, waiting: 12 }, { kv: 0.2, waiting: 4 });
    a!.serve(vllm({ kv: 0.6, waiting: 12, running: 10 }));
    b!.serve(vllm({ kv: 0.2, waiting: 4, running: 6 }));
    await startScaler([a!.target, b!.target]);
    // queue_depth:5 → ceil(16 / 5) = 4; running_requests:10 → ceil(16 / 10) = 2;
    // kv_cache_usage:0.3 → ceil(2 × 0.4 / 0.3) = ceil(2.67) = 3.
    const metrics = 'queue_depth:5,running_requests:10,kv_cache_usage:0.3';
    await vi.waitFor(async () => expect(await metricValue({ metric: 'desired_replicas', policy: 'composite', metrics })).toBe(4), {
      timeout: 3000,
      interval: 50,
    });
    expect(await metricValue({ metric: 'desired_replicas', policy: 'composite', metrics, strategy: 'min' })).toBe(2);
    expect(await metricValue({ metric: 'desired_replicas', policy: 'composite', metrics, strategy: 'average' })).toBe(3);
    expect(await metricValue({ metric: 'desired_replicas', policy: 'composite', metrics, maxReplicas: '3' })).toBe(3);

    const metadata = { pool: 'llama', metric: 'desired_replicas', policy: 'composite', metrics, strategy: 'average' };
    const result = await probe(harness.grpcAddress, metadata, 2000, { httpAddress: `127.0.0.1:${harness.scaler.httpPort}` });
    expect(result.errors).toEqual([]);
    expect(result.metrics?.metricValues[0]?.metricValueFloat).toBe(3);
    expect(result.decisionError).toBeUndefined();
    const decision = result.decision as Decision;
    expect(decision.metadata).toEqual(metadata);
    expect(decision.details).toMatchObject({ policy: 'composite', strategy: 'average', combination: 'ceil(mean(4, 2, 3) = 3) = 3', recommendation: 3 });
    expect((decision.details!['signals'] as { signal: string; formula: string }[]).map((s) => s.formula)).toEqual([
      'ceil(16 / 5) = 4',
      'ceil(16 / 10) = 2',
      'ceil(2 workers × 0.4 / 0.3) = 3',
    ]);

    // The HTTP side unreachable: the probe says so and still succeeds.
    const deadPort = await freePort();
    const blind = await probe(harness.grpcAddress, metadata, 2000, { httpAddress: `127.0.0.1:${deadPort}` });
    expect(blind.errors).toEqual([]);
    expect(blind.decision).toBeUndefined();
    expect(blind.decisionError).toMatch(new RegExp(`http://127.0.0.1:${deadPort}/api/v1/decisions is unreachable`));
  });

  it('GetMetrics only reads: 200 calls cost about one evaluation per published snapshot', async () => {
    const [a, b] = await startWorkers({ kv: 0.6, waiting: 12 }, { kv: 0.2, waiting: 4 });
    await startScaler([a!.target, b!.target]);
    const composite = { metric: 'desired_replicas', policy: 'composite', metrics: 'queue_depth:5,kv_cache_usage:0.3', scaleDownStabilizationWindow: '30s' };
    expect(await metricValue(composite)).toBe(4);
    expect(await metricValue(SATURATION_POLICY)).toBeGreaterThan(0);

    const signal = findSignal('desired_replicas')!;
    const compute = vi.spyOn(signal, 'compute');
    const started = Date.now();
    const so = [ref(composite), ref(SATURATION_POLICY)];
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => harness.client.getMetrics(so[i % 2]!, 'llama-desired_replicas')));
    const elapsed = Date.now() - started;
    expect(answers).toHaveLength(200);
    // Collection publishes a new snapshot at most once per scrape round (every 100 ms): each
    // trigger evaluates once per snapshot, however many calls read it.
    const rounds = Math.ceil(elapsed / INTERVAL) + 1;
    expect(compute.mock.calls.length).toBeLessThanOrEqual(2 * (rounds + 1));
    expect(compute.mock.calls.length).toBeLessThan(20);
  });
});

describe('probe --http default', () => {
  it.each([
    ['keda-llm-scaler.keda.svc:9090', 'keda-llm-scaler.keda.svc:8080'],
    ['127.0.0.1:9090', '127.0.0.1:8080'],
    ['[::1]:9090', '[::1]:8080'],
    ['dns:///scaler:9090', 'scaler:8080'],
    ['localhost', 'localhost:8080'],
  ])('%s → %s', (grpcAddress, httpAddress) => {
    expect(defaultHttpAddress(grpcAddress)).toBe(httpAddress);
  });
});
