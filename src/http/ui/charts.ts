/**
 * Time charts over the server's history rings, drawn with uPlot (served by the scaler itself).
 * A chart keeps its rows; live messages append the rows they carry, and a full message replaces
 * them. Missing values stay gaps, never zeros.
 */
import uPlot from 'uplot';
import type { Columns } from './contract.js';
import { clock, h } from './dom.js';

export interface SeriesSpec {
  /** Column name in the server's rows. */
  readonly key: string;
  readonly label: string;
  readonly color: string;
  /** Draw as steps (counts, replicas) rather than lines. */
  readonly stepped?: boolean;
  readonly format?: (v: number) => string;
  /** Drawn against a second axis on the right (e.g. replicas next to a value of another size). */
  readonly right?: boolean;
}

export interface ChartSpec {
  readonly title: string;
  readonly series: readonly SeriesSpec[];
  /** Fixed value range, e.g. [0, 1] for a fraction. */
  readonly range?: readonly [number, number];
  readonly height?: number;
}

/** Rows shown: the last ten minutes. */
const WINDOW_MS = 10 * 60_000;

export class TimeChart {
  readonly element: HTMLElement;
  private plot?: uPlot;
  private t: number[] = [];
  private columns: (number | null)[][];
  private readonly resize: ResizeObserver;

  constructor(private readonly spec: ChartSpec) {
    this.columns = spec.series.map(() => []);
    const canvas = h('div', { class: 'chart-canvas' });
    this.element = h('figure', { class: 'chart', 'data-chart': spec.title }, h('figcaption', {}, spec.title), canvas);
    this.resize = new ResizeObserver(() => {
      const width = canvas.clientWidth;
      if (width <= 0) return;
      if (!this.plot) this.create(canvas, width);
      else this.plot.setSize({ width, height: this.spec.height ?? 180 });
    });
    this.resize.observe(canvas);
  }

  private create(canvas: HTMLElement, width: number): void {
    const stepped = uPlot.paths.stepped?.({ align: 1 });
    const hasRight = this.spec.series.some((s) => s.right);
    const fromZero = (_u: uPlot, min: number, max: number): uPlot.Range.MinMax => [Math.min(0, min), Math.max(max, 1)];
    const options: uPlot.Options = {
      width,
      height: this.spec.height ?? 180,
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: true },
        y: this.spec.range ? { range: [this.spec.range[0], this.spec.range[1]] } : { range: fromZero },
        ...(hasRight ? { right: { range: fromZero } } : {}),
      },
      axes: [
        { values: (_u, splits) => splits.map((v) => clock(v * 1000)), size: 30 },
        { size: 56, values: (_u, splits) => splits.map((v) => (this.spec.series[0]?.format ? this.spec.series[0].format(v) : String(v))) },
        ...(hasRight ? [{ scale: 'right', side: 1 as const, size: 40, grid: { show: false } }] : []),
      ],
      series: [
        {},
        ...this.spec.series.map((s) => ({
          label: s.label,
          stroke: s.color,
          scale: s.right ? 'right' : 'y',
          width: 2,
          paths: s.stepped ? stepped : undefined,
          value: (_u: uPlot, v: number | null) => (v === null ? '—' : s.format ? s.format(v) : String(v)),
        })),
      ],
    };
    this.plot = new uPlot(options, this.data(), canvas);
  }

  /** Appends `rows` (or replaces everything when `full`), then redraws. */
  update(rows: Columns | undefined, full: boolean): void {
    if (!rows) return;
    if (full) {
      this.t = [];
      this.columns = this.spec.series.map(() => []);
    }
    const last = this.t[this.t.length - 1] ?? Number.NEGATIVE_INFINITY;
    rows.t.forEach((at, i) => {
      if (at <= last) return;
      this.t.push(at);
      this.spec.series.forEach((s, c) => (this.columns[c] as (number | null)[]).push(rows.series[s.key]?.[i] ?? null));
    });
    const cutoff = (this.t[this.t.length - 1] ?? 0) - WINDOW_MS;
    let drop = 0;
    while (drop < this.t.length && (this.t[drop] as number) < cutoff) drop++;
    if (drop > 0) {
      this.t = this.t.slice(drop);
      this.columns = this.columns.map((c) => c.slice(drop));
    }
    this.plot?.setData(this.data());
  }

  /** Rows held: what the chart draws. */
  get points(): number {
    return this.t.length;
  }

  private data(): uPlot.AlignedData {
    return [this.t.map((at) => at / 1000), ...this.columns];
  }

  destroy(): void {
    this.resize.disconnect();
    this.plot?.destroy();
  }
}
