/**
 * Reaction: how long after a worker's load changes does KEDA see it? Three measurements, each a
 * distribution over `changes` changes made at random moments (so at every phase of the check
 * interval), with its baseline taken in the same run:
 *
 * - **GetMetrics**: one worker of a vLLM pool (prometheus_client format, every other number moving
 *   every tick) changes `vllm:num_requests_waiting`; the time until the scaler's GetMetrics answer
 *   changes. Baseline: Prometheus scraping the same workers at the same interval, the time until
 *   an instant query (what KEDA's Prometheus scaler reads) changes.
 * - **StreamIsActive**: a pool at zero load gets load above `activationThreshold`; the time until
 *   the open StreamIsActive stream pushes `true`. Baseline: the same as GetMetrics' (the activation
 *   is read from the same scrape).
 * - **Dynamo over NATS**: a worker publishes an event-plane ActiveLoad with new KV blocks; the time
 *   until GetMetrics changes. Baseline: a bare NATS subscription receiving the same message.
 *
 * The scaler runs in a child process; the workers, the pollers and Prometheus are outside it.
 * Polling adds its own delay: GetMetrics and the NATS path are polled back to back (a round trip
 * is well under a millisecond), Prometheus every 5 ms.
 *
 *   node dist-bench/bench/reaction.js [--changes 100] [--interval-ms 1000] [--workers 8]
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { Packr } from 'msgpackr';
import { connect, type NatsConnection } from 'nats';
import type { GetMetricsRequest, GetMetricsResponse, IsActiveResponse, ScaledObjectRef } from '../src/grpc/messages.js';
import { externalScalerClientConstructor } from '../src/grpc/proto.js';
import { ChildHandle } from './child-handle.js';
import { distribution, ensureBenchProto, fmt, isMain, onPath, readVllmFixture, Samples, table, type Distribution } from './common.js';
import { PrometheusRun, prometheusVersion, startNatsServer } from './services.js';
import { startVllmFleet, type VllmFleet } from './vllm-fleet.js';

export interface ReactionOptions {
  changes: number;
  intervalMs: number;
  /** Workers per HTTP pool (two pools: one for GetMetrics, one for activation). */
  workers: number;
}

export const DEFAULT_REACTION_OPTIONS: ReactionOptions = { changes: 100, intervalMs: 1000, workers: 8 };

export interface ReactionCase {
  name: string;
  /** Milliseconds from the change to the value being visible. */
  ms: Distribution;
  /** Changes never seen within the deadline (3 intervals for scrapes, 1 s for NATS). */
  missed: number;
}

export interface ReactionResult {
  options: ReactionOptions;
  prometheusVersion?: string;
  cases: ReactionCase[];
}

interface ScalerClient extends grpc.Client {
  GetMetrics(request: GetMetricsRequest, callback: (error: grpc.ServiceError | null, response: GetMetricsResponse) => void): void;
  StreamIsActive(request: ScaledObjectRef): grpc.ClientReadableStream<IsActiveResponse>;
}

const WAITING = 'vllm:num_requests_waiting';
const NAMESPACE = 'bench';
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function ref(pool: string, metric: string, extra: Record<string, string> = {}): ScaledObjectRef {
  return { name: `reaction-${pool}`, namespace: 'bench', scalerMetadata: { pool, metric, target: '5', metricName: `reaction-${pool}`, ...extra } };
}

function getMetric(client: ScalerClient, scaledObjectRef: ScaledObjectRef): Promise<number | undefined> {
  return new Promise((resolve) => {
    client.GetMetrics({ scaledObjectRef, metricName: scaledObjectRef.scalerMetadata['metricName'] ?? '' }, (error, response) =>
      resolve(error ? undefined : response.metricValues[0]?.metricValueFloat),
    );
  });
}

/** Polls `read` until it returns something other than `before`; the moment it did, or undefined past the deadline. */
async function firstChange(
  read: () => Promise<number | undefined>,
  before: number | undefined,
  deadline: number,
  pauseMs: number,
): Promise<number | undefined> {
  while (performance.now() < deadline) {
    const value = await read();
    if (value !== undefined && value !== before) return performance.now();
    if (pauseMs > 0) await sleep(pauseMs);
  }
  return undefined;
}

/** Waits until `read` gives the same defined value twice `gapMs` apart, and returns it. */
async function settled(read: () => Promise<number | undefined>, gapMs: number): Promise<number | undefined> {
  let last = await read();
  for (let i = 0; i < 50; i++) {
    await sleep(gapMs);
    const now = await read();
    if (now !== undefined && now === last) return now;
    last = now;
  }
  return last;
}

function summarize(name: string, samples: Samples, missed: number): ReactionCase {
  return { name, ms: distribution(samples), missed };
}

/** GetMetrics against Prometheus: one worker's queue changes, both are polled until they see it. */
async function measureValues(
  options: ReactionOptions,
  fleet: VllmFleet,
  client: ScalerClient,
  prometheus: PrometheusRun | undefined,
  log: (line: string) => void,
): Promise<ReactionCase[]> {
  const valuesRef = ref('values', 'queue_depth');
  const promql = `sum(${WAITING})`;
  const scaler = new Samples(options.changes);
  const baseline = new Samples(options.changes);
  let scalerMissed = 0;
  let baselineMissed = 0;
  let level = 1;
  for (let i = 0; i < options.changes; i++) {
    const before = await settled(() => getMetric(client, valuesRef), options.intervalMs / 4);
    const promBefore = prometheus ? await settled(() => prometheus.queryValue(promql), options.intervalMs / 4) : undefined;
    // Random phase against the collectors' intervals.
    await sleep(Math.random() * options.intervalMs);
    level = level >= 9 ? 1 : level + 1;
    const changedAt = performance.now();
    fleet.pin(0, WAITING, level);
    const deadline = changedAt + 3 * options.intervalMs + 500;
    const [seen, promSeen] = await Promise.all([
      firstChange(() => getMetric(client, valuesRef), before, deadline, 0),
      prometheus ? firstChange(() => prometheus.queryValue(promql), promBefore, deadline, 5) : Promise.resolve(undefined),
    ]);
    if (seen === undefined) scalerMissed += 1;
    else scaler.push(seen - changedAt);
    if (prometheus) {
      if (promSeen === undefined) baselineMissed += 1;
      else baseline.push(promSeen - changedAt);
    }
    if ((i + 1) % 25 === 0) log(`  GetMetrics reaction: ${i + 1}/${options.changes} changes`);
  }
  const cases = [summarize('scaler GetMetrics (HTTP scrape)', scaler, scalerMissed)];
  if (prometheus) cases.push(summarize('Prometheus instant query (same workers)', baseline, baselineMissed));
  return cases;
}

/** StreamIsActive: a pool at zero load gets some; the time until the stream pushes `true`. */
async function measureActivation(options: ReactionOptions, fleet: VllmFleet, client: ScalerClient, log: (line: string) => void): Promise<ReactionCase> {
  const activationRef = ref('activation', 'queue_depth', { activationThreshold: '0.5' });
  const first = options.workers; // the activation pool's workers follow the values pool's in the fleet
  const pushes: number[] = [];
  const call = client.StreamIsActive(activationRef);
  call.on('data', (message: IsActiveResponse) => {
    if (message.result) pushes.push(performance.now());
  });
  call.on('error', () => undefined);
  const samples = new Samples(options.changes);
  let missed = 0;
  try {
    for (let i = 0; i < options.changes; i++) {
      // Back to zero load, and wait until the scaler has seen it (the stream is inactive again).
      fleet.pin(first, WAITING, 0);
      const zeroDeadline = performance.now() + 5 * options.intervalMs;
      while ((await getMetric(client, activationRef)) !== 0 && performance.now() < zeroDeadline) await sleep(5);
      await sleep(20 + Math.random() * options.intervalMs);
      const pushesBefore = pushes.length;
      const changedAt = performance.now();
      fleet.pin(first, WAITING, 4);
      const deadline = changedAt + 3 * options.intervalMs + 500;
      while (pushes.length === pushesBefore && performance.now() < deadline) await sleep(1);
      const pushedAt = pushes[pushesBefore];
      if (pushedAt === undefined) missed += 1;
      else samples.push(pushedAt - changedAt);
      if ((i + 1) % 25 === 0) log(`  StreamIsActive reaction: ${i + 1}/${options.changes} activations`);
    }
  } finally {
    call.cancel();
  }
  return summarize('scaler StreamIsActive push (HTTP scrape)', samples, missed);
}

/** Dynamo's event plane: a worker's ActiveLoad changes; GetMetrics against a bare subscription. */
async function measureNats(options: ReactionOptions, url: string, client: ScalerClient): Promise<ReactionCase[]> {
  const packr = new Packr({ useRecords: false });
  const subject = `namespace.${NAMESPACE}.kv_metrics`;
  const publisher: NatsConnection = await connect({ servers: url, name: 'reaction-publisher' });
  const bare: NatsConnection = await connect({ servers: url, name: 'reaction-bare' });
  let bareAt = 0;
  bare.subscribe(subject, { callback: () => (bareAt = performance.now()) });
  await bare.flush();
  let sequence = 0n;
  const publish = (blocks: number) => {
    sequence += 1n;
    const payload = packr.pack({
      worker_id: 7_000_000_000_000_000_001n,
      dp_rank: 0,
      active_decode_blocks: blocks,
      active_prefill_tokens: 0,
      kv_used_blocks: blocks,
    });
    publisher.publish(
      subject,
      packr.pack({ publisher_id: 4_000_000_001n, sequence, published_at: BigInt(Date.now()), topic: 'kv_metrics', payload: Buffer.from(payload) }),
    );
  };
  const dynamoRef = ref('dynamo', 'kv_cache_usage');
  publish(100);
  await publisher.flush();
  const readyBy = performance.now() + 10_000;
  while ((await getMetric(client, dynamoRef)) === undefined && performance.now() < readyBy) await sleep(10);
  const scaler = new Samples(options.changes);
  const baseline = new Samples(options.changes);
  let missed = 0;
  let blocks = 100;
  try {
    for (let i = 0; i < options.changes; i++) {
      const before = await getMetric(client, dynamoRef);
      await sleep(Math.random() * 50);
      blocks = blocks >= 900 ? 100 : blocks + 100;
      bareAt = 0;
      const changedAt = performance.now();
      publish(blocks);
      const seen = await firstChange(() => getMetric(client, dynamoRef), before, changedAt + 1000, 0);
      if (seen === undefined) missed += 1;
      else scaler.push(seen - changedAt);
      if (bareAt > 0) baseline.push(bareAt - changedAt);
    }
  } finally {
    await publisher.close();
    await bare.close();
  }
  return [summarize('scaler GetMetrics (Dynamo event plane)', scaler, missed), summarize('bare NATS subscription (same messages)', baseline, 0)];
}

export async function runReactionBench(
  options: ReactionOptions = DEFAULT_REACTION_OPTIONS,
  log: (line: string) => void = console.log,
): Promise<ReactionResult> {
  ensureBenchProto();
  const result: ReactionResult = { options, cases: [] };
  const prometheusBinary = onPath('prometheus');
  if (prometheusBinary) result.prometheusVersion = await prometheusVersion(prometheusBinary);
  const nats = onPath('nats-server') ? await startNatsServer() : undefined;
  const fleet = await startVllmFleet(readVllmFixture(), 2 * options.workers, 500);
  for (let i = 0; i < 2 * options.workers; i++) fleet.pin(i, WAITING, i < options.workers ? 1 : 0);
  const targets = fleet.ports.map((port) => `127.0.0.1:${port}`);
  const pools: Record<string, unknown>[] = [
    { name: 'values', source: 'vllm', targets: targets.slice(0, options.workers) },
    { name: 'activation', source: 'vllm', targets: targets.slice(options.workers) },
  ];
  if (nats)
    pools.push({
      name: 'dynamo',
      source: 'dynamo-nats',
      nats: { url: nats.url },
      namespace: NAMESPACE,
      component: 'backend',
      mode: 'event-plane',
      kvBlocksPerWorker: 1000,
    });
  const config = { checkInterval: `${options.intervalMs}ms`, cacheTtl: `${5 * options.intervalMs}ms`, pools };
  log(
    `Reaction benchmark: ${options.changes} changes per case at random moments, checkInterval ${options.intervalMs} ms, ` +
      `${options.workers} vLLM workers per pool` +
      (prometheusBinary
        ? `, Prometheus ${result.prometheusVersion} scraping the same workers every ${options.intervalMs} ms`
        : ' (no prometheus on PATH: no scrape baseline)') +
      `${nats ? '' : ' (no nats-server on PATH: no Dynamo case)'}`,
  );
  const scalerChild = await ChildHandle.start('scaler', ['--config', JSON.stringify(config)], 60_000);
  const prometheus = prometheusBinary
    ? await PrometheusRun.start(prometheusBinary, fleet.ports.slice(0, options.workers), options.intervalMs / 1000)
    : undefined;
  const Client = externalScalerClientConstructor();
  const client = new Client(`127.0.0.1:${scalerChild.ready.grpcPort}`, grpc.credentials.createInsecure()) as unknown as ScalerClient;
  try {
    // Prometheus needs a scrape or two before its query answers.
    if (prometheus) {
      const by = performance.now() + 30_000;
      while ((await prometheus.queryValue(`sum(${WAITING})`)) === undefined && performance.now() < by) await sleep(100);
    }
    const [values, activation] = await Promise.all([measureValues(options, fleet, client, prometheus, log), measureActivation(options, fleet, client, log)]);
    result.cases.push(...values, activation);
    if (nats) result.cases.push(...(await measureNats(options, nats.url, client)));
  } finally {
    client.close();
    await prometheus?.stop();
    await scalerChild.stop();
    await fleet.close();
    nats?.stop();
  }
  log(
    table(
      ['case', 'changes seen', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'missed'],
      result.cases.map((c) => [c.name, String(c.ms.count), fmt(c.ms.p50, 1), fmt(c.ms.p90, 1), fmt(c.ms.p99, 1), fmt(c.ms.max, 1), String(c.missed)]),
    ),
  );
  for (const line of reactionSummary(result)) log(line);
  return result;
}

/** The ratios against the baselines, for the summary of `npm run bench`. */
export function reactionSummary(result: ReactionResult): string[] {
  const find = (prefix: string) => result.cases.find((c) => c.name.startsWith(prefix));
  const lines: string[] = [];
  const scrape = find('scaler GetMetrics (HTTP');
  const prom = find('Prometheus');
  const push = find('scaler StreamIsActive');
  const dynamo = find('scaler GetMetrics (Dynamo');
  const bare = find('bare NATS');
  if (scrape) {
    lines.push(
      `  reaction, load change → GetMetrics: p50 ${fmt(scrape.ms.p50, 0)} ms, p90 ${fmt(scrape.ms.p90, 0)} ms, max ${fmt(scrape.ms.max, 0)} ms` +
        (prom
          ? `; Prometheus p50 ${fmt(prom.ms.p50, 0)} ms, p90 ${fmt(prom.ms.p90, 0)} ms (scaler ÷ Prometheus at p50 ${fmt(scrape.ms.p50 / prom.ms.p50, 2)})`
          : ''),
    );
  }
  if (push)
    lines.push(`  reaction, activation → StreamIsActive push: p50 ${fmt(push.ms.p50, 0)} ms, p90 ${fmt(push.ms.p90, 0)} ms, max ${fmt(push.ms.max, 0)} ms`);
  if (dynamo && bare) {
    lines.push(
      `  reaction, Dynamo ActiveLoad → GetMetrics: p50 ${fmt(dynamo.ms.p50, 1)} ms, p99 ${fmt(dynamo.ms.p99, 1)} ms; ` +
        `bare subscription p50 ${fmt(bare.ms.p50, 2)} ms (${fmt(dynamo.ms.p50 - bare.ms.p50, 1)} ms added at p50)`,
    );
  }
  return lines;
}

export function parseReactionArgs(argv: readonly string[]): ReactionOptions {
  const { values } = parseArgs({
    args: [...argv],
    strict: false,
    options: { changes: { type: 'string' }, 'interval-ms': { type: 'string' }, workers: { type: 'string' } },
  });
  const number = (key: string, fallback: number): number => {
    const raw = values[key];
    if (typeof raw !== 'string') return fallback;
    const parsed = Number(raw);
    if (!Number.isFinite(parsed) || parsed <= 0) throw new Error(`--${key} '${raw}': expected a positive number`);
    return parsed;
  };
  return {
    changes: number('changes', DEFAULT_REACTION_OPTIONS.changes),
    intervalMs: number('interval-ms', DEFAULT_REACTION_OPTIONS.intervalMs),
    workers: number('workers', DEFAULT_REACTION_OPTIONS.workers),
  };
}

if (isMain(import.meta.url)) {
  runReactionBench(parseReactionArgs(process.argv.slice(2))).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
