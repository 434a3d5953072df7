/**
 * No wrong value from a bad worker, end to end: the real scaler scrapes real HTTP workers serving
 * Prometheus text, a real gRPC client asks what KEDA asks. A worker whose values cannot be true is
 * excluded with its cause; one that stops answering keeps its last good value until the cache TTL;
 * a model name no worker serves is UNAVAILABLE, never 0.
 */
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { KedaClient, statusOf } from './support/keda-client.js';
import { TestScaler } from './support/test-scaler.js';
import { FakeWorker } from './support/workers.js';

const MODEL = 'meta-llama/Llama-3.1-8B-Instruct';
const harness = new TestScaler();
afterEach(() => harness.close());

/** A vLLM V1 exposition of one engine; `extra` lines are appended as written. */
function vllm(values: { waiting: number | string; running?: number; kv?: number | string; model?: string }, extra: readonly string[] = []): string {
  const l = `engine="0",model_name="${values.model ?? MODEL}"`;
  return [
    '# TYPE vllm:num_requests_waiting gauge',
    `vllm:num_requests_waiting{${l}} ${values.waiting}`,
    '# TYPE vllm:num_requests_running gauge',
    `vllm:num_requests_running{${l}} ${values.running ?? 1}`,
    '# TYPE vllm:kv_cache_usage_perc gauge',
    `vllm:kv_cache_usage_perc{${l}} ${values.kv ?? 0.5}`,
    ...extra,
    '',
  ].join('\n');
}

async function workers(...bodies: string[]): Promise<FakeWorker[]> {
  return Promise.all(bodies.map(async (body) => harness.track(await FakeWorker.start({ behaviour: { kind: 'text', body } }))));
}

function ref(metadata: Record<string, string>) {
  return KedaClient.ref({ pool: 'llama', ...metadata });
}

async function value(metadata: Record<string, string>): Promise<number> {
  const so = ref(metadata);
  const spec = await harness.client.getMetricSpec(so);
  const name = spec.metricSpecs[0]?.metricName as string;
  const answer = await harness.client.getMetrics(so, name);
  return answer.metricValues[0]?.metricValueFloat as number;
}

async function getJson<T>(path: string): Promise<T> {
  const res = await fetch(`${harness.httpUrl}${path}`);
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

interface Summary {
  name: string;
  fresh: number;
  failing: number;
  excluded: { id: string; state: string; cause: string; reason?: string }[];
}

async function summary(): Promise<Summary> {
  const { pools } = await getJson<{ pools: Summary[] }>('/api/v1/pools');
  return pools[0] as Summary;
}

async function scrapeErrors(cause: string): Promise<number> {
  const res = await fetch(`${harness.httpUrl}/metrics`);
  const text = await res.text();
  const line = text.split('\n').find((l) => l.startsWith('keda_llm_scaler_scrape_errors_total{') && l.includes(`cause="${cause}"`));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

const WAIT = { timeout: 10_000, interval: 50 };

describe('a model name no worker serves', () => {
  it('pool-level model: UNAVAILABLE naming the models the workers serve, not 0 and inactive', async () => {
    const [a, b] = await workers(vllm({ waiting: 3 }), vllm({ waiting: 2 }));
    await harness.start([{ name: 'llama', source: 'vllm', targets: [a!.target, b!.target], model: 'meta-llama/Llama-3.1-8B-instruct' }]);
    const so = ref({ metric: 'kv_cache_usage', target: '0.8' });
    const status = await vi.waitFor(async () => {
      const s = await statusOf(harness.client.getMetrics(so, 'llama-kv_cache_usage'));
      expect(s.details).toContain('serves');
      return s;
    }, WAIT);
    expect(status.code).toBe(grpc.status.UNAVAILABLE);
    expect(status.details).toContain(`no worker in pool 'llama' serves the pool's model: its workers serve "${MODEL}"`);
  });

  it('trigger-level model: UNAVAILABLE naming the models served; the right name still answers', async () => {
    const [a, b] = await workers(vllm({ waiting: 3 }), vllm({ waiting: 2, model: 'Qwen/Qwen3-0.6B' }));
    await harness.start([{ name: 'llama', source: 'vllm', targets: [a!.target, b!.target] }]);
    await harness.waitReady();
    const typo = ref({ metric: 'queue_depth', target: '5', model: 'meta-llama/Llama-3.1-8B-instruct' });
    const spec = await harness.client.getMetricSpec(typo);
    const status = await statusOf(harness.client.getMetrics(typo, spec.metricSpecs[0]?.metricName as string));
    expect(status.code).toBe(grpc.status.UNAVAILABLE);
    expect(status.details).toContain(
      `no worker in pool 'llama' serves "meta-llama/Llama-3.1-8B-instruct": its workers serve "Qwen/Qwen3-0.6B", "${MODEL}"; check the model key`,
    );
    expect((await statusOf(harness.client.isActive(typo))).code).toBe(grpc.status.UNAVAILABLE);
    expect(await value({ metric: 'queue_depth', target: '5', model: MODEL })).toBe(3);
  });
});

describe('implausible values', () => {
  it('a worker exposing 1e308 waiting is excluded (implausible-value), counted on /metrics; the other worker still answers', async () => {
    const [good, bad] = await workers(vllm({ waiting: 2 }), vllm({ waiting: '1e308' }));
    const logs: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    await harness.start([{ name: 'llama', source: 'vllm', targets: [good!.target, bad!.target] }], {}, { log: pino({ level: 'info' }, sink) });
    await vi.waitFor(async () => expect((await summary()).failing).toBe(1), WAIT);
    // Many scrapes later (every 100 ms), the worker's cause has been logged once.
    const requests = bad!.requests;
    await vi.waitFor(() => expect(bad!.requests).toBeGreaterThanOrEqual(requests + 5), WAIT);
    expect(logs.filter((l) => l['cause'] === 'implausible-value').map((l) => l['worker'])).toEqual([bad!.target]);
    expect(await value({ metric: 'queue_depth', target: '5' })).toBe(2);
    const s = await summary();
    expect(s.excluded).toEqual([
      expect.objectContaining({
        id: bad!.target,
        state: 'failing',
        cause: 'implausible-value',
        reason: expect.stringContaining('vllm:num_requests_waiting{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} is 1e+308') as string,
      }),
    ]);
    expect(await scrapeErrors('implausible-value')).toBeGreaterThanOrEqual(1);
  });

  it('targets above 1e12 are INVALID_ARGUMENT naming the key', async () => {
    const [a] = await workers(vllm({ waiting: 2 }));
    await harness.start([{ name: 'llama', source: 'vllm', targets: [a!.target] }]);
    await harness.waitReady();
    await harness.expectInvalidArgument(ref({ metric: 'queue_depth', target: '1e19' }), "'target': '1e19' is too large; expected a number ≤ 1000000000000");
    await harness.expectInvalidArgument(ref({ metric: 'queue_depth', threshold: '1e308' }), "'threshold': '1e308' is too large");
    expect(await value({ metric: 'queue_depth', target: '1e12' })).toBe(2);
  });
});

describe('answers above 1e12', () => {
  it('two workers at the bound each: the sum would exceed 1e12, so UNAVAILABLE rather than a number KEDA mangles', async () => {
    const [a, b] = await workers(vllm({ waiting: 1e12 }), vllm({ waiting: 1e12 }));
    await harness.start([{ name: 'llama', source: 'vllm', targets: [a!.target, b!.target] }]);
    await harness.waitReady();
    const so = ref({ metric: 'queue_depth', target: '5' });
    const spec = await harness.client.getMetricSpec(so);
    const status = await statusOf(harness.client.getMetrics(so, spec.metricSpecs[0]?.metricName as string));
    expect(status.code).toBe(grpc.status.UNAVAILABLE);
    expect(status.details).toContain('signal queue_depth produced an unusable value (2000000000000, above 1000000000000)');
  });
});

describe('invalid samples and duplicate series', () => {
  it('negative KV usage excludes the worker (never read as 0); KV above 1 is read as 1 and flagged in the explanation', async () => {
    const [negative, over] = await workers(vllm({ waiting: 1, kv: -0.5 }), vllm({ waiting: 1, kv: 1.3 }));
    await harness.start([{ name: 'llama', source: 'vllm', targets: [negative!.target, over!.target] }]);
    await vi.waitFor(async () => expect((await summary()).fresh).toBe(1), WAIT);
    const raw = { metric: 'kv_cache_usage', target: '0.8', valueMode: 'raw' };
    expect(await value(raw)).toBe(1);
    const { decisions } = await getJson<{ decisions: { explanation: string; excluded: { worker: string; why: string }[] }[] }>('/api/v1/decisions?pool=llama');
    const decision = decisions[0]!;
    expect(decision.explanation).toContain(
      `note ${over!.target}: vllm:kv_cache_usage_perc{engine="0",model_name="${MODEL}"} is 1.3, above 1: read as 1 (full)`,
    );
    expect(decision.excluded).toEqual([
      {
        worker: negative!.target,
        why: expect.stringMatching(/^failing: invalid-sample: vllm:kv_cache_usage_perc\{.*\} is -0\.5: KV usage cannot be negative$/) as string,
      },
    ]);
  });

  it('the same series twice in one exposition refuses the scrape (duplicate-series), not 1 + 100 = 101', async () => {
    const l = `engine="0",model_name="${MODEL}"`;
    const [dup, good] = await workers(vllm({ waiting: 1 }, [`vllm:num_requests_waiting{${l}} 100`]), vllm({ waiting: 3 }));
    await harness.start([{ name: 'llama', source: 'vllm', targets: [dup!.target, good!.target] }]);
    await vi.waitFor(async () => expect((await summary()).failing).toBe(1), WAIT);
    expect(await value({ metric: 'queue_depth', target: '5' })).toBe(3);
    const report = await getJson<{ signals: Record<string, { excluded: { worker: string; why: string }[] }> }>('/api/v1/pools/llama');
    expect(report.signals['queue_depth']?.excluded).toEqual([
      {
        worker: dup!.target,
        why:
          `failing: duplicate-series: vllm:num_requests_waiting{${l}} appears twice in one exposition; ` +
          'Prometheus refuses such a scrape too ("duplicate sample for timestamp")',
      },
    ]);
    expect((await summary()).excluded).toEqual([expect.objectContaining({ id: dup!.target, cause: 'duplicate-series' })]);
  });
});

describe('a worker that stops answering', () => {
  it('keeps its last good value until cacheTtl, the explanation says so and how old; then it is excluded', async () => {
    const [a, b] = await workers(vllm({ waiting: 4 }), vllm({ waiting: 2 }));
    await harness.start([{ name: 'llama', source: 'vllm', targets: [a!.target, b!.target] }], { cacheTtl: '4s' });
    await harness.waitReady();
    const metadata = { metric: 'queue_depth', target: '5' };
    expect(await value(metadata)).toBe(6);
    a!.hang();
    // The scrape times out (300 ms): the worker is failing, but its last good value still counts.
    const explanation = await vi.waitFor(async () => {
      const { decisions } = await getJson<{ decisions: { value: number; explanation: string; included: { worker: string; note?: string }[] }[] }>(
        '/api/v1/decisions?pool=llama',
      );
      const d = decisions[0]!;
      expect(d.included.find((c) => c.worker === a!.target)?.note).toMatch(/^last good value, [\d.]+s old \(latest attempt failed: timeout: /);
      expect(d.value).toBe(6);
      return d.explanation;
    }, WAIT);
    expect(explanation).toMatch(new RegExp(`note ${a!.target}: last good value, [\\d.]+s old \\(latest attempt failed: timeout`));
    expect(await value(metadata)).toBe(6);
    expect((await summary()).excluded).toEqual([]);
    // Past the cache TTL the last good value is too old: excluded as before.
    await vi.waitFor(async () => expect(await value(metadata)).toBe(2), { timeout: 15_000, interval: 100 });
    expect((await summary()).excluded).toEqual([expect.objectContaining({ id: a!.target, state: 'failing', cause: 'timeout' })]);
  });
});
