import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { HttpSourceKind } from '../src/config/schema.js';
import { profileFor } from '../src/sources/http/engine-profiles.js';
import { extractWorkerSample } from '../src/sources/http/extract-sample.js';
import type { ExtractResult } from '../src/sources/http/profiles/profile.js';
import { parsePrometheusText } from '../src/sources/http/prometheus-text.js';
import type { WorkerSample } from '../src/store/sample.js';
import { expectSaneSample, mutatedExposition } from './support/exposition-fuzz.js';
import { readFixture, VLLM_FIXTURES } from './support/fixtures.js';

const AT = 1_700_000_000_000;
const KINDS: readonly HttpSourceKind[] = ['vllm', 'sglang', 'trtllm'];

function run(text: string, kind: HttpSourceKind = 'vllm', model?: string): ExtractResult {
  const profile = profileFor(kind);
  return extractWorkerSample(parsePrometheusText(text, profile.wantedSeries), profile, { model, at: AT });
}

function extract(text: string, kind: HttpSourceKind = 'vllm', model?: string): WorkerSample {
  const r = run(text, kind, model);
  if (!r.ok) throw new Error(`${r.cause}: ${r.message}`);
  return r.sample;
}

describe('profiles', () => {
  it.each(KINDS)('%s: wanted series cover every candidate and never a _created series', (kind) => {
    const p = profileFor(kind);
    expect(p.kind).toBe(kind);
    for (const name of [...p.waiting, ...p.running, ...p.kvUsage, ...p.blocks.map((b) => b.series)]) {
      expect(p.wantedSeries.has(name)).toBe(true);
    }
    for (const list of Object.values(p.counters)) for (const n of list) expect(p.wantedSeries.has(n)).toBe(true);
    for (const list of Object.values(p.histograms)) {
      for (const base of list) {
        for (const suffix of ['_bucket', '_sum', '_count']) expect(p.wantedSeries.has(base + suffix)).toBe(true);
      }
    }
    for (const name of p.wantedSeries) expect(name.endsWith('_created')).toBe(false);
  });

  it('vLLM prefers the new KV and ITL names and falls back to the old ones', () => {
    const p = profileFor('vllm');
    expect(p.kvUsage).toEqual(['vllm:kv_cache_usage_perc', 'vllm:gpu_cache_usage_perc']);
    expect(p.histograms.itl).toEqual(['vllm:inter_token_latency_seconds', 'vllm:time_per_output_token_seconds']);
  });
});

describe('vLLM fixtures', () => {
  it('v1-dp2-generated: sums over the two engines, averages KV, merges histograms per le', () => {
    const s = extract(readFixture('vllm', 'v1-dp2-generated.prom'));
    expect(s.at).toBe(AT);
    expect(s.models).toEqual(['Qwen/Qwen3-0.6B']);
    expect(s.waiting).toBe(3); // 3 + 0
    expect(s.running).toBe(21); // 12 + 9
    expect(s.kvUsage).toBeCloseTo(0.34, 12); // (0.41 + 0.27) / 2
    expect(s.kvBlocksTotal).toBe(118128); // 59064 × 2
    expect(s.kvBlocksUsed).toBeCloseTo(0.41 * 59064 + 0.27 * 59064, 6);
    expect(s.counters).toEqual({
      promptTokens: 750134, // 381860 + 368274
      generationTokens: 6904, // 3439 + 3465
      requestSuccess: 200, // stop 100 + 100, length and abort 0
      preemptions: 0,
    });

    const fill = (n: number, v: number): number[] => Array<number>(n).fill(v);
    expect(s.histograms.ttft).toEqual({
      bounds: [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560, Infinity],
      counts: [0, 0, 0, 0, 3, 5, 8, 10, 32, 63, 100, 133, ...fill(11, 200)],
      sum: expect.closeTo(77.79345978383459 + 72.833413380334, 9) as number,
      count: 200,
    });
    expect(s.histograms.itl).toEqual({
      bounds: [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, Infinity],
      counts: [525, 2989, ...fill(18, 6704)], // 244+281, 1621+1368, 3339+3365
      sum: expect.closeTo(92.24989253316485 + 95.95160338607295, 9) as number,
      count: 6704,
    });
    expect(s.histograms.e2eLatency).toEqual({
      bounds: [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680, Infinity],
      counts: [1, 7, 22, 36, 76, 133, 176, ...fill(15, 200)],
      sum: expect.closeTo(170.04335231700003 + 168.7850167664072, 9) as number,
      count: 200,
    });
    expect(s.histograms.queueTime?.counts.slice(0, 2)).toEqual([120, 200]); // 61+59, 100+100
    expect(s.histograms.queueTime?.count).toBe(200);
    expect(s.histograms.requestPromptTokens).toEqual({
      bounds: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, Infinity],
      counts: [0, 0, 0, 0, 2, 3, 3, 6, 16, 36, 59, 130, 200, 200, 200],
      sum: 750134,
      count: 200,
    });
    expect(s.histograms.requestGenerationTokens?.counts.slice(0, 7)).toEqual([0, 0, 0, 0, 37, 173, 200]);
    expect(s.histograms.requestGenerationTokens?.sum).toBe(6904);
  });

  it('v1-0.10-engine-created: reads the exponent KV value and no _created epoch leaks', () => {
    const s = extract(readFixture('vllm', 'v1-0.10-engine-created.prom'));
    expect(s.kvUsage).toBe(9.75010481363281e-6);
    expect(s.waiting).toBeUndefined();
    expect(s.running).toBeUndefined();
    expect(s.kvBlocksTotal).toBeUndefined();
    expect(s.counters).toEqual({});
    expect(s.histograms).toEqual({});
    expect(s.models).toEqual(['zai-org/GLM-4.5']);
    expect(JSON.stringify(s)).not.toMatch(/1\.75379|175379/);
  });

  it('v1-dp2-generated: no _created epoch (≈1.79e9) in any extracted number', () => {
    const s = extract(readFixture('vllm', 'v1-dp2-generated.prom'));
    const numbers: number[] = [s.waiting, s.running, s.kvUsage, s.kvBlocksUsed, s.kvBlocksTotal]
      .concat(Object.values(s.counters))
      .concat(Object.values(s.histograms).flatMap((h) => [h.sum, h.count, ...h.counts]))
      .filter((v): v is number => v !== undefined);
    for (const v of numbers) expect(v).toBeLessThan(1e9);
  });

  it('design-doc-example: the `...` lines do not fail the scrape', () => {
    const s = extract(readFixture('vllm', 'design-doc-example.prom'));
    expect(s.running).toBe(8);
    expect(s.waiting).toBeUndefined();
    expect(s.kvUsage).toBeUndefined();
    expect(s.counters).toEqual({ generationTokens: 27453, requestSuccess: 132 }); // 1 + 131 + 0
    expect(s.histograms.ttft).toEqual({
      bounds: [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1],
      counts: [0, 0, 0, 13, 97, 123, 138, 140],
      sum: NaN, // the example has no _sum line
      count: 140,
    });
    expect(s.models).toEqual(['meta-llama/Llama-3.1-8B-Instruct']);
  });

  it('v0-aibrix-docs: old KV name, blocks from the engine-less info gauge, -1 hit rates unused', () => {
    const s = extract(readFixture('vllm', 'v0-aibrix-docs.prom'));
    expect(s.kvUsage).toBe(0);
    expect(s.waiting).toBe(0);
    expect(s.running).toBe(0);
    expect(s.kvBlocksTotal).toBe(81767);
    expect(s.kvBlocksUsed).toBe(0);
    expect(s.counters).toEqual({ promptTokens: 148, generationTokens: 955, requestSuccess: 4, preemptions: 0 });
    expect(s.histograms).toEqual({}); // iteration_tokens_total is not a signal histogram
    expect(s.models).toEqual(['Qwen/Qwen2.5-Coder-1.5B-Instruct']);
    const numbers = [s.waiting, s.running, s.kvUsage, s.kvBlocksUsed, s.kvBlocksTotal, ...Object.values(s.counters)];
    expect(numbers.some((v) => v === -1 || (v ?? 0) > 1e9)).toBe(false);
  });

  it('a histogram cut before +Inf and _count keeps its buckets, count = last bucket', () => {
    // The aibrix dump's cut iteration_tokens histogram, renamed into a signal histogram.
    const text = readFixture('vllm', 'v0-aibrix-docs.prom').replaceAll('vllm:iteration_tokens_total', 'vllm:time_to_first_token_seconds');
    expect(extract(text).histograms.ttft).toEqual({
      bounds: [1, 2, 4, 8, 16, 24, 32, 40],
      counts: [994, 994, 994, 994, 994, 994, 994, 998],
      sum: 1103,
      count: 998,
    });
  });

  it.each(VLLM_FIXTURES)('%s: a filtered parse gives the same sample as a full parse', (file) => {
    const text = readFixture('vllm', file);
    const profile = profileFor('vllm');
    const full = extractWorkerSample(parsePrometheusText(text), profile, { at: AT });
    expect(run(text)).toEqual(full);
  });
});

describe('model filter', () => {
  it('keeps a matching worker as it is', () => {
    const text = readFixture('vllm', 'v1-dp2-generated.prom');
    expect(extract(text, 'vllm', 'Qwen/Qwen3-0.6B')).toEqual(extract(text));
  });

  it('rejects a worker serving another model', () => {
    const r = run(readFixture('vllm', 'v1-dp2-generated.prom'), 'vllm', 'meta-llama/Llama-3.1-8B-Instruct');
    expect(r).toMatchObject({ ok: false, cause: 'model_mismatch' });
    expect(!r.ok && r.message).toContain('Qwen/Qwen3-0.6B');
  });

  it('still applies series without model_name (cache_config_info)', () => {
    const s = extract(readFixture('vllm', 'v0-aibrix-docs.prom'), 'vllm', 'Qwen/Qwen2.5-Coder-1.5B-Instruct');
    expect(s.kvBlocksTotal).toBe(81767);
    expect(s.running).toBe(0);
  });

  it('uses only the chosen model when a worker exposes several', () => {
    const text = [
      'vllm:num_requests_waiting{model_name="a"} 1.0',
      'vllm:num_requests_waiting{model_name="b"} 5.0',
      'vllm:num_requests_running{model_name="a"} 2.0',
      'vllm:num_requests_running{model_name="b"} 7.0',
      'vllm:request_success_total{finished_reason="stop",model_name="b"} 9.0',
    ].join('\n');
    expect(extract(text)).toMatchObject({ models: ['a', 'b'], waiting: 6, running: 9 });
    const b = extract(text, 'vllm', 'b');
    expect(b).toMatchObject({ models: ['b'], waiting: 5, running: 7, counters: { requestSuccess: 9 } });
    const a = extract(text, 'vllm', 'a');
    expect(a).toMatchObject({ models: ['a'], waiting: 1, running: 2, counters: {} });
  });
});

describe('gauge rules', () => {
  it('prefers kv_cache_usage_perc over gpu_cache_usage_perc when both are exposed', () => {
    const text = 'vllm:kv_cache_usage_perc{engine="0"} 0.5\nvllm:gpu_cache_usage_perc{engine="0"} 0.9\n';
    expect(extract(text).kvUsage).toBe(0.5);
    expect(extract('vllm:gpu_cache_usage_perc{engine="0"} 0.9\n').kvUsage).toBe(0.9);
  });

  it('prefers inter_token_latency over time_per_output_token', () => {
    const both = [
      'vllm:num_requests_running 1',
      'vllm:inter_token_latency_seconds_bucket{le="+Inf"} 5',
      'vllm:time_per_output_token_seconds_bucket{le="+Inf"} 9',
    ].join('\n');
    expect(extract(both).histograms.itl?.count).toBe(5);
    // §1.8D of the reference: a TPOT-only V1 worker, `_count` present, `_sum` absent
    const tpotOnly = [
      'vllm:num_requests_running{engine="1",model_name="/home/jovyan/qwen3-8b"} 1.0',
      'vllm:time_per_output_token_seconds_bucket{engine="1",le="40.0",model_name="/home/jovyan/qwen3-8b"} 243.0',
      'vllm:time_per_output_token_seconds_bucket{engine="1",le="80.0",model_name="/home/jovyan/qwen3-8b"} 243.0',
      'vllm:time_per_output_token_seconds_bucket{engine="1",le="+Inf",model_name="/home/jovyan/qwen3-8b"} 243.0',
      'vllm:time_per_output_token_seconds_count{engine="1",model_name="/home/jovyan/qwen3-8b"} 243.0',
    ].join('\n');
    expect(extract(tpotOnly).histograms.itl).toEqual({
      bounds: [40, 80, Infinity],
      counts: [243, 243, 243],
      sum: NaN,
      count: 243,
    });
  });

  it('reads KV usage above 1 as 1 (full) and says so; refuses a negative one instead of clamping it to 0', () => {
    const over = extract('vllm:kv_cache_usage_perc{engine="0"} 1.7\nvllm:kv_cache_usage_perc{engine="1"} 0.2\n');
    expect(over.kvUsage).toBe(0.6);
    expect(over.notes).toEqual(['vllm:kv_cache_usage_perc{engine="0"} is 1.7, above 1: read as 1 (full)']);
    const negative = run('vllm:kv_cache_usage_perc{engine="0"} 0.9\nvllm:kv_cache_usage_perc{engine="1"} -0.2\nvllm:num_requests_waiting 1\n');
    expect(negative).toEqual({
      ok: false,
      cause: 'invalid-sample',
      message: 'vllm:kv_cache_usage_perc{engine="1"} is -0.2: KV usage cannot be negative',
    });
  });

  it('refuses the whole sample for a NaN, infinite, negative or absurd count or usage (never unknown-and-summed, never 0)', () => {
    const cases: [string, string][] = [
      ['vllm:num_requests_waiting{engine="0"} NaN', 'implausible-value'],
      ['vllm:num_requests_waiting{engine="0"} 1e308', 'implausible-value'],
      ['vllm:num_requests_waiting{engine="0"} 1000000000001', 'implausible-value'],
      ['vllm:num_requests_running{engine="0"} -1', 'invalid-sample'],
      ['vllm:kv_cache_usage_perc{engine="0"} +Inf', 'implausible-value'],
      ['vllm:generation_tokens_total 1e13', 'implausible-value'],
      ['vllm:time_to_first_token_seconds_bucket{le="+Inf"} -3', 'invalid-sample'],
    ];
    for (const [line, cause] of cases) {
      expect(run(`vllm:num_requests_waiting{engine="1"} 2\n${line}\n`), line).toMatchObject({ ok: false, cause });
    }
    // The bound itself is plausible.
    expect(extract('vllm:num_requests_waiting 1000000000000\n').waiting).toBe(1e12);
  });

  it('refuses a worker one of whose engines reports NaN, rather than summing only the other engines', () => {
    const r = run(
      [
        'vllm:num_requests_waiting{engine="0"} 2',
        'vllm:num_requests_waiting{engine="1"} NaN',
        'vllm:kv_cache_usage_perc{engine="0"} 0.4',
        'vllm:kv_cache_usage_perc{engine="1"} 0.5',
      ].join('\n'),
    );
    expect(r).toEqual({
      ok: false,
      cause: 'implausible-value',
      message: 'vllm:num_requests_waiting{engine="1"} is NaN: not a plausible count (finite, at most 1000000000000)',
    });
  });

  it('pairs KV and blocks by engine, an engine-less entry with the single other one', () => {
    const kv1 = 'vllm:kv_cache_usage_perc{engine="1"} 0.5\n';
    expect(extract(kv1 + 'vllm:cache_config_info{engine="0",num_gpu_blocks="100"} 1.0\n')).toMatchObject({
      kvBlocksTotal: 100,
      kvBlocksUsed: undefined,
    });
    expect(extract(kv1 + 'vllm:cache_config_info{num_gpu_blocks="100"} 1.0\n')).toMatchObject({
      kvBlocksTotal: 100,
      kvBlocksUsed: 50,
    });
  });

  it('ignores an unreadable num_gpu_blocks label', () => {
    const s = extract('vllm:kv_cache_usage_perc 0.5\nvllm:cache_config_info{num_gpu_blocks="None"} 1.0\n');
    expect(s.kvBlocksTotal).toBeUndefined();
    expect(s.kvBlocksUsed).toBeUndefined();
  });
});

describe('no_metrics', () => {
  it.each([
    ['an empty body', ''],
    ['an HTML error page', '<html><body><h1>502 Bad Gateway</h1></body></html>'],
    ['JSON', '{"object":"error","message":"Not Found"}'],
    ['only process metrics', 'process_cpu_seconds_total 12.5\npython_gc_objects_collected_total{generation="0"} 1\n'],
    ['only the by-reason gauge', 'vllm:num_requests_waiting_by_reason{engine="0",reason="capacity"} 3\n'],
  ])('rejects %s', (_what, body) => {
    expect(run(body)).toMatchObject({ ok: false, cause: 'no_metrics' });
  });

  it('rejects one engine read with another engine profile', () => {
    const vllm = readFixture('vllm', 'v1-dp2-generated.prom');
    expect(run(vllm, 'sglang')).toMatchObject({ ok: false, cause: 'no_metrics' });
    expect(run(vllm, 'trtllm')).toMatchObject({ ok: false, cause: 'no_metrics' });
  });
});

// Written from the names in reference/vllm-wva.md §2 and SGLang's collector.py; labels as in
// SGLang's docs example (`model_name` only on a single-rank server).
const SGLANG = `# HELP sglang:num_running_reqs The number of running requests.
# TYPE sglang:num_running_reqs gauge
sglang:num_running_reqs{model_name="meta-llama/Llama-3.1-8B-Instruct"} 7.0
# HELP sglang:num_queue_reqs The number of requests in the waiting queue.
# TYPE sglang:num_queue_reqs gauge
sglang:num_queue_reqs{model_name="meta-llama/Llama-3.1-8B-Instruct"} 2.0
# HELP sglang:token_usage The token usage.
# TYPE sglang:token_usage gauge
sglang:token_usage{model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.28
# HELP sglang:cache_hit_rate The prefix cache hit rate.
# TYPE sglang:cache_hit_rate gauge
sglang:cache_hit_rate{model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.007507552643049313
# HELP sglang:cache_config_info Information of the LLMEngine CacheConfig
# TYPE sglang:cache_config_info gauge
sglang:cache_config_info{num_pages="161721",page_size="1"} 1.0
# HELP sglang:prompt_tokens_total Number of prefill tokens processed.
# TYPE sglang:prompt_tokens_total counter
sglang:prompt_tokens_total{model_name="meta-llama/Llama-3.1-8B-Instruct"} 8.128902e+06
# HELP sglang:generation_tokens_total Number of generation tokens processed.
# TYPE sglang:generation_tokens_total counter
sglang:generation_tokens_total{model_name="meta-llama/Llama-3.1-8B-Instruct"} 7.557572e+06
# HELP sglang:num_requests_total Number of requests processed.
# TYPE sglang:num_requests_total counter
sglang:num_requests_total{model_name="meta-llama/Llama-3.1-8B-Instruct"} 4821.0
# HELP sglang:num_retracted_requests_total Total number of retracted requests.
# TYPE sglang:num_retracted_requests_total counter
sglang:num_retracted_requests_total{model_name="meta-llama/Llama-3.1-8B-Instruct"} 3.0
# HELP sglang:time_to_first_token_seconds Histogram of time to first token in seconds.
# TYPE sglang:time_to_first_token_seconds histogram
sglang:time_to_first_token_seconds_sum{model_name="meta-llama/Llama-3.1-8B-Instruct"} 1204.5
sglang:time_to_first_token_seconds_bucket{le="0.1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 100.0
sglang:time_to_first_token_seconds_bucket{le="0.2",model_name="meta-llama/Llama-3.1-8B-Instruct"} 900.0
sglang:time_to_first_token_seconds_bucket{le="0.4",model_name="meta-llama/Llama-3.1-8B-Instruct"} 4000.0
sglang:time_to_first_token_seconds_bucket{le="+Inf",model_name="meta-llama/Llama-3.1-8B-Instruct"} 4821.0
sglang:time_to_first_token_seconds_count{model_name="meta-llama/Llama-3.1-8B-Instruct"} 4821.0
# HELP sglang:inter_token_latency_seconds Histogram of inter-token latency in seconds.
# TYPE sglang:inter_token_latency_seconds histogram
sglang:inter_token_latency_seconds_sum{model_name="meta-llama/Llama-3.1-8B-Instruct"} 150000.0
sglang:inter_token_latency_seconds_bucket{le="0.002",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.0
sglang:inter_token_latency_seconds_bucket{le="0.02",model_name="meta-llama/Llama-3.1-8B-Instruct"} 7.0e+06
sglang:inter_token_latency_seconds_bucket{le="+Inf",model_name="meta-llama/Llama-3.1-8B-Instruct"} 7.557572e+06
sglang:inter_token_latency_seconds_count{model_name="meta-llama/Llama-3.1-8B-Instruct"} 7.557572e+06
# HELP sglang:e2e_request_latency_seconds Histogram of End-to-end request latency in seconds
# TYPE sglang:e2e_request_latency_seconds histogram
sglang:e2e_request_latency_seconds_bucket{le="1.0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 20.0
sglang:e2e_request_latency_seconds_bucket{le="+Inf",model_name="meta-llama/Llama-3.1-8B-Instruct"} 4821.0
sglang:e2e_request_latency_seconds_count{model_name="meta-llama/Llama-3.1-8B-Instruct"} 4821.0
sglang:e2e_request_latency_seconds_sum{model_name="meta-llama/Llama-3.1-8B-Instruct"} 40000.0
# HELP sglang:queue_time_seconds Histogram of queueing time in seconds.
# TYPE sglang:queue_time_seconds histogram
sglang:queue_time_seconds_bucket{le="0.0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1000.0
sglang:queue_time_seconds_bucket{le="0.1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 4500.0
sglang:queue_time_seconds_bucket{le="+Inf",model_name="meta-llama/Llama-3.1-8B-Instruct"} 4821.0
sglang:queue_time_seconds_count{model_name="meta-llama/Llama-3.1-8B-Instruct"} 4821.0
sglang:queue_time_seconds_sum{model_name="meta-llama/Llama-3.1-8B-Instruct"} 120.0
`;

describe('SGLang', () => {
  it('extracts queue, running, token usage, pages, counters and histograms', () => {
    const s = extract(SGLANG, 'sglang');
    expect(s.models).toEqual(['meta-llama/Llama-3.1-8B-Instruct']);
    expect(s.waiting).toBe(2);
    expect(s.running).toBe(7);
    expect(s.kvUsage).toBe(0.28);
    expect(s.kvBlocksTotal).toBe(161721);
    expect(s.kvBlocksUsed).toBeCloseTo(0.28 * 161721, 6);
    expect(s.counters).toEqual({
      promptTokens: 8128902,
      generationTokens: 7557572,
      requestSuccess: 4821,
      preemptions: 3,
    });
    expect(s.histograms.ttft).toEqual({
      bounds: [0.1, 0.2, 0.4, Infinity],
      counts: [100, 900, 4000, 4821],
      sum: 1204.5,
      count: 4821,
    });
    expect(s.histograms.itl?.count).toBe(7557572);
    expect(s.histograms.e2eLatency?.bounds).toEqual([1, Infinity]);
    expect(s.histograms.queueTime?.bounds).toEqual([0, 0.1, Infinity]);
    expect(s.histograms.requestPromptTokens).toBeUndefined();
  });

  it('sums queues over DP ranks, averages token usage, and sums the num_pages gauges', () => {
    const labels = (dp: string, tp: string): string => `{dp_rank="${dp}",engine_type="unified",model_name="glm",pp_rank="0",tp_rank="${tp}"}`;
    const text = [
      `sglang:num_queue_reqs${labels('0', '0')} 1.0`,
      `sglang:num_queue_reqs${labels('1', '2')} 4.0`,
      `sglang:num_running_reqs${labels('0', '0')} 10.0`,
      `sglang:num_running_reqs${labels('1', '2')} 12.0`,
      `sglang:token_usage${labels('0', '0')} 0.5`,
      `sglang:token_usage${labels('1', '2')} 0.7`,
      `sglang:page_size${labels('0', '0')} 64.0`,
      `sglang:num_pages${labels('0', '0')} 1000.0`,
      `sglang:num_pages${labels('1', '2')} 1000.0`,
    ].join('\n');
    const s = extract(text, 'sglang');
    expect(s).toMatchObject({ waiting: 5, running: 22, kvBlocksTotal: 2000, models: ['glm'] });
    expect(s.kvUsage).toBeCloseTo(0.6, 12);
    expect(s.kvBlocksUsed).toBeCloseTo(0.5 * 1000 + 0.7 * 1000, 9);
  });
});

const TRT_LABELS = 'engine_type="trtllm",model_name="nvidia/Llama-3.1-8B-Instruct-FP8"';
// Gauges as in reference §2 (GIE's trtllm-serve mapping); request metrics in the newer collector
// carry the `trtllm_` prefix.
const TRTLLM = `# HELP trtllm_num_requests_waiting Number of queued requests
# TYPE trtllm_num_requests_waiting gauge
trtllm_num_requests_waiting{${TRT_LABELS}} 4.0
# HELP trtllm_num_requests_running Number of active requests
# TYPE trtllm_num_requests_running gauge
trtllm_num_requests_running{${TRT_LABELS}} 16.0
# HELP trtllm_kv_cache_utilization KV cache utilization
# TYPE trtllm_kv_cache_utilization gauge
trtllm_kv_cache_utilization{${TRT_LABELS}} 0.5
# HELP trtllm_kv_cache_max_blocks Maximum KV cache blocks
# TYPE trtllm_kv_cache_max_blocks gauge
trtllm_kv_cache_max_blocks{${TRT_LABELS}} 2048.0
# HELP trtllm_kv_cache_tokens_per_block Tokens per KV cache block
# TYPE trtllm_kv_cache_tokens_per_block gauge
trtllm_kv_cache_tokens_per_block{${TRT_LABELS}} 32.0
# HELP trtllm_request_success_total Count of successfully processed requests.
# TYPE trtllm_request_success_total counter
trtllm_request_success_total{${TRT_LABELS},finished_reason="stop"} 10.0
trtllm_request_success_total{${TRT_LABELS},finished_reason="length"} 2.0
# HELP trtllm_request_success_created Count of successfully processed requests.
# TYPE trtllm_request_success_created gauge
trtllm_request_success_created{${TRT_LABELS},finished_reason="stop"} 1.7604e+09
# HELP trtllm_prompt_tokens_total Cumulative number of prompt (input) tokens processed.
# TYPE trtllm_prompt_tokens_total counter
trtllm_prompt_tokens_total{${TRT_LABELS}} 12345.0
# HELP trtllm_generation_tokens_total Cumulative number of generation (output) tokens produced.
# TYPE trtllm_generation_tokens_total counter
trtllm_generation_tokens_total{${TRT_LABELS}} 6789.0
# HELP trtllm_time_to_first_token_seconds Histogram of time to first token in seconds.
# TYPE trtllm_time_to_first_token_seconds histogram
trtllm_time_to_first_token_seconds_bucket{${TRT_LABELS},le="0.1"} 3.0
trtllm_time_to_first_token_seconds_bucket{${TRT_LABELS},le="1.0"} 11.0
trtllm_time_to_first_token_seconds_bucket{${TRT_LABELS},le="+Inf"} 12.0
trtllm_time_to_first_token_seconds_count{${TRT_LABELS}} 12.0
trtllm_time_to_first_token_seconds_sum{${TRT_LABELS}} 4.5
`;

describe('TensorRT-LLM', () => {
  it('extracts gauges, block count, counters and prefixed histograms', () => {
    const s = extract(TRTLLM, 'trtllm');
    expect(s).toMatchObject({
      models: ['nvidia/Llama-3.1-8B-Instruct-FP8'],
      waiting: 4,
      running: 16,
      kvUsage: 0.5,
      kvBlocksTotal: 2048,
      kvBlocksUsed: 1024,
    });
    expect(s.counters).toEqual({ requestSuccess: 12, promptTokens: 12345, generationTokens: 6789 });
    expect(s.histograms.ttft).toEqual({ bounds: [0.1, 1, Infinity], counts: [3, 11, 12], sum: 4.5, count: 12 });
  });

  it('reads the unprefixed request metrics of earlier trtllm-serve releases', () => {
    const text = [
      'trtllm_num_requests_waiting 0.0',
      'trtllm_num_requests_running 2.0',
      'trtllm_kv_cache_utilization 0.125',
      'request_success_total{finished_reason="stop",model_name="llama"} 7.0',
      'time_to_first_token_seconds_bucket{le="0.5",model_name="llama"} 6.0',
      'time_to_first_token_seconds_bucket{le="+Inf",model_name="llama"} 7.0',
      'time_to_first_token_seconds_count{model_name="llama"} 7.0',
      'time_to_first_token_seconds_sum{model_name="llama"} 1.25',
      'time_per_output_token_seconds_bucket{le="+Inf",model_name="llama"} 70.0',
      'e2e_request_latency_seconds_count{model_name="llama"} 7.0',
      'request_queue_time_seconds_count{model_name="llama"} 7.0',
    ].join('\n');
    const s = extract(text, 'trtllm');
    expect(s).toMatchObject({ waiting: 0, running: 2, kvUsage: 0.125, models: ['llama'] });
    expect(s.kvBlocksTotal).toBeUndefined();
    expect(s.counters).toEqual({ requestSuccess: 7 });
    expect(s.histograms.ttft).toEqual({ bounds: [0.5, Infinity], counts: [6, 7], sum: 1.25, count: 7 });
    expect(s.histograms.itl?.count).toBe(70);
    expect(s.histograms.e2eLatency).toEqual({ bounds: [], counts: [], sum: NaN, count: 7 });
    expect(s.histograms.queueTime?.count).toBe(7);
  });

  it('does not reject a model filter on gauges that carry no model_name', () => {
    const text = 'trtllm_num_requests_waiting 1.0\ntrtllm_kv_cache_utilization 0.2\n';
    expect(extract(text, 'trtllm', 'llama')).toMatchObject({ waiting: 1, kvUsage: 0.2, models: [] });
  });
});

describe('robustness (fast-check)', () => {
  const texts = VLLM_FIXTURES.map((f) => readFixture('vllm', f)).concat([SGLANG, TRTLLM]);
  const everyName = [...new Set(KINDS.flatMap((k) => [...profileFor(k).wantedSeries]))];

  /** Sample lines built to hit the extraction rules with hostile values. */
  const hostileLine = fc
    .tuple(
      fc.constantFrom(...everyName),
      fc.constantFrom(
        '',
        '{engine="0"}',
        '{engine="1",model_name="Qwen/Qwen3-0.6B"}',
        '{model_name="other"}',
        '{le="+Inf"}',
        '{le="NaN",engine="0"}',
        '{le="abc"}',
        '{le="-1e400"}',
        '{num_gpu_blocks="-5"}',
        '{num_gpu_blocks="1e400",engine="1"}',
        '{num_pages="NaN"}',
      ),
      fc.constantFrom('NaN', '+Inf', '-Inf', '-3', '1e308', '1.7976931348623157e308', '2.5', '0', '-0', '5e-324', '17'),
    )
    .map(([name, labels, value]) => `${name}${labels} ${value}`);
  const garbageLine = fc.oneof(
    hostileLine,
    fc.string({ unit: 'binary', maxLength: 80 }),
    fc.constantFrom('...', '{', '}', '"', '# EOF', '# TYPE x gauge', '\r'),
  );

  const mutated = mutatedExposition(texts, garbageLine, { truncateAfterInsert: true });

  function checkSample(s: WorkerSample): void {
    expectSaneSample(s);
    if (s.kvBlocksUsed !== undefined) expect(s.kvBlocksUsed).toBeLessThanOrEqual(s.kvBlocksTotal ?? NaN);
    for (const h of Object.values(s.histograms)) {
      expect(h.bounds.every((b, i) => !Number.isNaN(b) && (i === 0 || b > (h.bounds[i - 1] ?? NaN)))).toBe(true);
    }
  }

  let samplesChecked = 0;
  function checkText(text: string): void {
    const full = parsePrometheusText(text);
    for (const kind of KINDS) {
      const profile = profileFor(kind);
      for (const parsed of [full, parsePrometheusText(text, profile.wantedSeries)]) {
        for (const model of [undefined, 'Qwen/Qwen3-0.6B']) {
          const r = extractWorkerSample(parsed, profile, { model, at: AT });
          if (r.ok) {
            checkSample(r.sample);
            samplesChecked += 1;
          } else expect(['no_metrics', 'model_mismatch', 'implausible-value', 'invalid-sample']).toContain(r.cause);
        }
      }
    }
  }

  it('mutated fixtures never throw and never yield NaN, Inf or negative values', () => {
    samplesChecked = 0;
    fc.assert(fc.property(mutated, checkText), { numRuns: 400 });
    // Most mutated bodies still hold a vLLM worker: the sample checks ran on them.
    expect(samplesChecked).toBeGreaterThan(400);
  });

  it('arbitrary strings never throw', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 300 }),
          fc.array(garbageLine).map((lines) => lines.join('\n')),
        ),
        checkText,
      ),
      { numRuns: 300 },
    );
  });
});
