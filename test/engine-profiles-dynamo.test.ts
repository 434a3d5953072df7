/**
 * The `dynamo-http` profile against hand-written expositions of each Dynamo surface
 * (ai-dynamo/dynamo `lib/llm/src/http/service/metrics.rs`, `lib/runtime/src/metrics/prometheus_names.rs`): the frontend (2026 and the pre-2025-07 names), a
 * worker system port of the kvstats era (2025), of 2026 with data-parallel ranks, with SGLang
 * pass-through, and with Dynamo's gauges alone. Expected values are worked out by hand in comments.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { profileFor } from '../src/sources/http/engine-profiles.js';
import { extractWorkerSample } from '../src/sources/http/extract-sample.js';
import type { ExtractResult } from '../src/sources/http/profiles/profile.js';
import { parsePrometheusText } from '../src/sources/http/prometheus-text.js';
import type { CounterName, HistogramName, WorkerSample } from '../src/store/sample.js';
import { expectSaneSample, mutatedExposition } from './support/exposition-fuzz.js';
import { readFixture } from './support/fixtures.js';

const AT = 1_769_300_000_000;
const QWEN = 'Qwen/Qwen3-0.6B';
const LLAMA = 'meta-llama/Llama-3.1-8B-Instruct';

function run(text: string, model?: string, kind: 'dynamo-http' | 'vllm' = 'dynamo-http'): ExtractResult {
  const profile = profileFor(kind);
  return extractWorkerSample(parsePrometheusText(text, profile.wantedSeries), profile, { model, at: AT });
}

function extract(text: string, model?: string): WorkerSample {
  const r = run(text, model);
  if (!r.ok) throw new Error(`${r.cause}: ${r.message}`);
  return r.sample;
}

/** A 2026 frontend (`python -m dynamo.frontend`, :8000/metrics) serving two models. */
const FRONTEND_2026 = `# HELP dynamo_frontend_inflight_requests Number of inflight requests
# TYPE dynamo_frontend_inflight_requests gauge
dynamo_frontend_inflight_requests{model="${QWEN}"} 7
dynamo_frontend_inflight_requests{model="${LLAMA}"} 2
# HELP dynamo_frontend_queued_requests Number of requests in HTTP processing queue
# TYPE dynamo_frontend_queued_requests gauge
dynamo_frontend_queued_requests{model="${QWEN}"} 4
dynamo_frontend_queued_requests{model="${LLAMA}"} 0
# HELP dynamo_frontend_disconnected_clients Number of disconnected clients
# TYPE dynamo_frontend_disconnected_clients gauge
dynamo_frontend_disconnected_clients 1
# HELP dynamo_frontend_requests_total Total number of LLM requests processed
# TYPE dynamo_frontend_requests_total counter
dynamo_frontend_requests_total{endpoint="chat_completions",model="${QWEN}",request_type="stream",status="success"} 120
dynamo_frontend_requests_total{endpoint="chat_completions",model="${QWEN}",request_type="stream",status="error"} 3
dynamo_frontend_requests_total{endpoint="completions",model="${QWEN}",request_type="unary",status="success"} 30
dynamo_frontend_requests_total{endpoint="chat_completions",model="${LLAMA}",request_type="stream",status="success"} 50
# HELP dynamo_frontend_output_tokens_total Total number of output tokens generated
# TYPE dynamo_frontend_output_tokens_total counter
dynamo_frontend_output_tokens_total{model="${QWEN}"} 45000
dynamo_frontend_output_tokens_total{model="${LLAMA}"} 15000
# HELP dynamo_frontend_time_to_first_token_seconds Time to first token in seconds
# TYPE dynamo_frontend_time_to_first_token_seconds histogram
dynamo_frontend_time_to_first_token_seconds_bucket{model="${QWEN}",le="0.05"} 20
dynamo_frontend_time_to_first_token_seconds_bucket{model="${QWEN}",le="0.1"} 90
dynamo_frontend_time_to_first_token_seconds_bucket{model="${QWEN}",le="0.5"} 140
dynamo_frontend_time_to_first_token_seconds_bucket{model="${QWEN}",le="1"} 150
dynamo_frontend_time_to_first_token_seconds_bucket{model="${QWEN}",le="+Inf"} 153
dynamo_frontend_time_to_first_token_seconds_sum{model="${QWEN}"} 31.5
dynamo_frontend_time_to_first_token_seconds_count{model="${QWEN}"} 153
dynamo_frontend_time_to_first_token_seconds_bucket{model="${LLAMA}",le="0.05"} 0
dynamo_frontend_time_to_first_token_seconds_bucket{model="${LLAMA}",le="0.1"} 10
dynamo_frontend_time_to_first_token_seconds_bucket{model="${LLAMA}",le="0.5"} 45
dynamo_frontend_time_to_first_token_seconds_bucket{model="${LLAMA}",le="1"} 50
dynamo_frontend_time_to_first_token_seconds_bucket{model="${LLAMA}",le="+Inf"} 50
dynamo_frontend_time_to_first_token_seconds_sum{model="${LLAMA}"} 14.25
dynamo_frontend_time_to_first_token_seconds_count{model="${LLAMA}"} 50
# HELP dynamo_frontend_inter_token_latency_seconds Inter-token latency in seconds
# TYPE dynamo_frontend_inter_token_latency_seconds histogram
dynamo_frontend_inter_token_latency_seconds_bucket{model="${QWEN}",le="0.01"} 30000
dynamo_frontend_inter_token_latency_seconds_bucket{model="${QWEN}",le="0.025"} 44000
dynamo_frontend_inter_token_latency_seconds_bucket{model="${QWEN}",le="0.05"} 44850
dynamo_frontend_inter_token_latency_seconds_bucket{model="${QWEN}",le="+Inf"} 44850
dynamo_frontend_inter_token_latency_seconds_sum{model="${QWEN}"} 700.25
dynamo_frontend_inter_token_latency_seconds_count{model="${QWEN}"} 44850
dynamo_frontend_inter_token_latency_seconds_bucket{model="${LLAMA}",le="0.01"} 0
dynamo_frontend_inter_token_latency_seconds_bucket{model="${LLAMA}",le="0.025"} 9000
dynamo_frontend_inter_token_latency_seconds_bucket{model="${LLAMA}",le="0.05"} 14950
dynamo_frontend_inter_token_latency_seconds_bucket{model="${LLAMA}",le="+Inf"} 14950
dynamo_frontend_inter_token_latency_seconds_sum{model="${LLAMA}"} 300
dynamo_frontend_inter_token_latency_seconds_count{model="${LLAMA}"} 14950
# HELP dynamo_frontend_request_duration_seconds Duration of LLM requests
# TYPE dynamo_frontend_request_duration_seconds histogram
dynamo_frontend_request_duration_seconds_bucket{model="${QWEN}",le="1"} 10
dynamo_frontend_request_duration_seconds_bucket{model="${QWEN}",le="5"} 100
dynamo_frontend_request_duration_seconds_bucket{model="${QWEN}",le="10"} 150
dynamo_frontend_request_duration_seconds_bucket{model="${QWEN}",le="+Inf"} 153
dynamo_frontend_request_duration_seconds_sum{model="${QWEN}"} 640
dynamo_frontend_request_duration_seconds_count{model="${QWEN}"} 153
dynamo_frontend_request_duration_seconds_bucket{model="${LLAMA}",le="1"} 0
dynamo_frontend_request_duration_seconds_bucket{model="${LLAMA}",le="5"} 20
dynamo_frontend_request_duration_seconds_bucket{model="${LLAMA}",le="10"} 50
dynamo_frontend_request_duration_seconds_bucket{model="${LLAMA}",le="+Inf"} 50
dynamo_frontend_request_duration_seconds_sum{model="${LLAMA}"} 310
dynamo_frontend_request_duration_seconds_count{model="${LLAMA}"} 50
# HELP dynamo_frontend_input_sequence_tokens Input sequence length in tokens
# TYPE dynamo_frontend_input_sequence_tokens histogram
dynamo_frontend_input_sequence_tokens_bucket{model="${QWEN}",le="500"} 80
dynamo_frontend_input_sequence_tokens_bucket{model="${QWEN}",le="1000"} 140
dynamo_frontend_input_sequence_tokens_bucket{model="${QWEN}",le="2000"} 153
dynamo_frontend_input_sequence_tokens_bucket{model="${QWEN}",le="+Inf"} 153
dynamo_frontend_input_sequence_tokens_sum{model="${QWEN}"} 91800
dynamo_frontend_input_sequence_tokens_count{model="${QWEN}"} 153
dynamo_frontend_input_sequence_tokens_bucket{model="${LLAMA}",le="500"} 5
dynamo_frontend_input_sequence_tokens_bucket{model="${LLAMA}",le="1000"} 30
dynamo_frontend_input_sequence_tokens_bucket{model="${LLAMA}",le="2000"} 50
dynamo_frontend_input_sequence_tokens_bucket{model="${LLAMA}",le="+Inf"} 50
dynamo_frontend_input_sequence_tokens_sum{model="${LLAMA}"} 52000
dynamo_frontend_input_sequence_tokens_count{model="${LLAMA}"} 50
# HELP dynamo_frontend_output_sequence_tokens Output sequence length in tokens
# TYPE dynamo_frontend_output_sequence_tokens histogram
dynamo_frontend_output_sequence_tokens_bucket{model="${QWEN}",le="100"} 50
dynamo_frontend_output_sequence_tokens_bucket{model="${QWEN}",le="500"} 150
dynamo_frontend_output_sequence_tokens_bucket{model="${QWEN}",le="+Inf"} 153
dynamo_frontend_output_sequence_tokens_sum{model="${QWEN}"} 45000
dynamo_frontend_output_sequence_tokens_count{model="${QWEN}"} 153
dynamo_frontend_output_sequence_tokens_bucket{model="${LLAMA}",le="100"} 0
dynamo_frontend_output_sequence_tokens_bucket{model="${LLAMA}",le="500"} 40
dynamo_frontend_output_sequence_tokens_bucket{model="${LLAMA}",le="+Inf"} 50
dynamo_frontend_output_sequence_tokens_sum{model="${LLAMA}"} 15000
dynamo_frontend_output_sequence_tokens_count{model="${LLAMA}"} 50
# HELP dynamo_frontend_model_total_kv_blocks Total KV blocks available for a worker serving the model
# TYPE dynamo_frontend_model_total_kv_blocks gauge
dynamo_frontend_model_total_kv_blocks{model="${QWEN}"} 16384
# HELP dynamo_frontend_worker_active_decode_blocks Active decode blocks per worker
# TYPE dynamo_frontend_worker_active_decode_blocks gauge
dynamo_frontend_worker_active_decode_blocks{dp_rank="0",worker_id="7587888657184927289",worker_type="decode"} 180
# HELP dynamo_component_router_requests_total Requests routed
# TYPE dynamo_component_router_requests_total counter
dynamo_component_router_requests_total{dynamo_namespace="dynamo"} 203
`;

/** The same frontend before #2176 (2025-07-31), or with the NIM prefix: no queue gauge yet. */
const FRONTEND_NV_LLM = `# HELP nv_llm_http_service_inflight_requests Number of inflight requests
# TYPE nv_llm_http_service_inflight_requests gauge
nv_llm_http_service_inflight_requests{model="${LLAMA}"} 3
# HELP nv_llm_http_service_requests_total Total number of LLM requests processed
# TYPE nv_llm_http_service_requests_total counter
nv_llm_http_service_requests_total{endpoint="chat_completions",model="${LLAMA}",request_type="stream",status="success"} 41
nv_llm_http_service_requests_total{endpoint="chat_completions",model="${LLAMA}",request_type="stream",status="error"} 9
# HELP nv_llm_http_service_request_duration_seconds Duration of LLM requests
# TYPE nv_llm_http_service_request_duration_seconds histogram
nv_llm_http_service_request_duration_seconds_bucket{model="${LLAMA}",le="1"} 5
nv_llm_http_service_request_duration_seconds_bucket{model="${LLAMA}",le="2"} 30
nv_llm_http_service_request_duration_seconds_bucket{model="${LLAMA}",le="4"} 48
nv_llm_http_service_request_duration_seconds_bucket{model="${LLAMA}",le="+Inf"} 50
nv_llm_http_service_request_duration_seconds_sum{model="${LLAMA}"} 97.5
nv_llm_http_service_request_duration_seconds_count{model="${LLAMA}"} 50
`;

const WORKER_LABELS = `dynamo_component="backend",dynamo_endpoint="load_metrics",dynamo_namespace="dynamo",model="${QWEN}"`;

/** A vLLM worker's system port in the kvstats era (2025-08 → 2026-01), with vLLM's own series. */
const WORKER_2025 = `# HELP dynamo_component_inflight_requests Number of requests currently being processed
# TYPE dynamo_component_inflight_requests gauge
dynamo_component_inflight_requests{dynamo_component="backend",dynamo_endpoint="generate",dynamo_namespace="dynamo",model="${QWEN}"} 5
dynamo_component_inflight_requests{${WORKER_LABELS}} 0
# HELP dynamo_component_requests_total Total number of requests processed
# TYPE dynamo_component_requests_total counter
dynamo_component_requests_total{dynamo_component="backend",dynamo_endpoint="generate",dynamo_namespace="dynamo",model="${QWEN}"} 311
# HELP dynamo_component_kvstats_active_blocks Number of active KV cache blocks
# TYPE dynamo_component_kvstats_active_blocks gauge
dynamo_component_kvstats_active_blocks{${WORKER_LABELS}} 120
# HELP dynamo_component_kvstats_total_blocks Total number of KV cache blocks
# TYPE dynamo_component_kvstats_total_blocks gauge
dynamo_component_kvstats_total_blocks{${WORKER_LABELS}} 59064
# HELP dynamo_component_kvstats_gpu_cache_usage_percent GPU cache usage as a percentage (0.0-1.0)
# TYPE dynamo_component_kvstats_gpu_cache_usage_percent gauge
dynamo_component_kvstats_gpu_cache_usage_percent{${WORKER_LABELS}} 0.0020316
# HELP dynamo_component_kvstats_gpu_prefix_cache_hit_rate GPU prefix cache hit rate (0.0-1.0)
# TYPE dynamo_component_kvstats_gpu_prefix_cache_hit_rate gauge
dynamo_component_kvstats_gpu_prefix_cache_hit_rate{${WORKER_LABELS}} 0.25
# HELP dynamo_component_uptime_seconds Total uptime of the DistributedRuntime in seconds
# TYPE dynamo_component_uptime_seconds gauge
dynamo_component_uptime_seconds 812.4
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="${QWEN}"} 3.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="${QWEN}"} 1.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="${QWEN}"} 0.0020316
# HELP vllm:cache_config_info Information of the LLMEngine CacheConfig
# TYPE vllm:cache_config_info gauge
vllm:cache_config_info{block_size="16",cache_dtype="auto",enable_prefix_caching="True",engine="0",gpu_memory_utilization="0.9",num_gpu_blocks="59064"} 1.0
# HELP vllm:prompt_tokens_total Number of prefill tokens processed.
# TYPE vllm:prompt_tokens_total counter
vllm:prompt_tokens_total{engine="0",model_name="${QWEN}"} 150231.0
# HELP vllm:generation_tokens_total Number of generation tokens processed.
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{engine="0",model_name="${QWEN}"} 40211.0
# HELP vllm:request_success_total Count of successfully processed requests.
# TYPE vllm:request_success_total counter
vllm:request_success_total{engine="0",finished_reason="stop",model_name="${QWEN}"} 300.0
vllm:request_success_total{engine="0",finished_reason="length",model_name="${QWEN}"} 8.0
vllm:request_success_total{engine="0",finished_reason="abort",model_name="${QWEN}"} 0.0
# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_sum{engine="0",model_name="${QWEN}"} 40.5
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.1",model_name="${QWEN}"} 100.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.5",model_name="${QWEN}"} 290.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="${QWEN}"} 308.0
vllm:time_to_first_token_seconds_count{engine="0",model_name="${QWEN}"} 308.0
`;

const rank = (dp: number) => `dp_rank="${dp}",dynamo_component="backend",model="${QWEN}"`;

/** A 2026 vLLM worker's system port, two data-parallel ranks: Dynamo's KV gauges per dp_rank. */
const WORKER_2026_DP2 = `# HELP dynamo_component_total_blocks Total number of KV cache blocks
# TYPE dynamo_component_total_blocks gauge
dynamo_component_total_blocks{${rank(0)}} 1000
dynamo_component_total_blocks{${rank(1)}} 1000
# HELP dynamo_component_gpu_cache_usage_percent GPU cache usage (0.0-1.0)
# TYPE dynamo_component_gpu_cache_usage_percent gauge
dynamo_component_gpu_cache_usage_percent{${rank(0)}} 0.5
dynamo_component_gpu_cache_usage_percent{${rank(1)}} 0.25
# HELP dynamo_component_model_load_time_seconds Model load time in seconds
# TYPE dynamo_component_model_load_time_seconds gauge
dynamo_component_model_load_time_seconds{dynamo_component="backend",model="${QWEN}"} 42.7
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="${QWEN}"} 10.0
vllm:num_requests_running{engine="1",model_name="${QWEN}"} 7.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="${QWEN}"} 3.0
vllm:num_requests_waiting{engine="1",model_name="${QWEN}"} 1.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="${QWEN}"} 0.49
vllm:kv_cache_usage_perc{engine="1",model_name="${QWEN}"} 0.26
# HELP vllm:cache_config_info Information of the LLMEngine CacheConfig
# TYPE vllm:cache_config_info gauge
vllm:cache_config_info{block_size="16",engine="0",num_gpu_blocks="1000"} 1.0
vllm:cache_config_info{block_size="16",engine="1",num_gpu_blocks="1000"} 1.0
`;

/** A 2026 SGLang decode worker: one rank, SGLang's own gauges passed through. */
const WORKER_2026_SGLANG = `# TYPE dynamo_component_total_blocks gauge
dynamo_component_total_blocks{dp_rank="0",dynamo_component="decode",model="${QWEN}"} 8192
# TYPE dynamo_component_gpu_cache_usage_percent gauge
dynamo_component_gpu_cache_usage_percent{dp_rank="0",dynamo_component="decode",model="${QWEN}"} 0.125
# TYPE sglang:num_running_reqs gauge
sglang:num_running_reqs{engine_type="unified",model_name="${QWEN}",pp_rank="0",tp_rank="0"} 12.0
# TYPE sglang:num_queue_reqs gauge
sglang:num_queue_reqs{engine_type="unified",model_name="${QWEN}",pp_rank="0",tp_rank="0"} 2.0
# TYPE sglang:token_usage gauge
sglang:token_usage{engine_type="unified",model_name="${QWEN}",pp_rank="0",tp_rank="0"} 0.125
# TYPE sglang:num_requests_total counter
sglang:num_requests_total{model_name="${QWEN}"} 77.0
`;

/** A 2026 worker whose engine metrics are not passed through: only Dynamo's own gauges. */
const WORKER_2026_BARE = `# TYPE dynamo_component_inflight_requests gauge
dynamo_component_inflight_requests{dynamo_component="tensorrt_llm",dynamo_endpoint="generate",dynamo_namespace="dynamo"} 6
dynamo_component_inflight_requests{dynamo_component="tensorrt_llm",dynamo_endpoint="clear_kv_blocks",dynamo_namespace="dynamo"} 0
# TYPE dynamo_component_total_blocks gauge
dynamo_component_total_blocks{dp_rank="0",dynamo_component="tensorrt_llm"} 4096
# TYPE dynamo_component_gpu_cache_usage_percent gauge
dynamo_component_gpu_cache_usage_percent{dp_rank="0",dynamo_component="tensorrt_llm"} 0.75
`;

const BODIES = [FRONTEND_2026, FRONTEND_NV_LLM, WORKER_2025, WORKER_2026_DP2, WORKER_2026_SGLANG, WORKER_2026_BARE];

describe('dynamo-http profile', () => {
  it('reuses the engines’ candidate lists after its own names, and reads their series', () => {
    const dynamo = profileFor('dynamo-http');
    for (const kind of ['vllm', 'sglang', 'trtllm'] as const) {
      const engine = profileFor(kind);
      for (const name of [...engine.waiting, ...engine.running, ...engine.kvUsage]) expect(dynamo.wantedSeries.has(name)).toBe(true);
      for (const [name, list] of Object.entries(engine.counters)) for (const n of list) expect(dynamo.counters[name as CounterName]).toContain(n);
      for (const [name, list] of Object.entries(engine.histograms)) for (const n of list) expect(dynamo.histograms[name as HistogramName]).toContain(n);
    }
    expect(dynamo.waiting.slice(0, 2)).toEqual(['dynamo_frontend_queued_requests', 'nv_llm_http_service_queued_requests']);
    expect(dynamo.kvUsage.slice(0, 2)).toEqual(['dynamo_component_gpu_cache_usage_percent', 'dynamo_component_kvstats_gpu_cache_usage_percent']);
    // A label matcher is read by the parser as its plain series name.
    expect(dynamo.wantedSeries.has('dynamo_frontend_requests_total')).toBe(true);
    expect([...dynamo.wantedSeries].some((n) => n.includes('{') || n.endsWith('_created'))).toBe(false);
  });

  it('frontend (2026): queue, in-flight, successes only, output tokens, histograms merged over models', () => {
    const s = extract(FRONTEND_2026);
    expect(s.models).toEqual([QWEN, LLAMA]);
    expect(s.waiting).toBe(4); // 4 + 0
    expect(s.running).toBe(9); // 7 + 2
    // No KV on a frontend: the router's per-worker gauges and the model's configured block count
    // describe other processes, not this one.
    expect(s.kvUsage).toBeUndefined();
    expect(s.kvBlocksUsed).toBeUndefined();
    expect(s.kvBlocksTotal).toBeUndefined();
    expect(s.counters).toEqual({
      requestSuccess: 200, // 120 + 30 + 50; the 3 errors are not successes
      generationTokens: 60000, // output_tokens_total 45000 + 15000
      promptTokens: 143800, // input_sequence_tokens_sum 91800 + 52000
    });
    expect(s.histograms.ttft).toEqual({ bounds: [0.05, 0.1, 0.5, 1, Infinity], counts: [20, 100, 185, 200, 203], sum: 45.75, count: 203 });
    expect(s.histograms.itl).toEqual({ bounds: [0.01, 0.025, 0.05, Infinity], counts: [30000, 53000, 59800, 59800], sum: 1000.25, count: 59800 });
    expect(s.histograms.e2eLatency).toEqual({ bounds: [1, 5, 10, Infinity], counts: [10, 120, 200, 203], sum: 950, count: 203 });
    expect(s.histograms.requestPromptTokens).toEqual({ bounds: [500, 1000, 2000, Infinity], counts: [85, 170, 203, 203], sum: 143800, count: 203 });
    expect(s.histograms.requestGenerationTokens).toEqual({ bounds: [100, 500, Infinity], counts: [50, 190, 203], sum: 60000, count: 203 });
    expect(s.histograms.queueTime).toBeUndefined();
  });

  it('frontend (2026): the model filter reads the `model` label', () => {
    const s = extract(FRONTEND_2026, QWEN);
    expect(s.models).toEqual([QWEN]);
    expect(s).toMatchObject({ waiting: 4, running: 7, counters: { requestSuccess: 150, generationTokens: 45000, promptTokens: 91800 } });
    expect(s.histograms.ttft).toEqual({ bounds: [0.05, 0.1, 0.5, 1, Infinity], counts: [20, 90, 140, 150, 153], sum: 31.5, count: 153 });
    const llama = extract(FRONTEND_2026, LLAMA);
    expect(llama).toMatchObject({ waiting: 0, running: 2, counters: { requestSuccess: 50 } });
    const other = run(FRONTEND_2026, 'mistralai/Mistral-7B');
    expect(other).toMatchObject({ ok: false, cause: 'model_mismatch' });
    if (!other.ok) expect(other.message).toContain(QWEN);
  });

  it('frontend under the nv_llm_http_service prefix (before 2025-07, or the NIM override)', () => {
    const s = extract(FRONTEND_NV_LLM);
    expect(s.models).toEqual([LLAMA]);
    expect(s.running).toBe(3);
    expect(s.waiting).toBeUndefined(); // no queue gauge in that release: unknown, not 0
    expect(s.counters.requestSuccess).toBe(41); // the 9 errors are left out
    expect(s.histograms.e2eLatency).toEqual({ bounds: [1, 2, 4, Infinity], counts: [5, 30, 48, 50], sum: 97.5, count: 50 });
  });

  it('finished requests come from request_duration when requests_total has no status label', () => {
    const text = `dynamo_frontend_inflight_requests{model="m"} 1
dynamo_frontend_requests_total{model="m"} 10000
dynamo_frontend_request_duration_seconds_sum{model="m"} 12000
dynamo_frontend_request_duration_seconds_count{model="m"} 9990
`;
    expect(extract(text).counters.requestSuccess).toBe(9990);
  });

  it('worker system port (2025 kvstats): exact blocks in use, Dynamo KV gauge, engine queue and counters', () => {
    const s = extract(WORKER_2025);
    expect(s.models).toEqual([QWEN]);
    expect(s.waiting).toBe(1); // vllm:num_requests_waiting
    expect(s.running).toBe(3); // vLLM's running count wins over dynamo_component_inflight_requests (5)
    expect(s.kvUsage).toBe(0.0020316);
    expect(s.kvBlocksUsed).toBe(120); // kvstats_active_blocks, not 0.0020316 × 59064 = 119.99
    expect(s.kvBlocksTotal).toBe(59064);
    expect(s.counters).toEqual({ promptTokens: 150231, generationTokens: 40211, requestSuccess: 308 });
    expect(s.histograms.ttft).toEqual({ bounds: [0.1, 0.5, Infinity], counts: [100, 290, 308], sum: 40.5, count: 308 });
    expect(extract(WORKER_2025, QWEN).kvBlocksUsed).toBe(120);
    expect(run(WORKER_2025, LLAMA)).toMatchObject({ ok: false, cause: 'model_mismatch' });
  });

  it('worker system port (2026, two dp ranks): Dynamo KV gauges per dp_rank, engine queue summed', () => {
    const s = extract(WORKER_2026_DP2);
    expect(s.waiting).toBe(4); // 3 + 1
    expect(s.running).toBe(17); // 10 + 7
    expect(s.kvUsage).toBeCloseTo(0.375, 12); // Dynamo's (0.5 + 0.25) / 2, preferred to vLLM's 0.49 / 0.26
    expect(s.kvBlocksTotal).toBe(2000); // dynamo_component_total_blocks 1000 + 1000
    expect(s.kvBlocksUsed).toBeCloseTo(750, 9); // 0.5 × 1000 + 0.25 × 1000
  });

  it('pairs KV usage and block counts by dp_rank', () => {
    const text = `dynamo_component_total_blocks{dp_rank="0"} 1000
dynamo_component_total_blocks{dp_rank="1"} 3000
dynamo_component_gpu_cache_usage_percent{dp_rank="1"} 0.25
dynamo_component_gpu_cache_usage_percent{dp_rank="0"} 0.5
`;
    const s = extract(text);
    expect(s.kvBlocksTotal).toBe(4000);
    expect(s.kvBlocksUsed).toBe(1250); // 0.5 × 1000 + 0.25 × 3000, not 0.375 × 4000 = 1500
    expect(s.kvUsage).toBe(0.375);
  });

  it('worker system port (2026, SGLang): SGLang queue and running, Dynamo KV', () => {
    const s = extract(WORKER_2026_SGLANG);
    expect(s).toMatchObject({ models: [QWEN], waiting: 2, running: 12, kvUsage: 0.125, kvBlocksTotal: 8192, kvBlocksUsed: 1024 });
    expect(s.counters).toEqual({ requestSuccess: 77 });
  });

  it('worker system port with Dynamo gauges only: running from the work handler, queue unknown', () => {
    const s = extract(WORKER_2026_BARE);
    expect(s).toMatchObject({ models: [], running: 6, kvUsage: 0.75, kvBlocksTotal: 4096, kvBlocksUsed: 3072 });
    expect(s.waiting).toBeUndefined();
    // Without any model label, a model filter cannot exclude the worker.
    expect(extract(WORKER_2026_BARE, QWEN).kvUsage).toBe(0.75);
  });

  it('derives KV usage from blocks when no usage gauge is exposed; more blocks in use than exist is an invalid sample', () => {
    expect(extract('dynamo_component_kvstats_active_blocks 300\ndynamo_component_kvstats_total_blocks 1200\n')).toMatchObject({
      kvUsage: 0.25,
      kvBlocksUsed: 300,
      kvBlocksTotal: 1200,
    });
    // Blocks in use without a capacity still serve load_avg; usage stays unknown.
    const noTotal = extract('dynamo_component_kvstats_active_blocks 300\n');
    expect(noTotal.kvBlocksUsed).toBe(300);
    expect(noTotal.kvBlocksTotal).toBeUndefined();
    expect(noTotal.kvUsage).toBeUndefined();
    expect(run('dynamo_component_active_blocks 9000\ndynamo_component_total_blocks 8192\n')).toEqual({
      ok: false,
      cause: 'invalid-sample',
      message: '9000 KV blocks in use exceed the 8192 the worker has',
    });
  });

  it('reads a bare engine exposition exactly as that engine’s profile does', () => {
    for (const fixture of ['v1-dp2-generated.prom', 'v1-0.10-engine-created.prom', 'v0-aibrix-docs.prom']) {
      const text = readFixture('vllm', fixture);
      expect(run(text), fixture).toEqual(run(text, undefined, 'vllm'));
    }
  });

  it('rejects a body without any Dynamo or engine load gauge', () => {
    const r = run('# TYPE dynamo_component_uptime_seconds gauge\ndynamo_component_uptime_seconds 12\ndynamo_component_requests_total 3\n');
    expect(r).toMatchObject({ ok: false, cause: 'no_metrics' });
    if (!r.ok) expect(r.message).toMatch(/^no dynamo-http load gauge \(dynamo_frontend_queued_requests, /);
    expect(run('<html>502 Bad Gateway</html>')).toMatchObject({ ok: false, cause: 'no_metrics' });
  });
});

describe('dynamo-http robustness (fast-check)', () => {
  const profile = profileFor('dynamo-http');
  const names = [...profile.wantedSeries];
  const hostileLine = fc
    .tuple(
      fc.constantFrom(...names),
      fc.constantFrom(
        '',
        '{dp_rank="0"}',
        '{dp_rank="1",model="m"}',
        `{model="${QWEN}"}`,
        '{le="+Inf"}',
        '{le="NaN"}',
        '{status="success"}',
        '{engine="0",dp_rank="x"}',
      ),
      fc.constantFrom('NaN', '+Inf', '-Inf', '-3', '1e308', '2.5', '0', '-0', '17', '0.5'),
    )
    .map(([name, labels, value]) => `${name}${labels} ${value}`);
  const garbageLine = fc.oneof(hostileLine, fc.string({ unit: 'binary', maxLength: 60 }), fc.constantFrom('{', '}', '"', '# EOF', '\r'));
  const mutated = mutatedExposition(BODIES, garbageLine);

  let samplesChecked = 0;
  function check(text: string): void {
    for (const parsed of [parsePrometheusText(text), parsePrometheusText(text, profile.wantedSeries)]) {
      for (const model of [undefined, QWEN]) {
        const r = extractWorkerSample(parsed, profile, { model, at: AT });
        if (!r.ok) {
          expect(['no_metrics', 'model_mismatch', 'implausible-value', 'invalid-sample']).toContain(r.cause);
          continue;
        }
        const s = r.sample;
        expectSaneSample(s);
        if (s.kvBlocksUsed !== undefined && s.kvBlocksTotal !== undefined) expect(s.kvBlocksUsed).toBeLessThanOrEqual(s.kvBlocksTotal);
        samplesChecked += 1;
      }
    }
  }

  it('mutated Dynamo bodies never throw and never yield NaN, Inf or negative values', () => {
    samplesChecked = 0;
    fc.assert(fc.property(mutated, check), { numRuns: 400 });
    // Most mutated bodies are still a Dynamo surface: the sample checks ran on them.
    expect(samplesChecked).toBeGreaterThan(400);
  });
});
