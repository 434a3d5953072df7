/** What every windowed signal says about its windows, and the rules they share for "no value". */
import { formatDuration } from '../../config/duration.js';
import type { FreshWorker } from '../../store/pool-store.js';
import type { Contribution, Evaluation } from '../types.js';
import type { Span, SpanProblem } from './window-span.js';
import { round3 } from '../rounding.js';

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

export type WindowProblem = SpanProblem | 'unreadable';

export function spanReason(problem: WindowProblem, what: string): string {
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

/** Why no worker could contribute: none reports `what` at all, or some do but not over two samples yet. */
export function noUsableWorker(problems: readonly WindowProblem[], what: string): string {
  return problems.every((p) => p === 'missing') ? `no fresh worker reports ${what}` : `no fresh worker has ${what} over two samples yet`;
}

/**
 * Zero for an idle fleet (every fresh worker reports 0 waiting and 0 running), else unavailable:
 * with requests in flight, "nothing observed" does not mean "no latency".
 */
export function idleOrUnknown(
  workers: readonly FreshWorker[],
  nothing: string,
  contributions: Contribution[],
  readyWorkers: number,
  details: Record<string, unknown>,
): Evaluation {
  let busy = 0;
  let unknown = 0;
  for (const { sample } of workers) {
    if (sample.waiting === undefined || sample.running === undefined) unknown += 1;
    else busy += sample.waiting + sample.running;
  }
  if (busy === 0 && unknown === 0) {
    return {
      ok: true,
      value: 0,
      readyWorkers,
      contributions,
      details: { ...details, idle: true, note: `${nothing}; the fleet is idle (nothing waiting or running)` },
    };
  }
  const why = busy > 0 ? `while ${busy} requests are waiting or running` : `and ${unknown} workers do not report their waiting and running requests`;
  return { ok: false, reason: `${nothing} ${why}: the value is unknown, not 0`, contributions };
}
