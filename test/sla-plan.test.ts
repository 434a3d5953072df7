import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadProfile } from '../src/config/profiles.js';
import { applyBounds, correctionFactors, rawReplicas } from '../src/policies/sla/formulas.js';
import { CubicSpline, DecodeInterpolator, PrefillInterpolator, roundHalfEven } from '../src/policies/sla/interpolation.js';
import { EMPTY_MEMORY, interpolatorsOf, planInterval, type Forecaster } from '../src/policies/sla/plan.js';
import { parseSla, SLA_KEYS } from '../src/policies/sla/params.js';
import { MetadataError } from '../src/signals/metadata-error.js';
import { fixturePath } from './support/fixtures.js';

/**
 * The SLA plan's arithmetic against figures derived by hand from Dynamo's formulas
 * (ai-dynamo/dynamo components/planner/src/dynamo/planner/utils/planner_core.py and
 * perf_interpolation.py). The fixture profile (test/fixtures/profiles/make_profiles.py) is
 * polynomial: prefill TTFT = 10 + ISL/100 + (ISL/1000)³ ms, throughput = 5·ISL + 10000 tok/s/GPU;
 * decode ITL = 5 + 80·kv + ctx/1000 ms, throughput = 2000·kv + 10 tok/s/GPU, max_kv_tokens 100000.
 */
const poly = loadProfile('poly', { dir: fixturePath('profiles', 'poly') });
const { prefill, decode } = interpolatorsOf(poly);
const h200 = loadProfile('h200', { dir: fixturePath('profiles', 'h200') });

describe('prefill interpolation: a not-a-knot cubic spline over ISL, clamped (scipy interp1d kind="cubic")', () => {
  it.each([
    // ISL, TTFT (s), throughput/GPU: the cubic is reproduced exactly by a not-a-knot spline.
    [3000, (10 + 30 + 27) / 1000, 25_000],
    [500, (10 + 5 + 0.125) / 1000, 12_500],
    [6200, (10 + 62 + 6.2 ** 3) / 1000, 41_000],
    // Clamped to [500, 7500].
    [100, (10 + 5 + 0.125) / 1000, 12_500],
    [9000, (10 + 75 + 7.5 ** 3) / 1000, 47_500],
  ])('ISL %d → TTFT %f s, throughput %f', (isl, ttft, thpt) => {
    expect(prefill.ttftAt(isl)).toBeCloseTo(ttft, 10);
    expect(prefill.thptPerGpuAt(isl)).toBeCloseTo(thpt, 6);
  });

  it("matches scipy on Dynamo's shipped H200 prefill profile (values from make_profiles.py's scipy run)", () => {
    const h = new PrefillInterpolator(h200.prefill);
    expect(h.ttftAt(3000)).toBeCloseTo(0.026864095711583335, 12);
    expect(h.thptPerGpuAt(3000)).toBeCloseTo(110893.61117799688, 6);
    expect(h.thptPerGpuAt(9000)).toBeCloseTo(304101.73965334153, 6);
    expect(h.thptPerGpuAt(3151)).toBeCloseTo(116357, 6); // a profiled point
    expect(h.thptPerGpuAt(20000)).toBe(435301); // clamped to the last point
  });

  it('passes through every point and reproduces any cubic (property)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: 20_000 }), { minLength: 4, maxLength: 20 }),
        fc.tuple(fc.double({ min: -5, max: 5, noNaN: true }), fc.double({ min: -1, max: 1, noNaN: true }), fc.double({ min: -1, max: 1, noNaN: true })),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (raw, [a, b, c], t) => {
          const xs = [...raw].sort((x, y) => x - y).map((x) => x / 1000);
          const f = (x: number) => a + b * x + c * x ** 3;
          const s = new CubicSpline(xs, xs.map(f));
          const x = (xs[0] as number) + t * ((xs.at(-1) as number) - (xs[0] as number));
          for (const p of xs) expect(s.at(p)).toBeCloseTo(f(p), 6);
          expect(s.at(x)).toBeCloseTo(f(x), 4);
        },
      ),
    );
  });
});

describe('decode interpolation: 100×100 grid over (KV usage, context length), nearest outside the hull', () => {
  // Grid cell (ix, iy) sits at kv = ix/99, ctx = iy·6000/99. Clough–Tocher reproduces linear data up
  // to its gradient estimate's tolerance (scipy's tol 1e-6): ~1e-8 s here, hence 7 decimals.
  const itlCell = (ix: number, iy: number) => (5 + (80 * ix) / 99 + (iy * 6000) / 99 / 1000) / 1000;

  it.each([
    // concurrency, context → kv = c·ctx/100000; ix = round(kv·99), iy = round(ctx·99/6000)
    [10, 3000, 30, 50], // kv 0.3 → ix 29.7 → 30; ctx 3000 → iy 49.5 → 50 (half to even)
    [50, 3150, 99, 52], // kv 1.575 → clipped to 99; iy 51.975 → 52
    [0, 0, 0, 0],
    [1, 9000, 9, 99], // kv 0.09 → ix 8.91 → 9; ctx beyond the profile → clipped to row 99
  ])('concurrency %d, context %d → cell (%d, %d)', (c, ctx, ix, iy) => {
    expect(decode.itlAt(c, ctx)).toBeCloseTo(itlCell(ix, iy), 7);
  });

  it('find_best_throughput_per_gpu: highest KV usage on the row whose ITL meets the target', () => {
    // Row iy 52 (ctx 3151.5): ITL = 8.1515 + 80·ix/99 ms ≤ 50 → ix ≤ 51.79 → ix 51, kv 51/99.
    const best = decode.bestThroughput(0.05, 3150);
    expect(best.kvUsage).toBeCloseTo(51 / 99, 12);
    expect(best.itlSeconds).toBeCloseTo(itlCell(51, 52), 8);
    expect(best.thptPerGpu).toBeCloseTo((2000 * 51) / 99 + 10, 4);
    // No cell meets 1 ms: the cell at KV usage 0.
    const none = decode.bestThroughput(0.001, 3150);
    expect(none.kvUsage).toBe(0);
    expect(none.thptPerGpu).toBeCloseTo(10, 4);
  });

  it("takes the nearest profiled point outside the hull (Dynamo's H200 decode points, as scipy fills them)", () => {
    const h = new DecodeInterpolator(h200.decode);
    // Cell (99, 0): ctx ≈ 0, far below the profiled 350 → nearest point (0.583, 350), 42.9 ms (scipy: 0.0429).
    expect(h.itlAt(94_503, 10)).toBeCloseTo(0.0429, 12);
    // Cell (0, 99): kv 0 at ctx 2997, left of the hull's (0.003, 2997) → 4.4 ms (scipy: 0.0044).
    expect(h.itlAt(0, 2997)).toBeCloseTo(0.0044, 12);
  });

  it("matches scipy griddata(method='cubic') on Dynamo's H200 decode points (values from scipy 1.17, make_profiles.py's data)", () => {
    const h = new DecodeInterpolator(h200.decode);
    const at = (ix: number, iy: number) => {
      const ctx = (iy * 2997) / 99;
      return { c: ((ix / 99) * 945_029) / ctx, ctx };
    };
    const cell = (ix: number, iy: number) => h.itlAt(at(ix, iy).c, at(ix, iy).ctx);
    // Clough–Tocher inside the hull: not what a linear interpolation would give.
    expect(cell(50, 99)).toBeCloseTo(0.013813806721186744, 12);
    expect(cell(30, 60)).toBeCloseTo(0.02383599650845116, 12);
    expect(cell(10, 20)).toBeCloseTo(0.018246334617347603, 12);
    // find_best_throughput_per_gpu on scipy's grid: row 99 (ctx 2997), first cell from ix 99 down with ITL ≤ target.
    expect(h.bestThroughput(0.02, 2997)).toMatchObject({ kvUsage: 84 / 99 });
    expect(h.bestThroughput(0.02, 2997).thptPerGpu).toBeCloseTo(13047.251143961832, 8);
    expect(h.bestThroughput(0.015, 2997).thptPerGpu).toBeCloseTo(13603.608857086097, 8);
    expect(h.bestThroughput(0.03, (30 * 2997) / 99).thptPerGpu).toBeCloseTo(15324.065416672836, 8);
  });

  it('numpy rounding is half to even', () => {
    expect([0.5, 1.5, 2.5, -0.5, 2.4, 2.6].map(roundHalfEven)).toEqual([0, 2, 2, -0, 2, 3]);
  });
});

/**
 * Steady traffic used by the table below and by test/sla-planner-e2e.test.ts: 20 requests/s for a
 * 2 s interval (40 requests), ISL 3000, OSL 300, mean duration 5 s, 2 decode workers.
 */
const obs = { requests: 40, isl: 3000, osl: 300, ttftSeconds: 0.0335, itlSeconds: 0.6 * itlAt99x52(), durationSeconds: 5 };
function itlAt99x52(): number {
  return (5 + 80 + (52 * 6000) / 99 / 1000) / 1000; // 88.1515 ms
}

describe('correction factors (observed ÷ interpolated)', () => {
  it('prefill: TTFT ÷ TTFT(ISL); decode: ITL ÷ ITL(requests/workers × duration/interval, ISL + OSL/2)', () => {
    const c = correctionFactors(obs, 2, 2, prefill, decode, { prefill: 1, decode: 1 });
    expect(c.prefill).toBeCloseTo(0.0335 / 0.067, 12); // 0.5
    expect(c.decodeConcurrency).toBeCloseTo(50, 12); // 40/2 × 5/2
    expect(c.interpolatedItlSeconds).toBeCloseTo(itlAt99x52(), 8); // kv 50·3150/1e5 = 1.575 → ix 99; iy 52
    expect(c.decode).toBeCloseTo(0.6, 6);
  });

  it('a factor without observations keeps its last value, and says so', () => {
    const c = correctionFactors({ requests: 0 }, 2, 2, prefill, decode, { prefill: 0.7, decode: 1.3 });
    expect([c.prefill, c.decode]).toEqual([0.7, 1.3]);
    expect(c.notes.join(' ')).toMatch(/prefill correction kept at 0.7.*decode correction kept at 1.3/);
  });
});

describe('replica formulas and bounds, table', () => {
  const base = { requests: 40, isl: 3000, osl: 300, intervalSeconds: 2, itlTargetSeconds: 0.05, prefillGpus: 1, decodeGpus: 1 };
  it.each([
    // Without correction. Prefill: 40·3000/2 = 60000 tok/s ÷ 25000 = 2.4 → 3.
    // Decode: best kv on row 52 for 50 ms is 51/99 → 2000·0.51515 + 10 = 1040.30 tok/s; 40·300/2 = 6000 ÷ 1040.30 = 5.77 → 6.
    ['no correction', 1, 1, 3, 6],
    // p = 0.5: 60000·0.5 = 30000 ÷ 25000 = 1.2 → 2. d = 0.6: ITL target 50/0.6 = 83.33 ms →
    // 8.1515 + 80·ix/99 ≤ 83.33 → ix 93, kv 0.93939 → 1888.79 tok/s; 6000 ÷ 1888.79 = 3.18 → 4.
    ['with correction', 0.5, 0.6, 2, 4],
    // p > 1 is capped at 1 (min(1, p)): as without correction for prefill.
    ['prefill correction above 1', 2, 1, 3, 6],
  ])('%s (p %f, d %f) → prefill %d, decode %d', (_name, p, d, numP, numD) => {
    const raw = rawReplicas({ ...base, prefillCorrection: p, decodeCorrection: d }, prefill, decode);
    expect([raw.prefill, raw.decode]).toEqual([numP, numD]);
  });

  it.each([
    // GPU budget 6 over 3 + 6 = 9 GPUs: scale 6/9, prefill round(2) = 2, decode round((6 − 2)/1) = 4.
    [{ prefill: 3, decode: 6 }, { minReplicas: 1, gpuBudget: 6 }, 2, 4],
    // 2-GPU decode engines: 3 + 12 = 15 GPUs over 8: scale 8/15, prefill round(1.6) = 2, decode round((8 − 2)/2) = 3.
    [{ prefill: 3, decode: 6 }, { minReplicas: 1, gpuBudget: 8, decodeGpus: 2 }, 2, 3],
    // Never below minReplicas: budget 2 with min 1: scale 2/9 → prefill max(1, round(0.67)) = 1, decode max(1, round(1)) = 1.
    [{ prefill: 3, decode: 6 }, { minReplicas: 1, gpuBudget: 2 }, 1, 1],
    // min 4 lifts prefill 3 → 4; max 5 caps decode 6 → 5.
    [{ prefill: 3, decode: 6 }, { minReplicas: 4, maxReplicas: 5 }, 4, 5],
    // Zero load: both at minReplicas.
    [{ prefill: 0, decode: 0 }, { minReplicas: 2 }, 2, 2],
  ])('%o with %o → %d, %d', (raw, bounds, p, d) => {
    const out = applyBounds(raw, { prefillGpus: 1, decodeGpus: 1, ...bounds });
    expect([out.prefill, out.decode]).toEqual([p, d]);
  });

  it('bounds hold for any raw counts (property)', () => {
    fc.assert(
      fc.property(
        fc.nat(200),
        fc.nat(200),
        fc.integer({ min: 1, max: 5 }),
        fc.option(fc.integer({ min: 10, max: 100 }), { nil: undefined }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        (p, d, min, budget, gP, gD) => {
          const out = applyBounds({ prefill: p, decode: d }, { minReplicas: min, gpuBudget: budget, prefillGpus: gP, decodeGpus: gD });
          expect(out.prefill).toBeGreaterThanOrEqual(min);
          expect(out.decode).toBeGreaterThanOrEqual(min);
          expect(Number.isInteger(out.prefill) && Number.isInteger(out.decode)).toBe(true);
          // Decode takes what prefill leaves, rounded: over the budget by at most half a decode engine,
          // unless minReplicas holds decode up.
          if (budget !== undefined && out.decode > min) expect(out.prefill * gP + out.decode * gD).toBeLessThanOrEqual(budget + gD / 2);
        },
      ),
    );
  });
});

describe('planInterval: one plan, two answers', () => {
  const last: Forecaster = async (_name, series) => ({ value: series.at(-1) ?? 0, method: 'last-value' });
  const params = (extra: Record<string, string> = {}) =>
    parseSla(new Map(Object.entries({ role: 'decode', profile: 'poly', adjustmentInterval: '2s', ...extra })));
  const input = (observed: Parameters<typeof planInterval>[1]['observed'], extra?: Record<string, string>) => ({
    at: 0,
    params: params(extra),
    interpolators: { prefill, decode },
    observed,
    current: { prefill: 2, decode: 2 },
  });

  it('plans both roles from one observation (with correction: 2 and 4, as derived above)', async () => {
    const { plan, memory } = await planInterval(EMPTY_MEMORY, input({ ok: true, observation: obs, workers: 2 }), last);
    expect([plan.prefill, plan.decode]).toEqual([2, 4]);
    expect(memory.corrections.prefill).toBeCloseTo(0.5, 12);
    expect(memory.requests).toEqual([40]);
  });

  it('zero traffic is load 0: both roles to minReplicas at once (the counter-example is Dynamo #6985)', async () => {
    const first = await planInterval(EMPTY_MEMORY, input({ ok: true, observation: obs, workers: 2 }), last);
    const { plan } = await planInterval(first.memory, { ...input({ ok: true, observation: { requests: 0 }, workers: 2 }), previous: first.plan }, last);
    expect([plan.prefill, plan.decode]).toEqual([1, 1]);
    expect(plan.forecasts?.requests.note).toMatch(/no request finished/);
  });

  it('no fresh data holds the last plan and says why (Dynamo #14575)', async () => {
    const first = await planInterval(EMPTY_MEMORY, input({ ok: true, observation: obs, workers: 2 }), last);
    const { plan } = await planInterval(first.memory, { ...input({ ok: false, reason: 'no worker has fresh data' }), previous: first.plan }, last);
    expect([plan.prefill, plan.decode]).toEqual([2, 4]);
    expect(plan.held).toMatch(/no fresh observation \(no worker has fresh data\): holding the last plan/);
  });
});

describe('parseSla (property): any metadata is accepted whole or refused naming one of its keys', () => {
  it('never throws anything but a MetadataError for a key it was given', () => {
    const value = fc.oneof(
      fc.string({ maxLength: 8 }),
      fc.constantFrom('0', '-1', '1', '2.5', '50ms', '1s', '2m', 'true', 'false', 'decode', 'prefill', 'arima', 'NaN'),
    );
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...SLA_KEYS), value), (extra) => {
        const values = new Map(Object.entries({ role: 'decode', profile: 'poly', ...extra }));
        try {
          const p = parseSla(values);
          expect(p.minReplicas).toBeGreaterThanOrEqual(1);
          expect(p.adjustmentIntervalMs).toBeGreaterThanOrEqual(1000);
          expect(p.ttftTargetMs > 0 && p.itlTargetMs > 0).toBe(true);
          if (p.maxReplicas !== undefined) expect(p.maxReplicas).toBeGreaterThanOrEqual(p.minReplicas);
        } catch (error) {
          expect(error).toBeInstanceOf(MetadataError);
          expect([...values.keys()]).toContain((error as MetadataError).key);
        }
      }),
    );
  });
});

describe("Dynamo's shipped H200 profile: the counts Dynamo's formulas give over scipy's interpolation", () => {
  const h = interpolatorsOf(h200);
  // Figures from Dynamo's _compute_replica_requirements re-run in Python over scipy's interp1d and
  // griddata (cubic, nearest fill) on the same arrays: (num_p, num_d, the fractions before ceil).
  it.each([
    // 6000 requests/60 s, ISL 3000, OSL 300 (ctx 3150 → row 99), ITL 20 ms.
    [6000, 3000, 300, 0.02, 1, 1, 3, 3, 2.705295614536944, 2.2993349073290252],
    // 3000 requests, ISL 1000, OSL 200 (ctx 1100 → row 36), ITL 15 ms.
    [3000, 1000, 200, 0.015, 1, 1, 1, 1, 0.993992204007364, 0.9534719602699715],
    // ISL 8000 (clamped spline), with p 0.5 and d 0.8 (corrected ITL 37.5 ms).
    [12000, 8000, 150, 0.03, 0.5, 0.8, 3, 3, 2.864923222670771, 2.5325004220834035],
  ])('%d requests, ISL %d, OSL %d, ITL %f s, p %f, d %f → %d prefill, %d decode', (requests, isl, osl, itl, p, d, numP, numD, fracP, fracD) => {
    const raw = rawReplicas(
      { requests, isl, osl, intervalSeconds: 60, itlTargetSeconds: itl, prefillCorrection: p, decodeCorrection: d, prefillGpus: 1, decodeGpus: 1 },
      h.prefill,
      h.decode,
    );
    expect([raw.prefill, raw.decode]).toEqual([numP, numD]);
    expect(raw.prefillLoad / raw.prefillThptPerGpu).toBeCloseTo(fracP, 9);
    expect(raw.decodeLoad / raw.decodeThptPerGpu).toBeCloseTo(fracD, 9);
  });

  it('decode correction: observed ITL ÷ the grid cell at (requests/workers × duration/interval, ISL + OSL/2)', () => {
    // 3000 requests over 2 decode workers, 6 s each, 60 s: concurrency 150, ctx 1100, kv 0.17460 (Python: 0.8235499072564547).
    const c = correctionFactors({ requests: 3000, isl: 1000, osl: 200, ttftSeconds: 0.03, itlSeconds: 0.018, durationSeconds: 6 }, 60, 2, h.prefill, h.decode, {
      prefill: 1,
      decode: 1,
    });
    expect(c.decodeConcurrency).toBe(150);
    expect(c.decode).toBeCloseTo(0.8235499072564547, 12);
  });
});
