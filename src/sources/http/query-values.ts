import { matchesLabels, type SeriesQuery } from '../../store/series-query.js';
import type { ParsedExposition, Series } from './prometheus-text.js';

/**
 * Each query's value in one exposition: the sum of its matching series. A query whose metric
 * name is absent from the exposition gets no value (unknown); one whose name is there but no
 * series matches is 0 (a labelled counter appears only once incremented). Non-finite values
 * are skipped. `keep` can drop series (e.g. another model's).
 */
export function queryValues(parsed: ParsedExposition, queries: readonly SeriesQuery[], keep?: (series: Series) => boolean): Record<string, number> {
  const out: Record<string, number> = {};
  for (const query of queries) {
    const all = parsed.series.get(query.name);
    if (all === undefined) continue;
    let total = 0;
    for (const s of all) {
      if (Number.isFinite(s.value) && matchesLabels(query, s.labels) && (keep === undefined || keep(s))) total += s.value;
    }
    out[query.key] = total;
  }
  return out;
}
