/**
 * Readers for trigger-metadata values shared by signals and policies: each returns the default
 * when the key is absent or empty, and throws a MetadataError naming the key and what is accepted.
 */
import { formatDuration, parseDuration } from '../config/duration.js';
import { MetadataError } from './metadata-error.js';

export function parseNumberKey(values: ReadonlyMap<string, string>, key: string, fallback: number, expected: string, ok: (n: number) => boolean): number {
  const text = values.get(key);
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value)) throw new MetadataError(key, `'${text}' is not a number; expected ${expected}`);
  if (!ok(value)) throw new MetadataError(key, `'${text}' is out of range; expected ${expected}`);
  return value;
}

export function optionalNumberKey(values: ReadonlyMap<string, string>, key: string, expected: string, ok: (n: number) => boolean): number | undefined {
  const text = values.get(key);
  if (text === undefined || text === '') return undefined;
  return parseNumberKey(values, key, Number.NaN, expected, ok);
}

/** A duration between `minMs` and `maxMs` (e.g. `30s`, `2m`, bare seconds). */
export function parseDurationKey(values: ReadonlyMap<string, string>, key: string, fallbackMs: number, range: { minMs: number; maxMs: number }): number {
  const text = values.get(key);
  if (text === undefined || text === '') return fallbackMs;
  const expected =
    `expected a duration from ${formatDuration(range.minMs)} to ${formatDuration(range.maxMs)} such as 30s or 2m (default ` + `${formatDuration(fallbackMs)})`;
  const ms = parseDuration(text);
  if (ms === undefined) throw new MetadataError(key, `'${text}' is not a duration; ${expected}`);
  if (ms < range.minMs || ms > range.maxMs) throw new MetadataError(key, `'${text}' is out of range; ${expected}`);
  return ms;
}

/** One of a fixed set of words, case-insensitive. */
export function parseChoiceKey<T extends string>(values: ReadonlyMap<string, string>, key: string, choices: readonly T[], fallback: T): T {
  const text = values.get(key);
  if (text === undefined || text === '') return fallback;
  const found = choices.find((c) => c === text.toLowerCase());
  if (!found) throw new MetadataError(key, `'${text}' is not accepted; expected ${choices.join(', ')} (default ${fallback})`);
  return found;
}
