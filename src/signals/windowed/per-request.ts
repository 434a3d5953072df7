/**
 * Signals built on tokens per finished request: `context_length`, `tokens_in_queue` (waiting ×
 * mean prompt length where the engine does not report queued tokens) and `backlog_seconds`.
 */
import { formatDuration } from '../../config/duration.js';
import type { WorkerHistory } from '../../store/history.js';
import type { FreshWorker } from '../../store/pool-store.js';
import type { CumulativeHistogram, WorkerSample } from '../../store/sample.js';
import type { Contribution, Evaluation, SignalContext } from '../types.js';
import { counterRates } from './rates.js';
import type { WindowParams } from './window-params.js';
import { round3 } from '../rounding.js';
import { idleOrUnknown, noUsableWorker, spanReason, WindowReport } from './window-report.js';
import { counterReader, finiteCount, windowSpan, type FieldReader } from './window-span.js';

/** Tokens and finished requests, cumulative: what a mean per request is computed from. */
interface PerRequest {
  readonly tokens: number;
  readonly requests: number;
}

/**
 * Reads tokens per finished request from the request-token histograms (exact: observed once per
 * finished request) when the worker has them with a `_sum`, else from the token and request
 * counters (which also count tokens of requests still running).
 */
function perRequestReader(
  sample: WorkerSample,
  prompt: boolean,
  generation: boolean,
): { reader: FieldReader<PerRequest>; from: 'histograms' | 'counters' } | undefined {
  const fromHistograms = (p: CumulativeHistogram | undefined, g: CumulativeHistogram | undefined): PerRequest | undefined => {
    if (!p || !Number.isFinite(p.sum) || !Number.isFinite(p.count)) return undefined;
    if (generation && (!g || !Number.isFinite(g.sum))) return undefined;
    return { tokens: (prompt ? p.sum : 0) + (generation && g ? g.sum : 0), requests: p.count };
  };
  const histograms: FieldReader<PerRequest> = {
    fields: [{ histogram: 'requestPromptTokens' }, ...(generation ? [{ histogram: 'requestGenerationTokens' } as const] : [])],
    fromSample: (s) => fromHistograms(s.histograms.requestPromptTokens, s.histograms.requestGenerationTokens),
    fromHistory: (h: WorkerHistory, row: number) =>
      fromHistograms(h.histogram(row, 'requestPromptTokens'), generation ? h.histogram(row, 'requestGenerationTokens') : undefined),
  };
  const fromCounters = (requests: number | undefined, p: number | undefined, g: number | undefined): PerRequest | undefined =>
    requests === undefined || p === undefined || g === undefined ? undefined : { tokens: p + g, requests };
  const counters: FieldReader<PerRequest> = {
    fields: [
      { counter: 'requestSuccess' },
      ...(prompt ? [{ counter: 'promptTokens' } as const] : []),
      ...(generation ? [{ counter: 'generationTokens' } as const] : []),
    ],
    fromSample: (s) =>
      fromCounters(
        finiteCount(s.counters.requestSuccess),
        prompt ? finiteCount(s.counters.promptTokens) : 0,
        generation ? finiteCount(s.counters.generationTokens) : 0,
      ),
    fromHistory: (h, row) =>
      fromCounters(
        finiteCount(h.counter(row, 'requestSuccess')),
        prompt ? finiteCount(h.counter(row, 'promptTokens')) : 0,
        generation ? finiteCount(h.counter(row, 'generationTokens')) : 0,
      ),
  };
  if (histograms.fromSample(sample)) return { reader: histograms, from: 'histograms' };
  if (counters.fromSample(sample)) return { reader: counters, from: 'counters' };
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
  let readyWorkers = 0;
  for (const worker of workers) {
    const reader = perRequestReader(worker.sample, prompt, generation);
    if (!reader) {
      contributions.push({ worker: worker.id, excluded: `does not report ${what}` });
      continue;
    }
    const span = windowSpan(worker, cutoff, reader.reader);
    if (!span.ok) {
      contributions.push({ worker: worker.id, excluded: spanReason(span.problem, what) });
      continue;
    }
    report.add(span);
    const dTokens = span.currentValue.tokens - span.baseValue.tokens;
    const dRequests = span.currentValue.requests - span.baseValue.requests;
    tokens += dTokens;
    requests += dRequests;
    readyWorkers += 1;
    sources[reader.from] += 1;
    contributions.push(
      dRequests > 0 ? { worker: worker.id, value: dTokens / dRequests, windowSeconds: span.seconds } : { worker: worker.id, windowSeconds: span.seconds },
    );
  }
  return { tokens, requests, readyWorkers, contributions, report, sources };
}

export const contextLength = (workers: readonly FreshWorker[], params: WindowParams, context: SignalContext): Evaluation => {
  const what = 'request token counts (histograms or counters)';
  const w = perRequestWindow(workers, params.windowMs, context.snapshot.at, true, true, what);
  if (w.readyWorkers === 0) return { ok: false, reason: `no fresh worker has ${what} over two samples (context_length)`, contributions: w.contributions };
  const details: Record<string, unknown> = { ...w.report.details(), finishedRequests: w.requests, tokens: w.tokens, from: w.sources };
  if (w.requests <= 0) {
    return idleOrUnknown(workers, `no request finished in the window (${formatDuration(params.windowMs)})`, w.contributions, w.readyWorkers, details);
  }
  return { ok: true, value: w.tokens / w.requests, readyWorkers: w.readyWorkers, contributions: w.contributions, details };
};

/**
 * The fleet's mean prompt (or generation) tokens per request finished in the window — WVA V2's
 * `rate(vllm:request_prompt_tokens_sum[5m]) / rate(vllm:request_prompt_tokens_count[5m])`
 * (llm-d/workload-variant-autoscaler internal/collector/registration/saturation.go) — else, when
 * none finished in it, the mean over every request since the workers started; undefined when no
 * request finished at all.
 */
export function fleetMeanTokens(
  workers: readonly FreshWorker[],
  windowMs: number,
  now: number,
  which: 'prompt' | 'generation',
): { value?: number; requests: number; over: 'window' | 'lifetime' } {
  const prompt = which === 'prompt';
  const w = perRequestWindow(workers, windowMs, now, prompt, !prompt, `${which} token counts`);
  if (w.requests > 0) return { value: w.tokens / w.requests, requests: w.requests, over: 'window' };
  let tokens = 0;
  let requests = 0;
  for (const { sample } of workers) {
    const life = perRequestReader(sample, prompt, !prompt)?.reader.fromSample(sample);
    if (!life) continue;
    tokens += life.tokens;
    requests += life.requests;
  }
  return { value: requests > 0 ? tokens / requests : undefined, requests, over: 'lifetime' };
}

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
        const life = perRequestReader(sample, true, false)?.reader.fromSample(sample);
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
  return { total, readyWorkers: perWorker.size, contributions, perWorker, details };
}

const NO_QUEUED_TOKENS = 'no fresh worker reports queued prefill tokens, or waiting requests with a known prompt length';

export const tokensInQueue = (workers: readonly FreshWorker[], params: WindowParams, context: SignalContext): Evaluation => {
  const q = queuedTokens(workers, params.windowMs, context.snapshot.at);
  if (q.readyWorkers === 0) return { ok: false, reason: `${NO_QUEUED_TOKENS} (tokens_in_queue)`, contributions: q.contributions };
  return {
    ok: true,
    value: q.total,
    readyWorkers: q.readyWorkers,
    contributions: q.contributions,
    details: { window: formatDuration(params.windowMs), ...q.details },
  };
};

/**
 * Seconds to drain the queued prompt tokens at the observed prefill throughput (prompt tokens per
 * second over the window), fleet-wide: Σ tokens in queue ÷ Σ prompt-token rate.
 */
export const backlogSeconds = (workers: readonly FreshWorker[], params: WindowParams, context: SignalContext): Evaluation => {
  const q = queuedTokens(workers, params.windowMs, context.snapshot.at);
  const what = 'a prompt-token counter';
  const r = counterRates(workers, params.windowMs, context.snapshot.at, counterReader('promptTokens'), what);
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
  if (q.readyWorkers === 0) return { ok: false, reason: `${NO_QUEUED_TOKENS} (backlog_seconds)`, contributions };
  if (q.total === 0) return { ok: true, value: 0, readyWorkers: q.readyWorkers, contributions, details };
  if (r.readyWorkers === 0) {
    return {
      ok: false,
      reason: `${round3(q.total)} tokens are queued, but ${noUsableWorker(r.problems, what)}: throughput unknown (backlog_seconds)`,
      contributions,
    };
  }
  if (r.total <= 0) {
    return {
      ok: false,
      reason:
        `${round3(q.total)} tokens are queued and no prompt token was processed in the window (${formatDuration(params.windowMs)}): the backlog ` +
        `is not draining, its drain time is unbounded`,
      contributions,
    };
  }
  return { ok: true, value: q.total / r.total, readyWorkers: r.readyWorkers, contributions, details };
};
