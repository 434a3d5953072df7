import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyPanic, CALM, panicStep, type PanicConfig, type PanicState } from '../src/policies/panic-window.js';
import { ageOut } from '../src/policies/pending-timeout.js';
import { applyTolerance } from '../src/policies/tolerance.js';
import { upMaxDownMin } from '../src/policies/votes.js';
import { StateScope } from '../src/store/pool-store.js';

/** Knative's defaults: stable window 60 s, panic window 10 % of it, threshold 200 %. */
const KNATIVE: PanicConfig = { stableWindowMs: 60_000, panicWindowMs: 6_000, panicThreshold: 2 };

interface Step {
  readonly at: number;
  readonly stable: number;
  readonly panic: number;
  readonly ready: number;
  readonly desired: number;
  readonly panicking: boolean;
}

/**
 * Cases re-derived from knative/serving pkg/autoscaler/scaling/autoscaler_test.go: the desired
 * counts are ceil(observed / target) for the stable and panic windows, as Knative's Scale computes
 * them, here given directly. Each step is one Scale call.
 */
// prettier-ignore
const SCENARIOS: readonly { name: string; steps: readonly Step[]; why: string }[] = [
  { name: 'stable mode: 50 concurrency over target 10 is 5 pods', why: 'panic 5/1 ≥ 2 would panic, so ready 5 keeps it calm',
    steps: [{ at: 0, stable: 5, panic: 5, ready: 5, desired: 5, panicking: false }] },
  { name: 'panic doubles from one pod (panic 100 / target 10)', why: '10 / 1 ready = 10 ≥ 2 → panic, max(stable 1, panic 10) = 10',
    steps: [{ at: 0, stable: 1, panic: 10, ready: 1, desired: 10, panicking: true }] },
  { name: 'exactly at the threshold panics (≥, not >)', why: '10 / 5 = 2 ≥ 2',
    steps: [{ at: 0, stable: 5, panic: 10, ready: 5, desired: 10, panicking: true }] },
  { name: 'just under the threshold stays stable', why: '9 / 5 = 1.8 < 2 → stable 5',
    steps: [{ at: 0, stable: 5, panic: 9, ready: 5, desired: 5, panicking: false }] },
  { name: 'stable larger than panic while panicking: the larger wins', why: 'max(stable 12, panic 10)',
    steps: [{ at: 0, stable: 12, panic: 10, ready: 1, desired: 12, panicking: true }] },
  { name: 'panic then un-panic scale-down', why: 'no scale-down while panicking; after a full stable window below the threshold, stable 1',
    steps: [
      { at: 0, stable: 10, panic: 10, ready: 1, desired: 10, panicking: true },
      { at: 30_000, stable: 1, panic: 1, ready: 10, desired: 10, panicking: true },
      { at: 60_000, stable: 1, panic: 1, ready: 10, desired: 10, panicking: true },
      { at: 60_001, stable: 1, panic: 1, ready: 10, desired: 1, panicking: false },
    ] },
  { name: 'exponential track while panicking', why: '6/1 → 6; 36/6 → 36; 216/36 → 216: each ≥ 2 × ready',
    steps: [
      { at: 0, stable: 1, panic: 6, ready: 1, desired: 6, panicking: true },
      { at: 2_000, stable: 3, panic: 36, ready: 6, desired: 36, panicking: true },
      { at: 4_000, stable: 20, panic: 216, ready: 36, desired: 216, panicking: true },
    ] },
  { name: 'crossing the threshold again extends the panic', why: 'panicTime moves to 50 s, so at 100 s (50 s later) it still panics; ends after 110 s',
    steps: [
      { at: 0, stable: 1, panic: 4, ready: 1, desired: 4, panicking: true },
      { at: 50_000, stable: 2, panic: 8, ready: 4, desired: 8, panicking: true },
      { at: 100_000, stable: 2, panic: 2, ready: 8, desired: 8, panicking: true },
      { at: 110_001, stable: 2, panic: 2, ready: 8, desired: 2, panicking: false },
    ] },
];

describe('panic window (Knative semantics)', () => {
  it.each(SCENARIOS)('$name', ({ steps, why }) => {
    let state: PanicState = CALM;
    for (const s of steps) {
      const r = panicStep(state, { at: s.at, desiredStable: s.stable, desiredPanic: s.panic, ready: s.ready }, KNATIVE);
      expect(r.desired, `${why} (at ${s.at})`).toBe(s.desired);
      expect(r.panicking, `${why} (at ${s.at})`).toBe(s.panicking);
      state = r.state;
    }
  });

  it('applyPanic: a burst that doubles the recommendation raises the answer at once and holds it through a stable window', () => {
    const scope = new StateScope('t');
    const c: PanicConfig = { stableWindowMs: 20_000, panicWindowMs: 2_000, panicThreshold: 2 };
    for (let t = 0; t <= 20_000; t += 1_000) expect(applyPanic(2, 2, t, c, scope).value).toBe(2);
    // Burst: the policy now asks for 4 (double). The panic mean over 2 s is (2 + 4) / 2 = 3 → no;
    // the next check: (4 + 4) / 2 = 4 ≥ 2 × 2 ready → panic.
    const first = applyPanic(4, 2, 21_000, c, scope);
    expect(first.value).toBe(3);
    expect(first.details?.panicking).toBe(false);
    const second = applyPanic(4, 2, 22_000, c, scope);
    expect(second.value).toBe(4);
    expect(second.details?.panicking).toBe(true);
    // Load falls back; the answer does not fall while panicking (last over the threshold at 22 s).
    for (let t = 23_000; t <= 42_000; t += 1_000) expect(applyPanic(1, 4, t, c, scope).value).toBe(4);
    const calm = applyPanic(1, 4, 43_000, c, scope);
    expect(calm.details?.panicking).toBe(false);
    expect(calm.value).toBeLessThan(4);
  });

  it('property: while panicking the answer never decreases, and it is ≥ both desired counts', () => {
    const stepArb = fc.record({ stable: fc.integer({ min: 0, max: 50 }), panic: fc.integer({ min: 0, max: 50 }), ready: fc.integer({ min: 0, max: 50 }) });
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 30 }), (steps) => {
        let state: PanicState = CALM;
        let last: number | undefined;
        steps.forEach((s, i) => {
          const r = panicStep(state, { at: i * 2_000, desiredStable: s.stable, desiredPanic: s.panic, ready: s.ready }, KNATIVE);
          if (r.panicking) {
            expect(r.desired).toBeGreaterThanOrEqual(Math.max(s.stable, s.panic));
            if (last !== undefined && state.panicTime !== undefined) expect(r.desired).toBeGreaterThanOrEqual(last);
          } else expect(r.desired).toBe(s.stable);
          last = r.desired;
          state = r.state;
        });
      }),
    );
  });
});

// prettier-ignore
const TOLERANCE: readonly [desired: number, current: number, up: number, down: number, expected: number, why: string][] = [
  [11, 10, 0.1, 0.1, 10, '11/10 = 1.1 ≤ 1.1: hold'],
  [12, 10, 0.1, 0.1, 12, '1.2 > 1.1: scale up'],
  [9, 10, 0.1, 0.1, 10, '0.9 ≥ 0.9: hold'],
  [8, 10, 0.1, 0.1, 8, '0.8 < 0.9: scale down'],
  [11, 10, 0, 0, 11, 'no band: any change goes'],
  [3, 0, 0.5, 0.5, 3, 'current 0: no ratio, scale from zero'],
  [5, 4, 0.3, 0, 4, '5/4 = 1.25 ≤ 1.3: hold'],
  [3, 4, 0.3, 0, 3, 'down band 0: 0.75 < 1 scales down'],
  [4, 4, 0.1, 0.1, 4, 'no change'],
  [2, 3, 0.1, 0.5, 3, '2/3 = 0.667 ≥ 0.5: hold (AIBrix scaleDownTolerance)'],
];

describe('tolerance band', () => {
  it.each(TOLERANCE)('desired %i, current %i, up %f, down %f → %i', (desired, current, up, down, expected, why) => {
    expect(applyTolerance(desired, current, { up, down }).value, why).toBe(expected);
  });

  it('property: the answer is either desired or current, and holds only inside the band', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 100 }),
        fc.nat({ max: 100 }),
        fc.double({ min: 0, max: 0.99, noNaN: true }),
        fc.double({ min: 0, max: 0.99, noNaN: true }),
        (d, c, up, down) => {
          const r = applyTolerance(d, c, { up, down });
          expect([d, c]).toContain(r.value);
          if (r.value !== d) {
            expect(c).toBeGreaterThan(0);
            expect(d / c).toBeLessThanOrEqual(1 + up);
            expect(d / c).toBeGreaterThanOrEqual(1 - down);
          }
        },
      ),
    );
  });
});

// prettier-ignore
const VOTES: readonly [votes: number[], current: number, expected: number, why: string][] = [
  [[5, 3], 4, 5, 'one asks for more: max'],
  [[2, 3], 4, 3, 'all ask for fewer: the smallest reduction'],
  [[4, 2], 4, 4, 'one at current, one lower: not all agree to go down'],
  [[6, 8, 1], 5, 8, 'max wins on the way up'],
  [[1, 1], 3, 1, 'all agree on 1'],
  [[0], 0, 0, 'single vote at current'],
];

describe('up-max-down-min', () => {
  it.each(VOTES)('votes %j at current %i → %i', (votes, current, expected, why) => {
    expect(upMaxDownMin(votes, current).recommendation, why).toBe(expected);
  });

  it('property: never below the largest vote unless every vote is above current; scales down only if all agree', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 50 }), { minLength: 1, maxLength: 6 }), fc.nat({ max: 50 }), (votes, current) => {
        const r = upMaxDownMin(votes, current).recommendation;
        if (r < current) expect(votes.every((v) => v < current)).toBe(true);
        if (r > current) expect(r).toBe(Math.max(...votes));
        expect(r).toBeLessThanOrEqual(Math.max(current, ...votes));
      }),
    );
  });
});

describe('pendingTimeout', () => {
  it('leaves a replica out once it has been unready for the timeout, and forgets it when it recovers', () => {
    const since = new Map<string, number>();
    const a = { id: 'a', state: 'pending' };
    const b = { id: 'b', state: 'failing' };
    expect(ageOut([a], 0, 300_000, since).kept).toEqual([a]);
    expect(ageOut([a, b], 200_000, 300_000, since).kept).toEqual([a, b]);
    const later = ageOut([a, b], 300_000, 300_000, since);
    expect(later.kept).toEqual([b]);
    expect(later.timedOut[0]?.why).toBe('pending for 300s ≥ pendingTimeout 300s: left out of the replica counts');
    // a is fresh again (not listed), then unready again: its clock restarts.
    ageOut([b], 310_000, 300_000, since);
    expect(ageOut([a, b], 320_000, 300_000, since).kept).toEqual([a, b]);
    expect(ageOut([a, b], 500_000, 300_000, since).kept).toEqual([a]);
  });
});
