/**
 * The pure functions behind windowed signals: histogram deltas, merging, Prometheus-style
 * quantiles (property-based, fast-check), and the per-worker window over a store's history.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bucketQuantile, canonical, histogramDelta, histogramQuantile, mergeDeltas, type BucketCounts } from '../src/signals/windowed/histogram-window.js';
import { counterReader, windowDelta, windowSpan } from '../src/signals/windowed/window-span.js';
import type { CumulativeHistogram, WorkerSample } from '../src/store/sample.js';
import { freshWorker } from './support/history.js';

const INF = Number.POSITIVE_INFINITY;

/** The histogram Prometheus would expose for these observations on these bounds (+Inf appended). */
function histogramOf(observations: readonly number[], finiteBounds: readonly number[]): CumulativeHistogram {
  const bounds = [...finiteBounds, INF];
  const counts = bounds.map((b) => observations.filter((o) => o <= b).length);
  return { bounds, counts, count: observations.length, sum: observations.reduce((a, b) => a + b, 0) };
}

function asCounts(h: CumulativeHistogram): BucketCounts {
  const c = canonical(h);
  if (!c) throw new Error('test histogram is not canonical');
  return c;
}

/** The bucket [lower, upper] holding value x (first bucket starts at 0, as for latencies). */
function bucketOf(x: number, finiteBounds: readonly number[]): [number, number] {
  const bounds = [...finiteBounds, INF];
  const i = bounds.findIndex((b) => x <= b);
  return [i === 0 ? 0 : (bounds[i - 1] as number), bounds[i] as number];
}

/** The true q-quantile of the observations: the ⌈q·n⌉-th smallest (the rank histogram_quantile targets). */
function trueQuantile(q: number, observations: readonly number[]): number {
  const sorted = [...observations].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] as number;
}

// Positive, strictly ascending finite bounds (1–12 of them).
const boundsArb = fc
  .uniqueArray(fc.double({ min: 0.001, max: 1000, noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 12 })
  .map((xs) => [...xs].sort((a, b) => a - b));

/** Observations drawn around the bounds, including values exactly on a bound and above the last. */
const observationsArb = (bounds: readonly number[], minLength = 1) =>
  fc.array(fc.oneof(fc.constantFrom(...bounds), fc.double({ min: 0, max: (bounds.at(-1) as number) * 2, noNaN: true, noDefaultInfinity: true })), {
    minLength,
    maxLength: 200,
  });

const qArb = fc.double({ min: 0.0001, max: 1, noNaN: true, noDefaultInfinity: true });

const anyNumber = fc.oneof(fc.double(), fc.constantFrom(NaN, INF, -INF, 0, -1));
const anyHistogram = fc.record({
  bounds: fc.array(anyNumber, { maxLength: 8 }),
  counts: fc.array(anyNumber, { maxLength: 8 }),
  sum: anyNumber,
  count: anyNumber,
});

describe('histogram quantile (Prometheus histogram_quantile semantics)', () => {
  it('interpolates inside the bucket: hand-computed values', () => {
    // 100 obs ≤ 0.06 (in (0.04, 0.06]), 50 in (0.08, 0.1], 50 in (0.25, 0.5].
    const h: BucketCounts = { bounds: [0.04, 0.06, 0.08, 0.1, 0.25, 0.5, INF], counts: [0, 100, 100, 150, 150, 200, 200], count: 200, sum: NaN };
    expect(histogramQuantile(0.5, h)).toBeCloseTo(0.06, 12); // rank 100: 0.04 + 0.02 × 100/100
    expect(histogramQuantile(0.25, h)).toBeCloseTo(0.05, 12); // rank 50: 0.04 + 0.02 × 50/100
    expect(histogramQuantile(0.95, h)).toBeCloseTo(0.45, 12); // rank 190: 0.25 + 0.25 × 40/50
    expect(bucketQuantile(0.95, h)).toMatchObject({ lower: 0.25, upper: 0.5, overflow: false });
  });

  it('a rank in the +Inf bucket returns the highest finite bound; empty or bound-less is undefined, never 0', () => {
    expect(bucketQuantile(0.99, { bounds: [1, 2, INF], counts: [1, 2, 10], count: 10, sum: NaN })).toEqual({ value: 2, lower: 2, upper: INF, overflow: true });
    expect(histogramQuantile(0.5, { bounds: [1, 2, INF], counts: [0, 0, 0], count: 0, sum: 0 })).toBeUndefined();
    expect(histogramQuantile(0.5, { bounds: [INF], counts: [5], count: 5, sum: 1 })).toBeUndefined();
    expect(histogramQuantile(0, { bounds: [1, INF], counts: [1, 1], count: 1, sum: 1 })).toBeUndefined();
    expect(histogramQuantile(1.5, { bounds: [1, INF], counts: [1, 1], count: 1, sum: 1 })).toBeUndefined();
  });

  it('property: the result lies in the bucket that holds the true quantile of the observations', () => {
    fc.assert(
      fc.property(
        boundsArb.chain((bounds) => fc.tuple(fc.constant(bounds), observationsArb(bounds), qArb)),
        ([bounds, observations, q]) => {
          const result = bucketQuantile(q, asCounts(histogramOf(observations, bounds)));
          expect(result).toBeDefined();
          const truth = trueQuantile(q, observations);
          const [lower, upper] = bucketOf(truth, bounds);
          expect(result!.lower).toBe(lower);
          expect(result!.upper).toBe(upper);
          if (upper === INF) expect(result!.value).toBe(bounds.at(-1));
          else {
            expect(result!.value).toBeGreaterThanOrEqual(lower);
            expect(result!.value).toBeLessThanOrEqual(upper);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('property: monotone in q', () => {
    fc.assert(
      fc.property(
        boundsArb.chain((bounds) => fc.tuple(fc.constant(bounds), observationsArb(bounds), qArb, qArb)),
        ([bounds, observations, a, b]) => {
          const h = asCounts(histogramOf(observations, bounds));
          const [lo, hi] = a <= b ? [a, b] : [b, a];
          expect(histogramQuantile(lo, h)!).toBeLessThanOrEqual(histogramQuantile(hi, h)!);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('property: never throws, whatever the input', () => {
    fc.assert(
      fc.property(anyHistogram, anyNumber, (h, q) => {
        expect(() => bucketQuantile(q, { bounds: h.bounds, counts: h.counts, count: h.count, sum: h.sum })).not.toThrow();
        expect(() => canonical(h)).not.toThrow();
      }),
      { numRuns: 1000 },
    );
  });

  it('property: every exposed histogram (with or without its +Inf bucket) has a finite quantile inside its bounds', () => {
    let asserted = 0;
    const runs = 500;
    fc.assert(
      fc.property(
        boundsArb.chain((bounds) => fc.tuple(fc.constant(bounds), observationsArb(bounds), qArb, fc.boolean())),
        ([bounds, observations, q, cut]) => {
          const exposed = histogramOf(observations, bounds);
          // A cut body lacks the +Inf bucket; `_count` then stands for it.
          const h = cut ? { ...exposed, bounds: exposed.bounds.slice(0, -1), counts: exposed.counts.slice(0, -1) } : exposed;
          const c = canonical(h);
          expect(c).toBeDefined();
          const r = bucketQuantile(q, c!);
          expect(r).toBeDefined();
          expect(Number.isFinite(r!.value)).toBe(true);
          expect(r!.value).toBeGreaterThanOrEqual(0);
          expect(r!.value).toBeLessThanOrEqual(bounds.at(-1)!);
          asserted += 1;
        },
      ),
      { numRuns: runs },
    );
    expect(asserted).toBe(runs);
  });
});

describe('histogram delta', () => {
  it('property: the delta of before → before+after is the histogram of the later observations', () => {
    fc.assert(
      fc.property(
        boundsArb.chain((bounds) => fc.tuple(fc.constant(bounds), observationsArb(bounds, 0), observationsArb(bounds, 0), qArb)),
        ([bounds, before, after, q]) => {
          const result = histogramDelta(histogramOf(before, bounds), histogramOf([...before, ...after], bounds));
          expect(result.ok).toBe(true);
          if (!result.ok) return;
          const expected = histogramOf(after, bounds);
          expect(result.delta.counts).toEqual(expected.counts);
          expect(result.delta.count).toBe(after.length);
          // Only observations inside the window decide the quantile.
          const value = histogramQuantile(q, result.delta);
          if (after.length === 0) expect(value).toBeUndefined();
          else {
            const [lower, upper] = bucketOf(trueQuantile(q, after), bounds);
            expect(value!).toBeGreaterThanOrEqual(lower);
            expect(value!).toBeLessThanOrEqual(upper === INF ? (bounds.at(-1) as number) : upper);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('property: counts going backwards (a restart) or different bounds are a reset, never a negative delta', () => {
    fc.assert(
      fc.property(
        boundsArb.chain((bounds) => fc.tuple(fc.constant(bounds), observationsArb(bounds), fc.nat())),
        ([bounds, observations, drop]) => {
          const full = histogramOf(observations, bounds);
          const fewer = histogramOf(observations.slice(0, drop % observations.length), bounds);
          expect(histogramDelta(full, fewer)).toEqual({ ok: false, reason: 'reset' });
          const other = histogramOf(
            observations,
            bounds.map((b) => b * 2),
          );
          expect(histogramDelta(full, other)).toEqual({ ok: false, reason: 'reset' });
        },
      ),
    );
  });

  it('property: never throws on arbitrary input', () => {
    fc.assert(
      fc.property(anyHistogram, anyHistogram, (a, b) => {
        expect(() => histogramDelta(a, b)).not.toThrow();
      }),
      { numRuns: 1000 },
    );
  });

  it('property: between two scrapes of one worker (even one racing an observation) the delta is a valid cumulative histogram', () => {
    let asserted = 0;
    const runs = 500;
    fc.assert(
      fc.property(
        boundsArb.chain((bounds) => fc.tuple(fc.constant(bounds), observationsArb(bounds, 0), observationsArb(bounds, 0), fc.nat())),
        ([bounds, before, after, racer]) => {
          const earlier = histogramOf(before, bounds);
          const exact = histogramOf([...before, ...after], bounds);
          // A scrape that raced an observation: a lower bucket already counts it, the ones above not yet
          // (still cumulative, but the per-bucket increments come out of order).
          const at = racer % bounds.length;
          const racy = { ...exact, counts: exact.counts.map((c, i) => (i === at && c < exact.counts[i + 1]! ? c + 1 : c)) };
          for (const later of [exact, racy]) {
            const result = histogramDelta(earlier, later);
            expect(result.ok).toBe(true);
            const { counts, bounds: deltaBounds, count } = (result as Extract<typeof result, { ok: true }>).delta;
            expect(deltaBounds.at(-1)).toBe(INF);
            expect(counts[0]!).toBeGreaterThanOrEqual(0);
            for (let i = 1; i < counts.length; i++) expect(counts[i]!).toBeGreaterThanOrEqual(counts[i - 1]!);
            expect(count).toBe(counts.at(-1));
            expect(count).toBeGreaterThanOrEqual(after.length);
          }
          asserted += 1;
        },
      ),
      { numRuns: runs },
    );
    expect(asserted).toBe(runs);
  });

  it('appends _count as the +Inf bucket when the exposition had none; evens out a racy scrape', () => {
    expect(canonical({ bounds: [1, 2], counts: [1, 3], count: 5, sum: 9 })).toEqual({ bounds: [1, 2, INF], counts: [1, 3, 5], count: 5, sum: 9 });
    // Bucket le=1 grew by 2 but le=2 only by 1 (read mid-observation): increments evened out.
    const r = histogramDelta({ bounds: [1, 2, INF], counts: [1, 3, 3], count: 3, sum: 3 }, { bounds: [1, 2, INF], counts: [3, 4, 5], count: 5, sum: NaN });
    expect(r).toEqual({ ok: true, delta: { bounds: [1, 2, INF], counts: [2, 2, 2], count: 2, sum: NaN } });
  });
});

describe('merging deltas across workers', () => {
  it('property: same bounds merge to the histogram of all observations', () => {
    fc.assert(
      fc.property(
        boundsArb.chain((bounds) => fc.tuple(fc.constant(bounds), fc.array(observationsArb(bounds, 0), { minLength: 1, maxLength: 5 }))),
        ([bounds, perWorker]) => {
          const result = mergeDeltas(perWorker.map((obs, i) => ({ id: `w${i}`, delta: asCounts(histogramOf(obs, bounds)) })));
          expect(result.merged!.counts).toEqual(histogramOf(perWorker.flat(), bounds).counts);
          expect(result.included).toHaveLength(perWorker.length);
          expect(result.excluded).toEqual([]);
        },
      ),
    );
  });

  it('property: a finer layout containing the fleet bounds is read exactly on them; an incompatible one is excluded, never interpolated', () => {
    fc.assert(
      fc.property(
        boundsArb.chain((bounds) =>
          fc.tuple(
            fc.constant(bounds),
            observationsArb(bounds, 0),
            observationsArb(bounds, 0),
            observationsArb(bounds, 0),
            fc.double({ min: 0.0001, max: 0.9999, noNaN: true }),
          ),
        ),
        ([bounds, coarseObs, fineObs, oddObs, f]) => {
          // The fine layout adds a bound between 0 and the first; the odd one shares no finite bound.
          const fine = [(bounds[0] as number) * f, ...bounds];
          const odd = bounds.map((_, i) => 2000 + i); // all bounds are ≤ 1000
          const result = mergeDeltas([
            { id: 'coarse', delta: asCounts(histogramOf(coarseObs, bounds)) },
            { id: 'fine', delta: asCounts(histogramOf(fineObs, fine)) },
            // Weighted so it can never be the reference: fewer observations than the other two.
            { id: 'odd', delta: asCounts(histogramOf(oddObs.slice(0, 0), odd)) },
          ]);
          if (coarseObs.length + fineObs.length === 0) return; // all-zero: any reference is fair
          expect(result.merged!.bounds).toEqual([...bounds, INF]);
          expect(result.merged!.counts).toEqual(histogramOf([...coarseObs, ...fineObs], bounds).counts);
          expect(result.projected).toEqual(['fine']);
          expect(result.excluded.map((e) => e.id)).toEqual(['odd']);
        },
      ),
    );
  });

  it('picks the layout that keeps the most observations', () => {
    const v0 = [0.1, 0.5, 1];
    const custom = [0.2, 0.4];
    const result = mergeDeltas([
      { id: 'a', delta: asCounts(histogramOf([0.05, 0.3], v0)) },
      { id: 'b', delta: asCounts(histogramOf([0.1, 0.3, 0.3, 0.9], custom)) },
    ]);
    expect(result.included).toEqual(['b']);
    expect(result.excluded[0]).toMatchObject({ id: 'a' });
    expect(result.excluded[0]!.reason).toContain('lack some of the fleet');
  });

  it('never throws on arbitrary deltas', () => {
    fc.assert(
      fc.property(fc.array(anyHistogram, { maxLength: 4 }), (hs) => {
        const inputs = hs.flatMap((h, i) => {
          const c = canonical(h);
          return c ? [{ id: String(i), delta: c }] : [];
        });
        const r = mergeDeltas(inputs);
        expect(r.included.length + r.excluded.length).toBe(inputs.length);
      }),
    );
  });
});

function sampleAt(at: number, extra: Partial<WorkerSample> = {}): WorkerSample {
  return { at, models: ['m'], counters: {}, histograms: {}, ...extra };
}

describe('the per-worker window', () => {
  const read = counterReader('generationTokens');
  const tokens = (at: number, generationTokens: number) => sampleAt(at, { counters: { generationTokens } });
  const worker = (samples: WorkerSample[]) => freshWorker('w', samples);

  it('starts at the newest sample at or before now − window', () => {
    const history = [tokens(0, 0), tokens(1000, 10), tokens(2000, 20), tokens(3000, 30), tokens(4000, 40)];
    const span = windowSpan(worker(history), 4500 - 2000, read);
    expect(span).toMatchObject({ ok: true, seconds: 2, baseValue: 20, currentValue: 40 });
    expect(span.ok && span.limitedBy).toBeUndefined();
  });

  it('uses the oldest sample when the history is shorter, and says so', () => {
    const history = [tokens(3000, 30), tokens(4000, 40)];
    expect(windowSpan(worker(history), 0, read)).toMatchObject({ ok: true, seconds: 1, limitedBy: 'history' });
  });

  it('never spans a reset: the window restarts after it; a reset at the newest sample leaves no window', () => {
    const history = [tokens(0, 500), tokens(1000, 600), tokens(2000, 5), tokens(3000, 25)];
    expect(windowSpan(worker(history), 0, read)).toMatchObject({ ok: true, seconds: 1, baseValue: 5, limitedBy: 'reset' });
    expect(windowSpan(worker(history.slice(0, 3)), 0, read)).toEqual({ ok: false, problem: 'reset' });
    expect(windowSpan(worker([tokens(0, 1)]), 0, read)).toEqual({ ok: false, problem: 'short' });
    expect(windowSpan(worker([sampleAt(0), sampleAt(1000)]), 0, read)).toEqual({ ok: false, problem: 'missing' });
  });

  it('a field missing for a while starts its window again when it is back, and says so', () => {
    const history = [tokens(0, 1), sampleAt(1000), tokens(2000, 3), tokens(3000, 4)];
    expect(windowSpan(worker(history), 0, read)).toMatchObject({ ok: true, seconds: 1, baseValue: 3, limitedBy: 'missing' });
  });

  it('ignores history entries newer than the snapshot sample', () => {
    const history = [tokens(0, 0), tokens(1000, 10), tokens(2000, 20)];
    expect(windowSpan(freshWorker('w', history, history[1]), 0, read)).toMatchObject({ ok: true, seconds: 1, currentValue: 10 });
  });

  it('a histogram whose bounds change without its count dropping is a reset too', () => {
    const h = (at: number, bounds: number[], counts: number[]) => sampleAt(at, { histograms: { ttft: { bounds, counts, count: counts.at(-1)!, sum: NaN } } });
    const history = [h(0, [1, 2, INF], [1, 2, 3]), h(1000, [1, 2, INF], [2, 3, 4]), h(2000, [1, 5, INF], [2, 9, 9]), h(3000, [1, 5, INF], [3, 10, 12])];
    const result = windowDelta(worker(history), 0, 'ttft');
    expect(result).toMatchObject({ ok: true, delta: { bounds: [1, 5, INF], counts: [1, 1, 3], count: 3 }, span: { seconds: 1, limitedBy: 'reset' } });
  });

  it('a bucket going back without the count going back moves the window after it', () => {
    const h = (at: number, counts: number[]) => sampleAt(at, { histograms: { ttft: { bounds: [1, 2, INF], counts, count: counts.at(-1)!, sum: NaN } } });
    const history = [h(0, [5, 6, 7]), h(1000, [1, 6, 8]), h(2000, [2, 7, 9])];
    expect(windowDelta(worker(history), 0, 'ttft')).toMatchObject({
      ok: true,
      delta: { counts: [1, 1, 1], count: 1 },
      span: { seconds: 1, limitedBy: 'reset' },
    });
  });
});
