/**
 * What `simulate` reports per strategy (report.json's keys) and the comparison table (report.md).
 * Latencies are exact, from every request's own times, not from histograms.
 */
import type { Scenario } from './scenario.js';
import type { ScaleEvent, StrategyResult, TimelinePoint } from './simulator.js';
import type { Workload } from './workload.js';

export interface StrategyReport {
  readonly name: string;
  readonly requests: {
    readonly arrived: number;
    readonly completed: number;
    readonly unfinished: number;
    readonly rejected: number;
    readonly rejectedBy: { readonly tooLong: number; readonly noReadyReplica: number; readonly abortedOnScaleDown: number };
  };
  readonly peakReplicas: number;
  readonly avgReplicas: number;
  readonly gpuHours: number;
  readonly wastedGpuHours: number;
  readonly ttftP50: number | null;
  readonly ttftP95: number | null;
  readonly ttftP99: number | null;
  readonly itlP95: number | null;
  readonly e2eP50: number | null;
  readonly e2eP95: number | null;
  readonly sloAttainment: number;
  readonly scaleEvents: number;
  readonly scaleHistory: readonly ScaleEvent[];
  readonly preemptions: number;
  /** L (mean requests in the system, from the timeline), λ (arrivals per second) and W (mean time in the system, from the requests). */
  readonly littlesLaw: { readonly L: number; readonly lambda: number; readonly W: number; readonly lOverLambdaW: number | null };
  readonly timeline: readonly TimelinePoint[];
}

export interface SimulationReport {
  readonly scenario: {
    readonly workload: string;
    readonly requests: number;
    readonly durationSeconds: number;
    readonly slo: { readonly ttft: number; readonly itl: number };
    readonly startupSeconds: number;
    readonly routing: string;
    readonly skew: number;
    readonly gpusPerReplica: number;
  };
  readonly strategies: readonly StrategyReport[];
}

const r = (x: number, digits = 4): number => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

/** Nearest-rank quantile of an ascending array. */
function quantile(sorted: Float64Array, q: number): number | null {
  if (sorted.length === 0) return null;
  return r(sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number);
}

export function strategyReport(result: StrategyResult, scenario: Scenario): StrategyReport {
  const completed = result.outcomes.filter((o) => o.finishedAt >= 0);
  const ttft = Float64Array.from(completed, (o) => o.firstTokenAt - o.spec.arrival).sort();
  const e2e = Float64Array.from(completed, (o) => o.finishedAt - o.spec.arrival).sort();
  // ITL per request: its mean time between output tokens (TPOT), for requests with more than one.
  const multi = completed.filter((o) => o.spec.outputTokens > 1);
  const itl = Float64Array.from(multi, (o) => (o.finishedAt - o.firstTokenAt) / (o.spec.outputTokens - 1)).sort();
  const { ttft: ttftSlo, itl: itlSlo } = scenario.slo;
  let met = 0;
  for (const o of completed) {
    const meanItl = o.spec.outputTokens > 1 ? (o.finishedAt - o.firstTokenAt) / (o.spec.outputTokens - 1) : 0;
    if (o.firstTokenAt - o.spec.arrival <= ttftSlo && meanItl <= itlSlo) met++;
  }
  const arrived = result.outcomes.length;
  const rejected = result.rejected.tooLong + result.rejected.noReadyReplica + result.rejected.abortedOnScaleDown;
  const gpus = scenario.fleet.gpusPerReplica;

  // Little's law: L from the timeline's gauges; W from each request's time in the system up to the end.
  let inSystemSeconds = 0;
  for (const o of result.outcomes) {
    if (o.finishedAt >= 0) inSystemSeconds += o.finishedAt - o.spec.arrival;
    else if (o.finishedAt === -1) inSystemSeconds += result.duration - o.spec.arrival;
  }
  const points = result.timeline;
  const L = points.length > 0 ? points.reduce((s, p) => s + p.queue + p.running, 0) / points.length : 0;
  const lambda = arrived / result.duration;
  const W = arrived > 0 ? inSystemSeconds / arrived : 0;

  return {
    name: result.name,
    requests: { arrived, completed: completed.length, unfinished: result.unfinished, rejected, rejectedBy: result.rejected },
    peakReplicas: result.peakReplicas,
    avgReplicas: r(result.replicaSeconds / result.duration, 3),
    gpuHours: r((result.podSeconds * gpus) / 3600),
    wastedGpuHours: r(((result.startingSeconds + result.idleSeconds) * gpus) / 3600),
    ttftP50: quantile(ttft, 0.5),
    ttftP95: quantile(ttft, 0.95),
    ttftP99: quantile(ttft, 0.99),
    itlP95: quantile(itl, 0.95),
    e2eP50: quantile(e2e, 0.5),
    e2eP95: quantile(e2e, 0.95),
    sloAttainment: arrived > 0 ? r(met / arrived) : 0,
    scaleEvents: result.scaleEvents.length,
    scaleHistory: result.scaleEvents,
    preemptions: result.preemptions,
    littlesLaw: { L: r(L), lambda: r(lambda), W: r(W), lOverLambdaW: lambda * W > 0 ? r(L / (lambda * W)) : null },
    timeline: result.timeline.map((p) => ({
      ...p,
      t: r(p.t, 3),
      triggers: Object.fromEntries(Object.entries(p.triggers).map(([k, v]) => [k, v === null ? null : r(v)])),
      kvUsage: p.kvUsage === null ? null : r(p.kvUsage),
      ttftP95: p.ttftP95 === null ? null : r(p.ttftP95),
      arrivalRate: r(p.arrivalRate),
    })),
  };
}

export function simulationReport(results: readonly StrategyResult[], scenario: Scenario, workload: Workload): SimulationReport {
  const f = scenario.fleet;
  return {
    scenario: {
      workload: workload.description,
      requests: workload.requests.length,
      durationSeconds: r(workload.duration, 3),
      slo: scenario.slo,
      startupSeconds: f.startupSeconds,
      routing: f.routing,
      skew: f.skew,
      gpusPerReplica: f.gpusPerReplica,
    },
    strategies: results.map((res) => strategyReport(res, scenario)),
  };
}

const s = (x: number | null, unit = 's'): string => (x === null ? '–' : `${x < 10 ? r(x, 3) : r(x, 1)} ${unit}`);

/** The comparison table, one row per strategy. */
export function markdownTable(report: SimulationReport): string {
  const header =
    '| strategy | peak replicas | avg replicas | GPU-hours | wasted GPU-hours | TTFT p50 | TTFT p95 | TTFT p99 | ITL p95 | SLO attainment | ' +
    'completed / unfinished / rejected | scale events |';
  const rows = report.strategies.map(
    (x) =>
      `| ${x.name} | ${x.peakReplicas} | ${r(x.avgReplicas, 2)} | ${r(x.gpuHours, 2)} | ${r(x.wastedGpuHours, 2)} | ${s(x.ttftP50)} | ${s(x.ttftP95)} | ` +
      `${s(x.ttftP99)} | ${x.itlP95 === null ? '–' : `${r(x.itlP95 * 1000, 1)} ms`} | ${r(x.sloAttainment * 100, 1)} % | ` +
      `${x.requests.completed} / ${x.requests.unfinished} / ${x.requests.rejected} | ${x.scaleEvents} |`,
  );
  return [header, `|${'---|'.repeat(12)}`, ...rows].join('\n');
}

export function markdownReport(report: SimulationReport): string {
  const sc = report.scenario;
  return [
    '# Simulation report',
    '',
    `Workload: ${sc.workload}, ${sc.requests} requests over ${r(sc.durationSeconds / 60, 1)} min. SLO: TTFT ≤ ${sc.slo.ttft} s and ITL ≤ ` +
      `${r(sc.slo.itl * 1000, 1)} ms per request. Replicas serve ${sc.startupSeconds} s after they are created; routing ${sc.routing}` +
      `${sc.skew > 0 ? `, ${r(sc.skew * 100, 1)} % of requests to one hot replica` : ''}.`,
    '',
    markdownTable(report),
    '',
    'GPU-hours count every pod from creation to exit (one GPU per replica unless `fleet.gpusPerReplica` says otherwise); wasted GPU-hours are those ' +
      'of pods starting up or ready with nothing to do. ITL is each request’s mean time between output tokens. SLO attainment is the share of arrived ' +
      'requests that completed within both SLOs.',
    '',
  ].join('\n');
}
