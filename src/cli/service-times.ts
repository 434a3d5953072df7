/**
 * `keda-llm-scaler service-times`: the observed service times `plan` reads, from a running
 * scaler's `/api/v1/service-times` (p50/p95/count of end-to-end latency per pool over a window):
 *
 *   keda-llm-scaler service-times --http scaler:8080 --classes sentence=explainer-sentence,token=explainer-token \
 *     --window 10m --output service_times.json
 */
import { writeFile } from 'node:fs/promises';
import { Command } from 'commander';
import { parseDuration } from '../config/duration.js';
import { PLAN_CLASSES, serviceTimesFile, type PlanClass, type ServiceTimes } from '../planning/service-times-file.js';

interface ServiceTimesOptions {
  http: string;
  classes: string;
  window: string;
  output?: string;
  kafkaPartitions?: string;
  timeout: string;
}

class UsageError extends Error {}

function parseClasses(text: string): Record<PlanClass, string> {
  const out: Partial<Record<PlanClass, string>> = {};
  for (const pair of text.split(',').map((p) => p.trim())) {
    const at = pair.indexOf('=');
    const name = pair.slice(0, at);
    const pool = pair.slice(at + 1);
    if (at <= 0 || pool === '') throw new UsageError(`--classes: '${pair}' is not class=POOL (e.g. sentence=explainer-sentence)`);
    if (!(PLAN_CLASSES as readonly string[]).includes(name))
      throw new UsageError(`--classes: unknown class '${name}'; plan's classes are ${PLAN_CLASSES.join(', ')}`);
    if (out[name as PlanClass] !== undefined) throw new UsageError(`--classes: class '${name}' is given twice`);
    out[name as PlanClass] = pool;
  }
  for (const c of PLAN_CLASSES)
    if (out[c] === undefined) throw new UsageError(`--classes: class '${c}' is missing; give ${PLAN_CLASSES.map((k) => `${k}=POOL`).join(',')}`);
  return out as Record<PlanClass, string>;
}

function baseUrl(http: string): string {
  return /^https?:\/\//.test(http) ? http.replace(/\/+$/, '') : `http://${http}`;
}

interface Answer {
  p50?: number;
  p95?: number;
  count?: number;
  error?: string;
  effectiveWindowSeconds?: { min: number; max: number };
}

async function fetchClass(base: string, pool: string, window: string, timeoutMs: number): Promise<Answer> {
  const url = `${base}/api/v1/service-times?pool=${encodeURIComponent(pool)}&window=${encodeURIComponent(window)}`;
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    const cause = (error as { cause?: { message?: string } }).cause?.message;
    throw new Error(`${url} is unreachable: ${(error as Error).message}${cause ? ` (${cause})` : ''}`);
  }
  const body = (await response.json().catch(() => ({}))) as Answer;
  if (!response.ok) throw new Error(`pool '${pool}': ${body.error ?? `HTTP ${response.status}`} (${url})`);
  return body;
}

export async function collectServiceTimes(options: ServiceTimesOptions): Promise<{ file: ServiceTimes; warnings: string[] }> {
  const classes = parseClasses(options.classes);
  const windowMs = parseDuration(options.window);
  if (windowMs === undefined || windowMs < 1000 || windowMs > 3_600_000)
    throw new UsageError(`--window: '${options.window}' must be a duration from 1s to 1h, e.g. 10m`);
  let partitions: number | undefined;
  if (options.kafkaPartitions !== undefined) {
    partitions = Number(options.kafkaPartitions);
    if (!Number.isInteger(partitions) || partitions < 1) throw new UsageError(`--kafka-partitions: '${options.kafkaPartitions}' must be a whole number ≥ 1`);
  }
  const timeoutMs = Number(options.timeout);
  const base = baseUrl(options.http);
  const warnings: string[] = [];
  const times: Partial<Record<PlanClass, { p50: number; p95: number; count: number }>> = {};
  for (const c of PLAN_CLASSES) {
    const answer = await fetchClass(base, classes[c], options.window, timeoutMs);
    if (typeof answer.p50 !== 'number' || typeof answer.p95 !== 'number' || typeof answer.count !== 'number') {
      throw new Error(`pool '${classes[c]}': the answer has no p50, p95 and count`);
    }
    times[c] = { p50: answer.p50, p95: answer.p95, count: answer.count };
    const covered = answer.effectiveWindowSeconds?.max;
    if (covered !== undefined && covered * 1000 < windowMs * 0.9) {
      warnings.push(
        `class ${c} (pool '${classes[c]}'): the scaler's history covers ${covered} s of the ${options.window} window; ask again later for the full window`,
      );
    }
  }
  const file = serviceTimesFile.parse({
    ...times,
    kafka: partitions === undefined ? { enabled: false } : { enabled: true, partitions },
    observed: { http: options.http, window: options.window, at: new Date().toISOString(), pools: classes },
  });
  return { file, warnings };
}

export function serviceTimesCommand(): Command {
  return new Command('service-times')
    .description("write the observed service times `plan` reads, from a running scaler's /api/v1/service-times")
    .requiredOption('--http <host:port>', "the scaler's HTTP address")
    .requiredOption('--classes <list>', 'the pool of each class, e.g. sentence=explainer-sentence,token=explainer-token')
    .option('--window <duration>', 'how far back to look (1s to 1h)', '10m')
    .option('--output <file>', 'where to write the file (default: print it)')
    .option('--kafka-partitions <n>', 'work is dispatched over Kafka with this many partitions (kafka.enabled)')
    .option('--timeout <ms>', 'deadline per request in milliseconds', '5000')
    .action(async (options: ServiceTimesOptions) => {
      let result;
      try {
        result = await collectServiceTimes(options);
      } catch (error) {
        process.stderr.write(`keda-llm-scaler service-times: ${(error as Error).message}\n`);
        process.exit(error instanceof UsageError ? 2 : 1);
      }
      for (const warning of result.warnings) process.stderr.write(`keda-llm-scaler service-times: warning: ${warning}\n`);
      const json = `${JSON.stringify(result.file, null, 2)}\n`;
      if (options.output) await writeFile(options.output, json);
      else process.stdout.write(json);
    });
}
