import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  analyzeV2,
  derivedK2,
  outputBucket,
  validateWvaV2Config,
  WVA_V2_DEFAULTS,
  type K2Source,
  type V2Replica,
  type WvaV2Config,
} from '../src/policies/wva-v2.js';

/**
 * llm-d WVA V2 token-based analyzer for one variant, case by case, worked by hand from WVA's
 * semantics (internal/engines/analyzers/saturation_v2/analyzer.go, cost_aware_optimizer.go).
 * Unless a row says otherwise: every replica has 10 000 KV tokens (625 blocks × 16), so
 * k1 = 10 000 × kvCacheThreshold 0.8 = 8 000; scaleUpThreshold 0.85, scaleDownBoundary 0.70,
 * queueLengthThreshold 5, mean input tokens 100.
 */

/** `kv/queue[@capacity]` per replica, e.g. '0.5/2' or '0.5/0@20000'. */
function replicas(...specs: string[]): V2Replica[] {
  return specs.map((spec, i) => {
    const [load, cap] = spec.split('@');
    const [kv, queue] = (load as string).split('/').map(Number) as [number, number];
    return { name: `pod-${i + 1}`, kvUsage: kv, queueLength: queue, totalKvCapacityTokens: cap === undefined ? 10_000 : Number(cap) };
  });
}

interface Case {
  readonly name: string;
  readonly ready: readonly string[];
  readonly pending?: number;
  readonly avgIn?: number | null;
  readonly avgOut?: number;
  readonly historicalK2?: number;
  readonly config?: Partial<WvaV2Config>;
  readonly target: number;
  readonly decision: 'scale-up' | 'scale-down' | 'steady' | 'hold';
  readonly k2?: K2Source;
  readonly why: string;
}

// prettier-ignore
const CASES: readonly Case[] = [
  { name: 'light load, one replica', ready: ['0.5/0'], target: 1, decision: 'steady',
    why: 'demand 5000; required 5000/0.85 − 8000 < 0; spare 8000 − 5000/0.7 = 857 → floor(857/8000) = 0' },
  { name: 'demand over 85 % of supply', ready: ['0.7/0'], target: 2, decision: 'scale-up',
    why: 'demand 7000; 7000/0.85 = 8235.3 − 8000 = 235.3 → 1 + ceil(235.3/8000) = 2' },
  { name: 'two idle-ish replicas give one back', ready: ['0.2/0', '0.2/0'], target: 1, decision: 'scale-down',
    why: 'demand 4000; spare 16000 − 5714.3 = 10285.7 → 2 − floor(1.29) = 1' },
  { name: 'four replicas at 10 % drop three', ready: ['0.1/0', '0.1/0', '0.1/0', '0.1/0'], target: 1, decision: 'scale-down',
    why: 'demand 4000; spare 32000 − 5714.3 = 26285.7 → 4 − floor(3.29) = 1' },
  { name: 'zero traffic never goes below 1', ready: ['0/0', '0/0', '0/0'], target: 1, decision: 'scale-down',
    why: 'demand 0; spare 24000 → 3 − floor(3) = 0 → never below 1' },
  { name: 'two replicas at 75 % need a third', ready: ['0.75/0', '0.75/0'], target: 3, decision: 'scale-up',
    why: 'demand 15000; 15000/0.85 = 17647.1 − 16000 = 1647.1 → 2 + ceil(0.21) = 3' },
  { name: 'the same with one pending replica: anticipated supply covers it', ready: ['0.75/0', '0.75/0'], pending: 1, target: 3, decision: 'steady',
    why: 'anticipated 3 × 8000 = 24000 ≥ 17647.1 → required 0; spare 16000 − 21428.6 < 0 → stay at current 2 + 1 = 3' },
  { name: 'pending replica with light load: spare counts ready supply only', ready: ['0.2/0', '0.2/0'], pending: 1, target: 2, decision: 'scale-down',
    why: 'current 3; supply 16000 − 4000/0.7 = 10285.7 → 3 − floor(1.29) = 2' },
  { name: 'queued requests are demand (queue below threshold)', ready: ['0.5/2'], avgIn: 1000, target: 2, decision: 'scale-up', k2: 'k1',
    why: 'demand 5000 + 2 × 1000 = 7000 → 8235.3 − 8000 = 235.3 → 2' },
  { name: 'queue at threshold: k2 observed from tokens in use', ready: ['0.5/5'], target: 2, decision: 'scale-up', k2: 'observed',
    why: 'k2 = 5000 < k1 8000 → capacity 5000; demand 5000 + 500 = 5500; 6470.6 − 5000 = 1470.6 → 1 + ceil(0.29) = 2' },
  { name: 'historical k2 when the queue is short', ready: ['0.5/0'], historicalK2: 4000, target: 2, decision: 'scale-up', k2: 'historical',
    why: 'capacity min(8000, 4000) = 4000; 5882.4 − 4000 = 1882.4 → 1 + ceil(0.47) = 2' },
  { name: 'k2 derived from maxNumSeqs and maxNumBatchedTokens, light load', ready: ['0.1/0'], avgIn: 100, avgOut: 300,
    config: { maxNumSeqs: 8, maxNumBatchedTokens: 2048 }, target: 1, decision: 'steady', k2: 'derived',
    why: 'N = min(2048 × 300/400 = 1536, 8) = 8; k2 = 8 × (100 + 150) = 2000; demand 1000; spare 2000 − 1428.6 = 571.4 → floor 0' },
  { name: 'derived k2 under load', ready: ['0.2/0'], avgIn: 100, avgOut: 300,
    config: { maxNumSeqs: 8, maxNumBatchedTokens: 2048 }, target: 2, decision: 'scale-up', k2: 'derived',
    why: 'capacity 2000; demand 2000; 2352.9 − 2000 = 352.9 → 1 + ceil(0.18) = 2' },
  { name: 'per-replica capacity is the median', ready: ['0.5/5', '0.3/0', '0.3/0'], target: 3, decision: 'steady',
    why: 'effective 5000, 8000, 8000 → median 8000; demand 5500 + 3000 + 3000 = 11500; 13529.4 < 24000; spare 24000 − 16428.6 = 7571.4 → floor 0' },
  { name: 'mixed capacities: median of two is their mean', ready: ['0.5/0', '0.5/0@20000'], target: 2, decision: 'steady',
    why: 'effective 8000 and 16000 → median 12000; demand 15000; 17647.1 < 24000; spare 24000 − 21428.6 = 2571.4 → floor 0.21 = 0' },
  { name: 'no ready replica: hold', ready: [], pending: 2, target: 2, decision: 'hold',
    why: 'no per-replica capacity is known, so nothing can be computed' },
  { name: 'queue without a known mean input length: hold', ready: ['0.5/3'], avgIn: null, target: 1, decision: 'hold',
    why: 'queue demand = 3 × unknown: not guessed as 0' },
  { name: 'a burst deep in the queue adds many', ready: ['0.79/50'], avgIn: 1000, target: 9, decision: 'scale-up', k2: 'observed',
    why: 'k2 = 7900; demand 7900 + 50000 = 57900; 68117.6 − 7900 = 60217.6 → 1 + ceil(7.62) = 9' },
  { name: 'kvCacheThreshold 1.0 raises k1', ready: ['0.7/0'], config: { kvCacheThreshold: 1 }, target: 1, decision: 'steady',
    why: 'k1 = 10000; 8235.3 < 10000; spare 10000 − 10000 = 0 → stay at 1' },
  { name: 'tokens in use are rounded', ready: ['0.33333/0', '0.33333/0', '0.33333/0'], target: 2, decision: 'scale-down',
    why: 'round(3333.3) = 3333 each; demand 9999; spare 24000 − 14284.3 = 9715.7 → 3 − floor(1.21) = 2' },
];

describe('WVA V2 token-based analyzer (single variant)', () => {
  it.each(CASES)('$name → $target ($decision)', (c) => {
    const config = { ...WVA_V2_DEFAULTS, ...c.config };
    const result = analyzeV2(
      {
        ready: replicas(...c.ready),
        pending: c.pending ?? 0,
        avgInputTokens: c.avgIn === null ? undefined : (c.avgIn ?? 100),
        avgOutputTokens: c.avgOut,
        historicalK2: c.historicalK2,
      },
      config,
    );
    expect(result.target, c.why).toBe(c.target);
    expect(result.decision, c.why).toBe(c.decision);
    if (c.k2 !== undefined) expect(result.replicas[0]?.k2Source).toBe(c.k2);
    expect(result.rule.length).toBeGreaterThan(10);
  });

  it('rows cover at least 15 cases', () => expect(CASES.length).toBeGreaterThanOrEqual(15));

  it('explains the rule with its numbers', () => {
    const r = analyzeV2({ ready: replicas('0.75/0', '0.75/0'), pending: 0, avgInputTokens: 100 }, WVA_V2_DEFAULTS);
    expect(r.rule).toBe(
      'required capacity = demand 15000 tokens / scaleUpThreshold 0.85 − anticipated supply 16000 (2 replicas × 8000) = 1647.059 > 0: ' +
        '2 + ceil(1647.059 / 8000) = 3',
    );
    expect(r.observedK2).toEqual([]);
    const observed = analyzeV2({ ready: replicas('0.5/5'), pending: 0, avgInputTokens: 100 }, WVA_V2_DEFAULTS);
    expect(observed.observedK2).toEqual([5000]);
  });

  it('derivedK2 follows N = min(B·O/(I+O), S), k2 = N·(I + O/2)', () => {
    expect(derivedK2({ ...WVA_V2_DEFAULTS, maxNumBatchedTokens: 4096 }, 1000, 1000)).toBe(2048 * 1500);
    expect(derivedK2({ ...WVA_V2_DEFAULTS, maxNumSeqs: 4 }, 100, 100)).toBe(600);
    expect(derivedK2(WVA_V2_DEFAULTS, 100, 100)).toBeUndefined();
    expect(derivedK2({ ...WVA_V2_DEFAULTS, maxNumSeqs: 4 }, undefined, 100)).toBeUndefined();
  });

  it.each([
    [{ scaleUpThreshold: 0.7, scaleDownBoundary: 0.7 }, 'scaleDownBoundary'],
    [{ scaleUpThreshold: 1.2 }, 'scaleUpThreshold'],
    [{ kvCacheThreshold: 0 }, 'kvCacheThreshold'],
    [{ maxNumSeqs: 0 }, 'maxNumSeqs'],
    [{ maxNumBatchedTokens: 1.5 }, 'maxNumBatchedTokens'],
  ] as const)('validation %j names %s', (patch, key) => {
    expect(validateWvaV2Config({ ...WVA_V2_DEFAULTS, ...patch })?.key).toBe(key);
  });
});

const replicaArb = fc.record({
  name: fc.constant('r'),
  kvUsage: fc.double({ min: 0, max: 1, noNaN: true }),
  queueLength: fc.integer({ min: 0, max: 4 }),
  totalKvCapacityTokens: fc.integer({ min: 16, max: 2_000_000 }),
});

describe('WVA V2 properties', () => {
  it('with a ready replica the answer is ≥ 1, and scale-up/down move in their direction', () => {
    fc.assert(
      fc.property(fc.array(replicaArb, { minLength: 1, maxLength: 8 }), fc.integer({ min: 0, max: 4 }), (ready, pending) => {
        const r = analyzeV2({ ready, pending, avgInputTokens: 200 }, WVA_V2_DEFAULTS);
        expect(r.target).toBeGreaterThanOrEqual(1);
        expect(r.current).toBe(ready.length + pending);
        if (r.decision === 'scale-up') expect(r.target).toBeGreaterThan(r.current);
        if (r.decision === 'scale-down') expect(r.target).toBeLessThan(r.current);
        if (r.decision === 'steady') expect(r.target).toBeLessThanOrEqual(r.current);
      }),
    );
  });

  it('more KV in use (queues below the threshold) never lowers the answer', () => {
    fc.assert(
      fc.property(fc.array(replicaArb, { minLength: 1, maxLength: 6 }), fc.nat({ max: 5 }), fc.double({ min: 0, max: 1, noNaN: true }), (ready, i, extra) => {
        const at = i % ready.length;
        const base = ready[at] as V2Replica;
        const busier = ready.map((r, j) => (j === at ? { ...r, kvUsage: Math.min(1, base.kvUsage + extra) } : r));
        const a = analyzeV2({ ready, pending: 0, avgInputTokens: 100 }, WVA_V2_DEFAULTS);
        const b = analyzeV2({ ready: busier, pending: 0, avgInputTokens: 100 }, WVA_V2_DEFAULTS);
        expect(b.target).toBeGreaterThanOrEqual(a.target);
      }),
    );
  });

  it('one more pending replica raises the answer by at most 1', () => {
    fc.assert(
      fc.property(fc.array(replicaArb, { minLength: 1, maxLength: 6 }), fc.integer({ min: 0, max: 3 }), (ready, pending) => {
        const a = analyzeV2({ ready, pending, avgInputTokens: 100 }, WVA_V2_DEFAULTS);
        const b = analyzeV2({ ready, pending: pending + 1, avgInputTokens: 100 }, WVA_V2_DEFAULTS);
        expect(b.target).toBeLessThanOrEqual(a.target + 1);
      }),
    );
  });
});

describe('outputBucket: the rolling k2 history is kept per output length, as WVA keys it', () => {
  it.each([
    [undefined, 'unknown'],
    [Number.NaN, 'unknown'],
    [0, 'short'],
    [99.9, 'short'],
    [100, 'medium'],
    [499, 'medium'],
    [500, 'long'],
    [8192, 'long'],
  ] as const)('%s output tokens per request → %s', (tokens, bucket) => {
    expect(outputBucket(tokens)).toBe(bucket);
  });
});
