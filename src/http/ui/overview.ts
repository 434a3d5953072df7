/** The overview (`/`): every pool with its workers and signals, and every trigger's current decision. */
import type { DecisionView, OverviewPayload, PoolOverview, SignalValue, WorkerState } from './contract.js';
import { fill, h, num, pill, withUnit } from './dom.js';

/** What each default signal is called on the page. */
export const SIGNAL_LABELS: Readonly<Record<string, string>> = {
  kv_cache_usage: 'KV-cache usage',
  kv_blocks_usage_percent: 'KV blocks used',
  load_avg: 'KV blocks per worker',
  load_std: 'KV blocks spread',
  queue_depth: 'Waiting requests',
  running_requests: 'Running requests',
  saturation: 'Saturation',
  desired_replicas: 'Replicas WVA wants',
};

/** The signals the overview table shows, in order. */
const OVERVIEW_SIGNALS = ['kv_cache_usage', 'queue_depth', 'running_requests', 'saturation', 'desired_replicas'];

const STATES: readonly WorkerState[] = ['fresh', 'stale', 'failing', 'pending', 'draining'];

export function workerCounts(pool: PoolOverview): HTMLElement {
  const parts = STATES.filter((s) => s === 'fresh' || pool.counts[s] > 0).map((s) => pill(`${pool.counts[s]} ${s}`, s));
  return h('span', { class: 'counts' }, `${pool.workers} `, pool.workers === 1 ? 'worker' : 'workers', ' ', ...parts);
}

export function signalText(signal: SignalValue | undefined): HTMLElement {
  if (!signal) return h('span', {}, '—');
  if (signal.value === null) return h('span', { class: 'missing', title: signal.reason ?? 'no value' }, 'no data');
  return h('span', {}, withUnit(signal.value, signal.unit));
}

function poolRow(pool: PoolOverview): HTMLTableRowElement {
  const bySignal = new Map(pool.signals.map((s) => [s.name, s]));
  return h(
    'tr',
    { 'data-pool': pool.name },
    h('td', {}, h('a', { href: `/pools/${encodeURIComponent(pool.name)}` }, pool.name)),
    h('td', {}, pool.source),
    h('td', {}, workerCounts(pool), pool.problem ? h('div', { class: 'problem' }, pool.problem) : null),
    ...OVERVIEW_SIGNALS.map((name) => h('td', { class: 'num', 'data-signal': name }, signalText(bySignal.get(name)))),
    h('td', { class: 'num' }, pool.triggers),
  );
}

export function decisionRow(d: DecisionView, withPool: boolean): HTMLTableRowElement {
  return h(
    'tr',
    { 'data-trigger': d.metricName },
    withPool ? h('td', {}, h('a', { href: `/pools/${encodeURIComponent(d.pool)}#${d.id}` }, d.pool)) : null,
    h('td', {}, h('code', {}, d.metricName)),
    h('td', { class: 'num' }, d.ok ? num(d.value) : h('span', { class: 'missing' }, 'UNAVAILABLE')),
    h('td', { class: 'num' }, d.desired === null ? '—' : String(d.desired)),
    h('td', {}, d.active ? pill('active', 'active') : pill('inactive', 'inactive')),
    h('td', { class: 'why' }, d.headline),
  );
}

export function renderOverview(app: HTMLElement, payload: OverviewPayload): void {
  const pools = h(
    'table',
    { class: 'grid', id: 'pools' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', {}, 'Pool'),
        h('th', {}, 'Source'),
        h('th', {}, 'Workers'),
        ...OVERVIEW_SIGNALS.map((s) => h('th', { class: 'num' }, SIGNAL_LABELS[s] ?? s)),
        h('th', { class: 'num' }, 'Triggers'),
      ),
    ),
    h('tbody', {}, payload.pools.map(poolRow)),
  );
  const decisions =
    payload.decisions.length === 0
      ? h('p', { class: 'empty' }, 'KEDA has not asked about any trigger yet: decisions appear after its first GetMetricSpec or GetMetrics call.')
      : h(
          'table',
          { class: 'grid', id: 'decisions' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              h('th', {}, 'Pool'),
              h('th', {}, 'Metric'),
              h('th', { class: 'num' }, 'KEDA gets'),
              h('th', { class: 'num' }, 'HPA wants'),
              h('th', {}, 'Activity'),
              h('th', {}, 'Why'),
            ),
          ),
          h(
            'tbody',
            {},
            payload.decisions.map((d) => decisionRow(d, true)),
          ),
        );
  fill(app, h('h1', {}, 'Pools'), pools, h('h2', {}, 'Decisions'), decisions, omitted(payload.decisionsOmitted));
}

/** The note for triggers beyond the ones a page shows. */
export function omitted(count: number): HTMLElement | null {
  return count > 0 ? h('p', { class: 'empty' }, `${count} more triggers are not shown here; /api/v1/decisions lists them all.`) : null;
}
