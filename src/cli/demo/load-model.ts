/**
 * The load model the simulated workers (vLLM and Dynamo) share, deterministic for a given seed:
 * running ∝ min(load, 1), a queue that grows linearly past `saturationLoad`, and KV usage =
 * min(1, load × 0.9 + noise), noise uniform in ±`noise` from a seeded PRNG.
 */

export interface LoadModel {
  /** Running requests at load 1. */
  readonly maxRunning: number;
  /** Load above which requests queue. */
  readonly saturationLoad: number;
  /** Waiting requests per unit of load past saturation. */
  readonly waitingPerLoad: number;
  /** Amplitude of the KV-usage noise (uniform ±noise); 0 for exact values. */
  readonly noise: number;
}

export interface LoadFigures {
  readonly running: number;
  readonly waiting: number;
  /** In [0, 1]. */
  readonly kvUsage: number;
}

/** The model with the simulated workers' defaults for what `options` leaves out (noise below 0 is 0). */
export function loadModel(options: Partial<LoadModel>): LoadModel {
  return {
    noise: Math.max(0, options.noise ?? 0.02),
    maxRunning: options.maxRunning ?? 32,
    saturationLoad: options.saturationLoad ?? 0.85,
    waitingPerLoad: options.waitingPerLoad ?? 40,
  };
}

/** Throws unless `load` is a finite number ≥ 0 (0 idle, 1 full, above 1 overloaded). */
export function checkLoad(load: number): void {
  if (!Number.isFinite(load) || load < 0) throw new RangeError(`load must be a finite number ≥ 0, got ${load}`);
}

/** What one engine reports at `load`; draws one noise value from `random` when the model has noise. */
export function loadFigures(load: number, model: LoadModel, random: () => number): LoadFigures {
  const running = Math.round(Math.min(load, 1) * model.maxRunning);
  const waiting = load > model.saturationLoad ? Math.round((load - model.saturationLoad) * model.waitingPerLoad) : 0;
  const jitter = model.noise > 0 ? (random() * 2 - 1) * model.noise : 0;
  return { running, waiting, kvUsage: Math.min(1, Math.max(0, load * 0.9 + jitter)) };
}
