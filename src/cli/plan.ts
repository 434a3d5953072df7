/**
 * `keda-llm-scaler plan`: KEDA's backlogSecondsTarget and min/max replicas from observed service
 * times (src/planning/plan.ts has the model). Seed 000's command line works as it is:
 *
 *   keda-llm-scaler plan --backlog-seconds-slo 1.0,3.0 --observed-service-times-json service_times.json \
 *     --target-rps 500 --attach-rate 0.30 --token-mix 0.10 --gpu-throughput-sentence 5.0 --gpu-throughput-token 0.6 \
 *     --output-json keda_thresholds.json --output-md keda_thresholds.md
 *
 * Bad input exits 2 with a message naming the flag, the file or the field.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { Command } from 'commander';
import { stringify as toYaml } from 'yaml';
import { makePlan, PlanInputError, type Plan } from '../planning/plan.js';
import { planMarkdown } from '../planning/plan-report.js';
import { parseServiceTimes, ServiceTimesError } from '../planning/service-times-file.js';

interface PlanOptions {
  backlogSecondsSlo: string;
  observedServiceTimesJson: string;
  targetRps: string;
  attachRate: string;
  tokenMix: string;
  gpuThroughputSentence: string;
  gpuThroughputToken: string;
  outputJson?: string;
  outputMd?: string;
  sloQuantile: string;
  peakFactor: string;
  outputValues?: string;
  helmKey: string;
  pool: string;
  scalerAddress: string;
}

function number(flag: string, text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) throw new PlanInputError(`${flag}: '${text}' is not a number`);
  return value;
}

function slos(text: string): { sentence: number; token: number } {
  const parts = text.split(',').map((p) => p.trim());
  if (parts.length !== 2) throw new PlanInputError(`--backlog-seconds-slo: '${text}' must be two numbers of seconds, sentence,token (e.g. 1.0,3.0)`);
  return { sentence: number('--backlog-seconds-slo (sentence)', parts[0] as string), token: number('--backlog-seconds-slo (token)', parts[1] as string) };
}

async function readServiceTimes(file: string) {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ServiceTimesError(`--observed-service-times-json: cannot read ${file}: ${(error as Error).message}`);
  }
  return parseServiceTimes(text, file);
}

export async function runPlan(options: PlanOptions): Promise<Plan> {
  const serviceTimes = await readServiceTimes(options.observedServiceTimesJson);
  return makePlan({
    sloSeconds: slos(options.backlogSecondsSlo),
    serviceTimes,
    serviceTimesFile: options.observedServiceTimesJson,
    targetRps: number('--target-rps', options.targetRps),
    attachRate: number('--attach-rate', options.attachRate),
    tokenMix: number('--token-mix', options.tokenMix),
    gpuThroughput: {
      sentence: number('--gpu-throughput-sentence', options.gpuThroughputSentence),
      token: number('--gpu-throughput-token', options.gpuThroughputToken),
    },
    sloQuantile: number('--slo-quantile', options.sloQuantile),
    peakFactor: number('--peak-factor', options.peakFactor),
    helmKey: options.helmKey,
    pool: options.pool,
    scalerAddress: options.scalerAddress,
  });
}

export function planCommand(): Command {
  return new Command('plan')
    .description('derive backlogSecondsTarget and min/max replicas from observed service times (M/M/n per class)')
    .requiredOption('--backlog-seconds-slo <sentence,token>', 'backlog-seconds SLO per class, e.g. 1.0,3.0')
    .requiredOption('--observed-service-times-json <file>', 'observed service times (p50/p95/count per class; see docs/service-times.schema.json)')
    .requiredOption('--target-rps <n>', 'chat requests per second')
    .requiredOption('--attach-rate <share>', 'share of chat requests that ask for an explanation (0..1)')
    .requiredOption('--token-mix <share>', 'share of explanations that are token-level (0..1)')
    .requiredOption('--gpu-throughput-sentence <n>', 'sentence explanations per second per GPU (one replica)')
    .requiredOption('--gpu-throughput-token <n>', 'token explanations per second per GPU (one replica)')
    .option('--output-json <file>', 'write the plan as JSON (default: print it)')
    .option('--output-md <file>', 'write the plan as a Markdown table with its assumptions')
    .option('--slo-quantile <q>', 'share of requests that must start within SLO − p95', '0.95')
    .option('--peak-factor <x>', 'peak rate over the mean, for maxReplicaCount', '2')
    .option('--output-values <file>', 'write a Helm values snippet (under --helm-key)')
    .option('--helm-key <path>', 'dotted path of the values in the Helm values file', 'explainer.keda')
    .option('--pool <name>', 'the pool of the generated ScaledObject trigger', 'default')
    .option('--scaler-address <host:port>', 'scalerAddress of the generated trigger', 'keda-llm-scaler.keda.svc:9090')
    .action(async (options: PlanOptions) => {
      let plan: Plan;
      try {
        plan = await runPlan(options);
      } catch (error) {
        if (error instanceof PlanInputError || error instanceof ServiceTimesError || error instanceof RangeError) {
          process.stderr.write(`keda-llm-scaler plan: ${error.message}\n`);
          process.exit(2);
        }
        throw error;
      }
      const json = `${JSON.stringify(plan, null, 2)}\n`;
      if (options.outputJson) await writeFile(options.outputJson, json);
      else process.stdout.write(json);
      if (options.outputMd) await writeFile(options.outputMd, planMarkdown(plan));
      if (options.outputValues) await writeFile(options.outputValues, toYaml(plan.helmValues));
      if (options.outputJson) {
        process.stderr.write(
          `backlogSecondsTarget ${targetOf(plan)} s, minReplicaCount ${plan.minReplicaCount}, maxReplicaCount ${plan.maxReplicaCount}` +
            `${plan.kafka ? `, lagThresholdPerPartition ${plan.kafka.lagThresholdPerPartition}` : ''}\n`,
        );
      }
    });
}

const targetOf = (plan: Plan): string => plan.scaledObjectTrigger.metadata['target'] ?? '';
