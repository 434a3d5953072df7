/**
 * The fixed set of instant queries a `source: prometheus` pool runs every interval, and how their
 * answers become one parsed exposition per worker, the same shape a scrape of that worker parses
 * into (so the engine profiles and `extractWorkerSample` serve both transports unchanged).
 *
 * The number of queries depends on the engine profile only, never on the number of workers:
 * `up` and its scrape timestamps, one query for the load gauges and counters, one per histogram
 * (each histogram of every worker is the bulk of an answer, so each gets its own body cap), and one
 * for the pool's `custom` series when triggers ask for some.
 *
 * Gauges, counters and custom series are read raw, label for label, as a scrape has them.
 * Histograms are summed by the engine over what extraction does not read — data-parallel engines
 * and target labels — keeping the worker, `le` and the model labels: extraction merges a worker's
 * histograms over its engines by exactly that sum, so the sample is the same, and the answer (the
 * bulk of a round) is a fraction of the raw series.
 */
import { formatPromMatchers, type PromMatcher } from '../../config/prom-selector.js';
import type { SeriesQuery } from '../../store/series-query.js';
import type { EngineProfile } from '../http/engine-profiles.js';
import { selectorOf } from '../http/profiles/profile.js';
import { parseSampleValue, type ParsedExposition, type Series } from '../http/prometheus-text.js';
import type { VectorSample } from './query-client.js';

export interface SeriesQueries {
  /** `up{selector}`: which targets exist and whether their last scrape worked. */
  readonly up: string;
  /** `timestamp(up{selector})`: when each target was last scraped. */
  readonly scrapedAt: string;
  /** The engine's series: the load group raw, then each histogram summed over engines. */
  readonly series: readonly string[];
  /** The `custom` queries' series, raw, when there are any. */
  readonly custom?: string;
}

/** The names one round asks for: the load group (read raw) and one group per histogram (summed over engines). */
export interface NameGroups {
  readonly load: readonly string[];
  readonly histograms: readonly (readonly string[])[];
}

/** A vector selector for every series named in `names` under the pool's matchers. */
export function namesQuery(names: readonly string[], matchers: readonly PromMatcher[]): string {
  const labels = formatPromMatchers(matchers);
  if (names.length === 1) return `${names[0]}{${labels}}`;
  // Metric names are [a-zA-Z_:][a-zA-Z0-9_:]*: nothing in them needs escaping in a regular expression.
  return `{__name__=~"${[...names].sort().join('|')}",${labels}}`;
}

/** The profile's series names, grouped: load gauges, block counts and counters together, each histogram apart. */
export function profileNameGroups(profile: EngineProfile): NameGroups {
  const wanted = profile.wantedSeries;
  const names = (candidates: readonly string[]): string[] => [...new Set(candidates.map((c) => selectorOf(c).name))].filter((n) => wanted.has(n));
  const load = names([
    ...profile.waiting,
    ...profile.running,
    ...profile.kvUsage,
    ...profile.usedBlocks,
    ...profile.blocks.map((b) => b.series),
    ...Object.values(profile.counters).flat(),
  ]);
  const histograms = Object.values(profile.histograms)
    .map((bases) => names(bases.flatMap((b) => [`${b}_bucket`, `${b}_sum`, `${b}_count`])))
    .filter((group) => group.length > 0);
  return { load, histograms };
}

/**
 * Every query of one round. Histograms are summed `by (__name__, <workerLabel>, le, <modelLabels>)`;
 * `custom` adds one raw query for every series name the triggers' custom queries read.
 */
export function roundQueries(
  groups: NameGroups,
  matchers: readonly PromMatcher[],
  keep: { readonly workerLabel: string; readonly modelLabels: readonly string[] },
  custom: readonly SeriesQuery[] = [],
): SeriesQueries {
  const labels = formatPromMatchers(matchers);
  const by = [...new Set(['__name__', keep.workerLabel, 'le', ...keep.modelLabels])].join(', ');
  const series = [
    ...(groups.load.length > 0 ? [namesQuery(groups.load, matchers)] : []),
    ...groups.histograms.map((names) => `sum by (${by}) (${namesQuery(names, matchers)})`),
  ];
  const customNames = [...new Set(custom.map((q) => q.name))];
  return {
    up: `up{${labels}}`,
    scrapedAt: `timestamp(up{${labels}})`,
    series,
    ...(customNames.length > 0 ? { custom: namesQuery(customNames, matchers) } : {}),
  };
}

/** What the `up` answers say about one worker (all the targets carrying its `workerLabel` value). */
export interface TargetState {
  /** Every target of the worker was scraped successfully last time. */
  readonly up: boolean;
  /** The newest scrape of the worker's targets, in ms since the epoch; undefined when unknown. */
  readonly scrapedAtMs?: number;
  readonly targets: number;
}

export interface Targets {
  readonly workers: ReadonlyMap<string, TargetState>;
  /** `up` series without the worker label: they cannot be told apart and are not workers. */
  readonly unlabelled: number;
}

/**
 * The workers `up` names, and whether each is up: a worker is up only if every target with its label
 * value is (a target that failed its scrape holds stale data, and is failing, not idle).
 */
export function targetsOf(up: readonly VectorSample[], scrapedAt: readonly VectorSample[], workerLabel: string): Targets {
  const states = new Map<string, { up: boolean; scrapedAtMs?: number; targets: number }>();
  let unlabelled = 0;
  for (const s of up) {
    const id = s.metric[workerLabel];
    if (id === undefined || id === '') {
      unlabelled++;
      continue;
    }
    const isUp = parseSampleValue(s.value[1]) === 1;
    const state = states.get(id);
    if (state === undefined) states.set(id, { up: isUp, targets: 1 });
    else {
      state.up &&= isUp;
      state.targets++;
    }
  }
  for (const s of scrapedAt) {
    const id = s.metric[workerLabel];
    const state = id === undefined ? undefined : states.get(id);
    const seconds = parseSampleValue(s.value[1]);
    if (state === undefined || seconds === undefined || !Number.isFinite(seconds)) continue;
    const ms = Math.round(seconds * 1000);
    state.scrapedAtMs = Math.max(state.scrapedAtMs ?? ms, ms);
  }
  return { workers: states, unlabelled };
}

/**
 * The answers' series grouped by worker into parsed expositions, keyed by the series name as a
 * scrape would read it. Series of workers not in `workers` (no `up`) and values that are not
 * numbers are left out (the latter counted as invalid, as unreadable lines of a body are).
 */
export function expositionsByWorker(
  answers: readonly (readonly VectorSample[])[],
  workerLabel: string,
  workers: ReadonlySet<string>,
): Map<string, ParsedExposition> {
  const byWorker = new Map<string, { series: Map<string, Series[]>; sampleLines: number; invalidLines: number }>();
  for (const answer of answers) {
    for (const s of answer) {
      const id = s.metric[workerLabel];
      const name = s.metric['__name__'];
      if (id === undefined || name === undefined || !workers.has(id)) continue;
      let exposition = byWorker.get(id);
      if (exposition === undefined) {
        exposition = { series: new Map(), sampleLines: 0, invalidLines: 0 };
        byWorker.set(id, exposition);
      }
      const value = parseSampleValue(s.value[1]);
      if (value === undefined) {
        exposition.invalidLines++;
        continue;
      }
      exposition.sampleLines++;
      // The labels object is used as it is: `__name__` and the target labels are simply not looked at.
      const list = exposition.series.get(name);
      if (list === undefined) exposition.series.set(name, [{ labels: s.metric, value }]);
      else list.push({ labels: s.metric, value });
    }
  }
  return byWorker;
}
