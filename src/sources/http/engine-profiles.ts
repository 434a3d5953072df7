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

export type EngineKind = 'vllm' | 'sglang' | 'trtllm' | 'dynamo-http';

/** Where a worker's KV block (page) count comes from. */
export type BlockSource =
  /** An info-style gauge (value 1) carrying the count in a label. */
  | { readonly from: 'infoLabel'; readonly series: string; readonly label: string }
  /** A plain gauge whose value is the count. */
  | { readonly from: 'gauge'; readonly series: string };

/**
 * Candidate names are series names as on the wire, optionally with exact label matchers:
 * `dynamo_frontend_requests_total{status="success"}` reads only the series with that label value.
 */
export interface EngineProfile {
  readonly kind: EngineKind;
  /** Every series name extraction reads; pass it to `parsePrometheusText` as `wanted`. */
  readonly wantedSeries: ReadonlySet<string>;
  readonly waiting: readonly string[];
  readonly running: readonly string[];
  /** KV-cache usage as a 0..1 fraction. */
  readonly kvUsage: readonly string[];
  /** Gauges counting KV blocks in use exactly; preferred over usage × total blocks. */
  readonly usedBlocks: readonly string[];
  readonly blocks: readonly BlockSource[];
  /** Counter series names as exposed (with `_total`). */
  readonly counters: Readonly<Partial<Record<CounterName, readonly string[]>>>;
  /** Histogram base names; `_bucket`, `_sum` and `_count` are appended. */
  readonly histograms: Readonly<Partial<Record<HistogramName, readonly string[]>>>;
  /** Labels naming a series' data-parallel engine, first present wins; none means a single engine. */
  readonly engineLabels: readonly string[];
  /** Labels carrying the served model, first present wins (the pool's `model` filter reads them). */
  readonly modelLabels: readonly string[];
}

export type ExtractResult =
  | { ok: true; sample: WorkerSample }
  | { ok: false; cause: 'no_metrics' | 'model_mismatch'; message: string };

type ProfileNames = Omit<EngineProfile, 'wantedSeries' | 'usedBlocks' | 'engineLabels' | 'modelLabels'> &
  Partial<Pick<EngineProfile, 'usedBlocks' | 'engineLabels' | 'modelLabels'>>;

/** A candidate split into its series name and label matchers. */
interface Selector {
  readonly name: string;
  readonly matchers: readonly (readonly [label: string, value: string])[];
}

const SELECTOR = /^([^{]+)\{(.*)\}$/;
const MATCHER = /^\s*([A-Za-z_][A-Za-z0-9_]*)="([^"]*)"\s*$/;
const selectors = new Map<string, Selector>();

/** Parses (once) a candidate such as `x_total{status="success"}`; a plain name has no matchers. */
function selectorOf(candidate: string): Selector {
  let selector = selectors.get(candidate);
  if (selector === undefined) {
    const match = SELECTOR.exec(candidate);
    if (match === null) {
      selector = { name: candidate, matchers: [] };
    } else {
      const matchers = (match[2] ?? '')
        .split(',')
        .filter((part) => part.trim() !== '')
        .map((part) => {
          const m = MATCHER.exec(part);
          if (m === null) throw new Error(`bad label matcher in profile candidate ${candidate}`);
          return [m[1] ?? '', m[2] ?? ''] as const;
        });
      selector = { name: match[1] ?? candidate, matchers };
    }
    selectors.set(candidate, selector);
  }
  return selector;
}

function makeProfile(names: ProfileNames): EngineProfile {
  const full = {
    usedBlocks: [],
    engineLabels: ['engine'],
    modelLabels: ['model_name'],
    ...names,
  };
  const wanted = new Set<string>(
    [...full.waiting, ...full.running, ...full.kvUsage, ...full.usedBlocks, ...full.blocks.map((b) => b.series)].map(
      (c) => selectorOf(c).name,
    ),
  );
  for (const list of Object.values(names.counters)) for (const n of list) wanted.add(selectorOf(n).name);
  for (const list of Object.values(names.histograms)) {
    for (const base of list) {
      wanted.add(`${base}_bucket`);
      wanted.add(`${base}_sum`);
      wanted.add(`${base}_count`);
    }
  }
  // prometheus_client's `_created` gauges hold epoch seconds; never let one be read as a value.
  for (const name of wanted) if (name.endsWith('_created')) wanted.delete(name);
  return Object.freeze({ ...full, wantedSeries: wanted });
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

/** Engines whose own metrics a Dynamo worker passes through on its system port, in this order. */
const PASS_THROUGH: readonly EngineProfile[] = [VLLM, SGLANG, TRTLLM];

/**
 * The Dynamo frontend's metric prefix. `DYN_METRICS_PREFIX` can change it; `nv_llm_http_service`
 * is both the name before 2025-07-31 (#2176) and the NIM override.
 */
const FRONTEND_PREFIXES = ['dynamo_frontend', 'nv_llm_http_service'] as const;
const frontend = (...suffixes: string[]): string[] => suffixes.flatMap((suffix) => FRONTEND_PREFIXES.map((p) => `${p}_${suffix}`));
const passThrough = (pick: (p: EngineProfile) => readonly string[] | undefined): string[] => PASS_THROUGH.flatMap((p) => pick(p) ?? []);
const counter = (name: CounterName) => passThrough((p) => p.counters[name]);
const histogram = (name: HistogramName) => passThrough((p) => p.histograms[name]);

/**
 * NVIDIA Dynamo over HTTP (/work/shared/reference/dynamo.md §2.5). One profile reads both kinds of
 * body, since a pool may point at either and they share no load gauge:
 * - the **frontend** (`:8000/metrics`, `dynamo_frontend_*`, label `model`): queue, in-flight
 *   requests, TTFT / ITL / request duration, input/output sequence tokens, output tokens;
 * - a **worker's system port** (`:$DYN_SYSTEM_PORT/metrics`): the KV gauges, 2025
 *   `dynamo_component_kvstats_*` and their 2026 replacements `dynamo_component_total_blocks` /
 *   `dynamo_component_gpu_cache_usage_percent` (per `dp_rank`), plus the engine's own
 *   `vllm:*` / `sglang:*` / `trtllm_*` series passed through (read with those engines' candidates).
 *
 * Frontend candidates come first, then the engine's, then Dynamo's generic component gauges.
 */
const DYNAMO_HTTP = makeProfile({
  kind: 'dynamo-http',
  // queued_requests: requests not yet given a first token.
  waiting: [...frontend('queued_requests'), ...passThrough((p) => p.waiting)],
  // dynamo_component_inflight_requests counts the work handler's requests on every endpoint: the
  // engine's own running count is exact, so it is only the last resort.
  running: [...frontend('inflight_requests'), ...passThrough((p) => p.running), 'dynamo_component_inflight_requests'],
  // All 0..1 despite the names.
  kvUsage: [
    'dynamo_component_gpu_cache_usage_percent',
    'dynamo_component_kvstats_gpu_cache_usage_percent',
    ...passThrough((p) => p.kvUsage),
  ],
  usedBlocks: ['dynamo_component_kvstats_active_blocks', 'dynamo_component_active_blocks'],
  blocks: [
    { from: 'gauge', series: 'dynamo_component_total_blocks' },
    { from: 'gauge', series: 'dynamo_component_kvstats_total_blocks' },
    ...PASS_THROUGH.flatMap((p) => p.blocks),
  ],
  counters: {
    // The frontend has no prompt-token counter; its input-length histogram's `_sum` is one.
    promptTokens: [...frontend('input_sequence_tokens_sum'), ...counter('promptTokens')],
    generationTokens: [...frontend('output_tokens_total', 'output_sequence_tokens_sum'), ...counter('generationTokens')],
    // requests_total counts errors too (status="error"); request_duration is observed once per
    // finished request, for expositions that carry no status label.
    requestSuccess: [...frontend('requests_total{status="success"}', 'request_duration_seconds_count'), ...counter('requestSuccess')],
    preemptions: counter('preemptions'),
  },
  histograms: {
    ttft: [...frontend('time_to_first_token_seconds'), ...histogram('ttft')],
    itl: [...frontend('inter_token_latency_seconds'), ...histogram('itl')],
    e2eLatency: [...frontend('request_duration_seconds'), ...histogram('e2eLatency')],
    queueTime: histogram('queueTime'),
    requestPromptTokens: [...frontend('input_sequence_tokens'), ...histogram('requestPromptTokens')],
    requestGenerationTokens: [...frontend('output_sequence_tokens'), ...histogram('requestGenerationTokens')],
  },
  // vLLM names data-parallel engines `engine`; Dynamo's 2026 KV gauges name them `dp_rank`.
  engineLabels: ['engine', 'dp_rank'],
  // Dynamo labels `model` (frontend, and component metrics since #2389); engines `model_name`.
  modelLabels: ['model_name', 'model'],
});

const PROFILES: Readonly<Record<EngineKind, EngineProfile>> = {
  vllm: VLLM,
  sglang: SGLANG,
  trtllm: TRTLLM,
  'dynamo-http': DYNAMO_HTTP,
};

export function profileFor(kind: EngineKind): EngineProfile {
  return PROFILES[kind];
}

/** The first of `labels` a series carries, or undefined. */
function firstLabel(s: Series, labels: readonly string[]): string | undefined {
  for (const label of labels) {
    const value = s.labels[label];
    if (value !== undefined) return value;
  }
  return undefined;
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
    private readonly profile: EngineProfile,
    private readonly model: string | undefined,
  ) {}

  /** Series of one data-parallel engine share this key; no engine label means a single engine. */
  engineKey(s: Series): string {
    return firstLabel(s, this.profile.engineLabels) ?? '';
  }

  /** Series of a candidate that pass its matchers and the model filter; records their models. */
  series(candidate: string): Series[] {
    const { name, matchers } = selectorOf(candidate);
    const all = this.parsed.series.get(name);
    if (all === undefined) return [];
    const used: Series[] = [];
    for (const s of all) {
      if (matchers.length > 0 && !matchers.every(([label, value]) => s.labels[label] === value)) continue;
      const m = firstLabel(s, this.profile.modelLabels);
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
      const key = this.engineKey(s);
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
        const key = this.engineKey(s);
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
  exactUsed: number | undefined,
): { used?: number; total?: number } {
  if (exactUsed !== undefined) {
    // A worker reporting its blocks in use (Dynamo's kvstats) is taken at its word, bounded by
    // its capacity; without a capacity the count still serves load_avg / load_std.
    let total: number | undefined;
    for (const b of blocks.values()) total = (total ?? 0) + b;
    total = total === undefined ? undefined : finiteOrUndefined(total);
    return { used: total === undefined ? exactUsed : Math.min(exactUsed, total), total };
  }
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
  const gaugeNames = [...profile.waiting, ...profile.running, ...profile.kvUsage, ...profile.usedBlocks];
  // Any body without the engine's load gauges (an HTML error page, another engine, garbage) is
  // not this engine's /metrics.
  if (!gaugeNames.some((name) => (parsed.series.get(selectorOf(name).name)?.length ?? 0) > 0)) {
    return {
      ok: false,
      cause: 'no_metrics',
      message:
        `no ${profile.kind} load gauge (${gaugeNames.join(', ')}) in exposition ` +
        `(${parsed.sampleLines} sample lines, ${parsed.invalidLines} invalid)`,
    };
  }

  const x = new Extraction(parsed, profile, options.model);
  if (options.model !== undefined && !gaugeNames.some((name) => x.series(name).length > 0)) {
    const seen = new Extraction(parsed, profile, undefined);
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
  const exactUsed = profile.usedBlocks.length > 0 ? x.sum(profile.usedBlocks) : undefined;
  const { used, total } = kvBlocks(kv, x.blocksByEngine(profile.blocks), exactUsed);
  // Without a usage gauge, blocks in use over capacity is the usage (Dynamo's own definition).
  const kvUsage = mean(kv.values()) ?? (used !== undefined && total !== undefined && total > 0 ? Math.min(1, used / total) : undefined);

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
      // Label values are slices of the scraped body; a kept slice would keep the whole body
      // (tens of KB per sample) alive in the history, so store independent copies.
      models: [...x.models].sort().map(ownCopy),
      waiting,
      running,
      kvUsage,
      kvBlocksUsed: used,
      kvBlocksTotal: total,
      counters,
      histograms,
    },
  };
}

/** A string that shares no memory with the text it was cut from. */
function ownCopy(text: string): string {
  return Buffer.from(text, 'utf8').toString('utf8');
}
