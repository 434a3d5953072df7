/**
 * How a parsed `/metrics` body becomes one WorkerSample under an engine profile: counts summed
 * over data-parallel engines, KV usage averaged, blocks paired per engine, histograms merged.
 */
import { MAX_PLAUSIBLE_VALUE, type CounterName, type CumulativeHistogram, type HistogramName } from '../../store/sample.js';
import { matchesLabels } from '../../store/series-query.js';
import { selectorOf, type BlockSource, type EngineProfile, type ExtractResult } from './profiles/profile.js';
import { parseSampleValue, type ParsedExposition, type Series } from './prometheus-text.js';
import { countProblem, ValueChecks } from './value-checks.js';

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

/** The `_bucket`, `_count` and `_sum` names of a histogram base name, built once. */
const histogramParts = new Map<string, { bucket: string; count: string; sum: string }>();

function partsOf(base: string): { bucket: string; count: string; sum: string } {
  let parts = histogramParts.get(base);
  if (parts === undefined) {
    parts = { bucket: `${base}_bucket`, count: `${base}_count`, sum: `${base}_sum` };
    histogramParts.set(base, parts);
  }
  return parts;
}

/** The load gauges of a profile (any of which makes a body this engine's), built once per profile. */
const gaugeNamesOf = new WeakMap<EngineProfile, readonly string[]>();

function gaugeNames(profile: EngineProfile): readonly string[] {
  let names = gaugeNamesOf.get(profile);
  if (names === undefined) {
    names = [...profile.waiting, ...profile.running, ...profile.kvUsage, ...profile.usedBlocks];
    gaugeNamesOf.set(profile, names);
  }
  return names;
}

class Extraction {
  readonly models = new Set<string>();
  /** Whether the values can be true: run over the same selected series the extraction reads. */
  readonly checks = new ValueChecks((candidate) => this.series(candidate));
  private lastModel: string | undefined;
  /** Each candidate's series, computed once per extraction however many concepts ask. */
  private readonly selected = new Map<string, Series[]>();

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
    const known = this.selected.get(candidate);
    if (known !== undefined) return known;
    const selector = selectorOf(candidate);
    const all = this.parsed.series.get(selector.name);
    const used: Series[] = [];
    this.selected.set(candidate, used);
    if (all === undefined) return used;
    for (const s of all) {
      if (selector.matchers.length > 0 && !matchesLabels(selector, s.labels)) continue;
      const m = firstLabel(s, this.profile.modelLabels);
      // Series without model_name (cache_config_info, trtllm gauges) apply to every model.
      if (m !== undefined && this.model !== undefined && m !== this.model) continue;
      if (m !== undefined && m !== this.lastModel) {
        this.models.add(m);
        this.lastModel = m;
      }
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
        if (raw === undefined) continue;
        if (raw > MAX_PLAUSIBLE_VALUE || (source.from === 'gauge' && !isCount(raw))) {
          this.checks.refuse(countProblem(source.series, source.from === 'gauge' ? s : { labels: s.labels, value: raw }));
        }
        if (!isCount(raw)) continue;
        const key = this.engineKey(s);
        out.set(key, (out.get(key) ?? 0) + raw);
      }
      if (out.size > 0) return out;
    }
    return new Map();
  }

  /** KV capacity in tokens, Σ over series of blocks × block size; undefined unless every series has both. */
  capacityTokens(sources: readonly BlockSource[]): number | undefined {
    for (const source of sources) {
      if (source.from !== 'infoLabel' || source.sizeLabel === undefined) continue;
      let total: number | undefined;
      for (const s of this.series(source.series)) {
        const blocks = parseLabelNumber(s.labels[source.label]);
        const size = parseLabelNumber(s.labels[source.sizeLabel]);
        if (blocks === undefined || size === undefined || !isCount(blocks) || !isCount(size)) return undefined;
        total = (total ?? 0) + blocks * size;
      }
      if (total !== undefined) return finiteOrUndefined(total);
    }
    return undefined;
  }

  histogram(bases: readonly string[]): CumulativeHistogram | undefined {
    for (const base of bases) {
      const parts = partsOf(base);
      const buckets = this.series(parts.bucket);
      this.checks.counts([parts.bucket, parts.count]);
      let countTotal = 0;
      let counted = 0;
      for (const s of this.series(parts.count)) {
        if (!isCount(s.value)) continue;
        countTotal += s.value;
        counted++;
      }
      if (buckets.length === 0 && counted === 0) continue;

      const merged = mergeBuckets(buckets);
      const { bounds, counts: cumulative } = merged;
      // A cut body may lack `_count`: the last cumulative bucket is then the best count we have.
      const count = counted > 0 ? countTotal : cumulative.at(-1);
      if (count === undefined || !Number.isFinite(count) || !merged.finite) continue;

      // Unknown stays NaN, never 0: vLLM's design-doc example has buckets and `_count` only.
      let sum = NaN;
      for (const s of this.series(parts.sum)) {
        if (Number.isFinite(s.value)) sum = (Number.isNaN(sum) ? 0 : sum) + s.value;
      }
      return { bounds, counts: cumulative, sum: Number.isFinite(sum) ? sum : NaN, count };
    }
    return undefined;
  }
}

/**
 * Bucket series summed by bound over engines, bounds ascending. The usual exposition lists each
 * engine's buckets in the same ascending order, so they are added position by position; anything
 * else (bounds that differ between engines, out of order) is merged by bound.
 */
function mergeBuckets(buckets: readonly Series[]): { bounds: number[]; counts: number[]; finite: boolean } {
  const bounds: number[] = [];
  const counts: number[] = [];
  let cursor = 0;
  let firstRun = true;
  let positional = true;
  for (const s of buckets) {
    const le = parseLabelNumber(s.labels['le']);
    if (le === undefined || Number.isNaN(le) || !isCount(s.value)) continue;
    if (firstRun && (bounds.length === 0 || le > (bounds[bounds.length - 1] as number))) {
      bounds.push(le);
      counts.push(s.value);
      cursor = bounds.length;
      continue;
    }
    if (cursor >= bounds.length || le <= (bounds[cursor - 1] ?? Number.NEGATIVE_INFINITY)) {
      // A new engine's run starts again from the lowest bound.
      firstRun = false;
      cursor = 0;
    }
    if (bounds[cursor] !== le) {
      positional = false;
      break;
    }
    counts[cursor] = (counts[cursor] as number) + s.value;
    cursor++;
  }
  if (!positional) {
    const byBound = new Map<number, number>();
    for (const s of buckets) {
      const le = parseLabelNumber(s.labels['le']);
      if (le === undefined || Number.isNaN(le) || !isCount(s.value)) continue;
      byBound.set(le, (byBound.get(le) ?? 0) + s.value);
    }
    const sorted = [...byBound.keys()].sort((a, b) => a - b);
    const summed = sorted.map((b) => byBound.get(b) ?? 0);
    return { bounds: sorted, counts: summed, finite: summed.every(Number.isFinite) };
  }
  return { bounds, counts, finite: counts.every(Number.isFinite) };
}

/** Numbers of label values (`le`, block counts) already read: the same few strings come in every scrape. */
const labelNumbers = new Map<string, number | undefined>();

function parseLabelNumber(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (labelNumbers.has(raw)) return labelNumbers.get(raw);
  const value = parseSampleValue(raw);
  if (labelNumbers.size >= 4096) labelNumbers.clear(); // bounded: values come from workers
  labelNumbers.set(raw, value);
  return value;
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
function kvBlocks(kv: ReadonlyMap<string, number>, blocks: ReadonlyMap<string, number>, exactUsed: number | undefined): { used?: number; total?: number } {
  if (exactUsed !== undefined) {
    // A worker reporting its blocks in use (Dynamo's kvstats) is taken at its word; more in use
    // than it has is refused by the caller (an invalid sample). Without a capacity the count
    // still serves load_avg / load_std.
    let total: number | undefined;
    for (const b of blocks.values()) total = (total ?? 0) + b;
    total = total === undefined ? undefined : finiteOrUndefined(total);
    return { used: exactUsed, total };
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
export function extractWorkerSample(parsed: ParsedExposition, profile: EngineProfile, options: { model?: string; at: number }): ExtractResult {
  const gauges = gaugeNames(profile);
  if (parsed.duplicate !== undefined) {
    return {
      ok: false,
      cause: 'duplicate-series',
      message: `${parsed.duplicate} appears twice in one exposition; Prometheus refuses such a scrape too ("duplicate sample for timestamp")`,
    };
  }
  // Any body without the engine's load gauges (an HTML error page, another engine, garbage) is
  // not this engine's /metrics.
  if (!gauges.some((name) => (parsed.series.get(selectorOf(name).name)?.length ?? 0) > 0)) {
    return {
      ok: false,
      cause: 'no_metrics',
      message: `no ${profile.kind} load gauge (${gauges.join(', ')}) in exposition ` + `(${parsed.sampleLines} sample lines, ${parsed.invalidLines} invalid)`,
    };
  }

  const x = new Extraction(parsed, profile, options.model);
  if (options.model !== undefined && !gauges.some((name) => x.series(name).length > 0)) {
    const seen = new Extraction(parsed, profile, undefined);
    for (const name of gauges) seen.series(name);
    const models = [...seen.models].sort().map(ownCopy);
    return {
      ok: false,
      cause: 'model_mismatch',
      message: `worker serves ${JSON.stringify(models)}, ` + `not ${JSON.stringify(options.model)}`,
      models,
    };
  }

  x.checks.counts(profile.waiting);
  x.checks.counts(profile.running);
  x.checks.counts(profile.usedBlocks);
  x.checks.usage(profile.kvUsage);
  const waiting = x.sum(profile.waiting);
  const running = x.sum(profile.running);
  const kv = x.kvByEngine(profile.kvUsage);
  const exactUsed = profile.usedBlocks.length > 0 ? x.sum(profile.usedBlocks) : undefined;
  const { used, total } = kvBlocks(kv, x.blocksByEngine(profile.blocks), exactUsed);
  // Without a usage gauge, blocks in use over capacity is the usage (Dynamo's own definition).
  const kvUsage = mean(kv.values()) ?? (used !== undefined && total !== undefined && total > 0 ? Math.min(1, used / total) : undefined);

  const counters: Partial<Record<CounterName, number>> = {};
  for (const [name, candidates] of Object.entries(profile.counters) as [CounterName, readonly string[]][]) {
    x.checks.counts(candidates);
    const v = x.sum(candidates);
    if (v !== undefined) counters[name] = v;
  }
  const histograms: Partial<Record<HistogramName, CumulativeHistogram>> = {};
  for (const [name, bases] of Object.entries(profile.histograms) as [HistogramName, readonly string[]][]) {
    const h = x.histogram(bases);
    if (h !== undefined) histograms[name] = h;
  }
  const problem = x.checks.problem;
  if (problem !== undefined) return { ok: false, cause: problem.cause, message: problem.message };
  if (used !== undefined && total !== undefined && used > total) {
    return { ok: false, cause: 'invalid-sample', message: `${used} KV blocks in use exceed the ${total} the worker has` };
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
      kvCapacityTokens: x.capacityTokens(profile.blocks),
      counters,
      histograms,
      ...(x.checks.notes.length > 0 ? { notes: x.checks.notes } : {}),
    },
  };
}

/** A string that shares no memory with the text it was cut from. */
function ownCopy(text: string): string {
  return Buffer.from(text, 'utf8').toString('utf8');
}
