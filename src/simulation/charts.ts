/**
 * The report's charts as one SVG: replicas, queue, KV-cache usage and TTFT p95 over time, one
 * line per strategy. Plain SVG (no script, no external font or stylesheet), so it embeds in the
 * HTML report as it is and renders to PNG without a browser (render-png.ts).
 */
import type { SimulationReport, StrategyReport } from './report.js';
import type { TimelinePoint } from './simulator.js';

/** Colour-blind-safe (Okabe–Ito). */
const COLOURS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#F0E442', '#000000'];
const FONT = 'DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif';

interface Panel {
  readonly title: string;
  readonly unit: string;
  readonly value: (p: TimelinePoint) => number | null;
  readonly step?: boolean;
  /** A logarithmic axis (for latencies that span milliseconds to minutes). */
  readonly log?: boolean;
}

const PANELS: readonly Panel[] = [
  { title: 'Replicas', unit: '', value: (p) => p.replicas, step: true },
  { title: 'Waiting requests (Σ over replicas)', unit: '', value: (p) => p.queue },
  { title: 'KV-cache usage (mean over ready replicas)', unit: '%', value: (p) => (p.kvUsage === null ? null : p.kvUsage * 100) },
  { title: 'TTFT p95 per interval (log scale)', unit: 's', value: (p) => p.ttftP95, log: true },
];

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A "nice" axis maximum and tick step for values up to `max`. */
export function niceScale(max: number, ticks = 5): { max: number; step: number } {
  if (!(max > 0)) return { max: 1, step: 0.2 };
  const raw = max / ticks;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * magnitude >= raw) ?? 10) * magnitude;
  return { max: Math.ceil(max / step - 1e-9) * step, step };
}

const label = (v: number): string => (Math.abs(v) >= 100 || Number.isInteger(v) ? String(Math.round(v)) : String(Math.round(v * 100) / 100));

function panelSvg(panel: Panel, strategies: readonly StrategyReport[], x0: number, y0: number, w: number, h: number, duration: number): string {
  const left = 56;
  const right = 12;
  const top = 28;
  const bottom = 34;
  const pw = w - left - right;
  const ph = h - top - bottom;
  let max = 0;
  let minPositive = Number.POSITIVE_INFINITY;
  for (const s of strategies) {
    for (const p of s.timeline) {
      const v = panel.value(p) ?? 0;
      max = Math.max(max, v);
      if (v > 0) minPositive = Math.min(minPositive, v);
    }
  }
  const xs = niceScale(duration / 60, 8);
  const px = (t: number) => x0 + left + (t / 60 / xs.max) * pw;
  let py: (v: number) => number;
  const ticks: number[] = [];
  if (panel.log) {
    const lo = Math.floor(Math.log10(Math.max(1e-3, Math.min(minPositive, max || 1))));
    const hi = Math.max(lo + 1, Math.ceil(Math.log10(Math.max(max, 10 ** (lo + 1)))));
    py = (v: number) => y0 + top + ph - ((Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo)) * ph;
    for (let e = lo; e <= hi; e++) ticks.push(10 ** e);
  } else {
    const y = niceScale(max);
    py = (v: number) => y0 + top + ph - (v / y.max) * ph;
    for (let v = 0; v <= y.max + 1e-9; v += y.step) ticks.push(v);
  }
  const out: string[] = [];
  out.push(`<text x="${x0 + left}" y="${y0 + 18}" font-size="14" font-weight="bold" fill="#222">${esc(panel.title)}</text>`);
  for (const v of ticks) {
    out.push(`<line x1="${x0 + left}" x2="${x0 + left + pw}" y1="${py(v).toFixed(1)}" y2="${py(v).toFixed(1)}" stroke="#e4e4e4"/>`);
    const text = v < 1 && v > 0 ? String(Number(v.toPrecision(2))) : label(v);
    out.push(`<text x="${x0 + left - 6}" y="${(py(v) + 4).toFixed(1)}" font-size="11" text-anchor="end" fill="#555">${text}${esc(panel.unit)}</text>`);
  }
  for (let m = 0; m <= xs.max + 1e-9; m += xs.step) {
    const x = x0 + left + (m / xs.max) * pw;
    out.push(`<line x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${y0 + top}" y2="${y0 + top + ph}" stroke="#f0f0f0"/>`);
    out.push(`<text x="${x.toFixed(1)}" y="${y0 + top + ph + 15}" font-size="11" text-anchor="middle" fill="#555">${label(m)}</text>`);
  }
  out.push(`<text x="${x0 + left + pw / 2}" y="${y0 + h - 4}" font-size="11" text-anchor="middle" fill="#555">minutes</text>`);
  out.push(`<rect x="${x0 + left}" y="${y0 + top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  strategies.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length] as string;
    let d = '';
    let pen = false;
    for (const p of s.timeline) {
      const v = panel.value(p);
      if (v === null) {
        pen = false;
        continue;
      }
      const X = px(p.t).toFixed(1);
      const Y = py(v).toFixed(1);
      if (!pen) d += `M${X},${Y}`;
      else d += panel.step ? `H${X}V${Y}` : `L${X},${Y}`;
      pen = true;
    }
    if (d !== '') out.push(`<path d="${d}" fill="none" stroke="${colour}" stroke-width="${i === 0 ? 2.2 : 1.8}" stroke-linejoin="round"/>`);
  });
  return out.join('\n');
}

/** The four panels in a 2 × 2 grid, with the strategies' legend on top. */
export function chartsSvg(report: SimulationReport, width = 1200, height = 820): string {
  const legendHeight = 40;
  const pw = width / 2;
  const ph = (height - legendHeight) / 2;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${FONT}">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
  ];
  let lx = 56;
  report.strategies.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length] as string;
    out.push(`<rect x="${lx}" y="14" width="18" height="4" fill="${colour}"/>`);
    const text = `${s.name}: peak ${s.peakReplicas}, ${Math.round(s.gpuHours * 100) / 100} GPU-h, SLO ${Math.round(s.sloAttainment * 1000) / 10} %`;
    out.push(`<text x="${lx + 24}" y="21" font-size="13" fill="#222">${esc(text)}</text>`);
    lx += 30 + text.length * 7.2;
  });
  PANELS.forEach((panel, i) => {
    const x0 = (i % 2) * pw;
    const y0 = legendHeight + Math.floor(i / 2) * ph;
    out.push(panelSvg(panel, report.strategies, x0, y0, pw, ph, report.scenario.durationSeconds));
  });
  out.push('</svg>');
  return out.join('\n');
}
