/**
 * Forecasts by predictor name. Until the predictor models are built, every name answers the last
 * value of its series (the contract's fallback), saying so in `note`.
 */
import { lastValue, type Forecast, type PredictorName } from './predictor.js';

export async function forecast(name: PredictorName, series: readonly number[], steps: number): Promise<Forecast> {
  void steps;
  return { value: lastValue(series), method: 'last-value', note: `predictor not available (${name})` };
}
