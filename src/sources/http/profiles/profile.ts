/**
 * What an engine profile is: which series an inference engine exposes for each concept, candidate
 * names preferred first (engines rename metrics between releases and a fleet runs several
 * releases at once), and the set of series a scrape keeps for it.
 */
import type { HttpSourceKind } from '../../../config/schema.js';
import type { ValueFailureCause } from '../../../store/pool-store.js';
import type { CounterName, HistogramName, WorkerSample } from '../../../store/sample.js';
import { parseSeriesQuery, type SeriesQuery } from '../../../store/series-query.js';

/** Where a worker's KV block (page) count comes from. */
export type BlockSource =
  /** An info-style gauge (value 1) carrying the count in a label. */
  | {
      readonly from: 'infoLabel';
      readonly series: string;
      readonly label: string;
      /** The label with tokens per block (vLLM's block_size): capacity in tokens = count × size. */
      readonly sizeLabel?: string;
    }
  /** A plain gauge whose value is the count. */
  | { readonly from: 'gauge'; readonly series: string };

/**
 * Candidate names are series names as on the wire, optionally with exact label matchers:
 * `dynamo_frontend_requests_total{status="success"}` reads only the series with that label value.
 */
export interface EngineProfile {
  readonly kind: HttpSourceKind;
  /** Every series name extraction reads; pass it to `parsePrometheusText` as `wanted`. */
  readonly wantedSeries: ReadonlySet<string>;
  /** Every label extraction reads (engine, model, `le`, matcher and block labels): the others need not be parsed. */
  readonly readLabels: ReadonlySet<string>;
  readonly waiting: readonly string[];
  readonly running: readonly string[];
  /** KV-cache usage as a 0..1 fraction. */
  readonly kvUsage: readonly string[];
  /** Gauges counting KV blocks in use exactly; preferred over usage × total blocks. */
  readonly usedBlocks: readonly string[];
  readonly blocks: readonly BlockSource[];
  /** Counter series names as exposed (with `_total`). */
  readonly counters: Readonly<Partial<Record<CounterName, readonly string[]>>>;
  /** Histogram base names; `_bucket`, `_sum` and `_count` are appended. */
  readonly histograms: Readonly<Partial<Record<HistogramName, readonly string[]>>>;
  /** Labels naming a series' data-parallel engine, first present wins; none means a single engine. */
  readonly engineLabels: readonly string[];
  /** Labels carrying the served model, first present wins (the pool's `model` filter reads them). */
  readonly modelLabels: readonly string[];
}

export type ExtractResult =
  | { ok: true; sample: WorkerSample }
  | { ok: false; cause: 'no_metrics' | ValueFailureCause; message: string }
  | { ok: false; cause: 'model_mismatch'; message: string; models: readonly string[] };

type ProfileNames = Omit<EngineProfile, 'wantedSeries' | 'readLabels' | 'usedBlocks' | 'engineLabels' | 'modelLabels'> &
  Partial<Pick<EngineProfile, 'usedBlocks' | 'engineLabels' | 'modelLabels'>>;

/** A candidate parsed (once) into its series name and label matchers; a plain name has none. */
const selectors = new Map<string, SeriesQuery>();

export function selectorOf(candidate: string): SeriesQuery {
  let selector = selectors.get(candidate);
  if (selector === undefined) {
    const parsed = parseSeriesQuery(candidate);
    if (!parsed.ok) throw new Error(`bad candidate in an engine profile: ${parsed.message}`);
    selector = parsed.query;
    selectors.set(candidate, selector);
  }
  return selector;
}

export function makeProfile(names: ProfileNames): EngineProfile {
  const full = {
    usedBlocks: [],
    engineLabels: ['engine'],
    modelLabels: ['model_name'],
    ...names,
  };
  const wanted = new Set<string>(
    [...full.waiting, ...full.running, ...full.kvUsage, ...full.usedBlocks, ...full.blocks.map((b) => b.series)].map((c) => selectorOf(c).name),
  );
  for (const list of Object.values(names.counters)) for (const n of list) wanted.add(selectorOf(n).name);
  for (const list of Object.values(names.histograms)) {
    for (const base of list) {
      wanted.add(`${base}_bucket`);
      wanted.add(`${base}_sum`);
      wanted.add(`${base}_count`);
    }
  }
  // prometheus_client's `_created` gauges hold epoch seconds; never let one be read as a value.
  for (const name of wanted) if (name.endsWith('_created')) wanted.delete(name);
  const candidates = [...full.waiting, ...full.running, ...full.kvUsage, ...full.usedBlocks, ...Object.values(names.counters).flat()];
  const readLabels = new Set<string>([
    ...full.engineLabels,
    ...full.modelLabels,
    'le',
    ...full.blocks.flatMap((b) => (b.from === 'infoLabel' ? [b.label, ...(b.sizeLabel ? [b.sizeLabel] : [])] : [])),
    ...candidates.flatMap((c) => selectorOf(c).matchers.map((m) => m.label)),
  ]);
  return Object.freeze({ ...full, wantedSeries: wanted, readLabels });
}
