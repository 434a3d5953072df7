/**
 * A fixed-capacity ring of time-stamped rows, one Float64Array per column: its memory is allocated
 * once, when it is made, and never grows however long the scaler runs. NaN stands for "no value"
 * (a signal that was unavailable), which readers get back as `null`, never as 0.
 */
import type { Columns } from './ui/contract.js';

export type { Columns };

export class TimeRing {
  private readonly times: Float64Array;
  private readonly values: Float64Array[];
  /** Index of the oldest row. */
  private head = 0;
  private rows = 0;

  constructor(
    readonly capacity: number,
    readonly names: readonly string[],
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a whole number ≥ 1, got ${capacity}`);
    this.times = new Float64Array(capacity);
    this.values = names.map(() => new Float64Array(capacity));
  }

  get size(): number {
    return this.rows;
  }

  /** Bytes held by the ring's arrays: fixed at construction. */
  get byteLength(): number {
    return this.times.byteLength + this.values.reduce((sum, column) => sum + column.byteLength, 0);
  }

  /** Time of the newest row, or undefined while empty. */
  get lastAt(): number | undefined {
    return this.rows === 0 ? undefined : this.times[(this.head + this.rows - 1) % this.capacity];
  }

  /** Appends a row (one value per column, NaN when missing); past capacity the oldest row is overwritten. */
  push(at: number, row: readonly number[]): void {
    let index: number;
    if (this.rows < this.capacity) {
      index = (this.head + this.rows) % this.capacity;
      this.rows += 1;
    } else {
      index = this.head;
      this.head = (this.head + 1) % this.capacity;
    }
    this.times[index] = at;
    for (let c = 0; c < this.values.length; c++) (this.values[c] as Float64Array)[index] = row[c] ?? Number.NaN;
  }

  /** The rows newer than `after` (all rows when omitted), oldest first, as columns. */
  since(after = Number.NEGATIVE_INFINITY): Columns {
    const t: number[] = [];
    const series: Record<string, (number | null)[]> = {};
    const columns = this.names.map((name) => (series[name] = []));
    for (let i = 0; i < this.rows; i++) {
      const index = (this.head + i) % this.capacity;
      const at = this.times[index] as number;
      if (at <= after) continue;
      t.push(at);
      for (let c = 0; c < columns.length; c++) {
        const v = (this.values[c] as Float64Array)[index] as number;
        (columns[c] as (number | null)[]).push(Number.isNaN(v) ? null : v);
      }
    }
    return { t, series };
  }
}
