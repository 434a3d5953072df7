import { describe, expect, it, vi } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { TriggerRegistry } from '../src/triggers/trigger-registry.js';
import { PoolStore } from '../src/store/pool-store.js';

/**
 * The predictive composite (`predictor`, `horizon`) through the real trigger registry and pool
 * store with a controlled clock: each step records a fresh sample 2 s later, which with
 * horizon 20s is one point of the series (spacing horizon / 10) and a forecast 10 points ahead.
 * Fits run after the evaluation, on the event loop; the tests wait for them to land.
 */
const TTL = 1000;
let now = 1_000_000;
let store: PoolStore;
let registry: TriggerRegistry;

function setup(): void {
  now = 1_000_000;
  store = new PoolStore('llama', { cacheTtlMs: TTL, intervalMs: 1000, historyWindowMs: 600_000 }, () => now);
  store.setWorkers(['a']);
  const [config] = validateConfig({ pools: [{ name: 'llama', source: 'vllm', targets: ['127.0.0.1:1'] }] }).pools;
  registry = new TriggerRegistry(new Map([['llama', { config: config!, runtime: { name: 'llama', store } }]]));
}

function step(waiting: number): void {
  now += 2000;
  store.recordSample('a', { at: now, models: [], counters: {}, histograms: {}, waiting, running: 0, kvUsage: 0.1 });
}

const PLAIN = { policy: 'composite', metrics: 'queue_depth:10' };
const predictive = (predictor: string) => ({ ...PLAIN, predictor, horizon: '20s' });

interface SignalDetail {
  signal: string;
  desired: number;
  formula: string;
  forecast?: { seriesLength: number; forecast?: number; method?: string; note?: string; desiredNow?: number; desiredForecast?: number; fitSeconds?: number };
}

function evaluate(metadata: Record<string, string>): { value: number; signal: SignalDetail } {
  const result = registry.resolve({ pool: 'llama', metric: 'desired_replicas', ...metadata }).evaluate();
  if (!result.ok) throw new Error(`unavailable: ${result.reason}`);
  const signals = (result.evaluation.details as { signals: SignalDetail[] }).signals;
  return { value: result.value, signal: signals[0]! };
}

/** One step of the queue, evaluated by both triggers; then the scheduled fits are given time to finish. */
async function feed(waiting: number, ...metas: Record<string, string>[]): Promise<void> {
  step(waiting);
  for (const m of metas) evaluate(m);
  // The fits were scheduled with setImmediate; a macrotask later they have started, and the
  // fast predictors have finished (WASM ones are awaited by polling below).
  await new Promise((resolve) => setTimeout(resolve, 5));
}

describe('predictive composite: metadata', () => {
  it.each([
    [{ predictor: 'lstm' }, /metadata 'predictor': 'lstm' is not accepted; expected constant, holt, kalman, arima, prophet, ets \(default arima\)/],
    [{ horizon: 'soon' }, /metadata 'horizon': 'soon' is not a duration; expected a duration from 1s to 1h/],
    [{ horizon: '2h' }, /metadata 'horizon': '2h' is out of range/],
    [{ horizon: '500ms' }, /metadata 'horizon': '500ms' is out of range/],
  ])('%o is refused, naming the key', (keys, message) => {
    setup();
    expect(() => registry.resolve({ pool: 'llama', metric: 'desired_replicas', ...PLAIN, ...keys })).toThrow(message);
  });

  it('belongs to policy composite only', () => {
    setup();
    expect(() => registry.resolve({ pool: 'llama', metric: 'desired_replicas', policy: 'saturation', predictor: 'holt' })).toThrow(
      /metadata 'predictor': not used by desired_replicas with policy 'saturation': it belongs to policy composite/,
    );
  });
});

describe('predictive composite: decisions', () => {
  it('a ramp scales up on the forecast; the plain composite follows the present (holt)', async () => {
    setup();
    // Queue 0, 2, 4 … (2 per point). With target 10, the present asks ceil(q / 10).
    for (let k = 0; k < 8; k++) await feed(2 * k, PLAIN, predictive('holt'));
    // Points so far: 0 … 12 (the interval of q = 14 is still open). Holt on an exact line
    // forecasts 12 + 10 × 2 = 32 ten points ahead → ceil(32 / 10) = 4, against ceil(14 / 10) = 2.
    step(16);
    const plain = evaluate(PLAIN);
    const ahead = evaluate(predictive('holt'));
    expect(plain.value).toBe(2);
    expect(ahead.value).toBe(4);
    expect(ahead.signal.forecast).toMatchObject({ seriesLength: 7, forecast: 32, method: 'holt', desiredNow: 2, desiredForecast: 4 });
    expect(ahead.signal.formula).toBe('max(now ceil(16 / 10) = 2, forecast ceil(32 / 10) = 4) = 4');
    expect(ahead.signal.forecast?.fitSeconds).toBeGreaterThanOrEqual(0);
  });

  it('a falling series scales down on the present, not on the forecast', async () => {
    setup();
    for (let k = 0; k < 10; k++) await feed(90 - 10 * k, PLAIN, predictive('kalman'));
    step(0);
    const plain = evaluate(PLAIN);
    const ahead = evaluate(predictive('kalman'));
    // The forecast is below 0 and clamped: the present (0 → 0 replicas) decides.
    expect(ahead.signal.forecast).toMatchObject({ forecast: 0, method: 'kalman', desiredForecast: 0 });
    expect(ahead.signal.forecast?.note).toMatch(/clamped at 0/);
    expect(ahead.value).toBe(plain.value);
    expect(ahead.value).toBe(0);
  });

  it('with fewer than 5 points the forecast is the last point, and the explanation says so', async () => {
    setup();
    for (let k = 0; k < 3; k++) await feed(10 * (k + 1), predictive('arima'));
    // An evaluation is shared per snapshot: the fit started by the last one is read by the next.
    step(40);
    const { signal } = evaluate(predictive('arima'));
    expect(signal.forecast).toMatchObject({ seriesLength: 2, forecast: 20, method: 'last-value' });
    expect(signal.forecast?.note).toMatch(/fewer than 5: the last value/);
  });

  it('before the first interval closes there is no forecast, and the present decides', () => {
    setup();
    step(35);
    const { value, signal } = evaluate(predictive('holt'));
    expect(value).toBe(4);
    expect(signal.forecast).toMatchObject({ seriesLength: 0, note: 'no forecast yet: the first interval is still open', desiredNow: 4 });
  });

  it('ARIMA on a ramp: the fit lands off the evaluation and raises the answer', async () => {
    setup();
    const meta = predictive('arima');
    for (let k = 0; k < 12; k++) await feed(3 * k, meta);
    // Points 0, 3 … 30 (11): ARIMA forecasts 30 + 10 × 3 = 60 within 3 → 6 replicas, against ceil(33 / 10) = 4 now.
    step(36);
    await vi.waitFor(() => expect(evaluate(meta).signal.forecast?.method).toBe('arima'), { timeout: 20_000, interval: 20 });
    const { value, signal } = evaluate(meta);
    expect(Math.abs((signal.forecast?.forecast ?? 0) - 60)).toBeLessThanOrEqual(3);
    expect(value).toBe(Math.max(4, Math.ceil((signal.forecast?.forecast ?? 0) / 10)));
    expect(value).toBeGreaterThanOrEqual(6);
  });
});
