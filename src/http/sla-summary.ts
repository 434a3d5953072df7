/**
 * The status page's sentences for a `policy: sla` answer, from the plan's explanation
 * (triggers/sla-planner.ts): which role, both answers, what was observed and forecast, and the
 * corrections and bounds that shaped it.
 */
import { round3 } from '../signals/rounding.js';

export interface SlaDetails {
  readonly role: 'prefill' | 'decode';
  readonly decision?: string;
  readonly answers?: { readonly prefill: number; readonly decode: number };
  readonly observed?: { readonly requests?: number; readonly isl?: number; readonly osl?: number };
  readonly forecasts?: { readonly requests?: { readonly value?: number; readonly method?: string } };
  readonly corrections?: { readonly applied?: boolean; readonly prefill?: number; readonly decode?: number; readonly notes?: readonly string[] };
  readonly raw?: { readonly prefill?: number; readonly decode?: number };
  readonly bounds?: { readonly steps?: readonly string[] };
  readonly notes?: readonly string[];
}

const num = (x: number | undefined): string => (x === undefined ? '?' : String(round3(x)));

export function summarizeSla(value: number, d: SlaDetails): { headline: string; reasons: string[] } {
  if (!d.answers) return { headline: `${d.role}: ${value} replicas, ${d.decision ?? 'no plan yet'}`, reasons: [] };
  const both = `prefill ${d.answers.prefill}, decode ${d.answers.decode}`;
  if (d.decision) return { headline: `${d.role}: ${value} replicas (plan ${both}): ${d.decision}`, reasons: [] };
  const o = d.observed ?? {};
  const reasons = [
    `Observed in the last interval: ${num(o.requests)} requests finished, mean ISL ${num(o.isl)}, OSL ${num(o.osl)}; ` +
      `forecast ${num(d.forecasts?.requests?.value)} requests (${d.forecasts?.requests?.method ?? '?'}).`,
    d.corrections?.applied ? `Correction factors: prefill ${num(d.corrections.prefill)}, decode ${num(d.corrections.decode)}.` : 'Correction factors are off.',
    `Before bounds: prefill ${num(d.raw?.prefill)}, decode ${num(d.raw?.decode)}.`,
    ...(d.bounds?.steps ?? []).map((s) => `${s}.`),
    ...(d.corrections?.notes ?? []).map((s) => `${s}.`),
    ...(d.notes ?? []).map((s) => `${s}.`),
  ];
  return { headline: `${d.role}: ${value} replicas from the SLA plan (${both})`, reasons };
}
