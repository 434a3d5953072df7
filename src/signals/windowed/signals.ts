/**
 * Signals over a time window, from counters and histograms: per worker, the delta between the
 * newest sample at or before `now − window` and the current one (reset-aware, see
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
import { define, type SignalDefinition } from '../types.js';
import { latencyQuantile } from './latency.js';
import { backlogSeconds, contextLength, tokensInQueue } from './per-request.js';
import { rateSignal, tokenCounter, tokenWhat } from './rates.js';
import { counterReader } from './window-span.js';
import { quantileParams, tokenRateParams, windowParams, type QuantileParams, type TokenRateParams, type WindowParams } from './window-params.js';

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
    params: tokenRateParams(60_000),
    compute: rateSignal('tokens_per_second', (p: TokenRateParams) => tokenCounter(p.tokens), tokenWhat),
  }),
  define<WindowParams>({
    name: 'request_rate',
    kind: 'extensive',
    unit: 'requests/s',
    description: 'Σ finished requests per second over `window` (default 60s)',
    params: windowParams(60_000),
    compute: rateSignal(
      'request_rate',
      () => counterReader('requestSuccess'),
      () => 'a finished-request counter',
    ),
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
