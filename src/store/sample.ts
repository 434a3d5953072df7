/**
 * What one scrape or message says about one worker at one moment.
 *
 * Every gauge is optional on purpose: an engine that does not report a value leaves it
 * undefined, and signals treat undefined as "unknown", never as zero.
 */
export interface WorkerSample {
  /** Wall-clock time (ms since epoch) the sample was observed by the scaler. */
  readonly at: number;
  /** Model names the worker reported (after the pool's model filter). */
  readonly models: readonly string[];
  /** Requests waiting for prefill, summed over the worker's engines. */
  readonly waiting?: number;
  /** Requests being executed, summed over the worker's engines. */
  readonly running?: number;
  /** KV-cache usage as a fraction 0..1, averaged over the worker's engines. */
  readonly kvUsage?: number;
  /** KV blocks in use (Σ over engines of usage × blocks), when the engine reports its block count. */
  readonly kvBlocksUsed?: number;
  /** KV blocks available in total, summed over engines. */
  readonly kvBlocksTotal?: number;
  /** KV capacity in tokens (Σ over engines of blocks × tokens per block), when the engine reports its block size. */
  readonly kvCapacityTokens?: number;
  /** Request slots in use and available (Dynamo's request_active_slots / request_total_slots). */
  readonly activeSlots?: number;
  readonly totalSlots?: number;
  /** Prompt tokens waiting for prefill, when the engine reports them exactly (Dynamo forward-pass metrics). */
  readonly queuedPrefillTokens?: number;
  /** Monotonic counters, summed over engines; used for rates and reset detection. */
  readonly counters: Readonly<Partial<Record<CounterName, number>>>;
  /** Cumulative histograms, merged over engines; used for windowed quantiles. */
  readonly histograms: Readonly<Partial<Record<HistogramName, CumulativeHistogram>>>;
  /**
   * Values of the pool's `custom` series queries (PoolStore.queries), by canonical query text:
   * the sum of the matching series. A query whose metric is absent from the exposition has no
   * entry (unknown, not 0).
   */
  readonly custom?: Readonly<Record<string, number>>;
  /**
   * What was odd about the worker's values but still usable (e.g. KV usage above 1, read as 1):
   * shown beside the worker in explanations.
   */
  readonly notes?: readonly string[];
}

/**
 * The largest count, value or target taken from a worker or a trigger. Larger numbers are a
 * broken exporter, not load: KEDA 2.17–2.19 convert a metric with `int64(v * 1000)`, which goes
 * negative above ~9.2e15 (kedacore/keda pkg/scalers/external_scaler.go), so 1e308 scales to the
 * minimum there and to the maximum in 2.20+. The Dynamo decoder uses the same bound.
 */
export const MAX_PLAUSIBLE_VALUE = 1e12;

export type CounterName = 'promptTokens' | 'generationTokens' | 'requestSuccess' | 'preemptions';

export type HistogramName = 'ttft' | 'itl' | 'e2eLatency' | 'queueTime' | 'requestPromptTokens' | 'requestGenerationTokens';

/**
 * A Prometheus histogram as exposed: cumulative bucket counts by upper bound.
 * Bounds come from the `le` labels of the exposition and are never assumed.
 */
export interface CumulativeHistogram {
  /** Upper bounds in ascending order; the last is +Inf when the exposition had it. */
  readonly bounds: readonly number[];
  /** Cumulative counts, same length as `bounds`. */
  readonly counts: readonly number[];
  readonly sum: number;
  readonly count: number;
}
