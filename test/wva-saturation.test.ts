import { describe, expect, it } from 'vitest';
import { WVA_DEFAULTS, analyzeSaturation, saturationTarget, validateWvaConfig, type ReplicaMetrics, type WvaConfig } from '../src/policies/wva-saturation.js';

/**
 * llm-d WVA V1 saturation analyzer, case by case. The replica sets are the ones of llm-d's own
 * tests (internal/saturation/analyzer_test.go: TestAnalyzeModelSaturation_*,
 * TestAnalyzeVariant_*, TestCalculateSaturationTargets_*), plus boundary cases; the expected
 * replica count is what WVA's AnalyzeModelSaturation + CalculateSaturationTargets give for a single
 * variant. Defaults: kvCacheThreshold 0.8, queueLengthThreshold 5, kvSpareTrigger 0.1,
 * queueSpareTrigger 3.
 */

/** `kv/queue` per replica, e.g. '0.75/2'. */
function replicas(...specs: string[]): ReplicaMetrics[] {
  return specs.map((spec, i) => {
    const [kv, queue] = spec.split('/').map(Number) as [number, number];
    return { name: `pod-${i + 1}`, kvCacheUsage: kv, queueLength: queue };
  });
}

interface Case {
  readonly name: string;
  /** Replicas reporting both metrics, as kv/queue. */
  readonly metrics: readonly string[];
  /** Replicas that exist (defaults to those reporting metrics). */
  readonly current?: number;
  /** WVA's previous decision (VariantAutoscaling status); unset = 0. */
  readonly desired?: number;
  readonly target: number;
  readonly decision: 'scale-up' | 'scale-down' | 'steady' | 'hold';
  /** The numbers worked by hand. */
  readonly why: string;
}

// prettier-ignore
const CASES: readonly Case[] = [
  // --- scale-up (TestAnalyzeModelSaturation_ScaleUp) ---
  { name: 'low KV spare',                       metrics: ['0.75/2', '0.76/2'],                 target: 3, decision: 'scale-up',
    why: 'spare kv (0.05 + 0.04) / 2 = 0.045 < 0.1' },
  { name: 'low queue spare',                    metrics: ['0.50/3', '0.50/3'],                 target: 3, decision: 'scale-up',
    why: 'spare queue (2 + 2) / 2 = 2 < 3' },
  { name: 'healthy: no scale-up, N−1 refuses',  metrics: ['0.50/1', '0.50/1'],                 target: 2, decision: 'steady',
    why: 'spare kv 0.3, queue 4 ≥ triggers; N−1: kv load 0.5 × 2/1 = 1.0 → spare −0.2 < 0.1' },
  // --- every replica saturated (TestAnalyzeModelSaturation_AllSaturated) ---
  { name: 'all saturated',                      metrics: ['0.85/2', '0.50/6', '0.90/7'],       target: 4, decision: 'scale-up',
    why: 'no non-saturated replica → average spare 0 < both triggers' },
  { name: 'two replicas both at KV 0.9',        metrics: ['0.90/0', '0.90/0'],                 target: 3, decision: 'scale-up',
    why: 'kv 0.9 ≥ 0.8 on both → spare 0' },
  // --- saturated replicas are left out of the averages (TestAnalyzeVariant_SaturatedReplicas) ---
  { name: 'two saturated, one healthy',         metrics: ['0.85/2', '0.50/6', '0.60/2'],       target: 3, decision: 'steady',
    why: 'only pod-3 counts: spare kv 0.2 ≥ 0.1, spare queue 3 ≥ 3 (not < 3); N−1 needs 2 non-saturated' },
  { name: 'seed 002: one saturated, one busy',  metrics: ['0.90/0', '0.50/1'],                 target: 2, decision: 'steady',
    why: 'pod-1 excluded; pod-2 spare kv 0.3, queue 4 → no scale-up; 1 non-saturated < 2 → no scale-down' },
  { name: 'one saturated among three idle',     metrics: ['0.90/0', '0/0', '0/0', '0/0'],      target: 3, decision: 'scale-down',
    why: 'spare kv 0.8, queue 5 over 3 idle; N−1: load 0 × 3/2 = 0 → spare 0.8 ≥ 0.1, 5 ≥ 3' },
  { name: 'one saturated, one idle',            metrics: ['0.90/0', '0/0'],                    target: 2, decision: 'steady',
    why: 'only 1 non-saturated replica: scale-down needs 2' },
  // --- spare right at / just under each trigger ---
  { name: 'KV spare exactly at the trigger',    metrics: ['0.70/0', '0.70/0'],                 target: 2, decision: 'steady',
    why: '0.8 − 0.7 = 0.1000000000000001 (float64, as in Go) is not < 0.1; N−1: load 0.7 × 2 → refused' },
  { name: 'KV spare just under the trigger',    metrics: ['0.71/0', '0.71/0'],                 target: 3, decision: 'scale-up',
    why: '0.8 − 0.71 = 0.09 < 0.1' },
  { name: 'queue spare exactly at the trigger', metrics: ['0.10/2', '0.10/2'],                 target: 2, decision: 'steady',
    why: 'spare queue 5 − 2 = 3, not < 3; N−1: queue load 2 × 2 = 4 → spare 1 < 3, refused' },
  { name: 'queue spare just under the trigger', metrics: ['0.10/2', '0.10/3'],                 target: 3, decision: 'scale-up',
    why: 'spare queue (3 + 2) / 2 = 2.5 < 3' },
  // --- scale-down allowed and refused by the N−1 check (TestAnalyzeModelSaturation_ScaleDownSafety) ---
  { name: 'N−1 allows: adequate headroom',      metrics: ['0.20/1', '0.30/1', '0.25/1'],       target: 2, decision: 'scale-down',
    why: 'kv load 0.25 × 3/2 = 0.375 → spare 0.425 ≥ 0.1; queue load 1 × 3/2 = 1.5 → spare 3.5 ≥ 3' },
  { name: 'N−1 refuses on KV',                  metrics: ['0.50/0', '0.50/0', '0.50/0'],       target: 3, decision: 'steady',
    why: 'kv load 0.5 × 3/2 = 0.75 → spare 0.05 < 0.1' },
  { name: 'N−1 allows, queue spare lands on it',metrics: ['0.10/1', '0.10/1'],                 target: 1, decision: 'scale-down',
    why: 'queue load 1 × 2/1 = 2 → spare 3 ≥ 3; kv load 0.1 × 2 = 0.2 → spare 0.6 ≥ 0.1' },
  { name: 'N−1 refuses on queue only',          metrics: ['0.10/2', '0.10/2', '0.10/1'],       target: 3, decision: 'steady',
    why: 'spare queue (3+3+4)/3 ≈ 3.33 ≥ 3; N−1: queue load 1.67 × 3/2 = 2.5 → spare 2.5 < 3 (kv: 0.1 × 3/2 → 0.65, fine)' },
  { name: 'insufficient headroom (scale-up)',   metrics: ['0.70/2', '0.75/2'],                 target: 3, decision: 'scale-up',
    why: 'WVA test "scale down unsafe": spare kv (0.1 + 0.05) / 2 = 0.075 < 0.1, so the scale-up rule fires first' },
  { name: 'only one non-saturated replica',     metrics: ['0.50/2'],                           target: 1, decision: 'steady',
    why: 'spare kv 0.3, queue 3 → no scale-up; N−1 needs 2 non-saturated; never below 1' },
  { name: 'multi-variant metrics (one pool)',   metrics: ['0.70/2', '0.75/3', '0.60/1', '0.65/2'], target: 4, decision: 'steady',
    why: 'spare kv 0.125 ≥ 0.1, spare queue 3 ≥ 3; N−1: kv load 0.675 × 4/3 = 0.9 → spare −0.1, refused' },
  // --- missing metrics / pending replicas hold every decision (model in transition) ---
  { name: 'a replica is missing metrics',       metrics: ['0.30/1'],             current: 2,   target: 2, decision: 'hold',
    why: 'metrics(1) != current(2): hold at current; WVA #360: an unscraped saturated pod must not let the fleet scale down' },
  { name: 'a replica is pending, all saturated',metrics: ['0.90/6', '0.90/6'],   current: 3,   target: 3, decision: 'hold',
    why: 'metrics(2) != current(3): pending replica blocks the +1 that would otherwise cascade' },
  { name: 'desired not yet applied',            metrics: ['0.75/2', '0.76/2'],   desired: 4,   target: 4, decision: 'hold',
    why: 'TestCalculateSaturationTargets_ModelLevelTransitionBlocking: desired(4) != current(2) → keep 4' },
  { name: 'no replica at all',                  metrics: [],                     current: 0,   target: 0, decision: 'steady',
    why: 'TestAnalyzeModelSaturation_EmptyMetrics: no scale-up, scale-down unsafe' },
];

describe('WVA V1 saturation analyzer: replica count per case (defaults 0.8 / 5 / 0.1 / 3)', () => {
  it.each(CASES)('$name → $target ($decision): $why', (c) => {
    const analysis = analyzeSaturation(replicas(...c.metrics), WVA_DEFAULTS);
    const result = saturationTarget(analysis, { current: c.current ?? c.metrics.length, desired: c.desired });
    expect({ target: result.target, decision: result.decision }).toEqual({ target: c.target, decision: c.decision });
  });
});

describe('WVA V1 saturation analyzer: intermediate values', () => {
  it('averages spare capacity over non-saturated replicas only and lists the saturated ones', () => {
    const analysis = analyzeSaturation(replicas('0.85/2', '0.50/6', '0.60/2'), WVA_DEFAULTS);
    expect(analysis.totalReplicas).toBe(3);
    expect(analysis.nonSaturatedCount).toBe(1);
    expect(analysis.replicas.filter((r) => r.saturated).map((r) => [r.name, r.why])).toEqual([
      ['pod-1', 'kv 0.85 ≥ 0.8'],
      ['pod-2', 'queue 6 ≥ 5'],
    ]);
    expect(analysis.avgSpareKv).toBeCloseTo(0.2, 12);
    expect(analysis.avgSpareQueue).toBe(3);
    expect(analysis.shouldScaleUp).toBe(false);
    expect(analysis.scaleDown.safe).toBe(false);
    expect(analysis.scaleDown.reason).toMatch(/1 non-saturated replica\(s\); scale-down needs at least 2/);
  });

  it('gives all-saturated fleets zero spare capacity and says why it scales up', () => {
    const analysis = analyzeSaturation(replicas('0.85/2', '0.50/6', '0.90/7'), WVA_DEFAULTS);
    expect([analysis.avgSpareKv, analysis.avgSpareQueue, analysis.shouldScaleUp, analysis.scaleDown.safe]).toEqual([0, 0, true, false]);
    expect(analysis.scaleUpReason).toMatch(/every replica is saturated.*spare KV 0 < kvSpareTrigger 0.1 and average spare queue 0 < queueSpareTrigger 3/);
  });

  it('simulates the N → N−1 redistribution exactly', () => {
    const analysis = analyzeSaturation(replicas('0.20/1', '0.30/1', '0.25/1'), WVA_DEFAULTS);
    expect(analysis.scaleDown.safe).toBe(true);
    expect(analysis.scaleDown.remainingSpareKv).toBeCloseTo(0.425, 12);
    expect(analysis.scaleDown.remainingSpareQueue).toBeCloseTo(3.5, 12);
  });

  it('honours other thresholds, e.g. seed 002’s kvSpareTrigger 0.3', () => {
    const config: WvaConfig = { ...WVA_DEFAULTS, kvSpareTrigger: 0.3 };
    // pod-2: spare kv 0.8 − 0.55 = 0.25 < 0.3 → scale up (default trigger 0.1 would hold).
    const analysis = analyzeSaturation(replicas('0.90/0', '0.55/1'), config);
    expect(saturationTarget(analysis, { current: 2 }).target).toBe(3);
    expect(saturationTarget(analyzeSaturation(replicas('0.90/0', '0.55/1'), WVA_DEFAULTS), { current: 2 }).target).toBe(2);
  });

  it('validates the configuration as WVA does', () => {
    expect(validateWvaConfig(WVA_DEFAULTS)).toBeUndefined();
    expect(validateWvaConfig({ ...WVA_DEFAULTS, kvCacheThreshold: 1.2 })?.key).toBe('kvCacheThreshold');
    expect(validateWvaConfig({ ...WVA_DEFAULTS, queueLengthThreshold: -1 })?.key).toBe('queueLengthThreshold');
    expect(validateWvaConfig({ ...WVA_DEFAULTS, kvSpareTrigger: 1.5 })?.key).toBe('kvSpareTrigger');
    expect(validateWvaConfig({ ...WVA_DEFAULTS, queueSpareTrigger: -0.5 })?.key).toBe('queueSpareTrigger');
    const contradiction = validateWvaConfig({ ...WVA_DEFAULTS, kvCacheThreshold: 0.2, kvSpareTrigger: 0.3 });
    expect(contradiction).toEqual({ key: 'kvSpareTrigger', message: 'kvCacheThreshold (0.2) must be ≥ kvSpareTrigger (0.3)' });
  });
});
