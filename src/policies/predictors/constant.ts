import { lastValue, type Predictor } from './predictor.js';

/** Next = last value: Dynamo planner's `constant` predictor (components/planner/src/dynamo/planner/utils/load_predictor.py). */
export const constantPredictor: Predictor = {
  name: 'constant',
  forecast: (series) => Promise.resolve({ value: lastValue(series), method: 'constant' }),
};
