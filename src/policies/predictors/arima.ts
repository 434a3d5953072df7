import type { Predictor } from './predictor.js';

/**
 * ARIMA from the `arima` npm package (zemlyansky/arima: an Emscripten build of the C library
 * rafat/ctsa), never a home-made model.
 *
 * The order is chosen by time-series cross-validation (Hyndman & Athanasopoulos, "Forecasting:
 * Principles and Practice", §5.10 tsCV), not by the package's AutoARIMA: its README lists
 * AutoARIMA as inaccurate on some patterns (zemlyansky/arima issues #7 and #12), and here it
 * forecast 102 for the ramp 10, 12 … 108 (the truth is 110) and ~1e-309 after a step from 10 to
 * 50. Each candidate order is fitted on the series up to a few recent origins and scored on its
 * error `steps` ahead; the best order is then fitted on the whole series.
 *
 * The C code prints optimiser diagnostics with printf and may call exit(), which the Emscripten
 * runtime turns into `process.exitCode = status` and a throw. Its output is routed to a buffer
 * (the note of a failed fit) and the process's exit code is restored after each fit.
 */
export const ARIMA_ORDERS: readonly (readonly [number, number, number])[] = [
  [1, 1, 1],
  [2, 1, 2],
  [0, 2, 2],
  [1, 2, 1],
];
/**
 * Origins scored per order, and the shortest prefix a candidate is fitted on: the package refuses
 * fewer than d + max(p + q, 10) values (its load.js), 12 for the orders above. A series shorter
 * than 11 values has no ARIMA fit and answers the last value, with the package's reason.
 */
const ORIGINS = 5;
const MIN_PREFIX = 12;

interface ArimaModel {
  fit(ts: number[]): ArimaModel;
  predict(length: number): [number[], number[]];
  destroy(): void;
}
type ArimaConstructor = new (options: Record<string, number | boolean>) => ArimaModel;

let loaded: Promise<ArimaConstructor> | undefined;
/** Lines the C code printed during the current fit. */
let printed: string[] | undefined;

/**
 * The runtime binds console.log / console.error when the package loads (`Module.print` unset):
 * binding them to forwarders then lets each fit collect the lines instead of writing them to
 * stdout, where they would break the scaler's JSON log.
 */
function load(): Promise<ArimaConstructor> {
  loaded ??= (async () => {
    const original = { log: console.log, error: console.error };
    const forward =
      (to: (...args: unknown[]) => void) =>
      (...args: unknown[]): void => {
        if (printed) printed.push(args.map(String).join(' '));
        else to(...args);
      };
    console.log = forward(original.log);
    console.error = forward(original.error);
    try {
      const module = (await import('arima')) as unknown as { default: ArimaConstructor };
      return module.default;
    } finally {
      console.log = original.log;
      console.error = original.error;
    }
  })();
  return loaded;
}

/** The forecast `steps` ahead of one order fitted on `series`, or why there is none. */
function fitOne(
  ARIMA: ArimaConstructor,
  order: readonly [number, number, number],
  series: readonly number[],
  steps: number,
): { value: number } | { error: string } {
  let model: ArimaModel | undefined;
  try {
    model = new ARIMA({ p: order[0], d: order[1], q: order[2], method: 0, optimizer: 6, verbose: false }).fit([...series]);
    const value = model.predict(steps)[0][steps - 1];
    return value !== undefined && Number.isFinite(value) ? { value } : { error: `the forecast is ${String(value)}` };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  } finally {
    model?.destroy();
  }
}

/** The order with the least squared error `steps` ahead over the last ORIGINS origins. */
function chooseOrder(ARIMA: ArimaConstructor, series: readonly number[], steps: number): readonly [number, number, number] {
  const h = Math.max(1, Math.min(steps, Math.floor(series.length / 4)));
  const origins: number[] = [];
  for (let j = 0; j < ORIGINS; j++) {
    const origin = series.length - h - j;
    if (origin >= MIN_PREFIX) origins.push(origin);
  }
  let best = ARIMA_ORDERS[0] as readonly [number, number, number];
  let bestError = Number.POSITIVE_INFINITY;
  for (const order of origins.length > 0 ? ARIMA_ORDERS : []) {
    let error = 0;
    for (const origin of origins) {
      const predicted = fitOne(ARIMA, order, series.slice(0, origin), h);
      error += 'value' in predicted ? (predicted.value - (series[origin + h - 1] as number)) ** 2 : Number.POSITIVE_INFINITY;
    }
    if (error < bestError) {
      best = order;
      bestError = error;
    }
  }
  return best;
}

export const arimaPredictor: Predictor = {
  name: 'arima',
  forecast: async (series, steps) => {
    const ARIMA = await load();
    const exitCode = process.exitCode;
    printed = [];
    try {
      const order = chooseOrder(ARIMA, series, steps);
      const fitted = fitOne(ARIMA, order, series, steps);
      const diagnostics = printed.filter((l) => l.trim() !== '');
      if (!('value' in fitted)) {
        throw new Error(`ARIMA(${order.join(',')}): ${fitted.error}${diagnostics.length ? ` (${diagnostics.slice(0, 3).join('; ')})` : ''}`);
      }
      return { value: fitted.value, method: 'arima', note: `ARIMA(${order.join(',')})` };
    } finally {
      printed = undefined;
      process.exitCode = exitCode;
    }
  },
};
