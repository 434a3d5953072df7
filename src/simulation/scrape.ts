/**
 * A simulated replica scraped as the HTTP source scrapes a vLLM worker: its exposition text is
 * parsed by the same parser under the same vLLM profile, custom queries included, and the sample
 * goes into the store (sources/http/http-source.ts does the same after fetching the body).
 */
import { profileFor } from '../sources/http/engine-profiles.js';
import { extractWorkerSample } from '../sources/http/extract-sample.js';
import { parsePrometheusText } from '../sources/http/prometheus-text.js';
import { queryValues } from '../sources/http/query-values.js';
import type { PoolStore } from '../store/pool-store.js';
import type { SeriesQuery } from '../store/series-query.js';

const VLLM = profileFor('vllm');

export class ExpositionScraper {
  private custom?: { queries: readonly SeriesQuery[]; wanted: ReadonlySet<string> };

  constructor(private readonly store: PoolStore) {}

  /** Parses `body` as if fetched from worker `id` at `atMs` and records it; false when the body is not a vLLM exposition. */
  record(id: string, body: string, atMs: number): boolean {
    const queries = this.store.queries();
    if (queries.length > 0 && this.custom?.queries !== queries) {
      const wanted = new Set(VLLM.wantedSeries);
      for (const q of queries) wanted.add(q.name);
      this.custom = { queries, wanted };
    }
    const custom = queries.length > 0 ? this.custom : undefined;
    const parsed = parsePrometheusText(body, custom?.wanted ?? VLLM.wantedSeries);
    const extracted = extractWorkerSample(parsed, VLLM, { at: atMs });
    if (!extracted.ok) {
      this.store.recordFailure(id, extracted.cause, extracted.message);
      return false;
    }
    const sample = custom ? { ...extracted.sample, custom: queryValues(parsed, custom.queries) } : extracted.sample;
    this.store.recordSample(id, sample);
    return true;
  }
}
