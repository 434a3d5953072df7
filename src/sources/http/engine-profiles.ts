/**
 * Which series each inference engine exposes for each concept, and how a parsed `/metrics` body
 * becomes one WorkerSample.
 *
 * Names come from /work/shared/reference/vllm-wva.md §1–2 and the engines' collectors. Every
 * concept lists candidate names, preferred first: engines rename metrics between releases and a
 * fleet runs several releases at once.
 */
import type {
  CounterName,
  CumulativeHistogram,
  HistogramName,
  WorkerSample,
} from '../../store/sample.js';
import { parseSampleValue, type ParsedExposition, type Series } from './prometheus-text.js';

export type EngineKind = 'vllm' | 'sglang' | 'trtllm';

/** Where a worker's KV block (page) count comes from. */
export type BlockSource =
  /** An info-style gauge (value 1) carrying the count in a label. */
  | { readonly from: 'infoLabel'; readonly series: string; readonly label: string }
  /** A plain gauge whose value is the count. */
  | { readonly from: 'gauge'; readonly series: string };

export interface EngineProfile {
  readonly kind: EngineKind;
  /** Every series name extraction reads; pass it to `parsePrometheusText` as `wanted`. */
  readonly wantedSeries: ReadonlySet<string>;
  readonly waiting: readonly string[];
  readonly running: readonly string[];
  /** KV-cache usage as a 0..1 fraction. */
  readonly kvUsage: readonly string[];
  readonly blocks: readonly BlockSource[];
  /** Counter series names as exposed (with `_total`). */
  readonly counters: Readonly<Partial<Record<CounterName, readonly string[]>>>;
  /** Histogram base names; `_bucket`, `_sum` and `_count` are appended. */
  readonly histograms: Readonly<Partial<Record<HistogramName, readonly string[]>>>;
}

export type ExtractResult =
  | { ok: true; sample: WorkerSample }
  | { ok: false; cause: 'no_metrics' | 'model_mismatch'; message: string };

type ProfileNames = Omit<EngineProfile, 'wantedSeries'>;

function makeProfile(names: ProfileNames): EngineProfile {
  const wanted = new Set<string>([
    ...names.waiting,
    ...names.running,
    ...names.kvUsage,
    ...names.blocks.map((b) => b.series),
  ]);
  for (const list of Object.values(names.counters)) for (const n of list) wanted.add(n);
  for (const list of Object.values(names.histograms)) {
    for (const base of list) {
      wanted.add(`${base}_bucket`);
      wanted.add(`${base}_sum`);
      wanted.add(`${base}_count`);
    }
  }
  // prometheus_client's `_created` gauges hold epoch seconds; never let one be read as a value.
  for (const name of wanted) if (name.endsWith('_created')) wanted.delete(name);
  return Object.freeze({ ...names, wantedSeries: wanted });
}

const VLLM = makeProfile({
  kind: 'vllm',
  waiting: ['vllm:num_requests_waiting'],
  running: ['vllm:num_requests_running'],
  // gpu_cache_usage_perc: deprecated 0.10, removed 0.12; both are exposed side by side in 0.10.
  kvUsage: ['vllm:kv_cache_usage_perc', 'vllm:gpu_cache_usage_perc'],
  blocks: [{ from: 'infoLabel', series: 'vllm:cache_config_info', label: 'num_gpu_blocks' }],
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

const SGLANG = makeProfile({
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

const TRTLLM = makeProfile({
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

const PROFILES: Readonly<Record<EngineKind, EngineProfile>> = {
  vllm: VLLM,
  sglang: SGLANG,
  trtllm: TRTLLM,
};

export function profileFor(kind: EngineKind): EngineProfile {
  return PROFILES[kind];
}

/** Series of one data-parallel engine share this key; no `engine` label means a single engine. */
function engineKey(s: Series): string {
  return s.labels['engine'] ?? '';
}

function isCount(v: number): boolean {
  return Number.isFinite(v) && v >= 0;
}

function finiteOrUndefined(v: number): number | undefined {
  return Number.isFinite(v) ? v : undefined;
}

class Extraction {
  readonly models = new Set<string>();

  constructor(
    private readonly parsed: ParsedExposition,
    private readonly model: string | undefined,
  ) {}

  /** Series of `name` that pass the model filter; records the models they report. */
  series(name: string): Series[] {
    const all = this.parsed.series.get(name);
    if (all === undefined) return [];
    const used: Series[] = [];
    for (const s of all) {
      const m = s.labels['model_name'];
      // Series without model_name (cache_config_info, trtllm gauges) apply to every model.
      if (m !== undefined && this.model !== undefined && m !== this.model) continue;
      if (m !== undefined) this.models.add(m);
      used.push(s);
    }
    return used;
  }

  /** The first candidate that has at least one series with a usable value. */
  firstWith(names: readonly string[], usable: (v: number) => boolean): Series[] {
    for (const name of names) {
      const found = this.series(name).filter((s) => usable(s.value));
      if (found.length > 0) return found;
    }
    return [];
  }

  /** Σ over every series (engines, finish reasons); NaN/Inf/negative values are unknown, not 0. */
  sum(names: readonly string[]): number | undefined {
    const found = this.firstWith(names, isCount);
    if (found.length === 0) return undefined;
    let total = 0;
    for (const s of found) total += s.value;
    return finiteOrUndefined(total);
  }

  /** KV usage per engine, clamped to [0,1]; several series in one engine are averaged. */
  kvByEngine(names: readonly string[]): Map<string, number> {
    const acc = new Map<string, { sum: number; n: number }>();
    for (const s of this.firstWith(names, Number.isFinite)) {
      const key = engineKey(s);
      const a = acc.get(key) ?? { sum: 0, n: 0 };
      a.sum += Math.min(1, Math.max(0, s.value));
      a.n++;
      acc.set(key, a);
    }
    const out = new Map<string, number>();
    for (const [key, a] of acc) out.set(key, a.sum / a.n);
    return out;
  }

  /**
   * Block counts per engine. Several series in one engine are summed: SGLang reports one per
   * DP rank without an `engine` label, and its KV usage is averaged over the same ranks.
   */
  blocksByEngine(sources: readonly BlockSource[]): Map<string, number> {
    for (const source of sources) {
      const out = new Map<string, number>();
      for (const s of this.series(source.series)) {
        const raw = source.from === 'gauge' ? s.value : parseLabelNumber(s.labels[source.label]);
        if (raw === undefined || !isCount(raw)) continue;
        const key = engineKey(s);
        out.set(key, (out.get(key) ?? 0) + raw);
      }
      if (out.size > 0) return out;
    }
    return new Map();
  }

  histogram(bases: readonly string[]): CumulativeHistogram | undefined {
    for (const base of bases) {
      const buckets = this.series(`${base}_bucket`);
      const counts = this.series(`${base}_count`).filter((s) => isCount(s.value));
      if (buckets.length === 0 && counts.length === 0) continue;

      const byBound = new Map<number, number>();
      for (const s of buckets) {
        const le = parseLabelNumber(s.labels['le']);
        if (le === undefined || Number.isNaN(le) || !isCount(s.value)) continue;
        byBound.set(le, (byBound.get(le) ?? 0) + s.value);
      }
      const bounds = [...byBound.keys()].sort((a, b) => a - b);
      const cumulative = bounds.map((b) => byBound.get(b) ?? 0);
      // A cut body may lack `_count`: the last cumulative bucket is then the best count we have.
      let count = cumulative.at(-1);
      if (counts.length > 0) count = counts.reduce((acc, s) => acc + s.value, 0);
      if (count === undefined || !Number.isFinite(count) || !cumulative.every(Number.isFinite)) {
        continue;
      }

      // Unknown stays NaN, never 0: vLLM's design-doc example has buckets and `_count` only.
      let sum = NaN;
      for (const s of this.series(`${base}_sum`)) {
        if (Number.isFinite(s.value)) sum = (Number.isNaN(sum) ? 0 : sum) + s.value;
      }
      return { bounds, counts: cumulative, sum: Number.isFinite(sum) ? sum : NaN, count };
    }
    return undefined;
  }
}

function parseLabelNumber(raw: string | undefined): number | undefined {
  return raw === undefined ? undefined : parseSampleValue(raw);
}

function mean(values: Iterable<number>): number | undefined {
  let sum = 0;
  let n = 0;
  for (const v of values) {
    sum += v;
    n++;
  }
  return n === 0 ? undefined : sum / n;
}

/**
 * KV blocks as Σ over engines. An entry without `engine` label (V0's info gauge) describes the
 * worker's single engine, so it pairs with the single entry on the other side whatever its key.
 */
function kvBlocks(
  kv: ReadonlyMap<string, number>,
  blocks: ReadonlyMap<string, number>,
): { used?: number; total?: number } {
  if (blocks.size === 0) return {};
  let total = 0;
  let used: number | undefined = 0;
  const single = kv.size === 1 && blocks.size === 1 && (kv.has('') || blocks.has(''));
  const onlyKv = single ? kv.values().next().value : undefined;
  for (const [key, b] of blocks) {
    total += b;
    const k = onlyKv ?? kv.get(key);
    used = k === undefined || used === undefined ? undefined : used + k * b;
  }
  return {
    total: finiteOrUndefined(total),
    used: used === undefined ? undefined : finiteOrUndefined(used),
  };
}

/**
 * Turns one parsed exposition into a WorkerSample. With `options.model`, only series of that
 * `model_name` (or without one) are used.
 */
export function extractWorkerSample(
  parsed: ParsedExposition,
  profile: EngineProfile,
  options: { model?: string; at: number },
): ExtractResult {
  const gaugeNames = [...profile.waiting, ...profile.running, ...profile.kvUsage];
  // Any body without the engine's load gauges (an HTML error page, another engine, garbage) is
  // not this engine's /metrics.
  if (!gaugeNames.some((name) => (parsed.series.get(name)?.length ?? 0) > 0)) {
    return {
      ok: false,
      cause: 'no_metrics',
      message:
        `no ${profile.kind} load gauge (${gaugeNames.join(', ')}) in exposition ` +
        `(${parsed.sampleLines} sample lines, ${parsed.invalidLines} invalid)`,
    };
  }

  const x = new Extraction(parsed, options.model);
  if (options.model !== undefined && !gaugeNames.some((name) => x.series(name).length > 0)) {
    const seen = new Extraction(parsed, undefined);
    for (const name of gaugeNames) seen.series(name);
    return {
      ok: false,
      cause: 'model_mismatch',
      message:
        `worker serves ${JSON.stringify([...seen.models].sort())}, ` +
        `not ${JSON.stringify(options.model)}`,
    };
  }

  const waiting = x.sum(profile.waiting);
  const running = x.sum(profile.running);
  const kv = x.kvByEngine(profile.kvUsage);
  const { used, total } = kvBlocks(kv, x.blocksByEngine(profile.blocks));

  const counters: Partial<Record<CounterName, number>> = {};
  for (const [name, candidates] of Object.entries(profile.counters) as [
    CounterName,
    readonly string[],
  ][]) {
    const v = x.sum(candidates);
    if (v !== undefined) counters[name] = v;
  }
  const histograms: Partial<Record<HistogramName, CumulativeHistogram>> = {};
  for (const [name, bases] of Object.entries(profile.histograms) as [
    HistogramName,
    readonly string[],
  ][]) {
    const h = x.histogram(bases);
    if (h !== undefined) histograms[name] = h;
  }

  return {
    ok: true,
    sample: {
      at: options.at,
      // Complete only now: every lookup above records the models it saw.
      models: [...x.models].sort(),
      waiting,
      running,
      kvUsage: mean(kv.values()),
      kvBlocksUsed: used,
      kvBlocksTotal: total,
      counters,
      histograms,
    },
  };
}
