/**
 * Dynamo's SLA-planner interpolation of a pre-deployment profile, as pure functions
 * (ai-dynamo/dynamo `components/planner/src/dynamo/planner/utils/perf_interpolation.py`):
 *
 * - prefill: TTFT(ISL) and throughput/GPU(ISL) are `scipy.interpolate.interp1d(kind="cubic")`,
 *   a not-a-knot cubic spline through the points, with ISL clamped to the profiled range;
 * - decode: ITL and throughput/GPU over (KV usage, context length) are resampled from the
 *   scattered points onto a 100×100 grid (`xi = linspace(0, 1)`, `yi = linspace(0, max(ctx))`)
 *   with `griddata(method="cubic")` (Clough–Tocher, clough-tocher.ts), cells outside the points'
 *   convex hull taking the nearest point's value; lookups round to the nearest cell.
 */
import { CloughTocher } from './clough-tocher.js';
import type { DecodeProfile, PrefillProfile } from '../../config/profiles.js';

export const GRID = 100;

/** A not-a-knot cubic spline through (xs, ys), xs strictly ascending, at least 4 points. */
export class CubicSpline {
  private readonly m: number[];

  constructor(
    private readonly xs: readonly number[],
    private readonly ys: readonly number[],
  ) {
    this.m = notAKnotSecondDerivatives(xs, ys);
  }

  /** The spline at x, x clamped to [xs[0], xs[n-1]] (Dynamo clamps ISL before interpolating). */
  at(x: number): number {
    const { xs, ys, m } = this;
    const n = xs.length;
    const clamped = Math.min(Math.max(x, xs[0] as number), xs[n - 1] as number);
    let i = 0;
    let hi = n - 2;
    while (i < hi) {
      const mid = (i + hi + 1) >> 1;
      if ((xs[mid] as number) <= clamped) i = mid;
      else hi = mid - 1;
    }
    const x0 = xs[i] as number;
    const x1 = xs[i + 1] as number;
    const h = x1 - x0;
    const a = x1 - clamped;
    const b = clamped - x0;
    const m0 = m[i] as number;
    const m1 = m[i + 1] as number;
    return (m0 * a ** 3) / (6 * h) + (m1 * b ** 3) / (6 * h) + ((ys[i] as number) / h - (m0 * h) / 6) * a + ((ys[i + 1] as number) / h - (m1 * h) / 6) * b;
  }
}

/**
 * Second derivatives M of the spline: the usual continuity rows inside, and not-a-knot at both
 * ends (the third derivative is continuous at xs[1] and xs[n-2]), scipy's default for interp1d.
 */
function notAKnotSecondDerivatives(xs: readonly number[], ys: readonly number[]): number[] {
  const n = xs.length;
  const h = (i: number) => (xs[i + 1] as number) - (xs[i] as number);
  const slope = (i: number) => ((ys[i + 1] as number) - (ys[i] as number)) / h(i);
  const a: number[][] = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  const rhs = new Array<number>(n).fill(0);
  const row0 = a[0] as number[];
  row0[0] = h(1);
  row0[1] = -(h(0) + h(1));
  row0[2] = h(0);
  for (let i = 1; i < n - 1; i++) {
    const row = a[i] as number[];
    row[i - 1] = h(i - 1);
    row[i] = 2 * (h(i - 1) + h(i));
    row[i + 1] = h(i);
    rhs[i] = 6 * (slope(i) - slope(i - 1));
  }
  const last = a[n - 1] as number[];
  last[n - 3] = h(n - 2);
  last[n - 2] = -(h(n - 3) + h(n - 2));
  last[n - 1] = h(n - 3);
  return solve(a, rhs);
}

/** Gaussian elimination with partial pivoting (n is a profile's point count: small). */
function solve(a: number[][], b: number[]): number[] {
  const n = b.length;
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs((a[r] as number[])[col] as number) > Math.abs((a[pivot] as number[])[col] as number)) pivot = r;
    [a[col], a[pivot]] = [a[pivot] as number[], a[col] as number[]];
    [b[col], b[pivot]] = [b[pivot] as number, b[col] as number];
    const pr = a[col] as number[];
    for (let r = col + 1; r < n; r++) {
      const row = a[r] as number[];
      const f = (row[col] as number) / (pr[col] as number);
      if (f === 0) continue;
      for (let c = col; c < n; c++) row[c] = (row[c] as number) - f * (pr[c] as number);
      b[r] = (b[r] as number) - f * (b[col] as number);
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    const row = a[r] as number[];
    let s = b[r] as number;
    for (let c = r + 1; c < n; c++) s -= (row[c] as number) * (x[c] as number);
    x[r] = s / (row[r] as number);
  }
  return x;
}

export class PrefillInterpolator {
  private readonly ttft: CubicSpline;
  private readonly thpt: CubicSpline;

  constructor(profile: PrefillProfile) {
    this.ttft = new CubicSpline(profile.isl, profile.ttftSeconds);
    this.thpt = new CubicSpline(profile.isl, profile.thptPerGpu);
  }

  /** TTFT in seconds at this ISL (clamped to the profiled range). */
  ttftAt(isl: number): number {
    return this.ttft.at(isl);
  }

  thptPerGpuAt(isl: number): number {
    return this.thpt.at(isl);
  }
}

/** numpy's `np.round`: half to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export interface BestThroughput {
  readonly thptPerGpu: number;
  readonly itlSeconds: number;
  readonly kvUsage: number;
}

export class DecodeInterpolator {
  /** Row-major [iy * GRID + ix], as Dynamo's `itl_interpolator[iy, ix]`. */
  private readonly itl: Float64Array;
  private readonly thpt: Float64Array;
  private readonly maxContext: number;
  readonly maxKvTokens: number;

  constructor(profile: DecodeProfile) {
    this.maxKvTokens = profile.maxKvTokens;
    this.maxContext = Math.max(...profile.contextLength);
    this.itl = resample(profile.kvUsage, profile.contextLength, profile.itlSeconds, this.maxContext);
    this.thpt = resample(profile.kvUsage, profile.contextLength, profile.thptPerGpu, this.maxContext);
  }

  /** `compute_idx`: the nearest grid cell, clipped, for a concurrency and context length. */
  cell(concurrency: number, contextLength: number): { ix: number; iy: number; kvUsage: number } {
    const kvUsage = (concurrency * contextLength) / this.maxKvTokens;
    return { ix: gridIndex(kvUsage, 1), iy: gridIndex(contextLength, this.maxContext), kvUsage };
  }

  /** ITL in seconds at this per-worker concurrency and context length. */
  itlAt(concurrency: number, contextLength: number): number {
    const { ix, iy } = this.cell(concurrency, contextLength);
    return this.itl[iy * GRID + ix] as number;
  }

  /**
   * `find_best_throughput_per_gpu`: on the context length's row, the highest KV usage whose ITL
   * meets `itlSeconds` (scanning from 99 down); none meets it → the cell at KV usage 0.
   */
  bestThroughput(itlSeconds: number, contextLength: number): BestThroughput {
    const iy = gridIndex(contextLength, this.maxContext);
    let ix = GRID - 1;
    for (; ix > 0; ix--) if ((this.itl[iy * GRID + ix] as number) <= itlSeconds) break;
    return { thptPerGpu: this.thpt[iy * GRID + ix] as number, itlSeconds: this.itl[iy * GRID + ix] as number, kvUsage: ix / (GRID - 1) };
  }
}

function gridIndex(value: number, max: number): number {
  const step = max / (GRID - 1);
  const i = step > 0 ? roundHalfEven(value / step) : 0;
  return Math.min(Math.max(i, 0), GRID - 1);
}

/** Scattered (x, y, z) onto the GRID×GRID grid over [0, 1] × [0, maxY]. */
function resample(xs: readonly number[], ys: readonly number[], zs: readonly number[], maxY: number): Float64Array {
  const cubic = new CloughTocher(xs, ys, zs);
  const grid = new Float64Array(GRID * GRID);
  for (let iy = 0; iy < GRID; iy++) {
    const y = (maxY * iy) / (GRID - 1);
    for (let ix = 0; ix < GRID; ix++) {
      const x = ix / (GRID - 1);
      const value = cubic.at(x, y);
      grid[iy * GRID + ix] = value !== undefined && Number.isFinite(value) ? value : nearest(x, y, xs, ys, zs);
    }
  }
  return grid;
}

/** scipy's NearestNDInterpolator: the closest point in the raw (unscaled) coordinates. */
function nearest(x: number, y: number, xs: readonly number[], ys: readonly number[], zs: readonly number[]): number {
  let best = 0;
  let bestD = Number.POSITIVE_INFINITY;
  for (let i = 0; i < xs.length; i++) {
    const d = (x - (xs[i] as number)) ** 2 + (y - (ys[i] as number)) ** 2;
    if (d < bestD) {
      bestD = d;
      best = i;
    }
  }
  return zs[best] as number;
}
