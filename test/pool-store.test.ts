import { describe, expect, it } from 'vitest';
import { PoolStore } from '../src/store/pool-store.js';
import type { WorkerSample } from '../src/store/sample.js';

const sample = (at: number, waiting = 1): WorkerSample => ({ at, models: [], waiting, counters: { requestSuccess: at }, histograms: {} });

describe('pool store history', () => {
  it('keeps no history beyond the last two samples until a trigger needs a window', () => {
    let now = 0;
    const store = new PoolStore('p', 60_000, 6, () => now);
    store.setWorkers(['w']);
    for (now = 0; now <= 1000; now += 100) store.recordSample('w', sample(now));
    expect(store.record('w')?.history.map((s) => s.at)).toEqual([900, 1000]);
  });

  it('then covers the longest window asked for with at most historySize samples, thinned evenly', () => {
    let now = 0;
    const store = new PoolStore('p', 60_000, 6, () => now);
    store.setWorkers(['w']);
    store.requireHistory(2000); // 6 samples: one per 2000 / 4 = 500 ms
    for (now = 0; now <= 5000; now += 100) store.recordSample('w', sample(now));
    const kept = store.record('w')!.history.map((s) => s.at);
    expect(kept).toHaveLength(6);
    expect(kept.at(-1)).toBe(5000); // the newest sample is always kept
    expect(5000 - kept[0]!).toBeGreaterThanOrEqual(2000); // the window is covered
    for (let i = 1; i < kept.length - 1; i++) expect(kept[i]! - kept[i - 1]!).toBeGreaterThanOrEqual(500);
  });

  it('restarts the history when a counter goes backwards (a worker restart)', () => {
    const store = new PoolStore('p', 60_000, 6, () => 300);
    store.setWorkers(['w']);
    store.requireHistory(1000);
    store.recordSample('w', sample(100));
    store.recordSample('w', sample(200));
    expect(store.recordSample('w', { ...sample(300), counters: { requestSuccess: 5 } })).toBe(true);
    expect(store.record('w')?.history.map((s) => s.at)).toEqual([300]);
    expect(store.record('w')?.counterResets).toBe(1);
  });
});
