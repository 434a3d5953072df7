import { describe, expect, it } from 'vitest';
import { MetadataError } from '../src/signals/metadata-error.js';
import { ClockedPool, type Load } from './support/clocked-pool.js';

/**
 * `desired_replicas` with `policy: saturation-v2` and the panic, tolerance and up-max-down-min
 * keys, through the real trigger registry and pool store with a controlled clock: every step
 * records fresh samples past the cache TTL, so it is a new published snapshot.
 */
const pool = new ClockedPool();
const setup = (workerIds: string[]) => pool.setup(workerIds);
const step = (seconds: number, loads: Record<string, Load>) => pool.step(seconds, loads);

function evaluate(metadata: Record<string, string>): { value: number; details: Record<string, unknown> } {
  const result = pool.evaluate(metadata);
  if (!result.ok) throw new Error(`unavailable: ${result.reason}`);
  return { value: result.value, details: result.evaluation.details as Record<string, unknown> };
}

const V2 = { policy: 'saturation-v2' };
const busy = (kv: number, waiting = 0): Load => ({ kvUsage: kv, waiting, running: 1, kvCapacityTokens: 10_000 });

describe('policy saturation-v2 over the pool store', () => {
  it('asks for a third replica when two are at 75 %, and a pending one prevents asking again', () => {
    setup(['a', 'b']);
    step(2, { a: busy(0.75), b: busy(0.75) });
    const up = evaluate(V2);
    expect(up.value).toBe(3);
    expect(up.details.rule).toMatch(/required capacity = demand 15000 tokens .* = 3$/);
    // The third replica is discovered but not collected yet: anticipated supply.
    pool.store.setWorkers(['a', 'b', 'c']);
    step(2, { a: busy(0.75), b: busy(0.75) });
    const held = evaluate(V2);
    expect(held.value).toBe(3);
    expect(held.details.pendingReplicas).toEqual(['c']);
    expect(held.details.anticipatedSupply).toBe(24_000);
    expect(held.details.requiredCapacity).toBe(0);
  });

  it('explains a worker without cache_config_info and holds, never guessing its capacity', () => {
    setup(['a', 'b']);
    step(2, { a: busy(0.75), b: { kvUsage: 0.75, waiting: 0, running: 1 } });
    const r = evaluate(V2);
    expect(r.value).toBe(2);
    expect(r.details.withoutCapacity).toEqual([
      { worker: 'b', why: 'does not report cache_config_info (num_gpu_blocks × block_size): its capacity is not guessed' },
    ]);
    expect(r.details.rule).toMatch(/^in transition \(b without capacity\): hold at current 2/);
  });

  it('a replica pending longer than pendingTimeout is left out', () => {
    setup(['a', 'b', 'c']);
    step(2, { a: busy(0.75), b: busy(0.75) });
    expect(evaluate({ ...V2, pendingTimeout: '10s' }).value).toBe(3);
    for (let i = 0; i < 5; i += 1) step(2, { a: busy(0.75), b: busy(0.75) });
    const late = evaluate({ ...V2, pendingTimeout: '10s' });
    expect(late.details.timedOut).toEqual([{ worker: 'c', why: 'pending for 10s ≥ pendingTimeout 10s: left out of the replica counts' }]);
    // c no longer counts as coming supply: 2 ready + ceil(1647 / 8000) = 3.
    expect(late.details.currentReplicas).toBe(2);
    expect(late.value).toBe(3);
  });

  it('tolerance holds a small step up', () => {
    setup(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']);
    const loads: Record<string, Load> = {};
    for (const id of 'abcdefghij') loads[id] = busy(0.7);
    step(2, loads);
    // demand 70000 / 0.85 = 82352.9 − 80000 = 2352.9 → 11; 11 / 10 = 1.1 ≤ 1.1.
    expect(evaluate(V2).value).toBe(11);
    const held = evaluate({ ...V2, tolerance: '0.1' });
    expect(held.value).toBe(10);
    expect(held.details.tolerance).toBe('desired 11 / current 10 = 1.1 ≤ 1 + scaleUpTolerance 0.1: hold at 10');
  });
});

describe('policy saturation-v2: what it learns from finished requests', () => {
  /** Cumulative request-token histograms after `requests` requests of these mean lengths. */
  const tokens = (requests: number, meanIn: number, meanOut: number): Load['histograms'] => {
    const h = (mean: number) => ({ bounds: [Number.POSITIVE_INFINITY], counts: [requests], sum: requests * mean, count: requests });
    return { requestPromptTokens: h(meanIn), requestGenerationTokens: h(meanOut) };
  };

  it('reads the mean prompt length over the last 5 minutes, not since the workers started', () => {
    setup(['a']);
    // 10 minutes of 4000-token prompts (200 requests), then 5 minutes of 400-token prompts (100 more).
    let ins = 0;
    let count = 0;
    for (let t = 0; t < 15 * 60; t += 30) {
      const meanIn = t < 10 * 60 ? 4000 : 400;
      ins += meanIn * 10;
      count += 10;
      const h = { bounds: [Number.POSITIVE_INFINITY], counts: [count], sum: ins, count };
      step(30, {
        a: {
          kvUsage: 0.2,
          waiting: 2,
          running: 1,
          kvCapacityTokens: 10_000,
          histograms: { requestPromptTokens: h, requestGenerationTokens: { ...h, sum: count * 50 } },
        },
      });
    }
    const r = evaluate(V2);
    // Since start the mean would be (4000 × 200 + 400 × 100) / 300 = 2800; the last 5 minutes say 400.
    expect(r.details.avgInputTokens).toBe(400);
    expect(r.details.avgInputTokensOver).toMatch(/^100 requests finished in the last 5m$/);
    // Demand: tokens in use 0.2 × 10,000 + 2 waiting × 400.
    expect(r.details.totalDemand).toBe(2000 + 2 * 400);
  });

  it('falls back to the mean since start when no request finished in the last 5 minutes, and says so', () => {
    setup(['a']);
    for (let i = 0; i < 12; i += 1) step(30, { a: { ...busy(0.2, 2), histograms: tokens(10, 1000, 50) } });
    const r = evaluate(V2);
    expect(r.details.avgInputTokens).toBe(1000);
    expect(r.details.avgInputTokensOver).toBe('no request finished in the last 5m: 10 requests since the workers started');
  });

  it('keeps observed k2 per output-length bucket: one seen under short answers is not used for long ones', () => {
    setup(['a']);
    let done = 0;
    // Short answers (mean 50 tokens), queue at the threshold: k2 observed = tokens in use 6000.
    // The history grows with each evaluated snapshot (once per collection that KEDA asks about).
    for (let i = 0; i < 3; i += 1) {
      done += 30;
      step(2, { a: { ...busy(0.6, 5), histograms: tokens(done, 500, 50) } });
      expect(evaluate(V2).details.k2History).toEqual({ outputBucket: 'short', observations: i });
    }
    // Queue short again: the short bucket's rolling k2 (6000) is used.
    done += 30;
    step(2, { a: { ...busy(0.3, 0), histograms: tokens(done, 500, 50) } });
    const historical = evaluate(V2);
    expect((historical.details.replicas as { k2Source: string; k2: number }[])[0]).toMatchObject({ k2Source: 'historical', k2: 6000 });
    // Answers become long (mean over the last 5 minutes ≥ 500): another bucket, with no history yet.
    const before = { sum: done * 50, count: done };
    for (let i = 0; i < 2; i += 1) {
      done += 1000;
      before.sum += 1000 * 5000;
      before.count += 1000;
      const h = tokens(done, 500, 0)!;
      step(2, { a: { ...busy(0.3, 0), histograms: { ...h, requestGenerationTokens: { ...h.requestGenerationTokens!, sum: before.sum } } } });
    }
    const long = evaluate(V2);
    expect(long.details.k2History).toEqual({ outputBucket: 'long', observations: 0 });
    expect((long.details.replicas as { k2Source: string }[])[0]?.k2Source).toBe('k1');
  });
});

describe('policy saturation (WVA V1) with pendingTimeout', () => {
  it('holds while a replica is pending, then decides without it once it is past the timeout', () => {
    setup(['a', 'b', 'c']);
    const meta = { policy: 'saturation', pendingTimeout: '10s' };
    const hot = { kvUsage: 0.9, waiting: 6, running: 1 };
    step(2, { a: hot, b: hot });
    const held = evaluate(meta);
    expect(held.value).toBe(3);
    expect(held.details.rule).toBe('in transition (metrics(2) != current(3)): hold at current 3, no scaling decision');
    for (let i = 0; i < 5; i += 1) step(2, { a: hot, b: hot });
    const freed = evaluate(meta);
    expect(freed.details.timedOut).toEqual([{ worker: 'c', why: 'pending for 10s ≥ pendingTimeout 10s: left out of the replica counts' }]);
    // Both ready replicas are saturated: scale up by 1 from the 2 with metrics.
    expect(freed.details.decision).toBe('scale-up');
    expect(freed.value).toBe(3);
  });
});

describe('composite with a panic window and up-max-down-min', () => {
  it('a doubling burst raises the answer within one check, does not fall while panicking, falls after a quiet stable window', () => {
    setup(['a', 'b']);
    const meta = { policy: 'composite', metrics: 'queue_depth:10', panicWindow: '2s', stableWindow: '20s' };
    const load = (waiting: number): Record<string, Load> => ({ a: { waiting, running: 0, kvUsage: 0 }, b: { waiting, running: 0, kvUsage: 0 } });
    for (let i = 0; i < 10; i += 1) {
      step(2, load(10)); // 20 waiting / 10 → 2
      expect(evaluate(meta).value).toBe(2);
    }
    step(2, load(20)); // 40 / 10 → 4 = 2 × 2 ready: panic at once (the 2 s panic window holds this check only)
    const burst = evaluate(meta);
    expect(burst.value).toBe(4);
    expect((burst.details.panic as { panicking: boolean }).panicking).toBe(true);
    for (let t = 2; t <= 20; t += 2) {
      step(2, load(5)); // 10 / 10 → 1
      expect(evaluate(meta).value).toBe(4);
    }
    step(2, load(5));
    const calm = evaluate(meta);
    expect((calm.details.panic as { panicking: boolean }).panicking).toBe(false);
    expect(calm.value).toBeLessThan(4);
  });

  it('up-max-down-min goes down only when every signal agrees', () => {
    setup(['a', 'b']);
    const meta = { policy: 'composite', metrics: 'queue_depth:10,running_requests:10', strategy: 'up-max-down-min' };
    step(2, { a: { waiting: 5, running: 30, kvUsage: 0 }, b: { waiting: 5, running: 30, kvUsage: 0 } });
    // queue 10/10 → 1, running 60/10 → 6 > current 2: max → 6.
    expect(evaluate(meta).value).toBe(6);
    step(2, { a: { waiting: 5, running: 10, kvUsage: 0 }, b: { waiting: 5, running: 10, kvUsage: 0 } });
    // queue → 1, running 20/10 → 2 = current: not all ask for fewer → stay at 2.
    expect(evaluate(meta).value).toBe(2);
  });
});

describe('saturation (WVA V1) with a panic window and a tolerance band', () => {
  it('a saturated single replica panics (2 ≥ 2 × 1 ready): the answer holds at 2 while panicking, then follows V1 again', () => {
    setup(['a']);
    const meta = { policy: 'saturation', panicWindow: '2s', stableWindow: '10s' };
    step(2, { a: { waiting: 0, running: 1, kvUsage: 0.9 } }); // KV 0.9 ≥ 0.8: saturated → V1 asks current + 1 = 2
    const burst = evaluate(meta);
    expect(burst.value).toBe(2);
    expect((burst.details.panic as { panicking: boolean }).panicking).toBe(true);
    for (let t = 2; t <= 10; t += 2) {
      step(2, { a: { waiting: 0, running: 1, kvUsage: 0.1 } }); // calm: V1 asks 1 (current)
      expect(evaluate(meta).value).toBe(2); // never down while panicking
    }
    step(2, { a: { waiting: 0, running: 1, kvUsage: 0.1 } });
    const calm = evaluate(meta);
    expect((calm.details.panic as { panicking: boolean }).panicking).toBe(false);
    expect(calm.value).toBe(1);
  });

  it('accepts tolerance keys and validates them, naming the key', () => {
    setup(['a']);
    step(2, { a: { waiting: 0, running: 1, kvUsage: 0.1 } });
    expect(evaluate({ policy: 'saturation', tolerance: '0.1' }).value).toBe(1);
    expect(() => evaluate({ policy: 'saturation', tolerance: '2' })).toThrow(/metadata 'tolerance'/);
    expect(() => evaluate({ policy: 'saturation', panicThreshold: '3' })).toThrow(/metadata 'panicThreshold': only used with panicWindow/);
  });
});

describe('new keys are validated, naming the key', () => {
  setup(['a']);
  const cases: [Record<string, string>, string, RegExp][] = [
    [{ ...V2, scaleUpThreshold: '1.5' }, 'scaleUpThreshold', /must be > 0 and ≤ 1/],
    [{ ...V2, scaleDownBoundary: '0.9' }, 'scaleDownBoundary', /scaleUpThreshold \(0.85\) must be greater than scaleDownBoundary \(0.9\)/],
    [{ ...V2, maxNumSeqs: '0' }, 'maxNumSeqs', /must be an integer ≥ 1/],
    [{ ...V2, maxNumBatchedTokens: 'many' }, 'maxNumBatchedTokens', /'many' is not a number/],
    [{ ...V2, pendingTimeout: 'later' }, 'pendingTimeout', /'later' is not a duration/],
    [{ ...V2, kvSpareTrigger: '0.1' }, 'kvSpareTrigger', /not used by desired_replicas with policy 'saturation-v2'/],
    [{ ...V2, panicThreshold: '3' }, 'panicThreshold', /only used with panicWindow/],
    [{ ...V2, panicWindow: '90s' }, 'panicWindow', /longer than the stable window 60s/],
    [{ ...V2, panicWindow: '6s', panicThreshold: '1' }, 'panicThreshold', /a ratio > 1/],
    [{ ...V2, panicWindow: '6s', stableWindow: '2s' }, 'stableWindow', /out of range/],
    [{ ...V2, tolerance: '1' }, 'tolerance', /a ratio ≥ 0 and < 1/],
    [{ ...V2, tolerance: '0.1', scaleUpTolerance: '0.2' }, 'scaleUpTolerance', /either tolerance or scaleUpTolerance\/scaleDownTolerance/],
    [{ ...V2, scaleDownTolerance: '-0.1' }, 'scaleDownTolerance', /a ratio ≥ 0 and < 1/],
    [{ policy: 'composite', metrics: 'queue_depth:5', strategy: 'vote' }, 'strategy', /expected max, min, average, up-max-down-min/],
    [{ policy: 'composite', metrics: 'queue_depth:5', scaleUpThreshold: '0.9' }, 'scaleUpThreshold', /not used by desired_replicas with policy 'composite'/],
  ];
  it.each(cases)('%j → %s', (metadata, key, message) => {
    const error = pool.refusal(metadata);
    expect(error).toBeInstanceOf(MetadataError);
    expect(error.key).toBe(key);
    expect(error.message).toMatch(message);
  });
});
