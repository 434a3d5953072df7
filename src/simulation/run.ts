/**
 * `simulate SCENARIO --output-dir DIR`: loads the scenario and its workload, resolves every
 * strategy's triggers first (a bad key stops everything before any work), runs each strategy in
 * turn and writes report.json, report.md, report.html and report.png.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { chartsSvg } from './charts.js';
import { renderPng, reportHtml } from './render.js';
import { markdownReport, simulationReport, type SimulationReport } from './report.js';
import { loadScenario, type Scenario } from './scenario.js';
import { simulateStrategy, VirtualClock, type StrategyResult } from './simulator.js';
import { prepareStrategy } from './strategy.js';
import { loadWorkload, type Workload } from './workload.js';

export interface RunTimings {
  readonly wallSeconds: number;
  readonly requests: number;
  readonly events: number;
  readonly perStrategy: readonly { readonly name: string; readonly wallSeconds: number; readonly events: number }[];
}

export interface SimulationRun {
  readonly report: SimulationReport;
  readonly results: readonly StrategyResult[];
  readonly timings: RunTimings;
}

export interface RunOptions {
  /** Only these strategies (by name). */
  readonly only?: readonly string[];
  /** Called with (strategy index, strategy count, name, fraction of its virtual time done). */
  readonly progress?: (index: number, count: number, name: string, fraction: number) => void;
}

/** Runs every strategy of a loaded scenario over its workload. */
export function simulateScenario(scenario: Scenario, workload: Workload, options: RunOptions = {}): SimulationRun {
  const indices = scenario.strategies.map((_, i) => i).filter((i) => options.only === undefined || options.only.includes(scenario.strategies[i]!.name));
  const clocks = indices.map(() => new VirtualClock());
  const prepared = indices.map((i, k) => prepareStrategy(scenario, i, (clocks[k] as VirtualClock).nowMs));
  const started = performance.now();
  const results: StrategyResult[] = [];
  const perStrategy: { name: string; wallSeconds: number; events: number }[] = [];
  prepared.forEach((strategy, k) => {
    const t0 = performance.now();
    const result = simulateStrategy(scenario, workload, strategy, clocks[k] as VirtualClock, (f) => options.progress?.(k, prepared.length, strategy.name, f));
    results.push(result);
    perStrategy.push({ name: strategy.name, wallSeconds: (performance.now() - t0) / 1000, events: result.events });
  });
  const wallSeconds = (performance.now() - started) / 1000;
  return {
    report: simulationReport(results, scenario, workload),
    results,
    timings: { wallSeconds, requests: workload.requests.length * results.length, events: results.reduce((s, r) => s + r.events, 0), perStrategy },
  };
}

export async function runScenarioFile(file: string, options: RunOptions = {}): Promise<SimulationRun> {
  const { scenario, dir } = await loadScenario(file);
  const workload = await loadWorkload(scenario, dir);
  return simulateScenario(scenario, workload, options);
}

/** Writes the four report files into `outputDir` (created if missing). */
export async function writeReports(run: SimulationRun, outputDir: string, title: string): Promise<string[]> {
  await mkdir(outputDir, { recursive: true });
  const svg = chartsSvg(run.report);
  const files: [string, string | Buffer][] = [
    ['report.json', `${JSON.stringify(run.report, null, 2)}\n`],
    ['report.md', markdownReport(run.report)],
    ['report.html', reportHtml(run.report, title)],
    ['report.png', renderPng(svg)],
  ];
  for (const [name, content] of files) await writeFile(path.join(outputDir, name), content);
  return files.map(([name]) => path.join(outputDir, name));
}
