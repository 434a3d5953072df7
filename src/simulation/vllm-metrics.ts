/**
 * The metrics of one simulated vLLM replica, kept as vLLM keeps them — the gauges, counters and
 * histograms of vLLM V1's PrometheusStatLogger (vllm-project/vllm `vllm/v1/metrics/loggers.py`),
 * with its names, `engine`/`model_name` labels and bucket bounds — and rendered as the Prometheus
 * text vLLM's `/metrics` serves (prometheus_client's layout). The simulator's scaler reads them
 * through the same parser and vLLM profile as production.
 */
import { build125Buckets, VLLM_ITL_BUCKETS, VLLM_REQUEST_LATENCY_BUCKETS, VLLM_TTFT_BUCKETS } from './vllm-buckets.js';

/** Observations per bucket (not cumulative); the last bucket is +Inf. */
export class BucketHistogram {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** `weight` observations of `value` (Prometheus `le`: the first bound ≥ value). */
  observe(value: number, weight = 1): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    this.counts[i] = (this.counts[i] as number) + weight;
    this.sum += value * weight;
    this.count += weight;
  }
}

export const HISTOGRAMS = ['ttft', 'itl', 'e2e', 'queueTime', 'promptTokens', 'generationTokens'] as const;
export type SimHistogram = (typeof HISTOGRAMS)[number];

/** Name and help text of each series, vLLM's own. */
const HISTOGRAM_SERIES: Readonly<Record<SimHistogram, { name: string; help: string }>> = {
  ttft: { name: 'vllm:time_to_first_token_seconds', help: 'Histogram of time to first token in seconds.' },
  itl: { name: 'vllm:inter_token_latency_seconds', help: 'Histogram of inter-token latency in seconds.' },
  e2e: { name: 'vllm:e2e_request_latency_seconds', help: 'Histogram of e2e request latency in seconds.' },
  queueTime: { name: 'vllm:request_queue_time_seconds', help: 'Histogram of time spent in WAITING phase for request.' },
  promptTokens: { name: 'vllm:request_prompt_tokens', help: 'Number of prefill tokens processed.' },
  generationTokens: { name: 'vllm:request_generation_tokens', help: 'Number of generation tokens processed.' },
};

export class VllmMetrics {
  waiting = 0;
  running = 0;
  kvUsage = 0;
  promptTokens = 0;
  generationTokens = 0;
  preemptions = 0;
  /** request_success_total by finished_reason. */
  finishedLength = 0;
  readonly histograms: Readonly<Record<SimHistogram, BucketHistogram>>;
  private readonly labels: string;

  constructor(
    readonly model: string,
    readonly numGpuBlocks: number,
    readonly blockSize: number,
    maxModelLen: number,
  ) {
    const tokenBuckets = build125Buckets(maxModelLen);
    this.histograms = {
      ttft: new BucketHistogram(VLLM_TTFT_BUCKETS),
      itl: new BucketHistogram(VLLM_ITL_BUCKETS),
      e2e: new BucketHistogram(VLLM_REQUEST_LATENCY_BUCKETS),
      queueTime: new BucketHistogram(VLLM_REQUEST_LATENCY_BUCKETS),
      promptTokens: new BucketHistogram(tokenBuckets),
      generationTokens: new BucketHistogram(tokenBuckets),
    };
    this.labels = `engine="0",model_name=${quote(model)}`;
  }

  /** The exposition `/metrics` serves now. */
  exposition(): string {
    const l = this.labels;
    const out: string[] = [];
    const gauge = (name: string, help: string, value: number) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name}{${l}} ${num(value)}`);
    const counter = (base: string, help: string, series: [string, number][]) => {
      out.push(`# HELP ${base} ${help}`, `# TYPE ${base} counter`);
      for (const [labels, value] of series) out.push(`${base}_total{${labels}} ${num(value)}`);
    };
    gauge('vllm:num_requests_running', 'Number of requests in model execution batches.', this.running);
    gauge('vllm:num_requests_waiting', 'Number of requests waiting to be processed.', this.waiting);
    gauge('vllm:kv_cache_usage_perc', 'KV-cache usage. 1 means 100 percent usage.', this.kvUsage);
    out.push(
      '# HELP vllm:cache_config_info Information of the LLMEngine CacheConfig',
      '# TYPE vllm:cache_config_info gauge',
      `vllm:cache_config_info{block_size="${this.blockSize}",cache_dtype="auto",enable_prefix_caching="False",engine="0",gpu_memory_utilization="0.9",` +
        `num_gpu_blocks="${this.numGpuBlocks}"} 1.0`,
    );
    counter('vllm:num_preemptions', 'Cumulative number of preemption from the engine.', [[l, this.preemptions]]);
    counter('vllm:prompt_tokens', 'Number of prefill tokens processed.', [[l, this.promptTokens]]);
    counter('vllm:generation_tokens', 'Number of generation tokens processed.', [[l, this.generationTokens]]);
    const reason = (r: string) => `engine="0",finished_reason="${r}",model_name=${quote(this.model)}`;
    counter('vllm:request_success', 'Count of successfully processed requests.', [
      [reason('stop'), 0],
      [reason('length'), this.finishedLength],
      [reason('abort'), 0],
    ]);
    for (const key of HISTOGRAMS) {
      const { name, help } = HISTOGRAM_SERIES[key];
      const h = this.histograms[key];
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
      let cumulative = 0;
      for (let i = 0; i <= h.bounds.length; i++) {
        cumulative += h.counts[i] as number;
        const le = i < h.bounds.length ? num(h.bounds[i] as number) : '+Inf';
        out.push(`${name}_bucket{${l},le="${le}"} ${num(cumulative)}`);
      }
      out.push(`${name}_count{${l}} ${num(h.count)}`, `${name}_sum{${l}} ${num(h.sum)}`);
    }
    out.push('');
    return out.join('\n');
  }
}

/** prometheus_client's float format: whole numbers as `3.0`, others in full. */
function num(v: number): string {
  return Number.isInteger(v) ? v.toFixed(1) : String(v);
}

function quote(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}
