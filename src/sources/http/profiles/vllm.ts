/**
 * vLLM's names: V1 `vllm/v1/metrics/loggers.py` (PrometheusStatLogger, labels `model_name` and
 * `engine`) and V0 `vllm/engine/metrics.py` (vllm-project/vllm), both still in the field.
 */
import { makeProfile } from './profile.js';

export const VLLM = makeProfile({
  kind: 'vllm',
  waiting: ['vllm:num_requests_waiting'],
  running: ['vllm:num_requests_running'],
  // gpu_cache_usage_perc: deprecated 0.10, removed 0.12; both are exposed side by side in 0.10.
  kvUsage: ['vllm:kv_cache_usage_perc', 'vllm:gpu_cache_usage_perc'],
  // KV capacity in tokens = num_gpu_blocks × block_size, as llm-d WVA V2 reads it
  // (internal/engines/analyzers/saturation_v2/analyzer.go, TotalKvCapacityTokens).
  blocks: [{ from: 'infoLabel', series: 'vllm:cache_config_info', label: 'num_gpu_blocks', sizeLabel: 'block_size' }],
  counters: {
    promptTokens: ['vllm:prompt_tokens_total'],
    generationTokens: ['vllm:generation_tokens_total'],
    requestSuccess: ['vllm:request_success_total'],
    preemptions: ['vllm:num_preemptions_total'],
  },
  histograms: {
    ttft: ['vllm:time_to_first_token_seconds'],
    // time_per_output_token_seconds: renamed in 0.11, hidden in 0.12.
    itl: ['vllm:inter_token_latency_seconds', 'vllm:time_per_output_token_seconds'],
    e2eLatency: ['vllm:e2e_request_latency_seconds'],
    // time_in_queue_requests: the V0 duplicate of the queue-time histogram.
    queueTime: ['vllm:request_queue_time_seconds', 'vllm:time_in_queue_requests'],
    requestPromptTokens: ['vllm:request_prompt_tokens'],
    requestGenerationTokens: ['vllm:request_generation_tokens'],
  },
});
