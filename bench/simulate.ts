/**
 * `simulate` on seed 002's scenario (examples/seed-002.yaml: 80 minutes, 19,200 requests, three
 * strategies with the real store, signals and policies in the loop): wall time, CPU, requests per
 * wall second and events per wall second, against
 *  - the anchor: Dynamo's offline replay simulates 1,000 requests (313.6 s) in 1.3 s of wall time,
 *    ~770 requests per wall second (ai-dynamo/dynamo #7543); the goal is ≥ 2× that (40 s for the
 *    57,600 request-replays);
 *  - a baseline measured in the same run: the same workload through the fleet model alone (a fixed
 *    three-replica fleet: no scrapes, no store, no triggers, no HPA), which shows what the scaler
 *    inside costs per request.
 * Rounds alternate scenario and baseline; the medians are reported.
 *
 * Run alone: node dist-bench/bench/simulate.js [--rounds 3] [--scenario examples/seed-002.yaml]
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fmt, isMain, machineBusySeconds, otherLoadCores, repoRoot, table } from './common.js';
import { simulateScenario } from '../src/simulation/run.js';
import { loadScenario, type Scenario } from '../src/simulation/scenario.js';
import { loadWorkload } from '../src/simulation/workload.js';

/** ai-dynamo/dynamo #7543: 1,000 requests in 1.3 s of wall time. */
export const DYNAMO_REPLAY_REQUESTS_PER_S = 1000 / 1.3;

export interface SimulateBenchOptions {
  scenario: string;
  rounds: number;
}

export interface SimulateMeasurement {
  wallSeconds: number;
  cpuSeconds: number;
  requests: number;
  events: number;
  requestsPerS: number;
  eventsPerS: number;
  otherLoadCores: number;
}

export interface SimulateBenchResult {
  options: SimulateBenchOptions;
  strategies: string[];
  scenario: SimulateMeasurement;
  baseline: SimulateMeasurement;
  perStrategyWallSeconds: Record<string, number>;
  versusDynamoReplay: number;
  scalerCostRatio: number;
  withinGoal: boolean;
}

export function parseSimulateArgs(argv: readonly string[]): SimulateBenchOptions {
  const { values } = parseArgs({ args: [...argv], strict: false, options: { rounds: { type: 'string' }, scenario: { type: 'string' } } });
  return {
    scenario: typeof values.scenario === 'string' ? values.scenario : path.join(repoRoot(), 'examples', 'seed-002.yaml'),
    rounds: typeof values.rounds === 'string' ? Number(values.rounds) : 3,
  };
}

function measure(
  scenario: Scenario,
  workload: Awaited<ReturnType<typeof loadWorkload>>,
): SimulateMeasurement & { perStrategy: { name: string; wallSeconds: number }[] } {
  const busy = machineBusySeconds();
  const cpu = process.cpuUsage();
  const run = simulateScenario(scenario, workload);
  const used = process.cpuUsage(cpu);
  const cpuSeconds = (used.user + used.system) / 1e6;
  const t = run.timings;
  return {
    wallSeconds: t.wallSeconds,
    cpuSeconds,
    requests: t.requests,
    events: t.events,
    requestsPerS: t.requests / t.wallSeconds,
    eventsPerS: t.events / t.wallSeconds,
    otherLoadCores: otherLoadCores(busy, machineBusySeconds(), cpuSeconds, t.wallSeconds),
    perStrategy: t.perStrategy.map((p) => ({ name: p.name, wallSeconds: p.wallSeconds })),
  };
}

function median<T>(items: T[], key: (t: T) => number): T {
  return [...items].sort((a, b) => key(a) - key(b))[Math.floor(items.length / 2)] as T;
}

export async function runSimulateBench(options: SimulateBenchOptions): Promise<SimulateBenchResult> {
  const { scenario, dir } = await loadScenario(options.scenario);
  const workload = await loadWorkload(scenario, dir);
  const count = scenario.strategies.length;
  // The baseline: the fleet model alone, as many times as the scenario has strategies.
  const baselineScenario: Scenario = {
    ...scenario,
    strategies: Array.from({ length: count }, (_, i) => ({ name: `fleet-only-${i + 1}`, fixedReplicas: 3 })),
  };
  console.log(
    `simulate: ${path.relative(process.cwd(), options.scenario)} — ${workload.requests.length} requests × ${count} strategies, ${options.rounds} rounds`,
  );
  measure(scenario, workload); // warm-up
  const runs: ReturnType<typeof measure>[] = [];
  const baselines: ReturnType<typeof measure>[] = [];
  for (let i = 0; i < options.rounds; i++) {
    runs.push(measure(scenario, workload));
    baselines.push(measure(baselineScenario, workload));
  }
  const s = median(runs, (r) => r.wallSeconds);
  const b = median(baselines, (r) => r.wallSeconds);
  const rows = [
    ['scenario (scaler in the loop)', s],
    ['baseline (fleet model alone)', b],
  ].map(([name, m]) => {
    const x = m as SimulateMeasurement;
    return [name as string, fmt(x.wallSeconds, 2), fmt(x.cpuSeconds, 2), fmt(x.requestsPerS, 0), fmt(x.eventsPerS, 0), fmt(x.otherLoadCores, 2)];
  });
  console.log(table(['run', 'wall s', 'CPU s', 'requests/s', 'events/s', 'other load (cores)'], rows));
  console.log(`  per strategy (median round): ${s.perStrategy.map((p) => `${p.name} ${fmt(p.wallSeconds, 2)} s`).join(', ')}`);
  const { perStrategy, ...scenarioMeasurement } = s;
  const { perStrategy: _unused, ...baselineMeasurement } = b;
  void _unused;
  return {
    // Recorded relative to the repository, so a results file names no machine's folders.
    options: { ...options, scenario: path.relative(repoRoot(), options.scenario) },
    strategies: scenario.strategies.map((x) => x.name),
    scenario: scenarioMeasurement,
    baseline: baselineMeasurement,
    perStrategyWallSeconds: Object.fromEntries(perStrategy.map((p) => [p.name, p.wallSeconds])),
    versusDynamoReplay: s.requestsPerS / DYNAMO_REPLAY_REQUESTS_PER_S,
    scalerCostRatio: s.wallSeconds / b.wallSeconds,
    withinGoal: s.wallSeconds < 40,
  };
}

if (isMain(import.meta.url)) {
  runSimulateBench(parseSimulateArgs(process.argv.slice(2))).then(
    (r) => {
      console.log(
        `\n${fmt(r.scenario.requestsPerS, 0)} requests/s = ${fmt(r.versusDynamoReplay, 1)}× Dynamo's offline replay (goal ≥ 2×); ` +
          `${fmt(r.scenario.wallSeconds, 2)} s wall (goal < 40 s); the scaler in the loop costs ${fmt(r.scalerCostRatio, 2)}× the fleet model alone`,
      );
    },
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
