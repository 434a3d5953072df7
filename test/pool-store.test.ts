/**
 * The store's history: kept for every worker from its first sample, at full rate for the recent
 * past and thinned further back, with a window start within max(interval, 5 % of the window) of
 * its nominal start at bounded memory — checked with a fake clock, not by waiting.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { evaluateSignal, useOf } from '../src/signals/evaluate.js';
import { counterReader, windowSpan } from '../src/signals/windowed/window-span.js';
import { PoolStore } from '../src/store/pool-store.js';
import type { WorkerSample } from '../src/store/sample.js';
import { findSignal } from '../src/triggers/catalogue.js';

const INTERVAL = 1000;
const sample = (at: number, generationTokens = at / 100): WorkerSample => ({
  at,
  models: [],
  waiting: 0,
  running: 1,
  counters: { generationTokens, requestSuccess: at / 1000 },
  histograms: {},
});

function storeWithClock(historyWindowMs = 600_000) {
  const clock = { now: 0 };
  const store = new PoolStore('p', { cacheTtlMs: 5000, intervalMs: INTERVAL, historyWindowMs }, () => clock.now);
  store.setWorkers(['w']);
  const run = (untilMs: number, every = INTERVAL) => {
    for (; clock.now <= untilMs; clock.now += every) store.recordSample('w', sample(clock.now));
    clock.now -= every;
  };
  return { store, clock, run, history: () => store.record('w')!.history };
}

describe('pool store history', () => {
  it('keeps every worker at full rate from its first sample, with no trigger asking for anything', () => {
    const { run, history } = storeWithClock();
    run(7000);
    expect(history().length).toBe(8);
    expect(Array.from({ length: 8 }, (_, i) => history().at(i))).toEqual([0, 1000, 2000, 3000, 4000, 5000, 6000, 7000]);
  });

  it('keeps one row per interval when samples come faster (a burst of pushed messages keeps the latest)', () => {
    const { store, clock, history } = storeWithClock();
    for (clock.now = 0; clock.now <= 2000; clock.now += 100) store.recordSample('w', sample(clock.now));
    expect(Array.from({ length: history().length }, (_, i) => history().at(i))).toEqual([0, 1000, 2000]);
  });

  it('memory does not grow with uptime: a day of samples leaves the rows a 10-minute coverage needs', () => {
    const { run, history } = storeWithClock();
    run(3600_000);
    const afterAnHour = { rows: history().length, bytes: history().bytes };
    run(24 * 3600_000);
    expect(history().length).toBeLessThanOrEqual(afterAnHour.rows + 2);
    expect(history().bytes).toBe(afterAnHour.bytes);
    expect(history().length).toBeLessThan(140);
    // The oldest row is at (or just before) the coverage's start.
    const oldest = 24 * 3600_000 - history().at(0);
    expect(oldest).toBeGreaterThanOrEqual(600_000);
    expect(oldest).toBeLessThan(600_000 * 1.06);
  });

  for (const windowMs of [5_000, 60_000, 600_000, 3_600_000]) {
    it(`a ${windowMs / 1000} s window starts within max(one interval, 5 % of it) of its nominal start`, () => {
      const { store, clock, run } = storeWithClock();
      store.requireHistory(windowMs); // a trigger asked for it (windows up to 10 min are covered by default)
      run(2 * 3600_000);
      const bound = Math.max(INTERVAL, 0.05 * windowMs);
      // At many moments, not just one: thinning moves rows as time passes.
      for (let k = 0; k < 200; k++) {
        clock.now += INTERVAL;
        store.recordSample('w', sample(clock.now));
        const fresh = store.snapshot().fresh[0]!;
        const cutoff = clock.now - windowMs;
        const span = windowSpan(fresh, cutoff, counterReader('generationTokens'));
        expect(span.ok).toBe(true);
        if (!span.ok) continue;
        expect(span.baseAt).toBeLessThanOrEqual(cutoff);
        expect(cutoff - span.baseAt).toBeLessThanOrEqual(bound);
        expect(span.limitedBy).toBeUndefined();
      }
    });
  }

  it('property: for any window from 5 s to 1 h and any moment, the start is within the bound', () => {
    const { store, clock, run } = storeWithClock(3_600_000);
    run(90 * 60_000);
    fc.assert(
      fc.property(fc.integer({ min: 5_000, max: 3_600_000 }), fc.integer({ min: 1, max: 40 }), (windowMs, steps) => {
        for (let i = 0; i < steps; i++) {
          clock.now += INTERVAL;
          store.recordSample('w', sample(clock.now));
        }
        const span = windowSpan(store.snapshot().fresh[0]!, clock.now - windowMs, counterReader('generationTokens'));
        expect(span.ok).toBe(true);
        const start = span.ok ? span.baseAt : Number.NaN;
        expect(clock.now - windowMs - start).toBeGreaterThanOrEqual(0);
        expect(clock.now - windowMs - start).toBeLessThanOrEqual(Math.max(INTERVAL, 0.05 * windowMs));
      }),
      { numRuns: 200 },
    );
  });

  it('a partial window is answered over the time actually covered (7 s into a 60 s window)', () => {
    const { store, run } = storeWithClock();
    run(7000);
    const use = useOf(findSignal('tokens_per_second')!, new Map([['window', '60s']]));
    const evaluation = evaluateSignal(store.snapshot(), use);
    // 10 tokens per second (at / 100 per ms): Δ70 tokens over the 7 s covered, not over 60 s.
    expect(evaluation).toMatchObject({
      ok: true,
      value: 10,
      details: { window: '60s', effectiveWindowSeconds: { min: 7, max: 7 }, shorterWindows: { history: 1 } },
    });
    expect(evaluation.contributions[0]).toMatchObject({ worker: 'w', value: 10, windowSeconds: 7 });
  });

  it('a counter going backwards (a restart) starts that counter again; the other counters keep their windows', () => {
    const { store, clock, run, history } = storeWithClock();
    run(10_000);
    const before = store.record('w')!.counterResets;
    clock.now += INTERVAL;
    expect(store.recordSample('w', { ...sample(clock.now), counters: { generationTokens: 5, requestSuccess: clock.now / 1000 } })).toBe(true);
    expect(store.record('w')!.counterResets).toBe(before + 1);
    expect(history().validFrom({ counter: 'generationTokens' })).toEqual({ at: clock.now, cut: 'reset' });
    expect(history().validFrom({ counter: 'requestSuccess' })).toEqual({ at: 0 });
    const fresh = store.snapshot().fresh[0]!;
    expect(windowSpan(fresh, clock.now - 5000, counterReader('generationTokens'))).toEqual({ ok: false, problem: 'reset' });
    expect(windowSpan(fresh, clock.now - 5000, counterReader('requestSuccess'))).toMatchObject({ ok: true, seconds: 5 });
  });
});

describe('property: the history layout never yields an unusable windowed value', () => {
  const WINDOWED = [
    { metric: 'ttft', window: '5s' },
    { metric: 'itl', window: '30s' },
    { metric: 'e2e_latency', window: '10s', quantile: '0.5' },
    { metric: 'tokens_per_second', window: '5s', tokens: 'total' },
    { metric: 'request_rate', window: '20s' },
    { metric: 'context_length', window: '10s' },
    { metric: 'tokens_in_queue', window: '10s' },
    { metric: 'backlog_seconds', window: '10s' },
    { metric: 'custom', query: 'calls_total', reduce: 'rate', window: '10s' },
  ].map(({ metric, ...keys }) => useOf(findSignal(metric)!, new Map(Object.entries(keys))));

  const count = fc.oneof(fc.nat({ max: 1000 }), fc.constantFrom(Number.NaN, -1, Number.POSITIVE_INFINITY, 0));
  const histogram = fc
    .tuple(
      fc.constantFrom([0.1, 1, Number.POSITIVE_INFINITY], [0.5, 2, 8, Number.POSITIVE_INFINITY]),
      fc.array(fc.nat({ max: 50 }), { minLength: 4, maxLength: 4 }),
      fc.boolean(),
    )
    .map(([bounds, increments, cumulative]) => {
      let running = 0;
      const counts = bounds.map((_, i) => (cumulative ? (running += increments[i]!) : increments[i]!));
      return { bounds, counts, count: counts.at(-1)!, sum: counts.at(-1)! * 0.7 };
    });
  const step = fc.oneof(
    {
      weight: 8,
      arbitrary: fc.record({
        kind: fc.constant('sample' as const),
        dt: fc.integer({ min: 1, max: 4000 }),
        counter: count,
        drop: fc.boolean(),
        h: fc.option(histogram),
        calls: fc.option(count),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('remove' as const), dt: fc.integer({ min: 1, max: 2000 }) }) },
  );

  it('arbitrary samples, counter resets, bucket changes and removals: every value is finite and ≥ 0', () => {
    let checked = 0;
    fc.assert(
      fc.property(fc.array(step, { minLength: 5, maxLength: 60 }), (steps) => {
        const clock = { now: 0 };
        const store = new PoolStore('p', { cacheTtlMs: 60_000, intervalMs: 1000, historyWindowMs: 600_000 }, () => clock.now);
        store.setWorkers(['w']);
        let level = 0;
        for (const s of steps) {
          clock.now += s.dt;
          if (s.kind === 'remove') {
            store.setWorkers([]);
            store.setWorkers(['w']);
            continue;
          }
          level = s.drop ? Math.max(0, level - 500) : level + (Number.isFinite(s.counter) ? Math.abs(s.counter) : 0);
          const value = (x: number) => (Number.isNaN(s.counter) ? Number.NaN : x);
          store.recordSample('w', {
            at: clock.now,
            models: [],
            waiting: 2,
            running: 1,
            counters: { promptTokens: value(level), generationTokens: value(level * 2), requestSuccess: value(level / 10) },
            histograms: s.h ? { ttft: s.h, itl: s.h, e2eLatency: s.h, requestPromptTokens: s.h, requestGenerationTokens: s.h } : {},
            custom: s.calls === null ? {} : { calls_total: s.calls },
          });
          const snapshot = store.snapshot();
          for (const use of WINDOWED) {
            const evaluation = evaluateSignal(snapshot, use);
            if (!evaluation.ok) continue;
            expect(Number.isFinite(evaluation.value)).toBe(true);
            expect(evaluation.value).toBeGreaterThanOrEqual(0);
            checked += 1;
          }
        }
      }),
      { numRuns: 300 },
    );
    // The generators reach the value checks (windows with two usable rows), not only refusals.
    expect(checked).toBeGreaterThan(2000);
  });
});

describe('pool store publication on read (publishOnRead, for virtual clocks)', () => {
  const withWaiting = (at: number, waiting: number): WorkerSample => ({ ...sample(at), waiting });

  it('a write is visible to the next published() at once, with no timer involved, and at the store clock', () => {
    let now = 1000;
    const store = new PoolStore('p', { cacheTtlMs: 5000, intervalMs: INTERVAL, historyWindowMs: 60_000, publishOnRead: true }, () => now);
    let notified = 0;
    store.onChange(() => (notified += 1));
    store.setWorkers(['w']);
    expect(store.published().fresh).toHaveLength(0);
    store.recordSample('w', withWaiting(now, 3));
    expect(store.published().fresh.map((w) => w.sample.waiting)).toEqual([3]);
    now = 2000;
    store.recordSample('w', withWaiting(now, 7));
    const snapshot = store.published();
    expect(snapshot.at).toBe(2000);
    expect(snapshot.fresh.map((w) => w.sample.waiting)).toEqual([7]);
    // Without writes the same snapshot is read again (one build per publication).
    expect(store.published()).toBe(snapshot);
    expect(notified).toBe(3);
  });

  it('without the option a write is published by the timer, not by the next read', () => {
    const store = new PoolStore('p', { cacheTtlMs: 5000, intervalMs: INTERVAL, historyWindowMs: 60_000 }, () => 1000);
    store.setWorkers(['w']);
    const first = store.published();
    store.recordSample('w', withWaiting(1000, 3));
    expect(store.published()).toBe(first);
  });
});

describe('pool store publication by timer', () => {
  afterEach(() => {
    vi.useRealTimers();
  });
  const waitingOf = (store: PoolStore) => store.published().fresh.map((w) => w.sample.waiting);

  it('the first write after a quiet spell is published after the current turn; later ones at most every 20 ms', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const store = new PoolStore('p', { cacheTtlMs: 60_000, intervalMs: INTERVAL, historyWindowMs: 60_000 }, () => 1000);
    let published = 0;
    store.onChange(() => (published += 1));
    store.setWorkers(['w']);
    await vi.advanceTimersByTimeAsync(100);
    published = 0;
    // Quiet until now: the write shows after the turn (a 0 ms timer), not 20 ms later.
    store.recordSample('w', { ...sample(1000), waiting: 3 });
    store.recordSample('w', { ...sample(1000), waiting: 4 }); // same turn: the same publication
    expect(waitingOf(store)).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(waitingOf(store)).toEqual([4]);
    expect(published).toBe(1);
    // A write right after a publication waits until 20 ms after it.
    store.recordSample('w', { ...sample(1000), waiting: 5 });
    await vi.advanceTimersByTimeAsync(18);
    expect(waitingOf(store)).toEqual([4]);
    await vi.advanceTimersByTimeAsync(2);
    expect(waitingOf(store)).toEqual([5]);
    expect(published).toBe(2);
    // Quiet again for longer than 20 ms: immediate once more.
    await vi.advanceTimersByTimeAsync(50);
    store.recordSample('w', { ...sample(1000), waiting: 6 });
    await vi.advanceTimersByTimeAsync(1);
    expect(waitingOf(store)).toEqual([6]);
  });
});
