/**
 * The status page's history: the fixed-size rings (property-tested against a plain list), and the
 * recorder over a real PoolStore and TriggerRegistry — rows per tick, missing values kept as
 * missing, and every bound (rows, triggers, changes, bytes) holding however long it runs.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PoolConfig } from '../src/config/schema.js';
import { StatusHistory, type StatusSource } from '../src/http/status-history.js';
import { TimeRing } from '../src/http/time-ring.js';
import { PoolStore } from '../src/store/pool-store.js';
import type { WorkerSample } from '../src/store/sample.js';
import { defaultUses } from '../src/triggers/catalogue.js';
import { TriggerRegistry } from '../src/triggers/trigger-registry.js';
import type { PoolRuntime, Trigger } from '../src/triggers/trigger.js';

/** The store publishes 20 ms after a write. */
const published = () => new Promise((resolve) => setTimeout(resolve, 30));

describe('TimeRing', () => {
  it('holds exactly the last `capacity` rows, oldest first, missing values as null, in fixed memory', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.array(fc.tuple(fc.oneof(fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.constant(Number.NaN)), fc.integer({ min: 0, max: 9 })), {
          maxLength: 120,
        }),
        fc.integer({ min: -1, max: 130 }),
        (capacity, rows, afterIndex) => {
          const ring = new TimeRing(capacity, ['a', 'b']);
          const bytes = ring.byteLength;
          expect(bytes).toBe(3 * capacity * 8);
          rows.forEach(([a, b], i) => ring.push(1000 + i, [a, b]));
          const kept = rows.map(([a, b], i) => ({ t: 1000 + i, a: Number.isNaN(a) ? null : a, b })).slice(-capacity);
          expect(ring.size).toBe(kept.length);
          expect(ring.byteLength).toBe(bytes);
          expect(ring.lastAt).toBe(rows.length === 0 ? undefined : 1000 + rows.length - 1);
          const all = ring.since();
          expect(all.t).toEqual(kept.map((r) => r.t));
          expect(all.series['a']).toEqual(kept.map((r) => r.a));
          expect(all.series['b']).toEqual(kept.map((r) => r.b));
          const after = 1000 + afterIndex;
          expect(ring.since(after).t).toEqual(kept.filter((r) => r.t > after).map((r) => r.t));
        },
      ),
    );
  });

  it('refuses a capacity that is not a whole number ≥ 1', () => {
    expect(() => new TimeRing(0, ['a'])).toThrow('capacity must be a whole number ≥ 1, got 0');
    expect(() => new TimeRing(2.5, ['a'])).toThrow('capacity must be a whole number ≥ 1, got 2.5');
  });
});

const sample = (at: number, load: { waiting: number; kv: number }): WorkerSample => ({
  at,
  models: ['m'],
  waiting: load.waiting,
  running: 1,
  kvUsage: load.kv,
  counters: {},
  histograms: {},
});

function pool(name: string): { runtime: PoolRuntime; store: PoolStore } {
  const store = new PoolStore(name, { cacheTtlMs: 60_000, intervalMs: 1000, historyWindowMs: 600_000 });
  return { runtime: { name, store }, store };
}

const config = (name: string): PoolConfig => ({ name, source: 'vllm', scheme: 'http' }) as PoolConfig;

describe('StatusHistory', () => {
  it('takes one row per tick for every pool and trigger, keeps missing values missing, and says when a decision changes', async () => {
    const llama = pool('llama');
    llama.store.setWorkers(['a', 'b']);
    llama.store.recordSample('a', sample(Date.now(), { waiting: 2, kv: 0.4 }));
    llama.store.recordSample('b', sample(Date.now(), { waiting: 4, kv: 0.6 }));
    const registry = new TriggerRegistry(new Map([['llama', { runtime: llama.runtime, config: config('llama') }]]));
    const trigger = registry.resolve({ pool: 'llama', metric: 'queue_depth', target: '5' });
    let now = 10_000;
    const history = new StatusHistory({ pools: () => [llama.runtime], triggers: () => registry.triggers() }, { now: () => now });
    await published();

    history.record();
    now += 1000;
    history.record();
    const rows = history.pool('llama');
    expect(rows.t).toEqual([10_000, 11_000]);
    expect(rows.series['queue_depth']).toEqual([6, 6]);
    expect(rows.series['kv_cache_usage']).toEqual([0.5, 0.5]);
    expect(rows.series['workers_fresh']).toEqual([2, 2]);
    expect(Object.keys(rows.series)).toEqual([
      ...defaultUses().map((u) => u.signal.name),
      'workers_fresh',
      'workers_stale',
      'workers_failing',
      'workers_pending',
    ]);
    expect(history.pool('llama', 10_000).t).toEqual([11_000]);

    const kept = history.trigger(trigger)!;
    expect(kept.rows.series).toEqual({ value: [6, 6], desired: [2, 2], active: [1, 1] });
    expect(kept.changes).toEqual([
      { at: 10_000, from: undefined, to: 2, active: true, headline: 'HPA wants 2 replicas because queue_depth is 6 requests: ceil(6 / target 5) = 2' },
    ]);

    // Both workers fail: the value is missing (null), not 0, and the change is recorded once.
    // (A wrong answer: a refused connection would keep each last good sample until the cache TTL.)
    llama.store.recordFailure('a', 'implausible-value', 'vllm:num_requests_waiting is NaN');
    llama.store.recordFailure('b', 'implausible-value', 'vllm:num_requests_waiting is NaN');
    await published();
    now += 1000;
    history.record();
    now += 1000;
    history.record();
    expect(history.pool('llama').series['queue_depth']).toEqual([6, 6, null, null]);
    expect(history.pool('llama').series['workers_failing']).toEqual([0, 0, 2, 2]);
    const after = history.trigger(trigger)!;
    expect(after.rows.series).toEqual({ value: [6, 6, null, null], desired: [2, 2, null, null], active: [1, 1, 0, 0] });
    expect(after.changes.map((c) => [c.at, c.from, c.to, c.active])).toEqual([
      [10_000, undefined, 2, true],
      [12_000, 2, undefined, false],
    ]);
    expect(after.changes[1]!.headline).toBe(
      "no value: no fresh data in pool 'llama': 2 of 2 workers are not fresh; KEDA gets UNAVAILABLE and its fallback applies",
    );
  });

  it('stays within its bounds however long it runs: rows per ring, triggers, changes, bytes', async () => {
    const llama = pool('llama');
    llama.store.setWorkers(['a']);
    const registry = new TriggerRegistry(new Map([['llama', { runtime: llama.runtime, config: config('llama') }]]));
    const triggers: Trigger[] = Array.from({ length: 6 }, (_, i) => registry.resolve({ pool: 'llama', metric: 'queue_depth', target: String(i + 1) }));
    let listed = triggers;
    const source: StatusSource = { pools: () => [llama.runtime], triggers: () => listed };
    let now = 0;
    const history = new StatusHistory(source, { capacity: 10, maxTriggers: 4, maxChanges: 3, now: () => now });

    let footprint: number | undefined;
    for (let tick = 0; tick < 60; tick++) {
      // The load flips every tick, so every tracked trigger's decision changes every tick.
      llama.store.recordSample('a', sample(Date.now(), { waiting: tick % 2 === 0 ? 1 : 50, kv: 0.5 }));
      await published();
      now += 1000;
      history.record();
      const f = history.footprint();
      expect(f.triggers).toBe(4);
      expect(f.pools).toBe(1);
      footprint ??= f.bytes;
      expect(f.bytes).toBe(footprint);
    }
    // 10 rows per ring: 1 pool ring of (1 + columns) × 10 doubles, 4 trigger rings of 4 × 10.
    expect(footprint).toBe((1 + history.poolColumns.length) * 10 * 8 + 4 * (4 * 10 * 8));
    expect(history.pool('llama').t).toEqual(Array.from({ length: 10 }, (_, i) => (51 + i) * 1000));
    for (const trigger of triggers.slice(0, 4)) {
      const kept = history.trigger(trigger)!;
      expect(kept.rows.t.length).toBe(10);
      expect(kept.changes.map((c) => c.at)).toEqual([58_000, 59_000, 60_000]);
    }
    // Beyond maxTriggers a trigger is shown without history rather than growing memory.
    expect(history.trigger(triggers[4]!)).toBeUndefined();

    // A trigger the registry no longer lists leaves the history, and frees a place.
    listed = [triggers[0]!, triggers[5]!];
    now += 1000;
    history.record();
    expect(history.footprint().triggers).toBe(2);
    expect(history.trigger(triggers[1]!)).toBeUndefined();
    expect(history.trigger(triggers[5]!)!.rows.t).toEqual([61_000]);
  });

  it('tells its listeners after every row, and stops when they unsubscribe', () => {
    const llama = pool('llama');
    const history = new StatusHistory({ pools: () => [llama.runtime], triggers: () => [] });
    let calls = 0;
    const unsubscribe = history.onRecord(() => calls++);
    history.record();
    history.record();
    unsubscribe();
    history.record();
    expect(calls).toBe(2);
    expect(history.pool('llama').t.length).toBe(3);
    expect(history.pool('nope')).toEqual({ t: [], series: Object.fromEntries(history.poolColumns.map((c) => [c, []])) });
  });
});
