import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { MetadataError } from '../src/signals/metadata-error.js';
import { TriggerRegistry } from '../src/triggers/trigger-registry.js';
import { useOf } from '../src/signals/evaluate.js';
import { findSignal } from '../src/triggers/catalogue.js';
import { PoolStore } from '../src/store/pool-store.js';
import { CLOCKED_TTL_MS, ClockedPool, type Load } from './support/clocked-pool.js';

/**
 * `desired_replicas` with `policy: composite` and the behaviour keys shared by both policies
 * (min/max, change limits, stabilization windows), through the real trigger registry and pool
 * store with a controlled clock. Each step records fresh samples and moves the clock past the
 * cache TTL, so every step is a new published snapshot.
 */

const TTL = CLOCKED_TTL_MS;
const pool = new ClockedPool();
const setup = (workerIds: string[]) => pool.setup(workerIds);

afterEach(() => vi.restoreAllMocks());

const step = (seconds: number, loads: Record<string, Load>) => pool.step(seconds, loads);
const evaluate = (metadata: Record<string, string>) => pool.evaluate(metadata);

function value(metadata: Record<string, string>): number {
  const result = evaluate(metadata);
  if (!result.ok) throw new Error(`unavailable: ${result.reason}`);
  return result.value;
}

function details(metadata: Record<string, string>): Record<string, unknown> {
  const result = evaluate(metadata);
  if (!result.ok) throw new Error(`unavailable: ${result.reason}`);
  return result.evaluation.details as Record<string, unknown>;
}

// Two workers: waiting 30 + 10 = 40, running 20 + 20 = 40, KV (0.6 + 0.4) / 2 = 0.5.
const BUSY: Record<string, Load> = { a: { waiting: 30, running: 20, kvUsage: 0.6 }, b: { waiting: 10, running: 20, kvUsage: 0.4 } };

describe('desired_replicas policy composite: strategies', () => {
  // queue_depth (extensive): ceil(40 / 10) = 4
  // running_requests (extensive): ceil(40 / 15) = ceil(2.67) = 3
  // kv_cache_usage (intensive): ceil(2 workers × 0.5 / 0.7) = ceil(1.43) = 2
  const metrics = 'queue_depth:10,running_requests:15,kv_cache_usage:0.7';

  it.each([
    ['max', 4, 'max(4, 3, 2) = 4'],
    ['min', 2, 'min(4, 3, 2) = 2'],
    ['average', 3, 'ceil(mean(4, 3, 2) = 3) = 3'],
  ])('strategy %s → %d', (strategy, expected, combination) => {
    setup(['a', 'b']);
    step(2, BUSY);
    const meta = { policy: 'composite', metrics, strategy };
    expect(value(meta)).toBe(expected);
    const d = details(meta);
    expect(d['combination']).toBe(combination);
    expect((d['signals'] as { signal: string; desired: number; formula: string }[]).map((s) => [s.signal, s.desired, s.formula])).toEqual([
      ['queue_depth', 4, 'ceil(40 / 10) = 4'],
      ['running_requests', 3, 'ceil(40 / 15) = 3'],
      ['kv_cache_usage', 2, 'ceil(2 workers × 0.5 / 0.7) = 2'],
    ]);
  });

  it('defaults to max, and average takes the ceiling of the mean', () => {
    setup(['a', 'b']);
    step(2, BUSY);
    expect(value({ policy: 'composite', metrics })).toBe(4);
    // queue 4, kv 2, running ceil(40 / 40) = 1: mean 7 / 3 = 2.33 → 3.
    expect(value({ policy: 'composite', metrics: 'queue_depth:10,kv_cache_usage:0.7,running_requests:40', strategy: 'average' })).toBe(3);
  });

  it("passes sub-signal parameters through from the trigger's metadata (saturation's queueThreshold)", () => {
    setup(['a', 'b']);
    step(2, BUSY);
    // Default queueThreshold 5: a = max(30/5, 0.6/0.8) = 6, b = max(10/5, 0.4/0.8) = 2 → mean 4 × 2 workers / 1 = 8.
    expect(value({ policy: 'composite', metrics: 'saturation:1' })).toBe(8);
    // queueThreshold 10: a = 3, b = 1 → mean 2 × 2 = 4.
    expect(value({ policy: 'composite', metrics: 'saturation:1', queueThreshold: '10' })).toBe(4);
  });

  it('never counts an unavailable signal as 0: max skips it (and says so), min and average are unavailable', () => {
    setup(['a', 'b']);
    // No worker reports KV-cache usage, so kv_cache_usage is unavailable.
    step(2, { a: { waiting: 30, running: 20 }, b: { waiting: 10, running: 20 } });
    const metricsWithKv = 'queue_depth:10,kv_cache_usage:0.7';
    expect(value({ policy: 'composite', metrics: metricsWithKv, strategy: 'max' })).toBe(4);
    const skipped = details({ policy: 'composite', metrics: metricsWithKv, strategy: 'max' })['skipped'] as { signal: string; why: string }[];
    expect(skipped).toEqual([
      { signal: 'kv_cache_usage', why: expect.stringMatching(/^unavailable \(no fresh worker reports KV-cache usage.*left out of max/) },
    ]);

    for (const strategy of ['min', 'average']) {
      const result = evaluate({ policy: 'composite', metrics: metricsWithKv, strategy });
      expect(result.ok).toBe(false);
      expect(!result.ok && result.reason).toMatch(
        new RegExp(`strategy ${strategy} needs every signal, and kv_cache_usage: no fresh worker reports KV-cache usage`),
      );
    }
    const none = evaluate({ policy: 'composite', metrics: 'kv_cache_usage:0.7' });
    expect(!none.ok && none.reason).toMatch(/no signal of the composite is available/);
  });

  it('combines a windowed signal (tokens_in_queue) and passes its window through, sizing the history', () => {
    setup(['a', 'b']);
    // Exact queued prefill tokens (as Dynamo reports them): 1200 + 300 = 1500 → ceil(1500 / 500) = 3.
    step(2, { a: { ...BUSY['a'], queuedPrefillTokens: 1200 }, b: { ...BUSY['b'], queuedPrefillTokens: 300 } });
    const meta = { policy: 'composite', metrics: 'tokens_in_queue:500,queue_depth:10', window: '45s' };
    expect(value({ ...meta, strategy: 'max' })).toBe(4); // queue_depth: ceil(40 / 10) = 4
    expect(value({ ...meta, strategy: 'min' })).toBe(3);
    const signals = details({ ...meta, strategy: 'min' })['signals'] as { signal: string; desired: number; formula: string }[];
    expect(signals.map((s) => [s.signal, s.formula])).toEqual([
      ['tokens_in_queue', 'ceil(1500 / 500) = 3'],
      ['queue_depth', 'ceil(40 / 10) = 4'],
    ]);
    // The composite asks the pool for the history its sub-signals need (window 45s).
    const desired = findSignal('desired_replicas')!;
    expect(desired.params?.historyMs?.(useOf(desired, new Map(Object.entries(meta))).params)).toBe(45_000);
    // A key no listed signal reads is refused, naming it.
    expect(() => pool.registry.resolve({ pool: 'llama', metric: 'desired_replicas', policy: 'composite', metrics: 'queue_depth:10', window: '45s' })).toThrow(
      /metadata 'window': not used by desired_replicas with policy 'composite': no signal in 'metrics' reads it \(queue_depth\)/,
    );
    // A bad sub-signal parameter is refused by the sub-signal, naming its key.
    expect(() =>
      pool.registry.resolve({ pool: 'llama', metric: 'desired_replicas', policy: 'composite', metrics: 'tokens_in_queue:500', window: 'soon' }),
    ).toThrow(/metadata 'window'/);
  });

  it('answers 0 when there is no load (KEDA can scale to zero), and 0 for a pool at zero workers', () => {
    setup(['a', 'b']);
    step(2, { a: { waiting: 0, running: 0, kvUsage: 0 }, b: { waiting: 0, running: 0, kvUsage: 0 } });
    const meta = { policy: 'composite', metrics: 'queue_depth:10,kv_cache_usage:0.7' };
    expect(value(meta)).toBe(0);
    expect(evaluate(meta).active).toBe(false);
    setup([]);
    expect(value(meta)).toBe(0);
  });
});

describe('desired_replicas behaviour: bounds and change limits', () => {
  // Two workers with 40 waiting: queue_depth:4 recommends ceil(40 / 4) = 10.
  const up = { policy: 'composite', metrics: 'queue_depth:4' };

  it.each([
    [{}, 10, []],
    [{ maxReplicas: '6' }, 6, ['capped at maxReplicas 6']],
    [{ scaleUpMaxChangeAbsolute: '3' }, 5, ['scale-up limited to +3 (at most 3 per step) from 2: 10 becomes 5']],
    [{ scaleUpMaxChangePercent: '50' }, 3, ['scale-up limited to +1 (50% of 2) from 2: 10 becomes 3']],
    [{ scaleUpMaxChangePercent: '200', scaleUpMaxChangeAbsolute: '3' }, 5, ['scale-up limited to +3 (at most 3 per step) from 2: 10 becomes 5']],
    [{ scaleUpMaxChangePercent: '100', scaleUpMaxChangeAbsolute: '5' }, 4, ['scale-up limited to +2 (100% of 2) from 2: 10 becomes 4']],
    [{ scaleUpMaxChangeAbsolute: '5', maxReplicas: '6' }, 6, ['scale-up limited to +5 (at most 5 per step) from 2: 10 becomes 7', 'capped at maxReplicas 6']],
  ])('scale-up from 2 with %j → %d', (extra, expected, applied) => {
    setup(['a', 'b']);
    step(2, BUSY);
    const meta = { ...up, ...extra };
    expect(value(meta)).toBe(expected);
    expect((details(meta)['behaviour'] as { applied: string[] }).applied).toEqual(applied);
  });

  const ten = Array.from({ length: 10 }, (_, i) => `w${i}`);
  const idle = Object.fromEntries(ten.map((id) => [id, { waiting: 0, running: 0, kvUsage: 0 }]));
  const down = { policy: 'composite', metrics: 'queue_depth:4' }; // 0 waiting → 0

  it.each([
    [{}, 0, []],
    [{ minReplicas: '3' }, 3, ['raised to minReplicas 3']],
    [{ scaleDownMaxChangePercent: '10' }, 9, ['scale-down limited to −1 (10% of 10) from 10: 0 becomes 9']],
    [{ scaleDownMaxChangePercent: '25' }, 7, ['scale-down limited to −3 (25% of 10) from 10: 0 becomes 7']],
    [{ scaleDownMaxChangeAbsolute: '2' }, 8, ['scale-down limited to −2 (at most 2 per step) from 10: 0 becomes 8']],
    [{ scaleDownMaxChangePercent: '50', scaleDownMaxChangeAbsolute: '2' }, 8, ['scale-down limited to −2 (at most 2 per step) from 10: 0 becomes 8']],
  ])('scale-down from 10 with %j → %d', (extra, expected, applied) => {
    setup(ten);
    step(2, idle);
    const meta = { ...down, ...extra };
    expect(value(meta)).toBe(expected);
    expect((details(meta)['behaviour'] as { applied: string[] }).applied).toEqual(applied);
  });

  it('applies the same bounds to policy saturation, whose minReplicas is at least 1', () => {
    setup(['a', 'b']);
    step(2, { a: { waiting: 0, running: 0, kvUsage: 0.9 }, b: { waiting: 0, running: 0, kvUsage: 0.9 } });
    expect(value({})).toBe(3); // WVA: all saturated → 2 + 1
    expect(value({ maxReplicas: '2' })).toBe(2);
    expect(value({ minReplicas: '5' })).toBe(5);
  });
});

describe('desired_replicas behaviour: stabilization windows (state kept once per snapshot)', () => {
  it('scale-down: the highest recommendation within scaleDownStabilizationWindow wins', () => {
    setup(['a', 'b']);
    const meta = { policy: 'composite', metrics: 'queue_depth:10', scaleDownStabilizationWindow: '60s' };
    const queue = (waiting: number) => ({ a: { waiting, running: 0, kvUsage: 0 }, b: { waiting: 0, running: 0, kvUsage: 0 } });
    // t=0s: 40 waiting → 4 (scale-up is not delayed by a scale-down window).
    step(2, queue(40));
    expect(value(meta)).toBe(4);
    // t=10s: 10 waiting → 1, but 4 is in the window: never below the current 2 while it is.
    step(10, queue(10));
    expect(value(meta)).toBe(2);
    expect((details(meta)['behaviour'] as { applied: string[] }).applied).toEqual([
      'scale-down stabilization: the highest recommendation in the last 60s is 4, so 1 becomes 2',
    ]);
    // t=40s: 0 waiting → 0; window still holds 4.
    step(30, queue(0));
    expect(value(meta)).toBe(2);
    // t=65s: the 4 from t=0s has left the window (65 − 60 = 5 > 0); the highest is 1 (t=10s).
    step(25, queue(0));
    expect(value(meta)).toBe(1);
    // t=75s: the 1 from t=10s has left too → 0.
    step(10, queue(0));
    expect(value(meta)).toBe(0);
  });

  it('scale-up: the lowest recommendation within scaleUpStabilizationWindow wins', () => {
    setup(['a', 'b']);
    const meta = { policy: 'composite', metrics: 'queue_depth:10', scaleUpStabilizationWindow: '30s' };
    const queue = (waiting: number) => ({ a: { waiting, running: 0, kvUsage: 0 }, b: { waiting: 0, running: 0, kvUsage: 0 } });
    step(2, queue(20)); // t=0: 2 (= current)
    expect(value(meta)).toBe(2);
    step(10, queue(40)); // t=10: 4, but 2 is in the window
    expect(value(meta)).toBe(2);
    step(10, queue(40)); // t=20: still
    expect(value(meta)).toBe(2);
    step(15, queue(40)); // t=35: the 2 from t=0 has left the window → 4
    expect(value(meta)).toBe(4);
  });

  it('evaluates once per published snapshot however often KEDA asks (GetMetrics only reads)', () => {
    setup(['a', 'b']);
    const signal = findSignal('desired_replicas')!;
    const queue = findSignal('queue_depth')!;
    const compute = vi.spyOn(signal, 'compute');
    const queueCompute = vi.spyOn(queue, 'compute');
    const meta = { policy: 'composite', metrics: 'queue_depth:10', scaleDownStabilizationWindow: '60s' };
    const direct = pool.registry.resolve({ pool: 'llama', metric: 'queue_depth', target: '10' });

    step(2, BUSY);
    for (let i = 0; i < 100; i += 1) {
      expect(value(meta)).toBe(4);
      expect(direct.evaluate().ok).toBe(true);
    }
    expect(compute).toHaveBeenCalledTimes(1);
    // queue_depth is computed once for both the composite and the direct trigger.
    expect(queueCompute).toHaveBeenCalledTimes(1);

    // A new snapshot: one more evaluation, one more entry in the window (4 then 1 → stays 2).
    step(5, { a: { waiting: 10, running: 0, kvUsage: 0 }, b: { waiting: 0, running: 0, kvUsage: 0 } }); // 10 → 1
    for (let i = 0; i < 100; i += 1) expect(value(meta)).toBe(2);
    expect(compute).toHaveBeenCalledTimes(2);
    expect(queueCompute).toHaveBeenCalledTimes(2);
  });
});

describe('desired_replicas and saturation metadata: every key validated, naming it', () => {
  beforeEach(() => setup(['a']));
  const cases: [Record<string, string>, string, RegExp][] = [
    [{ target: '2' }, 'target', /'2' is not accepted for desired_replicas: .*the target must be 1/],
    [{ threshold: '3' }, 'threshold', /the threshold must be 1/],
    [{ policy: 'magic' }, 'policy', /unknown policy 'magic'; accepted policies are saturation, saturation-v2, composite, sla/],
    [{ policy: 'sla' }, 'role', /required with policy sla; expected prefill or decode/],
    [{ kvCacheThreshold: '1.5' }, 'kvCacheThreshold', /must be between 0 and 1/],
    [{ kvCacheThreshold: 'high' }, 'kvCacheThreshold', /'high' is not a number/],
    [{ queueLengthThreshold: '-1' }, 'queueLengthThreshold', /must be ≥ 0/],
    [{ kvSpareTrigger: '2' }, 'kvSpareTrigger', /must be between 0 and 1/],
    [{ kvCacheThreshold: '0.2', kvSpareTrigger: '0.3' }, 'kvSpareTrigger', /kvCacheThreshold \(0.2\) must be ≥ kvSpareTrigger \(0.3\)/],
    [{ queueSpareTrigger: '-2' }, 'queueSpareTrigger', /must be ≥ 0/],
    [{ minReplicas: '0' }, 'minReplicas', /expected an integer ≥ 1 \(WVA V1 never scales below 1 replica\)/],
    [{ policy: 'composite', metrics: 'queue_depth:5', minReplicas: '1.5' }, 'minReplicas', /expected an integer ≥ 0/],
    [{ maxReplicas: '0' }, 'maxReplicas', /expected an integer ≥ max\(1, minReplicas 1\)/],
    [{ minReplicas: '4', maxReplicas: '3' }, 'maxReplicas', /minReplicas 4/],
    [{ scaleUpMaxChangePercent: '0' }, 'scaleUpMaxChangePercent', /a percentage > 0/],
    [{ scaleDownMaxChangePercent: '150' }, 'scaleDownMaxChangePercent', /a percentage > 0 and ≤ 100/],
    [{ scaleUpMaxChangeAbsolute: '0' }, 'scaleUpMaxChangeAbsolute', /an integer ≥ 1/],
    [{ scaleDownMaxChangeAbsolute: 'two' }, 'scaleDownMaxChangeAbsolute', /'two' is not a number/],
    [{ scaleUpStabilizationWindow: 'soon' }, 'scaleUpStabilizationWindow', /'soon' is not a duration/],
    [{ scaleDownStabilizationWindow: '2h' }, 'scaleDownStabilizationWindow', /too long/],
    [{ metrics: 'queue_depth:5' }, 'metrics', /not used by desired_replicas with policy 'saturation': it belongs to policy composite/],
    [{ strategy: 'max' }, 'strategy', /it belongs to policy composite/],
    [{ queueThreshold: '5' }, 'queueThreshold', /WVA names the queue threshold queueLengthThreshold/],
    [{ policy: 'composite' }, 'metrics', /required with policy composite/],
    [{ policy: 'composite', metrics: 'queue_depth' }, 'metrics', /'queue_depth' is not signal:target/],
    [{ policy: 'composite', metrics: 'queue_depth:5,' }, 'metrics', /'' is not signal:target/],
    [{ policy: 'composite', metrics: 'gpu_util:5' }, 'metrics', /unknown signal 'gpu_util'; signals are .*queue_depth/],
    [{ policy: 'composite', metrics: 'desired_replicas:1' }, 'metrics', /already a replica count and cannot be combined/],
    [{ policy: 'composite', metrics: 'queue_depth:lots' }, 'metrics', /the target of 'queue_depth' \('lots'\) is not a number/],
    [{ policy: 'composite', metrics: 'queue_depth:0' }, 'metrics', /too small; expected a number ≥ 0.001/],
    [{ policy: 'composite', metrics: 'queue_depth:5,QUEUE_DEPTH:6' }, 'metrics', /'queue_depth' is listed twice/],
    [{ policy: 'composite', metrics: 'queue_depth:5', strategy: 'median' }, 'strategy', /expected max, min, average/],
    [{ policy: 'composite', metrics: 'queue_depth:5', queueSpareTrigger: '3' }, 'queueSpareTrigger', /it belongs to policy saturation/],
    [{ policy: 'composite', metrics: 'queue_depth:5', queueThreshold: '5' }, 'queueThreshold', /no signal in 'metrics' reads it \(queue_depth\)/],
    [{ policy: 'composite', metrics: 'saturation:1', queueThreshold: '0' }, 'queueThreshold', /expected a number > 0/],
    [{ policy: 'composite', metrics: 'saturation:1', kvCacheThreshold: '0' }, 'kvCacheThreshold', /expected a number > 0 and ≤ 1/],
  ];
  it.each(cases)('desired_replicas %j → %s', (metadata, key, message) => {
    const error = pool.refusal(metadata);
    expect(error).toBeInstanceOf(MetadataError);
    expect(error.key).toBe(key);
    expect(error.message).toContain(`metadata '${key}'`);
    expect(error.message).toMatch(message);
  });

  it.each([
    [{ queueThreshold: '0' }, 'queueThreshold', /expected a number > 0/],
    [{ kvCacheThreshold: '1.2' }, 'kvCacheThreshold', /expected a number > 0 and ≤ 1/],
    [{ queueLengthThreshold: '5' }, 'queueLengthThreshold', /unknown key for metric 'saturation'/],
  ])('saturation %j → %s', (metadata, key, message) => {
    expect(() => pool.registry.resolve({ pool: 'llama', metric: 'saturation', target: '0.8', ...metadata })).toThrow(message);
    try {
      pool.registry.resolve({ pool: 'llama', metric: 'saturation', target: '0.8', ...metadata });
    } catch (e) {
      expect((e as MetadataError).key).toBe(key);
    }
  });

  it('defaults the target of desired_replicas to 1, even next to a configured --threshold default', () => {
    const [config] = validateConfig({ pools: [{ name: 'llama', source: 'vllm', targets: ['127.0.0.1:1'] }] }).pools;
    const withDefault = new TriggerRegistry(
      new Map([
        [
          'llama',
          { config: config!, runtime: { name: 'llama', store: new PoolStore('llama', { cacheTtlMs: TTL, intervalMs: 1000, historyWindowMs: 600_000 }) } },
        ],
      ]),
      0.7,
    );
    expect(withDefault.resolve({ pool: 'llama', metric: 'desired_replicas' }).spec.target).toBe(1);
    expect(withDefault.resolve({ pool: 'llama', metric: 'DESIRED_REPLICAS', target: '1' }).spec.target).toBe(1);
    expect(withDefault.resolve({ pool: 'llama', metric: 'queue_depth' }).spec.target).toBe(0.7);
  });
});
