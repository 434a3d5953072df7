/**
 * `keda-llm-scaler simulate SCENARIO.yaml --output-dir DIR`: replays a workload against every
 * strategy of the scenario in virtual time, with the scaler's own signals and policies inside
 * (src/simulation/). Bad input exits 2 naming the key; a progress bar goes to stderr when it is a
 * terminal.
 */
import path from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import { Command } from 'commander';
import { markdownTable } from '../simulation/report.js';
import { runScenarioFile, writeReports } from '../simulation/run.js';
import { ScenarioError } from '../simulation/scenario.js';

interface SimulateOptions {
  outputDir: string;
  only?: string;
  progress: boolean;
}

export function simulateCommand(): Command {
  return new Command('simulate')
    .description('replay a workload against every strategy of a scenario (the real signals and policies, a KEDA + HPA model, virtual time)')
    .argument('<scenario>', 'scenario YAML (workload, fleet, keda, hpa, slo, strategies)')
    .requiredOption('--output-dir <dir>', 'where report.json, report.md, report.html and report.png go')
    .option('--only <names>', 'run only these strategies (comma-separated names)')
    .option('--no-progress', 'no progress bar, even on a terminal')
    .action(async (file: string, options: SimulateOptions) => {
      const bar =
        options.progress && process.stderr.isTTY
          ? new SingleBar({ stream: process.stderr, format: ' {bar} {percentage}% | {strategy}', hideCursor: true }, Presets.shades_classic)
          : undefined;
      bar?.start(100, 0, { strategy: '' });
      let run;
      try {
        run = await runScenarioFile(file, {
          only: options.only?.split(',').map((s) => s.trim()),
          progress: bar ? (i, n, name, f) => bar.update(Math.floor(((i + f) / n) * 100), { strategy: `${name} (${i + 1}/${n})` }) : undefined,
        });
      } catch (error) {
        bar?.stop();
        if (error instanceof ScenarioError) {
          process.stderr.write(`keda-llm-scaler simulate: ${error.message}\n`);
          process.exit(2);
        }
        throw error;
      }
      bar?.stop();
      if (run.results.length === 0) {
        process.stderr.write(`keda-llm-scaler simulate: --only ${options.only}: no strategy of that name\n`);
        process.exit(2);
      }
      const written = await writeReports(run, options.outputDir, `Simulation: ${path.basename(file)}`);
      const t = run.timings;
      process.stdout.write(`${markdownTable(run.report)}\n\n`);
      process.stdout.write(
        `simulated ${t.requests} requests (${run.results.length} strategies × ${run.report.scenario.requests}) in ${t.wallSeconds.toFixed(2)} s: ` +
          `${Math.round(t.requests / t.wallSeconds)} requests/s, ${Math.round(t.events / t.wallSeconds)} events/s\n`,
      );
      process.stdout.write(`wrote ${written.join(', ')}\n`);
    });
}
