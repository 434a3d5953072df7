/**
 * A simulated replica scraped as the HTTP source scrapes a vLLM worker (sources/http/http-source.ts
 * `fetchAndRecord`): its exposition bytes are read by the same ExpositionReader under the same vLLM
 * profile (custom queries included, each worker's body shape remembered), and the sample goes into
 * the store.
 */
import { profileFor } from '../sources/http/engine-profiles.js';
import { extractWorkerSample } from '../sources/http/extract-sample.js';
import { ExpositionReader, type BodyShape } from '../sources/http/prometheus-text.js';
import { queryValues } from '../sources/http/query-values.js';
import type { PoolStore } from '../store/pool-store.js';
import type { SeriesQuery } from '../store/series-query.js';

const VLLM = profileFor('vllm');

export class ExpositionScraper {
  private parser?: { queries: readonly SeriesQuery[]; reader: ExpositionReader; shapes: Map<string, BodyShape> };

  constructor(private readonly store: PoolStore) {}

  private reader(): { queries: readonly SeriesQuery[]; reader: ExpositionReader; shapes: Map<string, BodyShape> } {
    const queries = this.store.queries();
    if (this.parser?.queries !== queries) {
      const wanted = new Set(VLLM.wantedSeries);
      const labels = new Set(VLLM.readLabels);
      for (const query of queries) {
        wanted.add(query.name);
        for (const m of query.matchers) labels.add(m.label);
      }
      this.parser = { queries, reader: new ExpositionReader(wanted, labels), shapes: new Map() };
    }
    return this.parser;
  }

  /** Reads `body` as if fetched from worker `id` at `atMs` and records it; false when it is not a vLLM exposition. */
  record(id: string, body: string, atMs: number): boolean {
    const { queries, reader, shapes } = this.reader();
    const { parsed, shape } = reader.read(Buffer.from(body, 'utf8'), shapes.get(id));
    shapes.set(id, shape);
    const extracted = extractWorkerSample(parsed, VLLM, { at: atMs });
    if (!extracted.ok) {
      this.store.recordFailure(id, extracted.cause, extracted.message);
      return false;
    }
    const sample = queries.length > 0 ? { ...extracted.sample, custom: queryValues(parsed, queries) } : extracted.sample;
    this.store.recordSample(id, sample);
    return true;
  }

  /** Forgets the body shapes of workers that are gone. */
  retain(ids: ReadonlySet<string>): void {
    for (const id of this.parser?.shapes.keys() ?? []) if (!ids.has(id)) this.parser?.shapes.delete(id);
  }
}
