/**
 * The HPA model alone, against Kubernetes' documented algorithm
 * (kubernetes/kubernetes pkg/controller/podautoscaler/replica_calculator.go, horizontal.go;
 * https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/#algorithm-details).
 * Expected counts are worked out in the comments.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HpaController, hpaSpec, type MetricReading } from '../src/simulation/hpa.js';
import type { HpaInput } from '../src/simulation/scenario.js';

const avg = (value: number | undefined, target = 1, name = 'm'): MetricReading => ({ name, type: 'AverageValue', target, value });

/** No stabilization and (practically) no rate limit, unless a test says otherwise. */
const FREE: HpaInput['behavior'] = {
  scaleUp: { stabilizationWindowSeconds: 0, policies: [{ type: 'Pods', value: 1000, periodSeconds: 15 }] },
  scaleDown: { stabilizationWindowSeconds: 0, policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] },
};

function controller(behavior: HpaInput['behavior'] = FREE, bounds: { minReplicas?: number; maxReplicas?: number; tolerance?: number } = {}): HpaController {
  return new HpaController(
    hpaSpec({ minReplicas: bounds.minReplicas ?? 1, maxReplicas: bounds.maxReplicas ?? 100, tolerance: bounds.tolerance ?? 0.1, behavior }),
  );
}

/** Syncs every 15 s from t = 0 with `value(t)` for one AverageValue metric; returns the replica count after each. */
function run(hpa: HpaController, start: number, syncs: number, value: (t: number, current: number) => number | undefined, target = 1): number[] {
  let current = start;
  const out: number[] = [];
  for (let i = 0; i < syncs; i++) {
    const t = i * 15;
    current = hpa.sync(t, current, current, [avg(value(t, current), target)]).desired;
    out.push(current);
  }
  return out;
}

describe('replica calculation (AverageValue) and the 10 % tolerance', () => {
  // usageRatio = value / (target × current); outside ±0.1 the proposal is ceil(value / target).
  it.each([
    { current: 3, value: 3.2, expected: 3, why: 'ratio 1.067: inside the tolerance' },
    { current: 3, value: 3.4, expected: 4, why: 'ratio 1.133: ceil(3.4) = 4' },
    { current: 3, value: 2.75, expected: 3, why: 'ratio 0.917: inside the tolerance' },
    { current: 3, value: 2.6, expected: 3, why: 'ratio 0.867: ceil(2.6) = 3, no change' },
    { current: 3, value: 1.9, expected: 2, why: 'ratio 0.633: ceil(1.9) = 2' },
    { current: 4, value: 4.2, expected: 4, why: 'ratio 1.05' },
    { current: 1, value: 2.9999, expected: 3, why: 'milli-units: 2999m / 1000m → ceil 2.999 = 3' },
    { current: 2, value: 0, expected: 1, why: 'zero load: ceil(0) = 0, raised to minReplicas 1' },
  ])('$current replicas, value $value, target 1 → $expected ($why)', ({ current, value, expected }) => {
    expect(controller().sync(0, current, current, [avg(value)]).desired).toBe(expected);
  });

  it('targets are quantities: 600m KV with 3 replicas at 0.45 each asks for ceil(1.35 / 0.6) = 3 (ratio 0.75), at 0.8 each for 4', () => {
    expect(controller().sync(0, 3, 3, [avg(1.35, 0.6)]).desired).toBe(3);
    expect(controller().sync(0, 3, 3, [avg(2.4, 0.6)]).desired).toBe(4);
  });

  it('the largest proposal over the metrics wins', () => {
    const d = controller().sync(0, 2, 2, [avg(7, 1, 'queue'), avg(2.7, 0.6, 'kv')]);
    // queue: ceil(7 / 1) = 7; kv: ceil(2.7 / 0.6) = ceil(4.5) = 5.
    expect(d.proposals).toEqual([
      { name: 'queue', replicas: 7 },
      { name: 'kv', replicas: 5 },
    ]);
    expect(d.desired).toBe(7);
  });

  it('Value metrics: ceil(usageRatio × ready pods)', () => {
    const reading: MetricReading = { name: 'v', type: 'Value', target: 10, value: 30 };
    expect(controller().sync(0, 3, 2, [reading]).desired).toBe(6); // 30 / 10 = 3, × 2 ready = 6
    expect(controller().sync(0, 3, 2, [{ ...reading, value: 10.5 }]).desired).toBe(3); // ratio 1.05: unchanged
  });

  it('unavailable metrics: the others may scale up, never down; all unavailable changes nothing', () => {
    expect(controller().sync(0, 3, 3, [avg(undefined, 1, 'a'), avg(5, 1, 'b')]).desired).toBe(5);
    expect(controller().sync(0, 3, 3, [avg(undefined, 1, 'a'), avg(1, 1, 'b')]).desired).toBe(3);
    expect(controller().sync(0, 3, 3, [avg(undefined)]).desired).toBe(3);
  });

  it('min/max: never beyond maxReplicas; a count outside the bounds is brought back first', () => {
    const capped = controller(FREE, { maxReplicas: 10 }).sync(0, 4, 4, [avg(50)]);
    expect(capped).toMatchObject({ desired: 10, limitedBy: 'TooManyReplicas' });
    expect(controller(FREE, { maxReplicas: 10 }).sync(0, 12, 12, [avg(12)]).desired).toBe(10);
    expect(controller(FREE, { minReplicas: 3 }).sync(0, 1, 1, [avg(1)]).desired).toBe(3);
  });
});

describe('behavior: scaling policies over their periods', () => {
  it('seed 002 scale-up, Pods 1 per 60 s: one pod per minute whatever the metric asks', () => {
    // t=0: 1 → 2. t=15…45: the +1 at t=0 is inside (t−60, t], period start = 2 − 1 = 1, limit 2.
    // t=60: the event at 0 is not after the cutoff 0, period start = 2, limit 3. And so on.
    const hpa = controller({
      scaleUp: { stabilizationWindowSeconds: 0, policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] },
      scaleDown: FREE?.scaleDown,
    });
    expect(run(hpa, 1, 9, () => 8)).toEqual([2, 2, 2, 2, 3, 3, 3, 3, 4]);
  });

  it('seed 002 scale-down, Percent 10 per 60 s: int(start × 0.9) per minute', () => {
    // 10 → int(9.0) = 9; within the minute the start is 9 + 1 = 10 again, limit 9; after it int(8.1) = 8.
    const hpa = controller({
      scaleUp: FREE?.scaleUp,
      scaleDown: { stabilizationWindowSeconds: 0, policies: [{ type: 'Percent', value: 10, periodSeconds: 60 }] },
    });
    expect(run(hpa, 10, 9, () => 1)).toEqual([9, 9, 9, 9, 8, 8, 8, 8, 7]);
    // 3 replicas: int(2.7) = 2; 1 replica: int(0.9) = 0, but never below minReplicas.
    const small = controller({
      scaleUp: FREE?.scaleUp,
      scaleDown: { stabilizationWindowSeconds: 0, policies: [{ type: 'Percent', value: 10, periodSeconds: 60 }] },
    });
    expect(small.sync(0, 3, 3, [avg(0.1)]).desired).toBe(2);
    expect(small.sync(120, 1, 1, [avg(0.1)]).desired).toBe(1);
  });

  it('selectPolicy: Max takes the policy allowing the most change, Min the least, Disabled none', () => {
    const policies = [
      { type: 'Pods' as const, value: 4, periodSeconds: 60 },
      { type: 'Percent' as const, value: 100, periodSeconds: 60 },
    ];
    const up = (selectPolicy: 'Max' | 'Min' | 'Disabled') =>
      controller({ scaleUp: { stabilizationWindowSeconds: 0, selectPolicy, policies }, scaleDown: FREE?.scaleDown }).sync(0, 10, 10, [avg(50)]);
    expect(up('Max')).toMatchObject({ desired: 20, limitedBy: 'ScaleUpLimit' }); // max(10 + 4, 10 × 2)
    expect(up('Min').desired).toBe(14); // min(14, 20)
    expect(up('Disabled').desired).toBe(10);
    // Percent up is ceil(start × (1 + p/100)), so at least one pod: 10 × 1.1 = 11; 3 × 1.1 = 3.3 → 4.
    const tenPercent = () =>
      controller({ scaleUp: { stabilizationWindowSeconds: 0, policies: [{ type: 'Percent', value: 10, periodSeconds: 60 }] }, scaleDown: FREE?.scaleDown });
    expect(tenPercent().sync(0, 10, 10, [avg(50)]).desired).toBe(11);
    expect(tenPercent().sync(0, 3, 3, [avg(50)]).desired).toBe(4);
  });

  it('without behavior: Kubernetes defaults, up by max(4 pods, 100 %) per 15 s, down after a 300 s window', () => {
    const hpa = new HpaController(hpaSpec({ minReplicas: 1, maxReplicas: 100, tolerance: 0.1, behavior: undefined }));
    expect(hpa.sync(0, 1, 1, [avg(20)]).desired).toBe(5); // max(1 + 4, 1 × 2)
    expect(hpa.sync(15, 5, 5, [avg(20)]).desired).toBe(10); // max(5 + 4, 5 × 2)
    // Load drops at t=30: the highest recommendation of the last 300 s (20) holds the count.
    let current = 10;
    for (let t = 30; t <= 300; t += 15) current = hpa.sync(t, current, current, [avg(2)]).desired;
    expect(current).toBe(10);
    // At t=330 the last 20 (t=15) is out of (30, 330]; the highest left is 2.
    expect(hpa.sync(330, current, current, [avg(2)]).desired).toBe(2);
  });
});

describe('behavior: stabilization windows', () => {
  it('seed 002 scale-up with a 240 s window: nothing until the lowest recommendation of the window (and the initial count) is exceeded', () => {
    // The first sync records the current count (1) at t=0; until t=240 it is inside (t−240, t], so the
    // lowest recommendation is 1 and the count stays. At t=240 every recommendation left is 8: +1 (Pods 1/60 s).
    const hpa = controller({
      scaleUp: { stabilizationWindowSeconds: 240, policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] },
      scaleDown: { stabilizationWindowSeconds: 240, policies: [{ type: 'Percent', value: 10, periodSeconds: 60 }] },
    });
    const counts = run(hpa, 1, 22, () => 8);
    expect(counts.slice(0, 16)).toEqual(new Array(16).fill(1));
    expect(counts[16]).toBe(2); // t = 240
    expect(counts.slice(16)).toEqual([2, 2, 2, 2, 3, 3]);
  });

  it('a spike shorter than the scale-up window changes nothing', () => {
    const hpa = controller({
      scaleUp: { stabilizationWindowSeconds: 60, policies: [{ type: 'Pods', value: 10, periodSeconds: 15 }] },
      scaleDown: FREE?.scaleDown,
    });
    expect(run(hpa, 2, 12, (t) => (t >= 60 && t < 105 ? 9 : 2))).toEqual(new Array(12).fill(2));
  });

  it('scale-down waits for the highest recommendation of the window', () => {
    const hpa = controller({
      scaleUp: FREE?.scaleUp,
      scaleDown: { stabilizationWindowSeconds: 120, policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] },
    });
    // Recommendations 5 until t=60, then 2: the 5 of t=60 leaves the window (t−120, t] at t=180.
    const counts = run(hpa, 5, 14, (t) => (t <= 60 ? 5 : 2));
    expect(counts.slice(0, 12)).toEqual(new Array(12).fill(5)); // t = 0 … 165
    expect(counts[12]).toBe(2); // t = 180
  });
});

describe('bounds and policy limits hold for any metric sequence (property)', () => {
  it('replicas stay within min/max, and no period ever gains more pods than its Pods policy allows', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 20 }).map((p) => p * 15),
        fc.integer({ min: 0, max: 20 }).map((w) => w * 15),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 20 }),
        fc.array(fc.double({ min: 0, max: 40, noNaN: true }), { minLength: 1, maxLength: 80 }),
        (value, periodSeconds, window, minReplicas, extra, loads) => {
          const maxReplicas = minReplicas + extra;
          const hpa = controller(
            { scaleUp: { stabilizationWindowSeconds: window, policies: [{ type: 'Pods', value, periodSeconds }] }, scaleDown: { selectPolicy: 'Disabled' } },
            { minReplicas, maxReplicas },
          );
          let current = minReplicas;
          const additions: { t: number; n: number }[] = [];
          loads.forEach((load, i) => {
            const t = i * 15;
            const next = hpa.sync(t, current, current, [avg(load)]).desired;
            expect(next).toBeGreaterThanOrEqual(minReplicas);
            expect(next).toBeLessThanOrEqual(maxReplicas);
            expect(next).toBeGreaterThanOrEqual(current); // scale-down disabled
            if (next > current) additions.push({ t, n: next - current });
            current = next;
            const inPeriod = additions.filter((a) => a.t > t - periodSeconds).reduce((s, a) => s + a.n, 0);
            expect(inPeriod).toBeLessThanOrEqual(value);
          });
        },
      ),
      { numRuns: 300 },
    );
  });
});
