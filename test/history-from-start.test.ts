/**
 * History is kept for every worker from its first scrape: a window asked for late is answered from
 * what was already collected. Real HTTP workers serve steady traffic for 7 s before any trigger
 * exists; then KEDA asks for TTFT (60 s, p50), the token rate (30 s) and a custom rate for the
 * first time, and gets the true values over the 7 s covered — for vLLM, a Dynamo frontend and a
 * query declared in the pool's configuration.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { VLLM_TTFT_BUCKETS } from '../src/cli/demo/simulated-worker.js';
import { KedaClient } from './support/keda-client.js';
import { TestScaler } from './support/test-scaler.js';
import { RenderingWorker } from './support/workers.js';

const MODEL = 'meta-llama/Llama-3.1-8B-Instruct';
/** Requests finished per second, each with this TTFT, generating this many tokens per second. */
const REQUESTS_PER_S = 10;
const TTFT_S = 0.05; // in vLLM's bucket (0.04, 0.06]
const TOKENS_PER_S = 1000;
const TOOL_CALLS_PER_S = 2;

/** Cumulative histogram lines for `n` observations of `value` on these bounds. */
function histogramLines(name: string, labels: string, bounds: readonly number[], n: number, value: number): string[] {
  const lines = bounds.map((le) => `${name}_bucket{${labels},le="${le}"} ${value <= le ? n : 0}`);
  lines.push(`${name}_bucket{${labels},le="+Inf"} ${n}`, `${name}_sum{${labels}} ${n * value}`, `${name}_count{${labels}} ${n}`);
  return lines;
}

/** A worker under steady load since it started: its counters and histograms grow with time, as a real one's do. */
class SteadyWorker extends RenderingWorker {
  private readonly started = Date.now();

  constructor(private readonly flavour: 'vllm' | 'dynamo-frontend') {
    super();
  }

  protected body(): string {
    const t = (Date.now() - this.started) / 1000;
    const finished = Math.floor(REQUESTS_PER_S * t);
    const tokens = Math.floor(TOKENS_PER_S * t);
    if (this.flavour === 'dynamo-frontend') {
      const labels = `model="${MODEL}"`;
      return [
        `dynamo_frontend_queued_requests{${labels}} 0`,
        `dynamo_frontend_inflight_requests{${labels}} 3`,
        `dynamo_frontend_output_tokens_total{${labels}} ${tokens}`,
        ...histogramLines('dynamo_frontend_time_to_first_token_seconds', labels, [0.001, 0.01, 0.05, 0.1, 0.5, 1, 5], finished, TTFT_S),
        '',
      ].join('\n');
    }
    const labels = `engine="0",model_name="${MODEL}"`;
    return [
      `vllm:num_requests_waiting{${labels}} 0`,
      `vllm:num_requests_running{${labels}} 3`,
      `vllm:kv_cache_usage_perc{${labels}} 0.2`,
      `vllm:generation_tokens_total{${labels}} ${tokens}`,
      `agent_tool_calls_total{tool="search"} ${Math.floor(TOOL_CALLS_PER_S * t)}`,
      ...histogramLines('vllm:time_to_first_token_seconds', labels, VLLM_TTFT_BUCKETS, finished, TTFT_S),
      '',
    ].join('\n');
  }
}

const harness = new TestScaler();
afterEach(() => harness.close());

async function value(pool: string, metadata: Record<string, string>): Promise<number> {
  const ref = KedaClient.ref({ pool, target: '1', valueMode: 'raw', ...metadata });
  const spec = await harness.client.getMetricSpec(ref);
  const response = await harness.client.getMetrics(ref, spec.metricSpecs[0]!.metricName);
  return response.metricValues[0]!.metricValueFloat;
}

describe('windows asked for late are answered from what was already collected', () => {
  it('7 s of traffic before any trigger: TTFT p50 over 60 s, tokens/s over 30 s and a declared custom rate are the true values', async () => {
    const vllm = harness.track(await new SteadyWorker('vllm').listen());
    const frontend = harness.track(await new SteadyWorker('dynamo-frontend').listen());
    await harness.start([
      { name: 'llama', source: 'vllm', targets: [vllm.target], queries: ['agent_tool_calls_total{tool="search"}'] },
      { name: 'frontend', source: 'dynamo-http', targets: [frontend.target] },
    ]);
    await new Promise((resolve) => setTimeout(resolve, 7000));

    for (const pool of ['llama', 'frontend']) {
      // Every observation is 0.05 s: the p50 lies in its bucket (0.04, 0.06] (vLLM) or (0.01, 0.05] (Dynamo).
      const ttft = await value(pool, { metric: 'ttft', window: '60s', quantile: '0.5' });
      expect(ttft).toBeGreaterThan(pool === 'llama' ? 0.04 : 0.01);
      expect(ttft).toBeLessThanOrEqual(pool === 'llama' ? 0.06 : 0.05);
      const rate = await value(pool, { metric: 'tokens_per_second', window: '30s' });
      expect(rate).toBeGreaterThan(TOKENS_PER_S * 0.9);
      expect(rate).toBeLessThan(TOKENS_PER_S * 1.1);
    }
    const calls = await value('llama', { metric: 'custom', query: 'agent_tool_calls_total{tool="search"}', reduce: 'rate', window: '30s' });
    expect(calls).toBeGreaterThan(TOOL_CALLS_PER_S * 0.9);
    expect(calls).toBeLessThan(TOOL_CALLS_PER_S * 1.1);

    // The explanation shows each worker's effective window: the ~7 s covered, not the 30 s asked.
    const decisions = (await (await fetch(`${harness.httpUrl}/api/v1/decisions?pool=llama`)).json()) as {
      decisions: { signal: string; included: { worker: string; windowSeconds?: number }[] }[];
    };
    const tokens = decisions.decisions.find((d) => d.signal === 'tokens_per_second')!;
    expect(tokens.included[0]!.windowSeconds).toBeGreaterThan(6);
    expect(tokens.included[0]!.windowSeconds).toBeLessThan(8.5);
  });

  it('a query that is not valid series syntax stops start-up naming it', async () => {
    await expect(harness.start([{ name: 'llama', source: 'vllm', targets: ['127.0.0.1:1'], queries: ['calls_total{tool=~"x"}'] }])).rejects.toThrow(
      /pools\[llama\]\.queries\[0\]: .*regular-expression matcher/,
    );
  });
});
