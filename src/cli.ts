#!/usr/bin/env node
import { Command } from 'commander';
import { demoCommand } from './cli/demo.js';
import { planCommand } from './cli/plan.js';
import { probeCommand } from './cli/probe.js';
import { serveCommand } from './cli/serve.js';
import { serviceTimesCommand } from './cli/service-times.js';
import { simulateCommand } from './cli/simulate.js';

const program = new Command('keda-llm-scaler')
  .description('KEDA external scaler for LLM inference workers (vLLM, SGLang, TensorRT-LLM)')
  .addCommand(serveCommand())
  .addCommand(probeCommand())
  .addCommand(demoCommand())
  .addCommand(planCommand())
  .addCommand(serviceTimesCommand())
  .addCommand(simulateCommand());

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`keda-llm-scaler: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
