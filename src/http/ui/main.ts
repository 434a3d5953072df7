/**
 * The status page's entry: picks the view from the page the server sent (overview or one pool),
 * opens the live stream of that view (Server-Sent Events, reconnecting on its own) and renders
 * every message. Read-only: the page only ever GETs from the scaler that served it.
 */
import type { OverviewPayload, PoolPayload } from './contract.js';
import { clock } from './dom.js';
import { renderOverview } from './overview.js';
import { PoolPage } from './pool-page.js';

const app = document.getElementById('app') as HTMLElement;
const liveBadge = document.getElementById('live') as HTMLElement;
const pool = document.body.dataset['pool'];

function live(text: string, ok: boolean): void {
  liveBadge.textContent = text;
  liveBadge.classList.toggle('live-lost', !ok);
}

function connect(url: string, render: (data: string) => void): void {
  const source = new EventSource(url);
  source.addEventListener('status', (event) => {
    render((event as MessageEvent<string>).data);
    live(`live · ${clock(Date.now())}`, true);
  });
  source.addEventListener('error', () => live(source.readyState === EventSource.CLOSED ? 'disconnected: reload the page' : 'reconnecting…', false));
}

if (pool === undefined) {
  connect('/api/v1/status/events', (data) => renderOverview(app, JSON.parse(data) as OverviewPayload));
} else {
  const page = new PoolPage(app);
  connect(`/api/v1/status/pools/${encodeURIComponent(pool)}/events`, (data) => page.update(JSON.parse(data) as PoolPayload));
}
