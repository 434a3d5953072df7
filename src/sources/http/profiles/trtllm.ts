/** trtllm-serve's names: NVIDIA/TensorRT-LLM `tensorrt_llm/metrics/collector.py`. */
import { makeProfile } from './profile.js';

export const TRTLLM = makeProfile({
  kind: 'trtllm',
  waiting: ['trtllm_num_requests_waiting'],
  running: ['trtllm_num_requests_running'],
  kvUsage: ['trtllm_kv_cache_utilization'],
  blocks: [{ from: 'gauge', series: 'trtllm_kv_cache_max_blocks' }],
  // Earlier trtllm-serve collectors wrote request metrics without the `trtllm_` prefix.
  counters: {
    promptTokens: ['trtllm_prompt_tokens_total'],
    generationTokens: ['trtllm_generation_tokens_total'],
    requestSuccess: ['trtllm_request_success_total', 'request_success_total'],
  },
  histograms: {
    ttft: ['trtllm_time_to_first_token_seconds', 'time_to_first_token_seconds'],
    itl: ['trtllm_time_per_output_token_seconds', 'time_per_output_token_seconds'],
    e2eLatency: ['trtllm_e2e_request_latency_seconds', 'e2e_request_latency_seconds'],
    queueTime: ['trtllm_request_queue_time_seconds', 'request_queue_time_seconds'],
  },
});
