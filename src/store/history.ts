/**
 * A worker's history: the cumulative values windowed signals read (counters, histogram buckets,
 * `custom` query values), as rows of numbers in one Float64Array — no object per sample, no
 * string per sample — kept at full rate for the recent past and thinned further back, so that
 * memory depends on the coverage asked for, never on how long the scaler has run.
 *
 * Resolution: for a window of length W ending now, the row that starts it (the newest row at or
 * before now − W) is within max(one check interval, 5 % of W) of now − W. That holds when the gap
 * between two neighbouring rows is at most max(interval, 5 % of the younger one's age), which is
 * the rule rows are thinned by: a row goes once its two neighbours are close enough without it.
 * Rows are spaced one interval apart for the first ~20 intervals, then by ~5 % of their age, so a
 * 10-minute coverage at 1 s takes about 120 rows and an hour about 170.
 *
 * Each field also has a `validFrom`: the time from which it has been reported without going
 * backwards. A counter that drops (the worker restarted) or a histogram whose bounds change starts
 * its field again; rows before that are never a window's start for it, so no delta spans a restart.
 */
import type { CounterName, CumulativeHistogram, HistogramName, WorkerSample } from './sample.js';

/** Counters kept in history, in column order. */
export const HISTORY_COUNTERS: readonly CounterName[] = ['promptTokens', 'generationTokens', 'requestSuccess', 'preemptions'];
/**
 * Histograms kept in history: those signals read over windows (latencies, request token counts).
 * The queue-time histogram is in every sample but read by no windowed signal, so it is not kept.
 */
export const HISTORY_HISTOGRAMS: readonly HistogramName[] = ['ttft', 'itl', 'e2eLatency', 'requestPromptTokens', 'requestGenerationTokens'];

/** Since when a field can be read over a window, and why not before (undefined: the history began then). */
export interface FieldValidity {
  readonly at: number;
  readonly cut?: 'reset' | 'missing';
}

/** A field of the history: what `validFrom` and the readers name. */
export type HistoryField = { readonly counter: CounterName } | { readonly histogram: HistogramName } | { readonly custom: string };

export interface HistoryOptions {
  /** The collection interval: rows closer than half of it are merged (the newest replaces the one before). */
  readonly intervalMs: number;
  /** How far back rows are kept. */
  readonly coverageMs: number;
}

interface HistogramColumns {
  readonly bounds: readonly number[];
  /** Column of `count`; `sum` is at +1 and the bucket counts at +2 … +1+bounds.length. */
  readonly offset: number;
}

/** Columns of one worker's rows; grows (never shrinks) as fields appear. Column 0 is the time. */
class Layout {
  readonly histograms = new Map<HistogramName, HistogramColumns>();
  readonly custom = new Map<string, number>();
  width = 1 + HISTORY_COUNTERS.length;

  addHistogram(name: HistogramName, bounds: readonly number[]): HistogramColumns {
    const columns = { bounds: [...bounds], offset: this.width };
    this.histograms.set(name, columns);
    this.width += 2 + bounds.length;
    return columns;
  }

  addCustom(key: string): number {
    const column = this.width;
    this.custom.set(key, column);
    this.width += 1;
    return column;
  }
}

const COUNTER_COLUMN: Readonly<Record<CounterName, number>> = Object.fromEntries(HISTORY_COUNTERS.map((name, i) => [name, 1 + i])) as Record<
  CounterName,
  number
>;

function sameBounds(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function fieldKey(field: HistoryField): string {
  if ('counter' in field) return `c:${field.counter}`;
  if ('histogram' in field) return `h:${field.histogram}`;
  return `q:${field.custom}`;
}

export class WorkerHistory {
  private layout = new Layout();
  private capacity: number;
  private data: Float64Array;
  /** Slots of the rows in time order, oldest first. */
  private order: number[] = [];
  private free: number[] = [];
  /** Set when the coverage grew: the next sample sizes the storage for it. */
  private resize = false;
  /** Set when a sample restarted the layout (new bucket bounds): its fields start again as after a restart. */
  private restarted = false;
  /**
   * Per field: the time from which it has been reported without going backwards, and what cut it
   * there (a restart, or a gap in reporting); no cut: since this history began. Absent: not reported now.
   */
  private readonly since = new Map<string, FieldValidity>();

  constructor(private options: HistoryOptions) {
    this.capacity = steadyRows(options);
    // One column until the first sample says which fields there are; the rows are sized then.
    this.data = new Float64Array(this.capacity * this.layout.width);
    for (let slot = this.capacity - 1; slot >= 0; slot--) this.free.push(slot);
  }

  /** Rows kept, oldest first. */
  get length(): number {
    return this.order.length;
  }

  /** Keeps at least this much history from now on (a trigger asked for a longer window). */
  cover(coverageMs: number): void {
    if (coverageMs <= this.options.coverageMs) return;
    this.options = { ...this.options, coverageMs };
    // Storage grows to the new coverage's rows with the next sample (collection's path, not KEDA's call that asked).
    this.resize = true;
  }

  /** Forgets every row (the worker restarted: no delta may span it). Fields start again with the next sample. */
  clear(): void {
    this.free.push(...this.order);
    this.order = [];
    this.since.clear();
  }

  /** Records a sample at `now` (the store's clock), then thins older rows. */
  append(sample: WorkerSample, now: number): void {
    if (this.resize) {
      this.resize = false;
      const rows = steadyRows(this.options);
      if (rows > this.capacity) this.relayout(rows);
    }
    this.fit(sample);
    const newest = this.order.length - 1;
    const previous = newest >= 1 ? this.at(newest - 1) : undefined;
    let slot: number;
    // Samples closer than half an interval (a burst of pushed messages) keep only the latest.
    if (newest >= 1 && previous !== undefined && sample.at - previous < this.options.intervalMs / 2) {
      slot = this.order[newest] as number;
    } else {
      slot = this.takeSlot();
      this.order.push(slot);
    }
    this.noteValidity(sample);
    this.write(slot, sample);
    this.thin(now);
  }

  /** When row `row` (0 = oldest) was sampled. */
  at(row: number): number {
    return this.data[(this.order[row] as number) * this.layout.width] as number;
  }

  /** Index of the newest row sampled at or before `t`, or -1. */
  rowAtOrBefore(t: number): number {
    let lo = 0;
    let hi = this.order.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.at(mid) <= t) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /** Index of the oldest row sampled at or after `t`, or `length` when there is none. */
  rowAtOrAfter(t: number): number {
    const before = this.rowAtOrBefore(t);
    if (before >= 0 && this.at(before) === t) return before;
    return before + 1;
  }

  /** Since when `field` has been reported without going backwards; undefined while it is not reported. */
  validFrom(field: HistoryField): FieldValidity | undefined {
    return this.since.get(fieldKey(field));
  }

  counter(row: number, name: CounterName): number | undefined {
    return this.cell(row, COUNTER_COLUMN[name]);
  }

  custom(row: number, key: string): number | undefined {
    const column = this.layout.custom.get(key);
    return column === undefined ? undefined : this.cell(row, column);
  }

  /** The histogram's count in a row, without building the histogram. */
  histogramCount(row: number, name: HistogramName): number | undefined {
    const columns = this.layout.histograms.get(name);
    return columns === undefined ? undefined : this.cell(row, columns.offset);
  }

  /** The histogram of a row, as exposed (bounds from the layout). */
  histogram(row: number, name: HistogramName): CumulativeHistogram | undefined {
    const columns = this.layout.histograms.get(name);
    if (columns === undefined) return undefined;
    const base = (this.order[row] as number) * this.layout.width + columns.offset;
    const count = this.data[base] as number;
    if (Number.isNaN(count)) return undefined;
    const counts = Array.from(this.data.subarray(base + 2, base + 2 + columns.bounds.length));
    return { bounds: columns.bounds, counts, count, sum: this.data[base + 1] as number };
  }

  /** Bytes held by the rows' storage. */
  get bytes(): number {
    return this.data.byteLength;
  }

  private cell(row: number, column: number): number | undefined {
    const v = this.data[(this.order[row] as number) * this.layout.width + column] as number;
    return Number.isNaN(v) ? undefined : v;
  }

  /** Makes the layout hold every field of the sample; a histogram whose bounds changed is a restart. */
  private fit(sample: WorkerSample): void {
    let widened = false;
    for (const name of HISTORY_HISTOGRAMS) {
      const h = sample.histograms[name];
      if (!h) continue;
      const columns = this.layout.histograms.get(name);
      if (columns === undefined) {
        this.layout.addHistogram(name, h.bounds);
        widened = true;
      } else if (!sameBounds(columns.bounds, h.bounds)) {
        // New bucket bounds: the worker was reconfigured or restarted; nothing older compares.
        this.clear();
        this.restarted = true;
        this.layout = new Layout();
        this.data = new Float64Array(this.capacity * this.layout.width);
        this.fit(sample);
        return;
      }
    }
    for (const key of Object.keys(sample.custom ?? {})) {
      if (!this.layout.custom.has(key)) {
        this.layout.addCustom(key);
        widened = true;
      }
    }
    if (widened) this.relayout(this.capacity);
  }

  /** Copies the rows into storage of `capacity` rows of the current width; new columns read as missing. */
  private relayout(capacity: number): void {
    const width = this.layout.width;
    const next = new Float64Array(capacity * width).fill(NaN);
    const oldWidth = this.data.length / this.capacity;
    this.order.forEach((slot, i) => next.set(this.data.subarray(slot * oldWidth, slot * oldWidth + oldWidth), i * width));
    this.order = this.order.map((_, i) => i);
    this.free = [];
    for (let slot = capacity - 1; slot >= this.order.length; slot--) this.free.push(slot);
    this.data = next;
    this.capacity = capacity;
  }

  private takeSlot(): number {
    if (this.free.length === 0) this.relayout(Math.ceil(this.capacity * 1.5));
    return this.free.pop() as number;
  }

  private write(slot: number, sample: WorkerSample): void {
    const d = this.data;
    const row = slot * this.layout.width;
    d.fill(NaN, row, row + this.layout.width);
    d[row] = sample.at;
    for (const name of HISTORY_COUNTERS) {
      const v = sample.counters[name];
      if (v !== undefined && Number.isFinite(v)) d[row + COUNTER_COLUMN[name]] = v;
    }
    for (const [name, columns] of this.layout.histograms) {
      const h = sample.histograms[name];
      if (!h || h.counts.length !== columns.bounds.length) continue;
      d[row + columns.offset] = h.count;
      d[row + columns.offset + 1] = h.sum;
      for (let i = 0; i < h.counts.length; i++) d[row + columns.offset + 2 + i] = h.counts[i] as number;
    }
    for (const [key, column] of this.layout.custom) {
      const v = sample.custom?.[key];
      if (v !== undefined && Number.isFinite(v)) d[row + column] = v;
    }
  }

  /**
   * Keeps each field's `validFrom`: set when the field appears, moved to this sample when the
   * field goes backwards (a counter below its last value, a histogram count below its last count),
   * dropped while the field is missing.
   */
  private noteValidity(sample: WorkerSample): void {
    const last = this.order.length >= 2 ? this.order.length - 2 : -1;
    const note = (key: string, value: number | undefined, previous: number | undefined) => {
      if (value === undefined || !Number.isFinite(value)) {
        this.since.delete(key);
        return;
      }
      const known = this.since.get(key);
      if (this.restarted || (previous !== undefined && value < previous)) this.since.set(key, { at: sample.at, cut: 'reset' });
      else if (known === undefined) this.since.set(key, last >= 0 ? { at: sample.at, cut: 'missing' } : { at: sample.at });
    };
    for (const name of HISTORY_COUNTERS) note(`c:${name}`, sample.counters[name], last >= 0 ? this.counter(last, name) : undefined);
    for (const name of this.layout.histograms.keys()) {
      note(`h:${name}`, sample.histograms[name]?.count, last >= 0 ? this.histogramCount(last, name) : undefined);
    }
    for (const key of this.layout.custom.keys()) note(`q:${key}`, sample.custom?.[key], last >= 0 ? this.custom(last, key) : undefined);
    this.restarted = false;
  }

  /**
   * Drops rows older than the coverage (keeping the newest one at or before its start), then every
   * row whose neighbours are close enough without it: gap ≤ max(interval, 5 % of the younger
   * neighbour's age).
   */
  private thin(now: number): void {
    thinRows(
      this.order,
      (slot) => this.data[slot * this.layout.width] as number,
      now,
      this.options,
      (slot) => this.free.push(slot),
    );
  }
}

/**
 * The thinning rule on rows given by `order` (oldest first; `timeOf` reads a row's time): rows
 * older than the coverage go, except the one that starts it; then, oldest first, a row goes when
 * the row kept before it and the row after it are close enough without it: max(one interval, 5 %
 * of the younger one's age). One pass, in place; each removed row is handed to `release`.
 */
function thinRows(order: number[], timeOf: (row: number) => number, now: number, options: HistoryOptions, release: (row: number) => void): void {
  const start = now - options.coverageMs;
  const n = order.length;
  let first = 0;
  while (first + 1 < n && timeOf(order[first + 1] as number) <= start) first++;
  for (let i = 0; i < first; i++) release(order[i] as number);
  if (n - first <= 2) {
    if (first > 0) order.splice(0, first);
    return;
  }
  const interval = options.intervalMs;
  let kept = order[first] as number;
  let w = 0;
  order[w++] = kept;
  for (let i = first + 1; i < n - 1; i++) {
    const row = order[i] as number;
    const younger = timeOf(order[i + 1] as number);
    if (younger - timeOf(kept) <= Math.max(interval, 0.05 * (now - younger))) release(row);
    else {
      order[w++] = row;
      kept = row;
    }
  }
  order[w++] = order[n - 1] as number;
  order.length = w;
}

const steadyRowsMemo = new Map<number, number>();

/**
 * How many rows a history of this coverage holds once full, sampled every interval: the storage
 * each worker gets at its first sample, so that memory is taken once and does not grow while the
 * coverage fills (found by running the thinning rule on regular times, once per coverage and interval).
 */
export function steadyRows(options: HistoryOptions): number {
  // The rule scales with the interval: the rows depend only on how many intervals the coverage spans.
  const intervals = Math.ceil(options.coverageMs / Math.max(1, options.intervalMs));
  let rows = steadyRowsMemo.get(intervals);
  if (rows === undefined) {
    const times: number[] = [];
    const unit = { coverageMs: intervals, intervalMs: 1 };
    let most = 0;
    for (let t = 0; t <= intervals * 1.25 + 4; t++) {
      times.push(t);
      thinRows(
        times,
        (time) => time,
        t,
        unit,
        () => undefined,
      );
      most = Math.max(most, times.length);
    }
    // A few rows of slack for scrapes that do not land exactly one interval apart.
    rows = most + 8;
    steadyRowsMemo.set(intervals, rows);
  }
  return rows;
}
