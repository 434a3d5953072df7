/**
 * `custom`: any series of the workers' own exposition, e.g. an agent's tool-call counter
 * as a tool-call rate. `query` selects the series (a metric name with optional `=` / `!=` label
 * matchers); each worker's value is the sum of its matching series (collected by the HTTP source
 * into WorkerSample.custom); `reduce` combines the workers:
 * - `sum`, `avg`, `max`, `min` of the workers' current values;
 * - `rate`: Σ over workers of the per-second increase over `window` (default 60s), reset-aware.
 */
import { MAX_QUERIES, type FreshWorker } from '../store/pool-store.js';
import { parseSeriesQuery, type SeriesQuery } from '../store/series-query.js';
import { parseChoiceKey } from './metadata-values.js';
import { MetadataError } from './metadata-error.js';
import { define, type Contribution, type Evaluation, type SignalContext, type SignalDefinition } from './types.js';
import { counterRates } from './windowed/rates.js';
import { parseWindow } from './windowed/window-params.js';
import { noUsableWorker } from './windowed/window-report.js';
import { customReader } from './windowed/window-span.js';

export type Reduce = 'sum' | 'avg' | 'max' | 'min' | 'rate';

export interface CustomParams {
  readonly query: SeriesQuery;
  readonly reduce: Reduce;
  /** Only for `rate`. */
  readonly windowMs?: number;
}

const COLLECTION = `a query is collected from the first scrape after a trigger names it, at most ${MAX_QUERIES} distinct queries per pool`;
const REDUCES: readonly Reduce[] = ['sum', 'avg', 'max', 'min', 'rate'];
const DEFAULT_RATE_WINDOW_MS = 60_000;

function parseCustom(values: ReadonlyMap<string, string>): CustomParams {
  const text = values.get('query');
  if (text === undefined || text === '') {
    throw new MetadataError('query', 'required with metric custom: a metric name with optional label matchers, e.g. agent_tool_calls_total{tool="search"}');
  }
  const parsed = parseSeriesQuery(text);
  if (!parsed.ok) throw new MetadataError('query', parsed.message);
  const reduce = parseChoiceKey(values, 'reduce', REDUCES, 'sum');
  if (reduce !== 'rate') {
    const window = values.get('window');
    if (window !== undefined && window !== '')
      throw new MetadataError('window', `only applies to reduce: rate (reduce is ${reduce}, which reads the current values)`);
    return { query: parsed.query, reduce };
  }
  return { query: parsed.query, reduce, windowMs: parseWindow(values, DEFAULT_RATE_WINDOW_MS) };
}

function computeCustom(workers: readonly FreshWorker[], params: CustomParams, context: SignalContext): Evaluation {
  const key = params.query.key;
  const read = (s: FreshWorker['sample']): number | undefined => {
    const v = s.custom?.[key];
    return v !== undefined && Number.isFinite(v) ? v : undefined;
  };
  const absent = `no series named ${params.query.name} in its exposition (or not collected yet)`;
  if (params.reduce === 'rate') {
    const windowMs = params.windowMs ?? DEFAULT_RATE_WINDOW_MS;
    const r = counterRates(workers, windowMs, context.snapshot.at, customReader(key), key);
    const contributions = r.contributions.map((c) => (c.excluded?.startsWith('does not report') ? { worker: c.worker, excluded: absent } : c));
    if (r.readyWorkers === 0) return { ok: false, reason: `${noUsableWorker(r.problems, key)} (custom; ${COLLECTION})`, contributions };
    return { ok: true, value: r.total, readyWorkers: r.readyWorkers, contributions, details: { query: key, reduce: 'rate', ...r.report.details() } };
  }
  const contributions: Contribution[] = [];
  const values: number[] = [];
  for (const { id, sample } of workers) {
    const v = read(sample);
    if (v === undefined) {
      contributions.push({ worker: id, excluded: absent });
      continue;
    }
    values.push(v);
    contributions.push({ worker: id, value: v });
  }
  if (values.length === 0) return { ok: false, reason: `${noUsableWorker(['missing'], key)} (custom; ${COLLECTION})`, contributions };
  let value: number;
  switch (params.reduce) {
    case 'sum':
    case 'avg': {
      const total = values.reduce((a, b) => a + b, 0);
      value = params.reduce === 'sum' ? total : total / values.length;
      break;
    }
    case 'max':
      value = values.reduce((a, b) => Math.max(a, b));
      break;
    case 'min':
      value = values.reduce((a, b) => Math.min(a, b));
      break;
  }
  return { ok: true, value, readyWorkers: values.length, contributions, details: { query: key, reduce: params.reduce } };
}

export const CUSTOM_SIGNALS: readonly SignalDefinition[] = [
  define<CustomParams>({
    name: 'custom',
    // A sum or a rate is a fleet total; avg/max/min are per-worker levels, multiplied by the
    // ready workers under AverageValue like every other level.
    kind: 'extensive',
    kindOf: (p) => (p.reduce === 'sum' || p.reduce === 'rate' ? 'extensive' : 'intensive'),
    unit: 'any',
    description:
      "`query` (a metric name with optional label matchers) from the workers' exposition, reduced by `reduce`: sum (default), avg, max, min, or rate " +
      'over `window` (default 60s)',
    params: {
      keys: ['query', 'reduce', 'window'],
      parse: parseCustom,
      key: (p) => `${p.query.key}\u0000${p.reduce}\u0000${p.windowMs ?? ''}`,
      historyMs: (p) => p.windowMs ?? 0,
      queries: (p) => [p.query],
    },
    compute: computeCustom,
  }),
];
