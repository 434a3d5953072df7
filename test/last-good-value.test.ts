/**
 * The freshness rule for a failing worker, table-tested on the store with a set clock: a failed
 * attempt keeps the last good sample in use until it is cacheTtl old; a wrong answer (the worker's
 * own values cannot be true, or serve another model) ends it at once.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PoolStore, type FailureCause } from '../src/store/pool-store.js';
import type { WorkerSample } from '../src/store/sample.js';

const TTL = 5000;

function sample(at: number, waiting: number): WorkerSample {
  return { at, models: ['m'], waiting, counters: {}, histograms: {} };
}

/** A store with worker `a` sampled at t=0, failing with `cause` at `failAt`, read at `readAt`. */
function stateAt(cause: FailureCause, failAt: number, readAt: number) {
  let now = 0;
  const store = new PoolStore('p', { cacheTtlMs: TTL, intervalMs: 1000, historyWindowMs: 60_000 }, () => now);
  store.setWorkers(['a']);
  store.recordSample('a', sample(0, 4));
  now = failAt;
  store.recordFailure('a', cause, 'the message');
  now = readAt;
  const snapshot = store.snapshot();
  const view = snapshot.workers[0]!;
  return { state: view.state, counted: snapshot.fresh.map((w) => w.sample.waiting), reason: view.reason, freshFailure: snapshot.fresh[0]?.failure?.cause };
}

const KEEPS: FailureCause[] = ['connect', 'timeout', 'http_status', 'body_too_large', 'parse', 'no_metrics', 'target_down', 'error'];
const ENDS: FailureCause[] = ['implausible-value', 'invalid-sample', 'duplicate-series', 'model_mismatch'];

describe('a failing worker and its last good sample', () => {
  it.each(KEEPS)('%s: counted with its last good value until cacheTtl, then failing', (cause) => {
    expect(stateAt(cause, 300, 4999)).toEqual({
      state: 'fresh',
      counted: [4],
      freshFailure: cause,
      reason: `latest attempt failed (${cause}: the message); using its last good value from 1970-01-01T00:00:00.000Z until it is 5s old (cache TTL)`,
    });
    expect(stateAt(cause, 300, 5000)).toEqual({ state: 'failing', counted: [], reason: `${cause}: the message`, freshFailure: undefined });
  });

  it.each(ENDS)('%s: excluded at once', (cause) => {
    expect(stateAt(cause, 300, 301)).toEqual({ state: 'failing', counted: [], reason: `${cause}: the message`, freshFailure: undefined });
  });

  it('property: a kept sample is counted exactly while younger than cacheTtl; a good sample clears the failure', () => {
    fc.assert(
      fc.property(fc.constantFrom(...KEEPS, ...ENDS), fc.integer({ min: 0, max: 2 * TTL }), fc.integer({ min: 0, max: 2 * TTL }), (cause, failAt, after) => {
        const readAt = failAt + after;
        const { counted } = stateAt(cause, failAt, readAt);
        const kept = KEEPS.includes(cause) && readAt < TTL;
        expect(counted).toEqual(kept ? [4] : []);
      }),
      { numRuns: 500 },
    );
    let now = 0;
    const store = new PoolStore('p', { cacheTtlMs: TTL, intervalMs: 1000, historyWindowMs: 60_000 }, () => now);
    store.setWorkers(['a']);
    store.recordSample('a', sample(0, 4));
    store.recordFailure('a', 'timeout', 'slow');
    now = 100;
    store.recordSample('a', sample(100, 7));
    const view = store.snapshot().workers[0]!;
    expect([view.state, view.reason, view.failure, view.sample?.waiting]).toEqual(['fresh', undefined, undefined, 7]);
  });
});
