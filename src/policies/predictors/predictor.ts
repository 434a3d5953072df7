/**
 * Load predictors shared by every policy that forecasts (the SLA planner, the predictive
 * composite). A predictor sees the last interval values of one series (request count, ISL, OSL,
 * a signal) and forecasts the value `steps` intervals ahead. Fits run once per interval, off the
 * RPC path, so the call may be asynchronous (some models load WebAssembly).
 *
 * Rules every predictor keeps (Dynamo planner's own failures are the counter-examples:
 * ai-dynamo/dynamo#14493, its Kalman filter forecast negative load):
 * - fewer than MIN_POINTS values → the last value;
 * - a failed or non-finite fit → the last value, with the reason in `note`;
 * - a negative forecast is clamped at 0.
 */
export const PREDICTOR_NAMES = ['constant', 'holt', 'kalman', 'arima', 'prophet', 'ets'] as const;
export type PredictorName = (typeof PREDICTOR_NAMES)[number];

/** Below this many points every predictor answers the last value. */
export const MIN_POINTS = 5;

export interface Forecast {
  /** Finite and ≥ 0. */
  readonly value: number;
  /** The predictor that produced `value`, or `last-value` when it fell back. */
  readonly method: PredictorName | 'last-value';
  /** Why the predictor fell back or clamped, for the explanation. */
  readonly note?: string;
}

export interface Predictor {
  readonly name: PredictorName;
  forecast(series: readonly number[], steps: number): Promise<Forecast>;
}

/** The last value of a series, 0 for an empty one. */
export function lastValue(series: readonly number[]): number {
  const last = series.at(-1);
  return last !== undefined && Number.isFinite(last) ? Math.max(0, last) : 0;
}
