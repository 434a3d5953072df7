import type { Predictor } from './predictor.js';

/**
 * Holt's linear trend (double exponential smoothing): a level and a trend, each smoothed, the
 * forecast `steps` ahead is level + steps × trend. The smoothing factors are the pair on a
 * 0.1-step grid with the least one-step-ahead squared error over the series (what
 * statsmodels' `Holt(...).fit()` does with an optimiser; a grid is enough for ≤ a few hundred
 * points and cannot fail to converge).
 */
const GRID = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

export interface HoltFit {
  readonly alpha: number;
  readonly beta: number;
  readonly level: number;
  readonly trend: number;
  readonly sse: number;
}

/** Runs the recursions for one (alpha, beta); level and trend start from the first two points. */
export function holtRun(series: readonly number[], alpha: number, beta: number): HoltFit {
  let level = series[0] ?? 0;
  let trend = (series[1] ?? level) - level;
  let sse = 0;
  for (let t = 1; t < series.length; t++) {
    const y = series[t] as number;
    const predicted = level + trend;
    sse += (y - predicted) ** 2;
    const nextLevel = alpha * y + (1 - alpha) * predicted;
    trend = beta * (nextLevel - level) + (1 - beta) * trend;
    level = nextLevel;
  }
  return { alpha, beta, level, trend, sse };
}

export function holtFit(series: readonly number[]): HoltFit {
  let best: HoltFit | undefined;
  for (const alpha of GRID) {
    for (const beta of GRID) {
      const fit = holtRun(series, alpha, beta);
      if (!best || fit.sse < best.sse) best = fit;
    }
  }
  return best ?? holtRun(series, 0.5, 0.5);
}

export const holtPredictor: Predictor = {
  name: 'holt',
  forecast: (series, steps) => {
    const fit = holtFit(series);
    return Promise.resolve({ value: fit.level + steps * fit.trend, method: 'holt' });
  },
};
