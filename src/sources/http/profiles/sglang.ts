/** SGLang's names: sgl-project/sglang `python/sglang/srt/metrics/collector.py`. */
import { makeProfile } from './profile.js';

export const SGLANG = makeProfile({
  kind: 'sglang',
  waiting: ['sglang:num_queue_reqs'],
  running: ['sglang:num_running_reqs'],
  kvUsage: ['sglang:token_usage'],
  // Older releases carry the page count as a label of cache_config_info; newer ones also
  // export it as its own gauge.
  blocks: [
    { from: 'infoLabel', series: 'sglang:cache_config_info', label: 'num_pages' },
    { from: 'gauge', series: 'sglang:num_pages' },
  ],
  counters: {
    promptTokens: ['sglang:prompt_tokens_total'],
    generationTokens: ['sglang:generation_tokens_total'],
    // Incremented once per finished request (TokenizerMetricsCollector.observe_one_finished_request).
    requestSuccess: ['sglang:num_requests_total'],
    // A retraction sends a running request back to the queue for lack of KV: a preemption.
    preemptions: ['sglang:num_retracted_requests_total'],
  },
  histograms: {
    ttft: ['sglang:time_to_first_token_seconds'],
    itl: ['sglang:inter_token_latency_seconds'],
    e2eLatency: ['sglang:e2e_request_latency_seconds'],
    queueTime: ['sglang:queue_time_seconds'],
    // Only with --collect-tokens-histogram.
    requestPromptTokens: ['sglang:prompt_tokens_histogram'],
    requestGenerationTokens: ['sglang:generation_tokens_histogram'],
  },
});
