/** Counter rates over a window (`tokens_per_second`, `request_rate`, and `custom` with `rate`). */
import type { FreshWorker } from '../../store/pool-store.js';
import type { Contribution, Evaluation, SignalContext } from '../types.js';
import type { TokenKind, TokenRateParams, WindowParams } from './window-params.js';
import { noUsableWorker, spanReason, WindowReport, type WindowProblem } from './window-report.js';
import { counterReader, counterSumReader, windowSpan, type FieldReader } from './window-span.js';

export interface CounterRates {
  /** Σ over the workers that have a window. */
  readonly total: number;
  readonly readyWorkers: number;
  readonly contributions: Contribution[];
  readonly rates: ReadonlyMap<string, number>;
  readonly report: WindowReport;
  readonly problems: readonly WindowProblem[];
}

/** A counter's rate per worker over its window (divided by the time it actually covers); the fleet rate is the sum. */
export function counterRates(workers: readonly FreshWorker[], windowMs: number, now: number, reader: FieldReader<number>, what: string): CounterRates {
  const cutoff = now - windowMs;
  const report = new WindowReport(windowMs);
  const contributions: Contribution[] = [];
  const rates = new Map<string, number>();
  const problems: WindowProblem[] = [];
  let total = 0;
  for (const worker of workers) {
    const span = windowSpan(worker, cutoff, reader);
    if (!span.ok) {
      contributions.push({ worker: worker.id, excluded: spanReason(span.problem, what) });
      problems.push(span.problem);
      continue;
    }
    report.add(span);
    const rate = (span.currentValue - span.baseValue) / span.seconds;
    total += rate;
    rates.set(worker.id, rate);
    contributions.push({ worker: worker.id, value: rate, windowSeconds: span.seconds });
  }
  return { total, readyWorkers: rates.size, contributions, rates, report, problems };
}

export function tokenCounter(kind: TokenKind): FieldReader<number> {
  if (kind === 'prompt') return counterReader('promptTokens');
  if (kind === 'generation') return counterReader('generationTokens');
  return counterSumReader(['promptTokens', 'generationTokens']);
}

/** A fleet rate signal: Σ per-worker rates of the counter `read` picks for the parameters. */
export function rateSignal<P extends WindowParams>(name: string, read: (params: P) => FieldReader<number>, what: (params: P) => string) {
  return (workers: readonly FreshWorker[], params: P, context: SignalContext): Evaluation => {
    const label = what(params);
    const r = counterRates(workers, params.windowMs, context.snapshot.at, read(params), label);
    if (r.readyWorkers === 0) return { ok: false, reason: `${noUsableWorker(r.problems, label)} (${name})`, contributions: r.contributions };
    return { ok: true, value: r.total, readyWorkers: r.readyWorkers, contributions: r.contributions, details: r.report.details() };
  };
}

export const tokenWhat = (p: TokenRateParams): string => (p.tokens === 'total' ? 'prompt and generation token counters' : `a ${p.tokens}-token counter`);
