/**
 * `/api/v1/decisions` one page at a time: an answer covers at most `limit` triggers (default
 * DEFAULT_LIMIT, at most MAX_LIMIT), so one request never builds thousands of explanations in one
 * turn of the event loop while KEDA's calls wait. `next` is the URL of the following page.
 */
import type { Trigger } from '../triggers/trigger.js';
import { decisionReport } from './pool-report.js';

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 500;

export interface DecisionsQuery {
  readonly pool?: string;
  readonly metricName?: string;
  readonly limit?: string;
  readonly offset?: string;
}

export type DecisionsAnswer = { readonly status: 200; readonly body: Record<string, unknown> } | { readonly status: 400; readonly body: { error: string } };

function integer(text: string | undefined, name: string, fallback: number, min: number, max: number): number | string {
  if (text === undefined || text === '') return fallback;
  if (!/^\d{1,9}$/.test(text)) return `'${name}' must be a whole number from ${min} to ${max} (got '${text.slice(0, 20)}')`;
  const value = Number(text);
  if (value < min || value > max) return `'${name}' must be a whole number from ${min} to ${max} (got ${value})`;
  return value;
}

export function decisionsPage(all: readonly Trigger[], query: DecisionsQuery): DecisionsAnswer {
  const limit = integer(query.limit, 'limit', DEFAULT_LIMIT, 1, MAX_LIMIT);
  if (typeof limit === 'string') return { status: 400, body: { error: limit } };
  const offset = integer(query.offset, 'offset', 0, 0, 1e9);
  if (typeof offset === 'string') return { status: 400, body: { error: offset } };
  const { pool, metricName } = query;
  const wanted = metricName?.toLowerCase();
  const triggers = all.filter((t) => (pool === undefined || t.pool.name === pool) && (wanted === undefined || t.spec.metricName === wanted));
  const page = triggers.slice(offset, offset + limit);
  const body: Record<string, unknown> = { at: new Date().toISOString(), total: triggers.length, offset, limit, decisions: page.map(decisionReport) };
  if (offset + limit < triggers.length) {
    const params = new URLSearchParams();
    if (pool !== undefined) params.set('pool', pool);
    if (metricName !== undefined) params.set('metricName', metricName);
    params.set('limit', String(limit));
    params.set('offset', String(offset + limit));
    body.next = `/api/v1/decisions?${params.toString()}`;
  }
  return { status: 200, body };
}
