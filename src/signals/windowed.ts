/**
 * Signals over a time window, from counters and histograms (SPEC §4): per worker, the delta
 * between the newest sample at or before `now − window` and the current one (reset-aware, see
 * histogram-window.ts), then combined over the fleet.
 *
 * Rules shared by every signal here:
 * - A worker without two usable samples in its window (first scrape, just restarted) is excluded
 *   with the reason, never counted as 0.
 * - A window the history cannot cover is shortened to what there is; `details` says how long the
 *   windows actually were. Triggers make the pool keep `window` of history (`historyMs`).
 * - Rates are 0 when the counters did not move: that is a true value.
 * - Means and latency quantiles of a window without any observation are 0 when every fresh worker
 *   reports nothing waiting and nothing running (an idle fleet puts nobody through any latency),
 *   and unavailable otherwise (requests in flight but none observed: the latency is unknown, and
 *   may be huge, e.g. a stuck prefill).
 */
import { formatDuration, parseDuration } from '../config/duration.js';
import { MetadataError } from '../policies/metadata-error.js';
import type { FreshWorker } from '../store/pool-store.js';
import type { CounterName, HistogramName, WorkerSample } from '../store/sample.js';
import {
  bucketQuantile,
  mergeDeltas,
  windowDelta,
  windowSpan,
  type MergeInput,
  type Span,
  type SpanProblem,
} from './histogram-window.js';
import type { Contribution, SignalContext, SignalDefinition, SignalOutcome, SignalParams } from './types.js';

export const MIN_WINDOW_MS = 1000;
export const MAX_WINDOW_MS = 3_600_000;
export const MIN_QUANTILE = 0.5;
export const MAX_QUANTILE = 0.99;
export const DEFAULT_QUANTILE = 0.95;

export interface WindowParams {
  readonly windowMs: number;
}

export interface QuantileParams extends WindowParams {
  readonly quantile: number;
}

export type TokenKind = 'generation' | 'prompt' | 'total';

export interface TokenRateParams extends WindowParams {
  readonly tokens: TokenKind;
}

/** `window`: a duration between 1s and 1h (`30s`, `500ms` is too short, `2m`, bare seconds). */
export function parseWindow(values: ReadonlyMap<string, string>, defaultMs: number): number {
  const text = values.get('window');
  if (text === undefined || text === '') return defaultMs;
  const expected = `expected a duration from ${formatDuration(MIN_WINDOW_MS)} to ${MAX_WINDOW_MS / 3_600_000}h such as 30s or 2m (default ${formatDuration(defaultMs)})`;
  const ms = parseDuration(text);
  if (ms === undefined) throw new MetadataError('window', `'${text}' is not a duration; ${expected}`);
  if (ms < MIN_WINDOW_MS || ms > MAX_WINDOW_MS) throw new MetadataError('window', `'${text}' is out of range; ${expected}`);
  return ms;
}

export function parseQuantile(values: ReadonlyMap<string, string>): number {
  const text = values.get('quantile');
  if (text === undefined || text === '') return DEFAULT_QUANTILE;
  const q = Number(text);
  if (!Number.isFinite(q) || q < MIN_QUANTILE || q > MAX_QUANTILE) {
    throw new MetadataError('quantile', `'${text}' is not accepted; expected a number from ${MIN_QUANTILE} to ${MAX_QUANTILE} (default ${DEFAULT_QUANTILE})`);
  }
  return q;
}

const TOKEN_KINDS: readonly TokenKind[] = ['generation', 'prompt', 'total'];

export function parseTokens(values: ReadonlyMap<string, string>): TokenKind {
  const text = values.get('tokens');
  if (text === undefined || text === '') return 'generation';
  const kind = TOKEN_KINDS.find((k) => k === text.toLowerCase());
  if (!kind) throw new MetadataError('tokens', `'${text}' is not accepted; expected ${TOKEN_KINDS.join(', ')} (default generation)`);
  return kind;
}

function windowParams(defaultMs: number): SignalParams<WindowParams> {
  return {
    keys: ['window'],
    parse: (values) => ({ windowMs: parseWindow(values, defaultMs) }),
    key: (p) => `${p.windowMs}`,
    historyMs: (p) => p.windowMs,
  };
}

function quantileParams(defaultMs: number): SignalParams<QuantileParams> {
  return {
    keys: ['window', 'quantile'],
    parse: (values) => ({ windowMs: parseWindow(values, defaultMs), quantile: parseQuantile(values) }),
    key: (p) => `${p.windowMs}|${p.quantile}`,
    historyMs: (p) => p.windowMs,
  };
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/** How long the windows actually were, and why some were shorter than asked. */
export class WindowReport {
  private min = Number.POSITIVE_INFINITY;
  private max = 0;
  private readonly shortened: Record<string, number> = {};

  constructor(private readonly windowMs: number) {}

  add(span: Extract<Span<unknown>, { ok: true }>): void {
    this.min = Math.min(this.min, span.seconds);
    this.max = Math.max(this.max, span.seconds);
    if (span.limitedBy) this.shortened[span.limitedBy] = (this.shortened[span.limitedBy] ?? 0) + 1;
  }

  details(): Record<string, unknown> {
    const out: Record<string, unknown> = { window: formatDuration(this.windowMs) };
    if (this.max > 0) out['effectiveWindowSeconds'] = { min: round3(this.min), max: round3(this.max) };
    const reasons = Object.entries(this.shortened);
    if (reasons.length > 0) {
      // history: the pool has not kept (or not yet collected) that much; reset: a restart inside
      // the window; missing: older samples lack the value (e.g. a query registered since).
      out['shorterWindows'] = Object.fromEntries(reasons);
    }
    return out;
  }
}

export function spanReason(problem: SpanProblem | 'unreadable', what: string): string {
  switch (problem) {
    case 'missing':
      return `does not report ${what}`;
    case 'short':
      return `has a single sample since it was first collected or restarted; ${what} over a window needs two`;
    case 'reset':
      return `its ${what} went backwards at the latest sample (a restart); the window restarts from it`;
    case 'unreadable':
      return `its ${what} cannot be read (bucket counts not cumulative)`;
  }
}

/**
 * Zero for an idle fleet (every fresh worker reports 0 waiting and 0 running), else unavailable:
 * with requests in flight, "nothing observed" does not mean "no latency".
 */
function idleOrUnknown(
  workers: readonly FreshWorker[],
  nothing: string,
  contributions: Contribution[],
  contributors: number,
  details: Record<string, unknown>,
): SignalOutcome {
  let busy = 0;
  let unknown = 0;
  for (const { sample } of workers) {
    if (sample.waiting === undefined || sample.running === undefined) unknown += 1;
    else busy += sample.waiting + sample.running;
  }
  if (busy === 0 && unknown === 0) {
    return { ok: true, value: 0, contributors, contributions, details: { ...details, idle: true, note: `${nothing}; the fleet is idle (nothing waiting or running)` } };
  }
  const why = busy > 0 ? `while ${busy} requests are waiting or running` : `and ${unknown} workers do not report their waiting and running requests`;
  return { ok: false, reason: `${nothing} ${why}: the value is unknown, not 0`, contributions };
}

const HISTOGRAM_WHAT: Readonly<Record<string, string>> = {
  ttft: 'a time-to-first-token histogram',
  itl: 'an inter-token-latency histogram',
  e2eLatency: 'an end-to-end request latency histogram',
};

/** A latency quantile over the window, from the fleet's merged histogram deltas. */
function latencyQuantile(name: string, histogram: HistogramName, observed: string) {
  const what = HISTOGRAM_WHAT[histogram] ?? `a ${histogram} histogram`;
  return (workers: readonly FreshWorker[], params: QuantileParams, context: SignalContext): SignalOutcome => {
    const cutoff = context.snapshot.at - params.windowMs;
    const report = new WindowReport(params.windowMs);
    const contributions: Contribution[] = [];
    const inputs: MergeInput[] = [];
    const excludedByProblem: string[] = [];
    for (const worker of workers) {
      const result = windowDelta(worker, cutoff, (s) => s.histograms[histogram]);
      if (!result.ok) {
        contributions.push({ worker: worker.id, excluded: spanReason(result.problem, what) });
        excludedByProblem.push(result.problem);
        continue;
      }
      report.add(result.span);
      inputs.push({ id: worker.id, delta: result.delta });
    }
    if (inputs.length === 0) {
      const why = excludedByProblem.every((p) => p === 'missing') ? `no fresh worker reports ${what}` : `no fresh worker has ${what} over two samples yet`;
      return { ok: false, reason: `${why} (${name})`, contributions };
    }
    const merge = mergeDeltas(inputs);
    const byId = new Map(inputs.map((i) => [i.id, i.delta]));
    for (const id of merge.included) {
      const own = byId.get(id);
      const value = own && own.count > 0 ? bucketQuantile(params.quantile, own)?.value : undefined;
      contributions.push(value === undefined ? { worker: id } : { worker: id, value });
    }
    for (const { id, reason } of merge.excluded) contributions.push({ worker: id, excluded: reason });
    const merged = merge.merged;
    const details: Record<string, unknown> = {
      ...report.details(),
      quantile: params.quantile,
      observations: merged?.count ?? 0,
      ...(merge.projected.length > 0 ? { projectedOntoCoarserBuckets: merge.projected.length } : {}),
    };
    if (!merged || merged.count === 0) {
      return idleOrUnknown(workers, `no ${observed} was observed in the window (${formatDuration(params.windowMs)})`, contributions, merge.included.length, details);
    }
    const q = bucketQuantile(params.quantile, merged);
    if (!q) return { ok: false, reason: `${what} has no finite bucket bound to interpolate in (${name})`, contributions };
    if (q.overflow) details['aboveHighestBucket'] = `the ${params.quantile} quantile lies above the highest finite bound ${q.value}; reported as that bound`;
    else details['bucket'] = [q.lower, q.upper];
    return { ok: true, value: q.value, contributors: merge.included.length, contributions, details };
  };
}

/** A counter's rate per worker over its window; the fleet rate is the sum. */
export function counterRates(
  workers: readonly FreshWorker[],
  windowMs: number,
  now: number,
  read: (s: WorkerSample) => number | undefined,
  what: string,
): { total: number; contributors: number; contributions: Contribution[]; rates: Map<string, number>; report: WindowReport; problems: (SpanProblem | 'unreadable')[] } {
  const cutoff = now - windowMs;
  const report = new WindowReport(windowMs);
  const contributions: Contribution[] = [];
  const rates = new Map<string, number>();
  const problems: SpanProblem[] = [];
  let total = 0;
  for (const worker of workers) {
    const span = windowSpan(worker, cutoff, read, (earlier, later) => later < earlier);
    if (!span.ok) {
      contributions.push({ worker: worker.id, excluded: spanReason(span.problem, what) });
      problems.push(span.problem);
      continue;
    }
    report.add(span);
    const rate = (span.currentValue - span.baseValue) / span.seconds;
    total += rate;
    rates.set(worker.id, rate);
    contributions.push({ worker: worker.id, value: rate });
  }
  return { total, contributors: rates.size, contributions, rates, report, problems };
}

function finiteCount(v: number | undefined): number | undefined {
  return v !== undefined && Number.isFinite(v) && v >= 0 ? v : undefined;
}

const counter = (name: CounterName) => (s: WorkerSample) => finiteCount(s.counters[name]);

function tokenCounter(kind: TokenKind): (s: WorkerSample) => number | undefined {
  if (kind === 'prompt') return counter('promptTokens');
  if (kind === 'generation') return counter('generationTokens');
  return (s) => {
    const p = finiteCount(s.counters.promptTokens);
    const g = finiteCount(s.counters.generationTokens);
    return p === undefined || g === undefined ? undefined : p + g;
  };
}

function rateSignal<P extends WindowParams>(name: string, read: (params: P) => (s: WorkerSample) => number | undefined, what: (params: P) => string) {
  return (workers: readonly FreshWorker[], params: P, context: SignalContext): SignalOutcome => {
    const label = what(params);
    const r = counterRates(workers, params.windowMs, context.snapshot.at, read(params), label);
    if (r.contributors === 0) {
      const why = r.problems.every((p) => p === 'missing') ? `no fresh worker reports ${label}` : `no fresh worker has ${label} over two samples yet`;
      return { ok: false, reason: `${why} (${name})`, contributions: r.contributions };
    }
    return { ok: true, value: r.total, contributors: r.contributors, contributions: r.contributions, details: r.report.details() };
  };
}

/** Tokens and finished requests, cumulative: what a mean per request is computed from. */
interface PerRequest {
  readonly tokens: number;
  readonly requests: number;
}

const perRequestWentBack = (a: PerRequest, b: PerRequest): boolean => b.requests < a.requests || b.tokens < a.tokens;

/**
 * Reads tokens per finished request from the request-token histograms (exact: observed once per
 * finished request) when the worker has them with a `_sum`, else from the token and request
 * counters (which also count tokens of requests still running).
 */
function perRequestReader(sample: WorkerSample, prompt: boolean, generation: boolean): { read: (s: WorkerSample) => PerRequest | undefined; from: 'histograms' | 'counters' } | undefined {
  const fromHistograms = (s: WorkerSample): PerRequest | undefined => {
    const p = s.histograms.requestPromptTokens;
    const g = s.histograms.requestGenerationTokens;
    if (!p || !Number.isFinite(p.sum) || !Number.isFinite(p.count)) return undefined;
    if (generation && (!g || !Number.isFinite(g.sum))) return undefined;
    return { tokens: (prompt ? p.sum : 0) + (generation && g ? g.sum : 0), requests: p.count };
  };
  const fromCounters = (s: WorkerSample): PerRequest | undefined => {
    const requests = finiteCount(s.counters.requestSuccess);
    const p = prompt ? finiteCount(s.counters.promptTokens) : 0;
    const g = generation ? finiteCount(s.counters.generationTokens) : 0;
    if (requests === undefined || p === undefined || g === undefined) return undefined;
    return { tokens: p + g, requests };
  };
  if (fromHistograms(sample)) return { read: fromHistograms, from: 'histograms' };
  if (fromCounters(sample)) return { read: fromCounters, from: 'counters' };
  return undefined;
}

/** Σ tokens and Σ finished requests over the window, per worker and for the fleet. */
function perRequestWindow(workers: readonly FreshWorker[], windowMs: number, now: number, prompt: boolean, generation: boolean, what: string) {
  const cutoff = now - windowMs;
  const report = new WindowReport(windowMs);
  const contributions: Contribution[] = [];
  const sources = { histograms: 0, counters: 0 };
  let tokens = 0;
  let requests = 0;
  let contributors = 0;
  for (const worker of workers) {
    const reader = perRequestReader(worker.sample, prompt, generation);
    if (!reader) {
      contributions.push({ worker: worker.id, excluded: `does not report ${what}` });
      continue;
    }
    const span = windowSpan(worker, cutoff, reader.read, perRequestWentBack);
    if (!span.ok) {
      contributions.push({ worker: worker.id, excluded: spanReason(span.problem, what) });
      continue;
    }
    report.add(span);
    const dTokens = span.currentValue.tokens - span.baseValue.tokens;
    const dRequests = span.currentValue.requests - span.baseValue.requests;
    tokens += dTokens;
    requests += dRequests;
    contributors += 1;
    sources[reader.from] += 1;
    contributions.push(dRequests > 0 ? { worker: worker.id, value: dTokens / dRequests } : { worker: worker.id });
  }
  return { tokens, requests, contributors, contributions, report, sources };
}

const contextLength = (workers: readonly FreshWorker[], params: WindowParams, context: SignalContext): SignalOutcome => {
  const what = 'request token counts (histograms or counters)';
  const w = perRequestWindow(workers, params.windowMs, context.snapshot.at, true, true, what);
  if (w.contributors === 0) return { ok: false, reason: `no fresh worker has ${what} over two samples (context_length)`, contributions: w.contributions };
  const details: Record<string, unknown> = { ...w.report.details(), finishedRequests: w.requests, tokens: w.tokens, from: w.sources };
  if (w.requests <= 0) {
    return idleOrUnknown(workers, `no request finished in the window (${formatDuration(params.windowMs)})`, w.contributions, w.contributors, details);
  }
  return { ok: true, value: w.tokens / w.requests, contributors: w.contributors, contributions: w.contributions, details };
};

/** Tokens waiting for prefill per worker: exact where reported, else waiting × mean prompt length. */
export function queuedTokens(workers: readonly FreshWorker[], windowMs: number, now: number) {
  const contributions: Contribution[] = [];
  const perWorker = new Map<string, number>();
  let total = 0;
  let exact = 0;
  let estimated = 0;
  let fleetMean: { value?: number; requests: number; report?: Record<string, unknown> } | undefined;
  let lifetimeUsed = 0;
  const meanPrompt = (): number | undefined => {
    // Over the whole fleet: requests are spread by a balancer, so every worker's queue is drawn
    // from the same prompt-length distribution, and more requests give a steadier mean.
    if (!fleetMean) {
      const w = perRequestWindow(workers, windowMs, now, true, false, 'prompt token counts');
      fleetMean = { value: w.requests > 0 ? w.tokens / w.requests : undefined, requests: w.requests, report: w.report.details() };
    }
    return fleetMean.value;
  };
  for (const worker of workers) {
    const { sample, id } = worker;
    const exactTokens = finiteCount(sample.queuedPrefillTokens);
    if (exactTokens !== undefined) {
      exact += 1;
      total += exactTokens;
      perWorker.set(id, exactTokens);
      contributions.push({ worker: id, value: exactTokens });
      continue;
    }
    const waiting = finiteCount(sample.waiting);
    if (waiting === undefined) {
      contributions.push({ worker: id, excluded: 'reports neither queued prefill tokens nor waiting requests' });
      continue;
    }
    let value = 0;
    if (waiting > 0) {
      let mean = meanPrompt();
      if (mean === undefined) {
        // No request finished in the window anywhere: this worker's mean since it started.
        const reader = perRequestReader(sample, true, false);
        const life = reader?.read(sample);
        if (life && life.requests > 0) {
          mean = life.tokens / life.requests;
          lifetimeUsed += 1;
        }
      }
      if (mean === undefined) {
        contributions.push({ worker: id, excluded: `${waiting} requests waiting, but no finished request tells their prompt length yet` });
        continue;
      }
      value = waiting * mean;
    }
    estimated += 1;
    total += value;
    perWorker.set(id, value);
    contributions.push({ worker: id, value });
  }
  const details: Record<string, unknown> = { exactWorkers: exact, estimatedWorkers: estimated };
  if (fleetMean) {
    details['meanPromptTokens'] = fleetMean.value;
    details['promptLengthWindow'] = { ...fleetMean.report, finishedRequests: fleetMean.requests };
  }
  if (lifetimeUsed > 0) details['lifetimeMeanWorkers'] = lifetimeUsed;
  return { total, contributors: perWorker.size, contributions, perWorker, details };
}

const tokensInQueue = (workers: readonly FreshWorker[], params: WindowParams, context: SignalContext): SignalOutcome => {
  const q = queuedTokens(workers, params.windowMs, context.snapshot.at);
  if (q.contributors === 0) return { ok: false, reason: 'no fresh worker reports queued prefill tokens, or waiting requests with a known prompt length (tokens_in_queue)', contributions: q.contributions };
  return { ok: true, value: q.total, contributors: q.contributors, contributions: q.contributions, details: { window: formatDuration(params.windowMs), ...q.details } };
};

/**
 * Seconds to drain the queued prompt tokens at the observed prefill throughput (prompt tokens per
 * second over the window), fleet-wide: Σ tokens in queue ÷ Σ prompt-token rate.
 */
const backlogSeconds = (workers: readonly FreshWorker[], params: WindowParams, context: SignalContext): SignalOutcome => {
  const q = queuedTokens(workers, params.windowMs, context.snapshot.at);
  const what = 'a prompt-token counter';
  const r = counterRates(workers, params.windowMs, context.snapshot.at, counter('promptTokens'), what);
  const contributions: Contribution[] = [];
  for (const c of q.contributions) {
    if (c.excluded !== undefined) {
      contributions.push(c);
      continue;
    }
    const queued = q.perWorker.get(c.worker) ?? 0;
    const rate = r.rates.get(c.worker);
    if (queued === 0) contributions.push({ worker: c.worker, value: 0 });
    else if (rate !== undefined && rate > 0) contributions.push({ worker: c.worker, value: queued / rate });
    // Its queue counts; its own drain time is unknown without its throughput.
    else contributions.push({ worker: c.worker });
  }
  const details: Record<string, unknown> = { ...r.report.details(), ...q.details, tokensInQueue: q.total, promptTokensPerSecond: r.total };
  if (q.contributors === 0) {
    return { ok: false, reason: 'no fresh worker reports queued prefill tokens, or waiting requests with a known prompt length (backlog_seconds)', contributions };
  }
  if (q.total === 0) return { ok: true, value: 0, contributors: q.contributors, contributions, details };
  if (r.contributors === 0) {
    const why = r.problems.every((p) => p === 'missing') ? `no fresh worker reports ${what}` : `no fresh worker has ${what} over two samples yet`;
    return { ok: false, reason: `${round3(q.total)} tokens are queued, but ${why}: throughput unknown (backlog_seconds)`, contributions };
  }
  if (r.total <= 0) {
    return { ok: false, reason: `${round3(q.total)} tokens are queued and no prompt token was processed in the window (${formatDuration(params.windowMs)}): the backlog is not draining, its drain time is unbounded`, contributions };
  }
  return { ok: true, value: q.total / r.total, contributors: r.contributors, contributions, details };
};

const tokenWhat = (p: TokenRateParams): string => (p.tokens === 'total' ? 'prompt and generation token counters' : `a ${p.tokens}-token counter`);

/** A signal with typed parameters, as the catalogue holds it. */
export function define<P>(signal: SignalDefinition<P>): SignalDefinition {
  return signal as SignalDefinition;
}

export const WINDOWED_SIGNALS: readonly SignalDefinition[] = [
  define<QuantileParams>({
    name: 'ttft',
    kind: 'intensive',
    unit: 'seconds',
    description: 'time to first token at `quantile` (default 0.95) over `window` (default 60s), from histogram deltas',
    params: quantileParams(60_000),
    compute: latencyQuantile('ttft', 'ttft', 'first token'),
  }),
  define<QuantileParams>({
    name: 'itl',
    kind: 'intensive',
    unit: 'seconds',
    description: 'inter-token latency at `quantile` (default 0.95) over `window` (default 60s), from histogram deltas',
    params: quantileParams(60_000),
    compute: latencyQuantile('itl', 'itl', 'inter-token latency'),
  }),
  define<QuantileParams>({
    name: 'e2e_latency',
    kind: 'intensive',
    unit: 'seconds',
    description: 'end-to-end request latency at `quantile` (default 0.95) over `window` (default 60s), from histogram deltas',
    params: quantileParams(60_000),
    compute: latencyQuantile('e2e_latency', 'e2eLatency', 'finished request'),
  }),
  define<TokenRateParams>({
    name: 'tokens_per_second',
    kind: 'extensive',
    unit: 'tokens/s',
    description: 'Σ token rate over `window` (default 60s); `tokens`: generation (default), prompt or total',
    params: {
      keys: ['window', 'tokens'],
      parse: (values) => ({ windowMs: parseWindow(values, 60_000), tokens: parseTokens(values) }),
      key: (p) => `${p.windowMs}|${p.tokens}`,
      historyMs: (p) => p.windowMs,
    },
    compute: rateSignal('tokens_per_second', (p: TokenRateParams) => tokenCounter(p.tokens), tokenWhat),
  }),
  define<WindowParams>({
    name: 'request_rate',
    kind: 'extensive',
    unit: 'requests/s',
    description: 'Σ finished requests per second over `window` (default 60s)',
    params: windowParams(60_000),
    compute: rateSignal('request_rate', () => counter('requestSuccess'), () => 'a finished-request counter'),
  }),
  define<WindowParams>({
    name: 'context_length',
    kind: 'intensive',
    unit: 'tokens',
    description: 'mean prompt + generation tokens per request finished in `window` (default 120s)',
    params: windowParams(120_000),
    compute: contextLength,
  }),
  define<WindowParams>({
    name: 'tokens_in_queue',
    kind: 'extensive',
    unit: 'tokens',
    description: 'Σ prompt tokens waiting for prefill: exact where reported (Dynamo), else waiting × mean prompt length over `window` (default 30s)',
    params: windowParams(30_000),
    compute: tokensInQueue,
  }),
  define<WindowParams>({
    name: 'backlog_seconds',
    kind: 'intensive',
    unit: 'seconds',
    description: 'tokens in queue ÷ prompt-token throughput over `window` (default 30s): how long the backlog takes to drain',
    params: windowParams(30_000),
    compute: backlogSeconds,
  }),
];
