/**
 * The predictive composite: `policy: composite` with `predictor` and `horizon`. Each signal's
 * KEDA value is kept as a per-interval series (one point per `horizon / 10`, at least 1 s: the
 * mean of the evaluations in that interval), forecast `horizon` ahead, and the higher of now and
 * the forecast decides the signal's replica count. A forecast only ever raises the count: scale-
 * down follows the present value (and the behaviour's stabilization window), as in Knative's
 * autoscaler, which scales up on the panic window but down only on the stable one
 * (knative/serving, pkg/autoscaler/scaling/autoscaler.go).
 *
 * Fits never run inside an evaluation (and so never inside a GetMetrics call): an evaluation
 * records its values and reads the last finished forecast; when an interval closes, one fit of
 * every signal is scheduled on the event loop (setImmediate) and its result replaces the forecast
 * the next evaluations read. Fits run one at a time per trigger.
 *
 * Missing data is not zero: intervals with no evaluation between two that have one are filled on
 * the straight line between them, and a series whose last point is older than the horizon starts
 * over.
 */
import { parseChoiceKey, parseDurationKey } from '../signals/metadata-values.js';
import { round6 } from '../signals/rounding.js';
import { averageValue, type SignalKind } from '../signals/types.js';
import type { StateScope } from '../store/pool-store.js';
import { PREDICTOR_NAMES, type PredictorName } from './predictors/predictor.js';
import { forecast, type TimedForecast } from './predictors/registry.js';
import { ceilTolerant } from './replica-behaviour.js';

export const PREDICTIVE_KEYS = ['predictor', 'horizon'] as const;

/** Dynamo planner's `load_prediction_window_size` default: the points a fit sees. */
export const PREDICTION_WINDOW = 50;
const DEFAULT_PREDICTOR: PredictorName = 'arima';
const DEFAULT_HORIZON_MS = 300_000;
const HORIZON_RANGE = { minMs: 1000, maxMs: 3_600_000 };
/** Points per horizon. */
const POINTS_PER_HORIZON = 10;
const MIN_STEP_MS = 1000;

export interface PredictiveParams {
  readonly predictor: PredictorName;
  readonly horizonMs: number;
  /** The series' spacing. */
  readonly stepMs: number;
  /** Points ahead the forecast is made: horizonMs / stepMs. */
  readonly steps: number;
}

/** Set when either key is; throws MetadataError naming the key. */
export function parsePredictive(values: ReadonlyMap<string, string>): PredictiveParams | undefined {
  if (!values.get('predictor') && !values.get('horizon')) return undefined;
  const predictor = parseChoiceKey(values, 'predictor', PREDICTOR_NAMES, DEFAULT_PREDICTOR);
  const horizonMs = parseDurationKey(values, 'horizon', DEFAULT_HORIZON_MS, HORIZON_RANGE);
  const stepMs = Math.max(MIN_STEP_MS, horizonMs / POINTS_PER_HORIZON);
  return { predictor, horizonMs, stepMs, steps: Math.max(1, Math.round(horizonMs / stepMs)) };
}

export function predictiveKey(p: PredictiveParams | undefined): string {
  return p ? `predict=${p.predictor}@${p.horizonMs}` : '';
}

interface Series {
  readonly points: number[];
  /** The interval being filled (at / stepMs, floored), and its running sum. */
  bucket: number;
  sum: number;
  count: number;
}

/** One trigger's series and last forecasts (kept per StateScope). */
class Forecaster {
  private readonly series = new Map<string, Series>();
  private readonly last = new Map<string, TimedForecast>();
  private running = false;
  private again = false;

  constructor(private readonly p: PredictiveParams) {}

  /** Adds a value at `at`; true when it closed an interval (a new point). */
  record(signal: string, value: number, at: number): boolean {
    const bucket = Math.floor(at / this.p.stepMs);
    let s = this.series.get(signal);
    if (s && bucket - s.bucket > this.p.steps) {
      // A gap longer than the horizon: what came before says little about what comes next.
      this.series.delete(signal);
      this.last.delete(signal);
      s = undefined;
    }
    if (!s) {
      this.series.set(signal, { points: [], bucket, sum: value, count: 1 });
      return false;
    }
    if (bucket <= s.bucket) {
      s.sum += value;
      s.count += 1;
      return false;
    }
    const closed = s.sum / s.count;
    s.points.push(closed);
    // Intervals nobody evaluated in (KEDA polls less often than the spacing): a straight line
    // from the closed interval to this value, so a point stays one interval apart.
    const gap = bucket - s.bucket;
    for (let k = 1; k < gap; k++) s.points.push(closed + ((value - closed) * k) / gap);
    if (s.points.length > PREDICTION_WINDOW) s.points.splice(0, s.points.length - PREDICTION_WINDOW);
    s.bucket = bucket;
    s.sum = value;
    s.count = 1;
    return true;
  }

  points(signal: string): number {
    return this.series.get(signal)?.points.length ?? 0;
  }

  forecastOf(signal: string): TimedForecast | undefined {
    return this.last.get(signal);
  }

  /** Schedules a fit of every series off the caller's stack; one runs at a time. */
  schedule(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    setImmediate(() => void this.fitAll());
  }

  private async fitAll(): Promise<void> {
    try {
      do {
        this.again = false;
        for (const [signal, s] of this.series) {
          if (s.points.length === 0) continue;
          const result = await forecast(this.p.predictor, s.points, this.p.steps);
          // The series may have restarted while the fit ran.
          if (this.series.get(signal) === s) this.last.set(signal, result);
        }
      } while (this.again);
    } finally {
      this.running = false;
    }
  }
}

const forecasters = new WeakMap<StateScope, Forecaster>();

function forecasterFor(state: StateScope, p: PredictiveParams): Forecaster {
  let f = forecasters.get(state);
  if (!f) {
    f = new Forecaster(p);
    forecasters.set(state, f);
  }
  return f;
}

/** What predictive.ts needs of a composite's per-signal result. */
export interface SignalNow {
  readonly signal: string;
  readonly target: number;
  readonly kind: string;
  readonly ok: boolean;
  readonly value?: number;
  readonly readyWorkers?: number;
  readonly desired?: number;
  readonly formula?: string;
}

export interface ForecastDetails {
  readonly predictor: PredictorName;
  readonly horizonSeconds: number;
  /** Points in the series the last fit saw, and the series now. */
  readonly seriesLength: number;
  /** The KEDA value forecast `horizon` ahead, when a fit has finished. */
  readonly forecast?: number;
  readonly method?: string;
  readonly note?: string;
  readonly fitSeconds?: number;
  readonly desiredNow?: number;
  readonly desiredForecast?: number;
}

/**
 * Records each available signal's value and raises its `desired` to the last forecast's count
 * when that is higher. Pure apart from the forecaster's state; the fits it schedules run later.
 */
export function applyForecasts<T extends SignalNow>(
  results: readonly T[],
  p: PredictiveParams,
  state: StateScope,
  at: number,
): (T & { forecast: ForecastDetails })[] {
  const f = forecasterFor(state, p);
  let closed = false;
  const out = results.map((r) => {
    const base = { predictor: p.predictor, horizonSeconds: p.horizonMs / 1000 };
    if (!r.ok || r.value === undefined || r.desired === undefined) {
      return { ...r, forecast: { ...base, seriesLength: f.points(r.signal), note: 'signal unavailable: no point recorded' } };
    }
    const now = averageValue(r.kind as SignalKind, { value: r.value, readyWorkers: r.readyWorkers ?? 0 });
    if (f.record(r.signal, now, at)) closed = true;
    const last = f.forecastOf(r.signal);
    if (!last) {
      return {
        ...r,
        forecast: { ...base, seriesLength: f.points(r.signal), note: 'no forecast yet: the first interval is still open', desiredNow: r.desired },
      };
    }
    const desiredForecast = Math.max(0, ceilTolerant(last.value / r.target));
    const desired = Math.max(r.desired, desiredForecast);
    const details: ForecastDetails = {
      ...base,
      seriesLength: last.points,
      forecast: round6(last.value),
      method: last.method,
      ...(last.note ? { note: last.note } : {}),
      fitSeconds: round6(last.seconds),
      desiredNow: r.desired,
      desiredForecast,
    };
    const formula = `max(now ${r.formula ?? r.desired}, forecast ceil(${round6(last.value)} / ${r.target}) = ${desiredForecast}) = ${desired}`;
    return { ...r, desired, formula, forecast: details };
  });
  if (closed) f.schedule();
  return out;
}
