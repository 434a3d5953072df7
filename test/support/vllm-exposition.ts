/** A minimal vLLM V1 exposition (one engine): the three gauges the load signals read. */
export function vllmGauges(load: { waiting: number; running?: number; kv?: number }): string {
  const labels = '{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"}';
  return [
    '# TYPE vllm:num_requests_running gauge',
    `vllm:num_requests_running${labels} ${(load.running ?? 4).toFixed(1)}`,
    '# TYPE vllm:num_requests_waiting gauge',
    `vllm:num_requests_waiting${labels} ${load.waiting.toFixed(1)}`,
    '# TYPE vllm:kv_cache_usage_perc gauge',
    `vllm:kv_cache_usage_perc${labels} ${load.kv ?? 0.3}`,
    '',
  ].join('\n');
}
