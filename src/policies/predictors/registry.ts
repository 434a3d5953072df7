/**
 * Every predictor by name, and `forecast`, which keeps the rules of predictor.ts for all of them:
 * fewer than MIN_POINTS values → the last value; a failed or non-finite fit → the last value,
 * logged once per predictor and cause; a negative forecast → 0. Each call's fit time is measured
 * and returned, for the explanation and the benchmarks.
 */
import { createLogger, FailureLog } from '../../log.js';
import { arimaPredictor } from './arima.js';
import { constantPredictor } from './constant.js';
import { etsPredictor } from './ets.js';
import { holtPredictor } from './holt.js';
import { kalmanPredictor } from './kalman.js';
import { lastValue, MIN_POINTS, PREDICTOR_NAMES, type Forecast, type Predictor, type PredictorName } from './predictor.js';
import { prophetPredictor } from './prophet.js';

const PREDICTORS: Readonly<Record<PredictorName, Predictor>> = {
  constant: constantPredictor,
  holt: holtPredictor,
  kalman: kalmanPredictor,
  arima: arimaPredictor,
  prophet: prophetPredictor,
  ets: etsPredictor,
};

export function isPredictorName(name: string): name is PredictorName {
  return (PREDICTOR_NAMES as readonly string[]).includes(name);
}

export function predictorFor(name: PredictorName): Predictor {
  return PREDICTORS[name];
}

export interface TimedForecast extends Forecast {
  /** Wall time of the fit and forecast. */
  readonly seconds: number;
  /** Points the predictor saw. */
  readonly points: number;
}

let failures: FailureLog | undefined;
const failureLog = (): FailureLog => (failures ??= new FailureLog(createLogger()));

/** Where fallbacks are logged (the scaler's logger; a silent one in benchmarks). */
export function setPredictorLog(log: FailureLog): void {
  failures = log;
}

/** `steps` (≥ 1) intervals ahead of the series' last point; never NaN, ∞ or negative. */
export async function forecast(name: PredictorName, series: readonly number[], steps: number): Promise<TimedForecast> {
  const started = performance.now();
  const points = series.filter((v) => Number.isFinite(v));
  const timed = (f: Forecast): TimedForecast => ({ ...f, seconds: (performance.now() - started) / 1000, points: points.length });
  const last = lastValue(points);
  const dropped = series.length - points.length;
  const droppedNote = dropped > 0 ? `${dropped} non-finite point(s) left out` : undefined;
  if (points.length < MIN_POINTS) {
    const note = `${points.length} point(s), fewer than ${MIN_POINTS}: the last value`;
    return timed({ value: last, method: 'last-value', note: droppedNote ? `${droppedNote}; ${note}` : note });
  }
  const ahead = Math.max(1, Math.round(steps));
  // A constant series forecasts itself (Dynamo's ARIMA predictor does the same); Prophet's
  // optimiser aborts on one, and zero traffic is the most common constant.
  if (points.every((v) => v === points[0])) return timed({ value: last, method: name, note: 'constant series' });
  let result: Forecast;
  try {
    result = await predictorFor(name).forecast(points, ahead);
  } catch (error) {
    // The first line only: WebAssembly errors carry the whole wasm stack.
    const why = (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
    failureLog().failed(`predictor ${name}`, 'fit failed', 'forecast fell back to the last value', { predictor: name, error: why });
    return timed({ value: last, method: 'last-value', note: `${name} fit failed (${why}): the last value` });
  }
  if (!Number.isFinite(result.value)) {
    failureLog().failed(`predictor ${name}`, 'non-finite', 'forecast fell back to the last value', { predictor: name, value: String(result.value) });
    return timed({ value: last, method: 'last-value', note: `${name} forecast ${String(result.value)}: the last value` });
  }
  failureLog().recovered(`predictor ${name}`);
  const notes = [droppedNote, result.note];
  let value = result.value;
  if (value < 0) {
    // ai-dynamo/dynamo#14493: the planner's Kalman predictor forecast negative load.
    notes.push(`${name} forecast ${value}: clamped at 0`);
    value = 0;
  }
  const note = notes.filter((n) => n !== undefined).join('; ');
  return timed(note ? { value, method: result.method, note } : { value, method: result.method });
}
