/**
 * Pure functions over cumulative histograms behind the windowed signals: the delta of two, merging
 * deltas across workers, and quantiles with Prometheus `histogram_quantile` semantics. None of
 * them throws, whatever the input.
 *
 * Bucket bounds always come from the exposition's `le` labels (CumulativeHistogram.bounds); no
 * bound is ever assumed, and histograms are only combined on bounds that every one of them has.
 */
import type { CumulativeHistogram } from '../../store/sample.js';

/**
 * A histogram in canonical form: bounds strictly ascending and ending with +Inf, cumulative
 * counts non-decreasing, `count` equal to the +Inf bucket. `sum` is NaN when unknown.
 */
export interface BucketCounts {
  readonly bounds: readonly number[];
  readonly counts: readonly number[];
  readonly count: number;
  readonly sum: number;
}

/**
 * Checks and completes an exposed histogram. Without a `+Inf` bucket (a cut body), `_count` is
 * the +Inf bucket by definition, so it is appended. Returns undefined for a histogram that cannot
 * be read (lengths differ, bounds not ascending, counts not finite, negative or decreasing).
 */
export function canonical(h: CumulativeHistogram): BucketCounts | undefined {
  const { bounds, counts } = h;
  if (!Array.isArray(bounds) || !Array.isArray(counts) || bounds.length !== counts.length) return undefined;
  let previousBound = Number.NEGATIVE_INFINITY;
  let previousCount = 0;
  for (let i = 0; i < bounds.length; i++) {
    const bound = bounds[i] as number;
    const count = counts[i] as number;
    if (typeof bound !== 'number' || Number.isNaN(bound) || bound <= previousBound) return undefined;
    if (typeof count !== 'number' || !Number.isFinite(count) || count < previousCount) return undefined;
    previousBound = bound;
    previousCount = count;
  }
  const sum = typeof h.sum === 'number' && Number.isFinite(h.sum) ? h.sum : NaN;
  if (previousBound === Number.POSITIVE_INFINITY) return { bounds, counts, count: previousCount, sum };
  const total = typeof h.count === 'number' && Number.isFinite(h.count) && h.count >= previousCount ? h.count : previousCount;
  return { bounds: [...bounds, Number.POSITIVE_INFINITY], counts: [...counts, total], count: total, sum };
}

export type DeltaResult =
  | { readonly ok: true; readonly delta: BucketCounts }
  | {
      /** `reset`: the later histogram is not a continuation of the earlier one (restart, new buckets). */
      readonly ok: false;
      readonly reason: 'reset' | 'unreadable';
    };

function sameBounds(a: readonly number[], b: readonly number[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The observations made between two samples of one worker's histogram: `later − earlier` bucket
 * by bucket. Different bounds, or any cumulative count going backwards, mean the worker restarted
 * (or was reconfigured) in between: that is a reset, never a negative delta. Per-bucket increments
 * that come out negative (a scrape that raced an observation across buckets) are evened out, as
 * Prometheus does, so the result is always a valid cumulative histogram.
 */
export function histogramDelta(earlier: CumulativeHistogram, later: CumulativeHistogram): DeltaResult {
  const a = canonical(earlier);
  const b = canonical(later);
  if (!a || !b) return { ok: false, reason: 'unreadable' };
  if (!sameBounds(a.bounds, b.bounds)) return { ok: false, reason: 'reset' };
  const counts: number[] = new Array<number>(b.counts.length);
  let runningMax = 0;
  for (let i = 0; i < b.counts.length; i++) {
    const d = (b.counts[i] as number) - (a.counts[i] as number);
    if (d < 0) return { ok: false, reason: 'reset' };
    runningMax = Math.max(runningMax, d);
    counts[i] = runningMax;
  }
  return { ok: true, delta: { bounds: b.bounds, counts, count: runningMax, sum: b.sum - a.sum } };
}

/** Cheap (O(1)) reset test between consecutive samples; `histogramDelta` does the full check. */
export function histogramWentBack(earlier: CumulativeHistogram, later: CumulativeHistogram): boolean {
  return later.count < earlier.count || later.bounds.length !== earlier.bounds.length;
}

export interface MergeInput {
  readonly id: string;
  readonly delta: BucketCounts;
}

export interface MergeResult {
  /** Undefined when there was nothing to merge. */
  readonly merged?: BucketCounts;
  readonly included: readonly string[];
  /** Ids whose counts were read on the merged layout's bounds (a finer layout containing them). */
  readonly projected: readonly string[];
  readonly excluded: readonly { readonly id: string; readonly reason: string }[];
}

interface Layout {
  readonly bounds: readonly number[];
  readonly members: Set<number>;
  observations: number;
  readonly items: MergeInput[];
}

function layoutKey(bounds: readonly number[]): string {
  return bounds.join(',');
}

/**
 * Sums per-worker deltas into one fleet histogram.
 *
 * Bucket counts can only be added on bounds every addend has: a cumulative count at a bound
 * that a worker does not expose is unknown (interpolating it would assume a distribution). So the
 * merge picks one reference layout and takes every worker whose bounds include all of the
 * reference's bounds, reading its cumulative counts at those bounds exactly (a finer layout
 * "projects" onto a coarser one without any assumption: e.g. vLLM V0's TTFT buckets are a subset
 * of V1's). The reference is the layout that keeps the most observations (then the most workers,
 * then the finest). Workers whose layout lacks some reference bound are excluded, with a reason.
 * A union of bounds is never built.
 */
export function mergeDeltas(inputs: readonly MergeInput[]): MergeResult {
  if (inputs.length === 0) return { included: [], projected: [], excluded: [] };
  const layouts = new Map<string, Layout>();
  for (const input of inputs) {
    const key = layoutKey(input.delta.bounds);
    let layout = layouts.get(key);
    if (!layout) {
      layout = { bounds: input.delta.bounds, members: new Set(input.delta.bounds), observations: 0, items: [] };
      layouts.set(key, layout);
    }
    layout.observations += input.delta.count;
    layout.items.push(input);
  }

  // The common case: one layout, a plain bucket-wise sum.
  const all = [...layouts.values()];
  let reference = all[0] as Layout;
  let compatible: Layout[] = [reference];
  if (all.length > 1) {
    let best = { observations: -1, workers: -1, bounds: -1 };
    for (const candidate of all) {
      const fits = all.filter((other) => candidate.bounds.every((bound) => other.members.has(bound)));
      const score = {
        observations: fits.reduce((a, l) => a + l.observations, 0),
        workers: fits.reduce((a, l) => a + l.items.length, 0),
        bounds: candidate.bounds.length,
      };
      const better =
        score.observations > best.observations ||
        (score.observations === best.observations && (score.workers > best.workers || (score.workers === best.workers && score.bounds > best.bounds)));
      if (better) {
        best = score;
        reference = candidate;
        compatible = fits;
      }
    }
  }

  const bounds = reference.bounds;
  const counts = new Array<number>(bounds.length).fill(0);
  let sum = 0;
  const included: string[] = [];
  const projected: string[] = [];
  for (const layout of compatible) {
    // Index in this layout of each reference bound.
    const index = layout === reference ? undefined : bounds.map((bound) => layout.bounds.indexOf(bound));
    for (const { id, delta } of layout.items) {
      for (let i = 0; i < bounds.length; i++) counts[i] = (counts[i] as number) + (delta.counts[index ? (index[i] as number) : i] as number);
      sum += delta.sum;
      included.push(id);
      if (index) projected.push(id);
    }
  }
  const excluded = all
    .filter((layout) => !compatible.includes(layout))
    .flatMap((layout) =>
      layout.items.map(({ id }) => ({
        id,
        reason:
          `its bucket bounds (${describeBounds(layout.bounds)}) lack some of the fleet's (${describeBounds(bounds)}); histograms are only merged ` +
          `on bounds every worker exposes`,
      })),
    );
  return { merged: { bounds, counts, count: counts.at(-1) ?? 0, sum: Number.isFinite(sum) ? sum : NaN }, included, projected, excluded };
}

function describeBounds(bounds: readonly number[]): string {
  const finite = bounds.filter(Number.isFinite);
  if (finite.length === 0) return 'only +Inf';
  if (finite.length <= 4) return `le ${finite.join(', ')}, +Inf`;
  return `${finite.length} finite, le ${finite[0]} … ${finite.at(-1)}`;
}

export interface QuantileResult {
  readonly value: number;
  /** The bucket the rank fell in: the value lies in [lower, upper]. */
  readonly lower: number;
  readonly upper: number;
  /** The rank fell in the +Inf bucket: the value is the highest finite bound, a floor. */
  readonly overflow: boolean;
}

/**
 * The q-quantile (0 < q ≤ 1) of a cumulative histogram, as Prometheus `histogram_quantile` computes
 * it (promql/quantile.go `bucketQuantile`): find the bucket where the rank q × total falls and
 * interpolate linearly inside it; the first bucket starts at 0 (unless its bound is ≤ 0, then the
 * bound is returned); a rank in the +Inf bucket returns the highest finite bound.
 *
 * Undefined (not 0) when there is no observation, no finite bound, q is outside (0, 1], or the
 * counts are unusable. Non-monotonic counts are evened out first, as Prometheus does.
 */
export function bucketQuantile(q: number, h: BucketCounts): QuantileResult | undefined {
  if (typeof q !== 'number' || !(q > 0 && q <= 1)) return undefined;
  const { bounds, counts } = h;
  const n = bounds.length;
  if (!Array.isArray(bounds) || !Array.isArray(counts) || n < 2 || counts.length !== n) return undefined;
  if (bounds[n - 1] !== Number.POSITIVE_INFINITY) return undefined;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const c = counts[i] as number;
    const b = bounds[i] as number;
    if (typeof c !== 'number' || !Number.isFinite(c) || c < 0) return undefined;
    if (typeof b !== 'number' || Number.isNaN(b) || (i > 0 && b <= (bounds[i - 1] as number))) return undefined;
    total = Math.max(total, c);
  }
  if (total <= 0) return undefined;
  const rank = q * total;
  // The first bucket whose (evened-out) cumulative count reaches the rank.
  let below = 0;
  let b = 0;
  let atB = 0;
  for (let runningMax = 0; b < n; b++) {
    runningMax = Math.max(runningMax, counts[b] as number);
    if (runningMax >= rank) {
      atB = runningMax;
      break;
    }
    below = runningMax;
  }
  const highestFinite = bounds[n - 2] as number;
  if (b >= n - 1) return { value: highestFinite, lower: highestFinite, upper: Number.POSITIVE_INFINITY, overflow: true };
  const upper = bounds[b] as number;
  if (b === 0 && upper <= 0) return { value: upper, lower: upper, upper, overflow: false };
  const lower = b === 0 ? 0 : (bounds[b - 1] as number);
  const inBucket = atB - below;
  const fraction = inBucket > 0 ? (rank - below) / inBucket : 1;
  const value = Math.min(upper, Math.max(lower, lower + (upper - lower) * fraction));
  return { value, lower, upper, overflow: false };
}

/** `bucketQuantile`'s value, or undefined. */
export function histogramQuantile(q: number, h: BucketCounts): number | undefined {
  return bucketQuantile(q, h)?.value;
}
