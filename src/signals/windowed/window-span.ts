/**
 * A worker's window: which past row of its history starts it, given the current sample and a
 * cutoff (now − window). Rows are found by time (binary search), never by walking every sample,
 * and a field's `validFrom` (store/history.ts) keeps a window from spanning a restart or a gap.
 */
import type { FreshWorker } from '../../store/pool-store.js';
import type { HistoryField, WorkerHistory } from '../../store/history.js';
import type { CounterName, CumulativeHistogram, HistogramName, WorkerSample } from '../../store/sample.js';
import { histogramDelta, type BucketCounts } from './histogram-window.js';

/** How a windowed signal reads one value, from the current sample and from a history row. */
export interface FieldReader<T> {
  /** The history fields the value is made of: the window starts after the latest cut of any of them. */
  readonly fields: readonly HistoryField[];
  fromSample(sample: WorkerSample): T | undefined;
  fromHistory(history: WorkerHistory, row: number): T | undefined;
}

/** Why a worker's window could not be formed. */
export type SpanProblem =
  /** The current sample lacks the value. */
  | 'missing'
  /** No earlier sample to compare with (first collected, or just back after a gap). */
  | 'short'
  /** The value went backwards at the latest sample (a restart just seen). */
  | 'reset';

export type Span<T> =
  | {
      readonly ok: true;
      /** When the window's first row was sampled. */
      readonly baseAt: number;
      readonly baseValue: T;
      readonly currentValue: T;
      /** current.at − baseAt, in seconds (> 0). */
      readonly seconds: number;
      /**
       * Why the window is shorter than asked for, if it is: the history does not reach back far
       * enough yet, the value went backwards (a restart) inside it, or it was not reported for a while.
       */
      readonly limitedBy?: 'history' | 'reset' | 'missing';
    }
  | { readonly ok: false; readonly problem: SpanProblem };

/**
 * The span from the newest row at or before `cutoff` to the current sample. When the history (or
 * the field's validity) does not reach that far, the oldest usable row starts it, and `limitedBy`
 * says why. Rows at or after the current sample (written after the snapshot) are never used.
 */
export function windowSpan<T>(worker: FreshWorker, cutoff: number, reader: FieldReader<T>): Span<T> {
  const current = worker.sample;
  const currentValue = reader.fromSample(current);
  if (currentValue === undefined) return { ok: false, problem: 'missing' };
  const history = worker.history;
  let last = history.rowAtOrBefore(current.at);
  if (last >= 0 && history.at(last) >= current.at) last -= 1;
  let validAt = Number.NEGATIVE_INFINITY;
  let cut: 'reset' | 'missing' | undefined;
  for (const field of reader.fields) {
    const validity = history.validFrom(field);
    if (validity === undefined) return { ok: false, problem: 'short' };
    if (validity.at > validAt) {
      validAt = validity.at;
      cut = validity.cut;
    }
  }
  const first = history.rowAtOrAfter(validAt);
  if (first > last) return { ok: false, problem: cut === 'reset' && validAt >= current.at ? 'reset' : 'short' };
  let base = history.rowAtOrBefore(cutoff);
  let limitedBy: 'history' | 'reset' | 'missing' | undefined;
  if (base < first) {
    base = first;
    limitedBy = cut ?? 'history';
  } else if (base > last) {
    base = last;
  }
  const baseValue = reader.fromHistory(history, base);
  if (baseValue === undefined) return { ok: false, problem: 'short' };
  const baseAt = history.at(base);
  return { ok: true, baseAt, baseValue, currentValue, seconds: (current.at - baseAt) / 1000, ...(limitedBy ? { limitedBy } : {}) };
}

export function counterReader(name: CounterName): FieldReader<number> {
  return {
    fields: [{ counter: name }],
    fromSample: (s) => finiteCount(s.counters[name]),
    fromHistory: (h, row) => finiteCount(h.counter(row, name)),
  };
}

/** The sum of several counters (e.g. prompt + generation tokens). */
export function counterSumReader(names: readonly CounterName[]): FieldReader<number> {
  const readers = names.map(counterReader);
  const sum = (values: (number | undefined)[]) => (values.every((v) => v !== undefined) ? values.reduce<number>((a, b) => a + (b as number), 0) : undefined);
  return {
    fields: readers.flatMap((r) => r.fields),
    fromSample: (s) => sum(readers.map((r) => r.fromSample(s))),
    fromHistory: (h, row) => sum(readers.map((r) => r.fromHistory(h, row))),
  };
}

export function customReader(key: string): FieldReader<number> {
  return {
    fields: [{ custom: key }],
    fromSample: (s) => finiteCount(s.custom?.[key]),
    fromHistory: (h, row) => finiteCount(h.custom(row, key)),
  };
}

export function histogramReader(name: HistogramName): FieldReader<CumulativeHistogram> {
  return {
    fields: [{ histogram: name }],
    fromSample: (s) => s.histograms[name],
    fromHistory: (h, row) => h.histogram(row, name),
  };
}

export function finiteCount(v: number | undefined): number | undefined {
  return v !== undefined && Number.isFinite(v) && v >= 0 ? v : undefined;
}

/**
 * The delta of a worker's histogram over its window. A bucket that went back without the count
 * going back (new bucket bounds of the same number, a reconfigured worker) is a restart the
 * history's validity cannot see: the window then starts at the newest row the current histogram
 * is a continuation of.
 */
export function windowDelta(
  worker: FreshWorker,
  cutoff: number,
  name: HistogramName,
): { ok: true; delta: BucketCounts; span: Extract<Span<CumulativeHistogram>, { ok: true }> } | { ok: false; problem: SpanProblem | 'unreadable' } {
  const reader = histogramReader(name);
  const span = windowSpan(worker, cutoff, reader);
  if (!span.ok) return span;
  const result = histogramDelta(span.baseValue, span.currentValue);
  if (result.ok) return { ok: true, delta: result.delta, span };
  if (result.reason === 'unreadable') return { ok: false, problem: 'unreadable' };
  // Rare: look for the first row after the base that the current histogram continues.
  const history = worker.history;
  const current = worker.sample;
  for (let row = history.rowAtOrAfter(span.baseAt) + 1; row < history.length && history.at(row) < current.at; row++) {
    const base = history.histogram(row, name);
    if (!base) continue;
    const again = histogramDelta(base, span.currentValue);
    if (again.ok) {
      const baseAt = history.at(row);
      return { ok: true, delta: again.delta, span: { ...span, baseAt, baseValue: base, seconds: (current.at - baseAt) / 1000, limitedBy: 'reset' } };
    }
  }
  return { ok: false, problem: 'reset' };
}
