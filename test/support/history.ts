import { WorkerHistory } from '../../src/store/history.js';
import type { FreshWorker } from '../../src/store/pool-store.js';
import type { WorkerSample } from '../../src/store/sample.js';

/** A worker's history holding these samples, each recorded at its own time (1 s interval, 1 h coverage). */
export function historyOf(samples: readonly WorkerSample[], intervalMs = 1000): WorkerHistory {
  const history = new WorkerHistory({ intervalMs, coverageMs: 3_600_000 });
  for (const sample of samples) history.append(sample, sample.at);
  return history;
}

/** A fresh worker whose current sample is `current` (default: the last one) over a history of `samples`. */
export function freshWorker(id: string, samples: readonly WorkerSample[], current: WorkerSample = samples.at(-1)!): FreshWorker {
  return { id, sample: current, history: historyOf(samples) };
}
