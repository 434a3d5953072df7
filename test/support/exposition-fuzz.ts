/**
 * Property-test helpers for the engine profiles: expositions broken the ways a faulty worker or
 * network breaks them, and the invariants every extracted sample keeps whatever it was given.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import type { WorkerSample } from '../../src/store/sample.js';

export interface MutationOptions {
  /** Also cut the body (maybe) after inserting garbage lines; default false. */
  readonly truncateAfterInsert?: boolean;
}

/**
 * One of `texts`, mutated: characters flipped at random, truncated anywhere, its lines shuffled,
 * or `garbageLine`s inserted between its lines.
 */
export function mutatedExposition(texts: readonly string[], garbageLine: fc.Arbitrary<string>, options: MutationOptions = {}): fc.Arbitrary<string> {
  return fc.constantFrom(...texts).chain((text) => {
    const lines = text.split('\n');
    const insert = (inserts: [number, string][]): string => {
      const out = [...lines];
      for (const [at, line] of inserts) out.splice(at, 0, line);
      return out.join('\n');
    };
    const inserts = fc.array(fc.tuple(fc.nat({ max: lines.length }), garbageLine), { minLength: 1, maxLength: 20 });
    return fc.oneof(
      // random character flips
      fc
        .array(fc.tuple(fc.nat({ max: text.length - 1 }), fc.string({ unit: 'binary', minLength: 1, maxLength: 2 })), { minLength: 1, maxLength: 30 })
        .map((flips) => {
          const chars = text.split('');
          for (const [at, ch] of flips) chars[at] = ch;
          return chars.join('');
        }),
      // truncation anywhere
      fc.nat({ max: text.length }).map((k) => text.slice(0, k)),
      // line shuffles
      fc.shuffledSubarray(lines, { minLength: lines.length }).map((ls) => ls.join('\n')),
      // inserted garbage lines, then maybe truncation
      options.truncateAfterInsert
        ? fc.tuple(inserts, fc.option(fc.nat({ max: 100_000 }), { nil: undefined })).map(([at, cut]) => {
            const joined = insert(at);
            return cut === undefined ? joined : joined.slice(0, cut);
          })
        : inserts.map(insert),
    );
  });
}

/** Absent, or a finite number ≥ 0. */
export const isCount = (v: number | undefined): boolean => v === undefined || (Number.isFinite(v) && v >= 0);

/**
 * What every extracted sample keeps: gauges and counters absent or finite and ≥ 0, KV usage ≤ 1,
 * histograms with a count per bound, counts that are counts, and a sum that is NaN or finite.
 */
export function expectSaneSample(s: WorkerSample): void {
  expect([s.waiting, s.running, s.kvUsage, s.kvBlocksUsed, s.kvBlocksTotal].every(isCount)).toBe(true);
  if (s.kvUsage !== undefined) expect(s.kvUsage).toBeLessThanOrEqual(1);
  expect(Object.values(s.counters).every(isCount)).toBe(true);
  for (const h of Object.values(s.histograms)) {
    expect(h.counts).toHaveLength(h.bounds.length);
    expect(h.counts.every(isCount) && isCount(h.count)).toBe(true);
    expect(Number.isNaN(h.sum) || Number.isFinite(h.sum)).toBe(true);
  }
}
