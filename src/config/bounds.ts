/**
 * Bounds on what workers, clients and configuration can make the scaler hold or echo. Each is a
 * documented limit (README, "Bounds"): past it, input is refused with a cause naming the bound,
 * never silently truncated into a different answer.
 */

/**
 * `scrape.maxSeries`: sample lines read from one scrape. vLLM's full exposition is a few hundred
 * (its histograms included); this leaves room for many LoRA adapters and engines.
 */
export const DEFAULT_MAX_SERIES = 20_000;

/** `maxWorkers` of a pool when its configuration does not say. */
export const DEFAULT_MAX_WORKERS = 1000;

/** Echoed keys and values in error messages are cut to this many characters, then `…`. */
export const ECHO_LIMIT = 100;

/** Cuts `text` to ECHO_LIMIT characters (or `limit`) and marks the cut with `…`, so an error never carries a client's whole input back. */
export function clipEcho(text: string, limit = ECHO_LIMIT): string {
  if (text.length <= limit) return text;
  return `${text.slice(0, limit)}… (${text.length} characters)`;
}
