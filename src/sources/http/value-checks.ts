/**
 * Whether a worker's values can be true. One impossible value refuses the whole sample: summing
 * only the engines that look fine, or reading a negative usage as 0, would hand KEDA a lower
 * number than the worker's real load. Odd but usable values (KV usage above 1) are noted instead.
 */
import type { ValueFailureCause } from '../../store/pool-store.js';
import { MAX_PLAUSIBLE_VALUE } from '../../store/sample.js';
import { selectorOf } from './profiles/profile.js';
import type { Series } from './prometheus-text.js';

/** The first value of a worker's answer that cannot be true. */
export interface Problem {
  readonly cause: ValueFailureCause;
  readonly message: string;
}

/** What is wrong with a count (waiting, running, blocks, counters, bucket counts), if anything. */
export function countProblem(name: string, s: Series): Problem | undefined {
  const v = s.value;
  if (!Number.isFinite(v) || v > MAX_PLAUSIBLE_VALUE) {
    return { cause: 'implausible-value', message: `${describeSeries(name, s)} is ${v}: not a plausible count (finite, at most ${MAX_PLAUSIBLE_VALUE})` };
  }
  if (v < 0) return { cause: 'invalid-sample', message: `${describeSeries(name, s)} is ${v}: a count cannot be negative` };
  return undefined;
}

/** A series as messages name it: its name and the labels the scaler reads (long values cut). */
export function describeSeries(name: string, s: Series): string {
  const labels = Object.entries(s.labels).map(([k, v]) => `${k}=${JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v)}`);
  return labels.length === 0 ? name : `${name}{${labels.join(',')}}`;
}

/** The checks of one extraction, over the series it selected (the same ones it reads). */
export class ValueChecks {
  /** The first impossible value met; the sample is refused when set. */
  problem: Problem | undefined;
  /** Odd but usable values. */
  readonly notes: string[] = [];

  constructor(private readonly series: (candidate: string) => readonly Series[]) {}

  /** Keeps the first problem. */
  refuse(problem: Problem | undefined): void {
    this.problem ??= problem;
  }

  /** Every series of these candidates must be a plausible count. */
  counts(candidates: readonly string[]): void {
    if (this.problem !== undefined) return;
    for (const candidate of candidates) {
      for (const s of this.series(candidate)) {
        const problem = countProblem(selectorOf(candidate).name, s);
        if (problem !== undefined) return this.refuse(problem);
      }
    }
  }

  /** KV usage must be finite and not negative; above 1 it is read as 1 by the extraction, and noted here. */
  usage(candidates: readonly string[]): void {
    for (const candidate of candidates) {
      const name = selectorOf(candidate).name;
      for (const s of this.series(candidate)) {
        const v = s.value;
        if (!Number.isFinite(v)) {
          this.refuse({ cause: 'implausible-value', message: `${describeSeries(name, s)} is ${v}: KV usage must be a finite fraction` });
        } else if (v < 0) {
          // Never clamped up to 0: a negative usage is a broken exporter, and 0 would read as idle.
          this.refuse({ cause: 'invalid-sample', message: `${describeSeries(name, s)} is ${v}: KV usage cannot be negative` });
        } else if (v > 1 && this.notes.length === 0) {
          this.notes.push(`${describeSeries(name, s)} is ${v}, above 1: read as 1 (full)`);
        }
      }
    }
  }
}
