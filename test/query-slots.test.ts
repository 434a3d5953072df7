/**
 * Custom-query slots: junk queries from trigger metadata must not hold a pool's slots for ever.
 * End to end (real scaler, real HTTP worker, real gRPC client), then the slot rules as a table
 * and a property.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { QuerySlots, QUERY_IDLE_MS, type MatchedSince } from '../src/store/query-slots.js';
import { MAX_QUERIES } from '../src/store/pool-store.js';
import { parseSeriesQuery, type SeriesQuery } from '../src/store/series-query.js';
import { KedaClient } from './support/keda-client.js';
import { TestScaler } from './support/test-scaler.js';
import { FakeWorker } from './support/workers.js';

const harness = new TestScaler();
afterEach(() => harness.close());

function query(text: string): SeriesQuery {
  const parsed = parseSeriesQuery(text);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.query;
}

describe('custom query slots, end to end', () => {
  it(`after ${MAX_QUERIES} junk queries and a collection, a real custom trigger is still collected and answered`, async () => {
    const worker = harness.track(await FakeWorker.start());
    await harness.start([{ name: 'llama', source: 'vllm', targets: [worker.target] }]);
    await harness.waitReady();
    for (let i = 0; i < MAX_QUERIES; i++) {
      await harness.client.getMetricSpec(KedaClient.ref({ pool: 'llama', metric: 'custom', query: `junk_${i}`, target: '1' }));
    }
    const real = KedaClient.ref({ pool: 'llama', metric: 'custom', query: 'vllm:num_requests_waiting', target: '1', valueMode: 'raw' });
    // Once a scrape has shown the junk matches nothing, its slots are taken back for this query.
    await vi.waitFor(async () => expect((await harness.client.getMetrics(real, '')).metricValues[0]?.metricValueFloat).toBe(3), {
      timeout: 5000,
      interval: 50,
    });
  });
});

describe('QuerySlots', () => {
  const nothing: MatchedSince = () => false;
  const notYet: MatchedSince = () => undefined;
  const everything: MatchedSince = () => true;

  it.each([
    // Every slot that may be taken back is: here both a and b, or neither.
    { name: 'unmatched queries after a collection give their slots up', matched: nothing, at: 1000, accepted: true },
    { name: 'a query not collected yet keeps its slot', matched: notYet, at: 1000, accepted: false },
    { name: 'a matched query asked for recently keeps its slot', matched: everything, at: 1000, accepted: false },
    { name: `matched queries nobody asked for in ${QUERY_IDLE_MS} ms give their slots up`, matched: everything, at: QUERY_IDLE_MS + 2, accepted: true },
    { name: 'exactly at the idle limit the slot is kept', matched: everything, at: QUERY_IDLE_MS + 1, accepted: false },
  ])('$name', ({ matched, at, accepted }) => {
    const slots = new QuerySlots(2);
    expect(slots.require(query('a'), 1, matched)).toBe(true);
    expect(slots.require(query('b'), 1, matched)).toBe(true);
    expect(slots.require(query('c'), at, matched)).toBe(accepted);
    expect(slots.queries().map((q) => q.key)).toEqual(accepted ? ['c'] : ['a', 'b']);
  });

  it('a query asked for again keeps its slot; pinned queries are never taken back', () => {
    const slots = new QuerySlots(2);
    slots.require(query('pinned'), 0, nothing, true);
    slots.require(query('used'), 0, everything);
    expect(slots.touch('used', QUERY_IDLE_MS)).toBe(true);
    // The pinned query matches nothing, the used one does and was asked for 10 ms ago: neither goes.
    expect(slots.require(query('new'), QUERY_IDLE_MS + 10, (key) => key === 'used')).toBe(false);
    expect(slots.queries().map((q) => q.key)).toEqual(['pinned', 'used']);
    expect(slots.touch('gone', 0)).toBe(false);
  });

  it('never holds more than its slots, keeps every pinned query, and hands out a new array only on change', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            name: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'),
            dt: fc.nat(QUERY_IDLE_MS * 2),
            pinned: fc.boolean(),
            seen: fc.constantFrom(true, false, undefined),
          }),
        ),
        (steps) => {
          const slots = new QuerySlots(3);
          const pinned = new Set<string>();
          let now = 0;
          for (const step of steps) {
            now += step.dt;
            const before = slots.queries();
            const had = before.some((q) => q.key === step.name);
            const ok = slots.require(query(step.name), now, () => step.seen, step.pinned && pinned.size < 3);
            if (ok && step.pinned && pinned.size < 3 && !had) pinned.add(step.name);
            const keys = slots.queries().map((q) => q.key);
            expect(keys.length).toBeLessThanOrEqual(3);
            for (const p of pinned) expect(keys).toContain(p);
            if (had) expect(slots.queries()).toBe(before);
            expect(ok).toBe(keys.includes(step.name));
          }
        },
      ),
    );
  });
});
