/**
 * Tolerance bands: the replica count holds while desired / current stays within the band. HPA
 * holds while |metric / target − 1| ≤ 0.1 (kubernetes/kubernetes
 * `pkg/controller/podautoscaler/replica_calculator.go`); AIBrix's APA scales up only when the ratio
 * exceeds 1 + scaleUpTolerance and down only below 1 − scaleDownTolerance
 * (vllm-project/aibrix `pkg/controller/podautoscaler/algorithm/apa.go`).
 */
import { MetadataError } from '../signals/metadata-error.js';
import { optionalNumberKey } from '../signals/metadata-values.js';

export const TOLERANCE_KEYS = ['tolerance', 'scaleUpTolerance', 'scaleDownTolerance'] as const;

export interface Tolerance {
  readonly up: number;
  readonly down: number;
}

export const NO_TOLERANCE: Tolerance = { up: 0, down: 0 };

export function parseTolerance(values: ReadonlyMap<string, string>): Tolerance {
  const expected = 'a ratio ≥ 0 and < 1, e.g. 0.1 for ±10 %';
  const ok = (n: number) => n >= 0 && n < 1;
  const both = optionalNumberKey(values, 'tolerance', expected, ok);
  const up = optionalNumberKey(values, 'scaleUpTolerance', expected, ok);
  const down = optionalNumberKey(values, 'scaleDownTolerance', expected, ok);
  if (both !== undefined && (up !== undefined || down !== undefined)) {
    throw new MetadataError(
      up !== undefined ? 'scaleUpTolerance' : 'scaleDownTolerance',
      `give either tolerance or scaleUpTolerance/scaleDownTolerance, not both`,
    );
  }
  return { up: up ?? both ?? 0, down: down ?? both ?? 0 };
}

export const toleranceKey = (t: Tolerance): string => `${t.up}/${t.down}`;

export interface ToleranceResult {
  readonly value: number;
  /** Set when the band held the count. */
  readonly rule?: string;
}

/** Holds `current` while 1 − down ≤ desired / current ≤ 1 + up (0 current: no band, any change goes). */
export function applyTolerance(desired: number, current: number, t: Tolerance): ToleranceResult {
  if (current <= 0 || desired === current) return { value: desired };
  const ratio = desired / current;
  const r = Math.round(ratio * 1000) / 1000;
  if (desired > current && ratio <= 1 + t.up) {
    return { value: current, rule: `desired ${desired} / current ${current} = ${r} ≤ 1 + scaleUpTolerance ${t.up}: hold at ${current}` };
  }
  if (desired < current && ratio >= 1 - t.down) {
    return { value: current, rule: `desired ${desired} / current ${current} = ${r} ≥ 1 − scaleDownTolerance ${t.down}: hold at ${current}` };
  }
  return { value: desired };
}
