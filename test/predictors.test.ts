import fc from 'fast-check';
import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { FailureLog } from '../src/log.js';
import { MIN_POINTS, PREDICTOR_NAMES, type PredictorName } from '../src/policies/predictors/predictor.js';
import { forecast, isPredictorName, predictorFor, setPredictorLog } from '../src/policies/predictors/registry.js';
import { mulberry32 } from '../src/simulation/random.js';

/**
 * Every predictor on synthetic series whose truth is known. Noise comes from a seeded PRNG
 * (mulberry32, the simulator's) so the tolerances are checked against fixed numbers, not luck.
 */
const random = mulberry32(42);
const N = 50;
/** Uniform noise of width w has standard deviation w / √12. */
const sd = (width: number): number => width / Math.sqrt(12);

interface SeriesCase {
  readonly name: string;
  readonly series: readonly number[];
  /** The noiseless value h intervals after the last point. */
  readonly truth: (h: number) => number;
  /** Allowed |forecast − truth| per predictor; a predictor not listed is not held to this series. */
  readonly tolerance: Partial<Record<PredictorName, number>>;
  readonly why: string;
}

const trendFollowers = (t: number): Partial<Record<PredictorName, number>> => ({ holt: t, kalman: t, arima: t, prophet: t, ets: t });

const CASES: readonly SeriesCase[] = [
  {
    name: 'constant 40',
    series: Array.from({ length: N }, () => 40),
    truth: () => 40,
    tolerance: { constant: 0, holt: 0, kalman: 0, arima: 0, prophet: 0, ets: 0 },
    why: 'a constant series forecasts itself exactly',
  },
  {
    name: 'linear ramp 10 + 2k',
    series: Array.from({ length: N }, (_, k) => 10 + 2 * k),
    truth: (h) => 10 + 2 * (N - 1 + h),
    tolerance: trendFollowers(0.01),
    why: 'a noiseless trend is followed to within 0.01 (level and slope are exact)',
  },
  {
    name: 'step 10 → 50 at k = 30',
    series: Array.from({ length: N }, (_, k) => (k < 30 ? 10 : 50)),
    truth: () => 50,
    tolerance: { constant: 0, arima: 1, kalman: 1, ets: 1, holt: 3, prophet: 10 },
    why: 'after 20 points at the new level: ARIMA, Kalman and ETS within 1 (2 %); Holt keeps some slope (3); Prophet extends the changepoint trend (10, 20 %)',
  },
  {
    name: 'noise 100 ± 10',
    series: Array.from({ length: N }, () => 100 + (random() - 0.5) * 20),
    truth: () => 100,
    tolerance: { constant: sd(20), ...trendFollowers(sd(20)) },
    why: 'within one standard deviation of the noise (20/√12 = 5.77) of the mean',
  },
  {
    name: 'ramp 10 + 2k with noise ± 5',
    series: Array.from({ length: N }, (_, k) => 10 + 2 * k + (random() - 0.5) * 10),
    truth: (h) => 10 + 2 * (N - 1 + h),
    tolerance: trendFollowers(2 * sd(10)),
    why: 'within two standard deviations of the noise (2 × 10/√12 = 5.77) of the line',
  },
];

describe('predictors on synthetic series', () => {
  for (const c of CASES) {
    for (const [name, tolerance] of Object.entries(c.tolerance) as [PredictorName, number][]) {
      for (const h of [1, 5]) {
        it(`${c.name}: ${name} ${h} step(s) ahead is within ${tolerance.toFixed(2)} of ${c.truth(h)} (${c.why})`, { timeout: 60_000 }, async () => {
          const f = await forecast(name, c.series, h);
          expect(f.method).toBe(name);
          expect(Math.abs(f.value - c.truth(h))).toBeLessThanOrEqual(tolerance);
          expect(f.points).toBe(N);
          expect(f.seconds).toBeGreaterThanOrEqual(0);
        });
      }
    }
  }

  it('the constant predictor answers the last value whatever the trend', async () => {
    expect((await forecast('constant', [1, 2, 3, 4, 5, 6], 10)).value).toBe(6);
  });
});

describe('rules every predictor keeps', () => {
  it('knows every name of the contract and nothing else', () => {
    for (const name of PREDICTOR_NAMES) expect(predictorFor(name).name).toBe(name);
    expect(isPredictorName('arima')).toBe(true);
    expect(isPredictorName('lstm')).toBe(false);
  });

  for (const name of PREDICTOR_NAMES) {
    it(`${name}: fewer than ${MIN_POINTS} points → the last value`, async () => {
      expect(await forecast(name, [3, 9, 27, 81], 1)).toMatchObject({ value: 81, method: 'last-value', points: 4 });
      expect(await forecast(name, [], 3)).toMatchObject({ value: 0, method: 'last-value', points: 0 });
    });

    it(`${name}: a falling series is clamped at 0, with a note`, { timeout: 60_000 }, async () => {
      const f = await forecast(name, [50, 40, 30, 20, 10, 5, 2, 1], 10);
      expect(f.value).toBeGreaterThanOrEqual(0);
      expect(Number.isFinite(f.value)).toBe(true);
      if (name === 'holt' || name === 'kalman') expect(f.note).toMatch(/clamped at 0/);
    });
  }

  it('arima: a series shorter than the package accepts (11 points for (1,1,1)) answers the last value, with its reason', async () => {
    const f = await forecast('arima', [1, 2, 3, 4, 5, 6, 7, 8], 1);
    expect(f).toMatchObject({ value: 8, method: 'last-value' });
    expect(f.note).toMatch(/arima fit failed \(ARIMA\(1,1,1\): Series too short \(8 values\)\. Minimum length for these parameters is 11\)/);
  });

  it('non-finite points are left out, and said so', async () => {
    const f = await forecast('kalman', [1, 2, Number.NaN, 3, 4, Number.POSITIVE_INFINITY, 5], 1);
    expect(f.points).toBe(5);
    expect(f.note).toMatch(/2 non-finite point\(s\) left out/);
    expect(Number.isFinite(f.value)).toBe(true);
  });

  it('a fit that overflows falls back to the last value, logged once', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    setPredictorLog(new FailureLog(pino({ level: 'info' }, sink)));
    // Alternating ±1.7e308: Holt's trend overflows to −∞.
    const series = Array.from({ length: 8 }, (_, k) => (k % 2 === 0 ? 1.7e308 : -1.7e308));
    const first = await forecast('holt', series, 1);
    const second = await forecast('holt', series, 1);
    expect(first).toMatchObject({ value: 0, method: 'last-value' });
    expect(first.note).toMatch(/holt forecast -?Infinity|NaN/);
    expect(second.method).toBe('last-value');
    expect(lines.filter((l) => l.includes('forecast fell back to the last value'))).toHaveLength(1);
  });
});

describe('forecasts are never NaN, infinite or negative (property)', () => {
  const finiteSeries = fc.array(
    fc.oneof(
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.constant(0),
      fc.double({ min: -1e6, max: 1e6, noNaN: true }),
      fc.integer({ min: 0, max: 1000 }),
    ),
    { maxLength: 60 },
  );
  const runs: Record<PredictorName, number> = { constant: 200, holt: 200, kalman: 200, arima: 60, prophet: 25, ets: 25 };
  for (const name of PREDICTOR_NAMES) {
    it(`${name}`, { timeout: 240_000 }, async () => {
      await fc.assert(
        fc.asyncProperty(finiteSeries, fc.integer({ min: 1, max: 30 }), async (series, steps) => {
          const f = await forecast(name, series, steps);
          expect(Number.isFinite(f.value)).toBe(true);
          expect(f.value).toBeGreaterThanOrEqual(0);
        }),
        { numRuns: runs[name], seed: 7 },
      );
    });
  }
});
