/**
 * One pool (`/pools/:name`): its signals now, charts of the last minutes, every worker with its
 * last values and state (and why it is not fresh), and each trigger's decision in words with its
 * answers over time. Charts live across updates; tables are rebuilt on every message.
 */
import { TimeChart, type ChartSpec } from './charts.js';
import type { DecisionView, PoolPayload, WorkerRow } from './contract.js';
import { clock, fill, h, num, pill, withUnit } from './dom.js';
import { omitted, SIGNAL_LABELS, signalText, workerCounts } from './overview.js';

const percent = (v: number): string => `${num(v * 100)} %`;

const POOL_CHARTS: readonly ChartSpec[] = [
  {
    title: 'KV-cache usage (mean over fresh workers)',
    range: [0, 1],
    series: [{ key: 'kv_cache_usage', label: 'KV-cache usage', color: '#7c3aed', format: percent }],
  },
  {
    title: 'Requests (all workers)',
    series: [
      { key: 'running_requests', label: 'running', color: '#2563eb' },
      { key: 'queue_depth', label: 'waiting', color: '#dc2626' },
    ],
  },
  {
    title: 'Workers by state',
    series: [
      { key: 'workers_fresh', label: 'fresh', color: '#16a34a', stepped: true },
      { key: 'workers_stale', label: 'stale', color: '#d97706', stepped: true },
      { key: 'workers_failing', label: 'failing', color: '#dc2626', stepped: true },
    ],
  },
];

function workerRow(w: WorkerRow): HTMLTableRowElement {
  const blocks = w.kvBlocksUsed !== null || w.kvBlocksTotal !== null ? `${num(w.kvBlocksUsed)} / ${num(w.kvBlocksTotal)}` : '—';
  return h(
    'tr',
    { 'data-worker': w.id, 'data-state': w.state },
    h('td', {}, h('code', {}, w.id)),
    h('td', {}, pill(w.state)),
    h('td', { class: 'num', 'data-field': 'waiting' }, num(w.waiting)),
    h('td', { class: 'num', 'data-field': 'running' }, num(w.running)),
    h('td', { class: 'num', 'data-field': 'kv' }, w.kvUsage === null ? '—' : percent(w.kvUsage)),
    h('td', { class: 'num' }, blocks),
    h('td', { class: 'num' }, w.ageSeconds === null ? '—' : `${num(w.ageSeconds)} s`),
    h('td', { class: 'why', 'data-field': 'reason' }, w.cause ? h('strong', {}, `${w.cause}: `) : null, w.reason ?? ''),
  );
}

interface DecisionCharts {
  readonly chart: TimeChart;
  readonly element: HTMLElement;
  /** Kept across updates, so a list someone opened stays open. */
  readonly changes: HTMLDetailsElement;
}

export class PoolPage {
  private readonly charts: TimeChart[];
  private readonly decisionCharts = new Map<string, DecisionCharts>();
  private readonly header = h('section', { class: 'pool-header' });
  private readonly signals = h('section', { class: 'cards', id: 'signals' });
  private readonly workers = h('section', { id: 'workers' });
  private readonly decisions = h('section', { id: 'decisions' });

  constructor(app: HTMLElement) {
    this.charts = POOL_CHARTS.map((spec) => new TimeChart(spec));
    fill(
      app,
      this.header,
      this.signals,
      h(
        'section',
        { class: 'charts', id: 'pool-charts' },
        this.charts.map((c) => c.element),
      ),
      h('h2', {}, 'Workers'),
      this.workers,
      h('h2', {}, 'Decisions'),
      this.decisions,
    );
  }

  update(p: PoolPayload): void {
    fill(
      this.header,
      h('h1', {}, p.pool.name, ' ', h('span', { class: 'source' }, p.pool.source)),
      h('p', { class: 'intro' }, 'What the scaler reads from this pool’s workers, and what it answers KEDA for each trigger — live, read-only.'),
      workerCounts(p.pool),
      p.pool.problem ? h('p', { class: 'problem' }, `The source cannot observe the pool: ${p.pool.problem}`) : null,
      p.activation
        ? h(
            'p',
            { class: 'activation' },
            `Activation (${p.activation.signal} > ${p.activation.threshold}): `,
            p.activation.active ? pill('active', 'active') : pill('inactive', 'inactive'),
            ` ${p.activation.value === null ? (p.activation.reason ?? 'no value') : num(p.activation.value)}`,
          )
        : null,
    );
    fill(
      this.signals,
      p.pool.signals.map((s) =>
        h(
          'div',
          { class: 'card', 'data-signal': s.name },
          h('div', { class: 'card-label' }, SIGNAL_LABELS[s.name] ?? s.name),
          h('div', { class: 'card-value' }, signalText(s)),
        ),
      ),
    );
    for (const chart of this.charts) chart.update(p.history, p.full);
    fill(
      this.workers,
      p.workers.length === 0
        ? h('p', { class: 'empty' }, 'No worker discovered.')
        : h(
            'table',
            { class: 'grid', id: 'workers-table' },
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                ['Worker', 'State', 'Waiting', 'Running', 'KV-cache', 'KV blocks', 'Last sample', 'Why not fresh'].map((t, i) =>
                  h('th', { class: i >= 2 && i <= 6 ? 'num' : undefined }, t),
                ),
              ),
            ),
            h('tbody', {}, p.workers.map(workerRow)),
          ),
    );
    this.updateDecisions(p);
  }

  private updateDecisions(p: PoolPayload): void {
    if (p.decisions.length === 0) {
      fill(this.decisions, h('p', { class: 'empty' }, 'KEDA has not asked about a trigger of this pool yet.'));
      return;
    }
    const seen = new Set<string>();
    const cards = p.decisions.map((d) => {
      seen.add(d.id);
      let entry = this.decisionCharts.get(d.id);
      if (!entry) {
        const chart = new TimeChart({
          title: `${d.metricName}: what KEDA gets and what HPA wants`,
          series: [
            { key: 'value', label: 'KEDA gets', color: '#2563eb', format: (v) => withUnit(v, 'any') },
            { key: 'desired', label: 'HPA wants (replicas, right axis)', color: '#16a34a', stepped: true, right: true },
          ],
        });
        entry = { chart, element: h('article', { class: 'decision', id: d.id }), changes: h('details', { class: 'changes' }) };
        this.decisionCharts.set(d.id, entry);
      }
      entry.chart.update(d.history, p.full);
      fillChanges(entry.changes, d);
      fill(entry.element, ...decisionBody(d), entry.chart.element, entry.changes);
      return entry.element;
    });
    for (const [id, entry] of this.decisionCharts) {
      if (!seen.has(id)) {
        entry.chart.destroy();
        this.decisionCharts.delete(id);
      }
    }
    // Re-appending keeps each card (and its chart) in place when the set is unchanged.
    const more = omitted(p.decisionsOmitted);
    this.decisions.replaceChildren(...cards, ...(more ? [more] : []));
  }
}

function decisionBody(d: DecisionView): HTMLElement[] {
  const metadata = Object.entries(d.metadata)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  return [
    h('h3', {}, h('code', {}, d.metricName), ' ', d.active ? pill('active', 'active') : pill('inactive', 'inactive')),
    h(
      'p',
      { class: 'figures' },
      h('span', {}, 'KEDA gets ', h('strong', { 'data-field': 'value' }, d.ok ? num(d.value) : 'UNAVAILABLE')),
      h('span', {}, 'target ', h('strong', {}, num(d.target))),
      h('span', {}, 'HPA wants ', h('strong', { 'data-field': 'desired' }, d.desired === null ? '—' : `${d.desired} replicas`)),
    ),
    h('p', { class: 'headline' }, d.headline),
    d.reasons.length > 0
      ? h(
          'ul',
          { class: 'reasons' },
          d.reasons.map((r) => h('li', {}, r)),
        )
      : h('span', {}),
    h('p', { class: 'metadata' }, h('code', {}, metadata)),
    d.history === undefined ? h('p', { class: 'empty' }, 'No history is kept for this trigger (too many triggers).') : h('span', {}),
  ];
}

function fillChanges(details: HTMLDetailsElement, d: DecisionView): void {
  const changes = [...(d.changes ?? [])].reverse();
  details.hidden = changes.length === 0;
  fill(
    details,
    h('summary', {}, `Last ${changes.length} ${changes.length === 1 ? 'change' : 'changes'} of the decision`),
    h(
      'ol',
      {},
      changes.map((c) =>
        h(
          'li',
          {},
          h('time', {}, clock(c.at)),
          ' ',
          h('strong', {}, c.to === undefined ? 'no value' : c.from === undefined ? `${c.to}` : `${c.from} → ${c.to}`),
          ` ${c.active ? '(active)' : '(inactive)'} — ${c.headline}`,
        ),
      ),
    ),
  );
}
