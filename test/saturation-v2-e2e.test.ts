import { afterEach, describe, expect, it, vi } from 'vitest';
import { freePort } from '../src/cli/demo/net.js';
import { KedaClient } from './support/keda-client.js';
import { TestScaler } from './support/test-scaler.js';
import { FakeWorker } from './support/workers.js';

/**
 * `policy: saturation-v2` end to end: real HTTP workers serving vLLM expositions with
 * `cache_config_info`, the real scaler, a real gRPC client.
 */
const harness = new TestScaler();
afterEach(async () => harness.close());

/** One engine: 625 blocks × 16 tokens = 10 000 KV tokens; 10 finished requests of 100 prompt tokens. */
function vllm(load: { kv: number; waiting: number }): string {
  const labels = '{engine="0",model_name="m"}';
  return [
    '# TYPE vllm:cache_config_info gauge',
    'vllm:cache_config_info{block_size="16",cache_dtype="auto",engine="0",num_gpu_blocks="625"} 1.0',
    '# TYPE vllm:num_requests_running gauge',
    `vllm:num_requests_running${labels} 4.0`,
    '# TYPE vllm:num_requests_waiting gauge',
    `vllm:num_requests_waiting${labels} ${load.waiting.toFixed(1)}`,
    '# TYPE vllm:kv_cache_usage_perc gauge',
    `vllm:kv_cache_usage_perc${labels} ${load.kv}`,
    '# TYPE vllm:request_prompt_tokens histogram',
    `vllm:request_prompt_tokens_bucket{engine="0",le="100.0",model_name="m"} 10.0`,
    `vllm:request_prompt_tokens_bucket{engine="0",le="+Inf",model_name="m"} 10.0`,
    `vllm:request_prompt_tokens_count${labels} 10.0`,
    `vllm:request_prompt_tokens_sum${labels} 1000.0`,
    '',
  ].join('\n');
}

const META = { scalerAddress: 'scaler:9090', pool: 'llama', metric: 'desired_replicas', policy: 'saturation-v2' };

async function poll(): Promise<{ value: number; details: Record<string, unknown> }> {
  const so = KedaClient.ref(META);
  const spec = (await harness.client.getMetricSpec(so)).metricSpecs[0]!;
  const value = (await harness.client.getMetrics(so, spec.metricName)).metricValues[0]!.metricValueFloat;
  const response = await fetch(`${harness.httpUrl}/api/v1/decisions`);
  const decision = ((await response.json()) as { decisions: { details?: Record<string, unknown> }[] }).decisions[0]!;
  return { value, details: decision.details ?? {} };
}

describe('saturation-v2 end to end', () => {
  it('k2 from a replica whose queue reached the threshold; a pending replica is anticipated supply and prevents a second scale-up', async () => {
    // kv 0.5 of 10 000 = 5000 tokens in use, queue 5 = queueLengthThreshold → k2 observed 5000.
    // demand 5000 + 5 × 100 = 5500; 5500 / 0.85 = 6470.6 − 5000 = 1470.6 → 1 + ceil(0.29) = 2.
    const hot = harness.track(await FakeWorker.start({ behaviour: { kind: 'text', body: vllm({ kv: 0.5, waiting: 5 }) } }));
    const notListening = await freePort();
    await harness.start([{ name: 'llama', source: 'vllm', targets: [hot.target, `127.0.0.1:${notListening}`] }]);
    // Readiness waits for most targets; here one never answers, so wait for the first scrape instead.
    await vi.waitFor(async () => expect((await poll()).details.readyReplicas).toBe(1), { timeout: 20_000, interval: 100 });
    // With the second target discovered but never collected: current 2, anticipated 2 × 5000 =
    // 10000 ≥ 6470.6 → nothing required; spare 5000 − 7857 < 0 → stay at 2 (not 3).
    const withPending = await poll();
    expect(withPending.value).toBe(2);
    expect(withPending.details.pendingReplicas).toEqual([`127.0.0.1:${notListening}`]);
    expect(withPending.details.anticipatedSupply).toBe(10_000);
    expect(withPending.details.requiredCapacity).toBe(0);
    const replicas = withPending.details.replicas as { k2: number; k2Source: string; totalKvCapacityTokens: number }[];
    expect(replicas).toEqual([expect.objectContaining({ k2: 5000, k2Source: 'observed', totalKvCapacityTokens: 10_000 })]);
    // Alone, the same replica would ask for 1 + 1 = 2 with current 1 (wva-v2.test.ts: 'queue at threshold').
    expect(withPending.details.currentReplicas).toBe(2);
  });
});
