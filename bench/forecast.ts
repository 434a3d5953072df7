/**
 * Fit time per predictor on a 50-point series (Dynamo planner's default prediction window): a
 * ramp with seeded noise, forecast 10 points ahead, as the predictive composite asks. The first
 * call of each predictor is reported apart (it loads the WebAssembly module); then `rounds` fits,
 * median and p95 of the wall time of `forecast()` (registry.ts: the fallback rules included).
 *
 * Run alone: node dist-bench/bench/forecast.js [--rounds 30] [--points 50]
 */
import { parseArgs } from 'node:util';
import { fmt, isMain, table } from './common.js';
import { FailureLog, silentLogger } from '../src/log.js';
import { PREDICTOR_NAMES, type PredictorName } from '../src/policies/predictors/predictor.js';
import { forecast, setPredictorLog } from '../src/policies/predictors/registry.js';
import { mulberry32 } from '../src/simulation/random.js';

export interface ForecastBenchOptions {
  rounds: number;
  points: number;
}

export interface ForecastBenchRow {
  predictor: PredictorName;
  firstCallMs: number;
  medianMs: number;
  p95Ms: number;
  method: string;
  value: number;
}

export interface ForecastBenchResult {
  options: ForecastBenchOptions;
  rows: ForecastBenchRow[];
}

export function parseForecastArgs(argv: readonly string[]): ForecastBenchOptions {
  const { values } = parseArgs({ args: [...argv], strict: false, options: { rounds: { type: 'string' }, points: { type: 'string' } } });
  return { rounds: Number(values.rounds ?? 30), points: Number(values.points ?? 50) };
}

const quantile = (sorted: readonly number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;

export async function runForecastBench(options: ForecastBenchOptions): Promise<ForecastBenchResult> {
  setPredictorLog(new FailureLog(silentLogger()));
  const random = mulberry32(1);
  const series = Array.from({ length: options.points }, (_, k) => 100 + 4 * k + (random() - 0.5) * 20);
  console.log(`Forecast fit time: ${options.points}-point noisy ramp, 10 points ahead, ${options.rounds} fits per predictor`);
  const rows: ForecastBenchRow[] = [];
  for (const predictor of PREDICTOR_NAMES) {
    const first = await forecast(predictor, series, 10);
    const times: number[] = [];
    for (let i = 0; i < options.rounds; i++) times.push((await forecast(predictor, series, 10)).seconds * 1000);
    times.sort((a, b) => a - b);
    rows.push({
      predictor,
      firstCallMs: first.seconds * 1000,
      medianMs: quantile(times, 0.5),
      p95Ms: quantile(times, 0.95),
      method: first.method,
      value: first.value,
    });
  }
  console.log(
    table(
      ['predictor', 'first call ms', 'median ms', 'p95 ms', 'method', 'forecast'],
      rows.map((r) => [r.predictor, fmt(r.firstCallMs, 2), fmt(r.medianMs, 3), fmt(r.p95Ms, 3), r.method, fmt(r.value, 1)]),
    ),
  );
  console.log(`  truth 10 points ahead (noiseless ramp): ${fmt(100 + 4 * (options.points - 1 + 10), 1)}`);
  return { options, rows };
}

if (isMain(import.meta.url)) {
  runForecastBench(parseForecastArgs(process.argv.slice(2))).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
