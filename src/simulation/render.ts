/** report.html (self-contained: inline SVG and styles, nothing fetched) and report.png (the same charts, rendered by resvg, no browser). */
import { Resvg } from '@resvg/resvg-js';
import { chartsSvg } from './charts.js';
import type { SimulationReport } from './report.js';

export function renderPng(svg: string): Buffer {
  const resvg = new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' }, background: '#ffffff' });
  return resvg.render().asPng();
}

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const sec = (x: number | null): string => (x === null ? '–' : x < 10 ? `${Math.round(x * 1000) / 1000} s` : `${Math.round(x * 10) / 10} s`);

export function reportHtml(report: SimulationReport, title: string): string {
  const sc = report.scenario;
  const rows = report.strategies
    .map(
      (s) =>
        `<tr><th>${esc(s.name)}</th><td>${s.peakReplicas}</td><td>${s.avgReplicas}</td><td>${Math.round(s.gpuHours * 100) / 100}</td>` +
        `<td>${Math.round(s.wastedGpuHours * 100) / 100}</td><td>${sec(s.ttftP50)}</td><td>${sec(s.ttftP95)}</td><td>${sec(s.ttftP99)}</td>` +
        `<td>${s.itlP95 === null ? '–' : `${Math.round(s.itlP95 * 10000) / 10} ms`}</td><td>${Math.round(s.sloAttainment * 1000) / 10} %</td>` +
        `<td>${s.requests.completed} / ${s.requests.unfinished} / ${s.requests.rejected}</td><td>${s.scaleEvents}</td></tr>`,
    )
    .join('\n');
  const headers = [
    'strategy',
    'peak replicas',
    'avg replicas',
    'GPU-hours',
    'wasted GPU-hours',
    'TTFT p50',
    'TTFT p95',
    'TTFT p99',
    'ITL p95',
    'SLO attainment',
    'completed / unfinished / rejected',
    'scale events',
  ];
  const skew = sc.skew > 0 ? `, ${Math.round(sc.skew * 1000) / 10} % of requests to one hot replica` : '';
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<title>${esc(title)}</title>`,
    '<style>',
    'body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem; color: #222; }',
    'table { border-collapse: collapse; margin: 1rem 0; }',
    'th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: right; }',
    'td { white-space: nowrap; }',
    'th:first-child, thead th { text-align: left; }',
    'thead th { background: #f4f4f4; }',
    'svg { max-width: 100%; height: auto; }',
    'p.note { color: #555; max-width: 60rem; }',
    '</style>',
    '</head>',
    '<body>',
    `<h1>${esc(title)}</h1>`,
    `<p>Workload: ${esc(sc.workload)}, ${sc.requests} requests over ${Math.round(sc.durationSeconds / 6) / 10} min. ` +
      `SLO: TTFT ≤ ${sc.slo.ttft} s, ITL ≤ ${Math.round(sc.slo.itl * 10000) / 10} ms. ` +
      `Replicas serve ${sc.startupSeconds} s after creation; routing ${esc(sc.routing)}${skew}.</p>`,
    '<table>',
    `<thead><tr>${headers.map((h) => `<th>${h}</th>`).join('')}</tr></thead>`,
    '<tbody>',
    rows,
    '</tbody>',
    '</table>',
    chartsSvg(report),
    '<p class="note">GPU-hours count every pod from creation to exit; wasted GPU-hours are those of pods starting up or ready with nothing to do. ' +
      "ITL is each request's mean time between output tokens. SLO attainment is the share of arrived requests that completed within both SLOs. " +
      'Full data: report.json.</p>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
