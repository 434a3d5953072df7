import type { Predictor } from './predictor.js';

/**
 * Dynamo planner v2's `kalman` predictor: a local linear trend filter (ai-dynamo/dynamo,
 * components/src/dynamo/planner/core/load/predictors.py). State x = [level, trend],
 * F = [[1, 1], [0, 1]], H = [1, 0], Q = diag(q_level 1.0, q_trend 0.1), R = 10.0, P0 = 1000·I;
 * the state starts at [first value, 0]. After filtering the series, the forecast `steps` ahead is
 * F^steps x = level + steps × trend.
 */
export const KALMAN_PARAMETERS = { qLevel: 1.0, qTrend: 0.1, r: 10.0, p0: 1000 } as const;

export interface KalmanState {
  readonly level: number;
  readonly trend: number;
}

export function kalmanFilter(series: readonly number[], k = KALMAN_PARAMETERS): KalmanState {
  let level = series[0] ?? 0;
  let trend = 0;
  // P = [[a, b], [b, d]] (symmetric).
  let a = k.p0;
  let b = 0;
  let d = k.p0;
  for (let t = 1; t < series.length; t++) {
    // Predict: x = F x; P = F P Fᵀ + Q.
    level += trend;
    const pa = a + 2 * b + d + k.qLevel;
    const pb = b + d;
    const pd = d + k.qTrend;
    // Update with H = [1, 0]: S = P[0][0] + R, K = P Hᵀ / S.
    const s = pa + k.r;
    const k0 = pa / s;
    const k1 = pb / s;
    const innovation = (series[t] as number) - level;
    level += k0 * innovation;
    trend += k1 * innovation;
    // P = (I − K H) P.
    a = (1 - k0) * pa;
    b = (1 - k0) * pb;
    d = pd - k1 * pb;
  }
  return { level, trend };
}

export const kalmanPredictor: Predictor = {
  name: 'kalman',
  forecast: (series, steps) => {
    const { level, trend } = kalmanFilter(series);
    return Promise.resolve({ value: level + steps * trend, method: 'kalman' });
  },
};
