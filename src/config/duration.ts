/**
 * Durations are written as `500ms`, `1s`, `1.5s`, `2m`, `1h`, or as a bare number of seconds
 * (the form Dynamo's metrics-keda flags used, e.g. `--check-interval 5`).
 */
const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;

/** Returns milliseconds, or undefined when the text is not a duration. */
export function parseDuration(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) && text >= 0 ? text * 1000 : undefined;
  const match = DURATION.exec(text.trim());
  if (!match) return undefined;
  const amount = Number(match[1]);
  const unit = UNIT_MS[match[2] ?? 's'] ?? 1000;
  const ms = amount * unit;
  return Number.isFinite(ms) ? ms : undefined;
}

/** `1h`, `90s`, `250ms`: whole hours as hours, else seconds, else milliseconds. */
export function formatDuration(ms: number): string {
  if (ms > 0 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
