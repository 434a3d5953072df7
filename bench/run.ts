/**
 * `npm run bench`: the scrape+parse, in-process evaluation, end-to-end collection (beside
 * Prometheus), GetMetrics (queue_depth, ttft and desired_replicas against a do-nothing server and
 * against each other), NATS ingest, reaction, status-page history and simulate benchmarks, then a
 * summary against the budgets of docs/benchmarks.md. Results are also written as JSON under
 * dist-bench/results/.
 *
 * Options (all optional), passed after `--`:
 *   --metrics queue_depth,ttft,desired_replicas (default; the first is the reference) | --metric queue_depth
 *   --meta key=value ... --target 5 --objects 1000 --concurrency 1000
 *   --warmup 2 --duration 5 --rounds 2 --rate 1000 --paced 4 --workers 4
 *   --workers-from auto|fixture|simulated --tick-ms 100 --loads 0.5,0.6,0.8,0.95
 *   --iterations 2000 --parse-iterations 3000 --scrape-warmup 200 --scrape-concurrency 32 --scrape-rounds 2
 *   --collect-workers 1000 --collect-duration 20 --collect-warmup 12 --collect-rounds 2 --collect-streams 10 --collect-soak 600 --collect-tick-ms 500
 *   --nats-workers 10000 --nats-messages 200000 --nats-mode event-plane|kv-metrics --nats-url nats://...
 *   --reaction-changes 100 --reaction-interval-ms 1000 --reaction-workers 8
 *   --prom-workers 1000 --prom-duration 15 --prom-rounds 2
 *   --sim-rounds 3 --sim-scenario examples/seed-002.yaml
 *   --forecast-rounds 30 --forecast-points 50
 *   --hardening-calls 2000 --hardening-rate 200 --hardening-series 50000 --hardening-triggers 2000 --hardening-value-kb 100 --hardening-dist dist
 *   --only scrape-parse|evaluation|collection|getmetrics|nats|reaction|prometheus-source|status-history|simulate|forecast|hardening
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ensureBenchProto, fmt, machineInfo, ms, onPath } from './common.js';
import { formatCollection, parseCollectionArgs, runCollectionBench, type CollectionResult } from './collection.js';
import { DEFAULT_EVALUATION_OPTIONS, runEvaluationBench, type EvaluationResult } from './evaluation.js';
import { COMPARED_METRICS, parseGetMetricsArgs, runGetMetricsBench, worstHandlerP99Us, type GetMetricsResult } from './getmetrics.js';
import { run as runNatsIngestBench, parseNatsIngestArgs, type NatsIngestResult } from './nats-ingest.js';
import { parsePrometheusSourceArgs, runPrometheusSourceBench, type PrometheusSourceBenchResult } from './prometheus-source.js';
import { parseReactionArgs, reactionSummary, runReactionBench, type ReactionResult } from './reaction.js';
import { parseScrapeParseArgs, runScrapeParseBench, type ScrapeParseResult } from './scrape-parse.js';
import { parseSimulateArgs, runSimulateBench, type SimulateBenchResult } from './simulate.js';
import { runStatusHistoryBench, type StatusHistoryResult } from './status-history.js';
import { parseForecastArgs, runForecastBench, type ForecastBenchResult } from './forecast.js';
import { parseHardeningArgs, runHardeningBench, type HardeningResult } from './hardening.js';

const STEPS = [
  'scrape-parse',
  'evaluation',
  'collection',
  'getmetrics',
  'nats',
  'reaction',
  'prometheus-source',
  'status-history',
  'simulate',
  'forecast',
  'hardening',
] as const;

/** budget: "10,000 NATS messages/s". */
const NATS_BUDGET_MSGS_PER_S = 10_000;

/** A benchmark's own options from run.ts's `--<prefix>-*` (e.g. the NATS benchmark's `--workers` would clash with GetMetrics'). */
function prefixedArgs(argv: readonly string[], prefix: string, keys: readonly string[]): string[] {
  const { values } = parseArgs({
    args: [...argv],
    strict: false,
    allowPositionals: true,
    options: Object.fromEntries(keys.map((key) => [`${prefix}-${key}`, { type: 'string' as const }])),
  });
  const out: string[] = [];
  for (const key of keys) {
    const value = values[`${prefix}-${key}`];
    if (typeof value === 'string') out.push(`--${key}`, value);
  }
  return out;
}

async function main(): Promise<void> {
  ensureBenchProto();
  const argv = process.argv.slice(2);
  const { values } = parseArgs({
    args: argv,
    strict: false,
    allowPositionals: true,
    options: { only: { type: 'string' }, metric: { type: 'string' }, metrics: { type: 'string' } },
  });
  const only = typeof values.only === 'string' ? values.only : undefined;
  if (only !== undefined && !(STEPS as readonly string[]).includes(only)) throw new Error(`--only '${only}': expected ${STEPS.join(', ')}`);
  const wanted = (step: (typeof STEPS)[number]) => only === undefined || only === step;
  const gmOptions = parseGetMetricsArgs(argv);
  // Without --metric/--metrics, GetMetrics measures the three signals the budget is checked on.
  if (values.metric === undefined && values.metrics === undefined) gmOptions.metrics = [...COMPARED_METRICS];
  const machine = machineInfo();
  console.log(`keda-llm-scaler benchmarks — ${machine.date}, Node ${machine.node}, ${machine.platform}, ${machine.cpus} CPUs (${machine.cpuModel})\n`);
  const started = Date.now();

  let scrape: ScrapeParseResult | undefined;
  if (wanted('scrape-parse')) {
    scrape = await runScrapeParseBench(parseScrapeParseArgs(argv));
    console.log('');
  }
  let evaluation: EvaluationResult | undefined;
  if (wanted('evaluation')) {
    evaluation = await runEvaluationBench({ ...DEFAULT_EVALUATION_OPTIONS, metric: gmOptions.metrics[0] ?? 'queue_depth' });
    console.log('');
  }
  let collection: CollectionResult | undefined;
  if (wanted('collection')) {
    collection = await runCollectionBench(parseCollectionArgs(argv));
    console.log('');
  }
  let getMetrics: GetMetricsResult | undefined;
  if (wanted('getmetrics')) {
    getMetrics = await runGetMetricsBench(gmOptions);
    console.log('');
  }
  let nats: NatsIngestResult | undefined;
  let natsSkipped: string | undefined;
  if (wanted('nats')) {
    const natsOptions = parseNatsIngestArgs(prefixedArgs(argv, 'nats', ['workers', 'messages', 'mode', 'url']));
    if (natsOptions.url === undefined && onPath('nats-server') === undefined) {
      natsSkipped = 'nats-server is not on PATH (install it, or pass --nats-url nats://host:4222 to use a running server)';
      console.log(`NATS ingest benchmark SKIPPED: ${natsSkipped}\n`);
    } else {
      nats = await runNatsIngestBench(natsOptions);
    }
  }

  let reaction: ReactionResult | undefined;
  if (wanted('reaction')) {
    reaction = await runReactionBench(parseReactionArgs(prefixedArgs(argv, 'reaction', ['changes', 'interval-ms', 'workers'])));
    console.log('');
  }

  let promSource: PrometheusSourceBenchResult | undefined;
  if (wanted('prometheus-source')) {
    promSource = await runPrometheusSourceBench(parsePrometheusSourceArgs(argv));
    console.log('');
  }

  let statusHistory: StatusHistoryResult | undefined;
  if (wanted('status-history')) {
    statusHistory = await runStatusHistoryBench();
    console.log('');
  }

  let simulate: SimulateBenchResult | undefined;
  if (wanted('simulate')) {
    const { values: sim } = parseArgs({ args: argv, strict: false, options: { 'sim-rounds': { type: 'string' }, 'sim-scenario': { type: 'string' } } });
    const simArgv = [
      ...(typeof sim['sim-rounds'] === 'string' ? ['--rounds', sim['sim-rounds']] : []),
      ...(typeof sim['sim-scenario'] === 'string' ? ['--scenario', sim['sim-scenario']] : []),
    ];
    simulate = await runSimulateBench(parseSimulateArgs(simArgv));
    console.log('');
  }

  let forecastFits: ForecastBenchResult | undefined;
  if (wanted('forecast')) {
    forecastFits = await runForecastBench(parseForecastArgs(prefixedArgs(argv, 'forecast', ['rounds', 'points'])));
    console.log('');
  }
  let hardening: HardeningResult | undefined;
  if (wanted('hardening')) {
    hardening = await runHardeningBench(parseHardeningArgs(argv));
    console.log('');
  }

  console.log(`Summary (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  if (scrape) {
    const ours = scrape.cases.find((c) => c.name === 'fetch + ours (wanted) + extract');
    const ref = scrape.cases.find((c) => c.name === 'fetch + reference + extract');
    const wide = scrape.cases.find((c) => c.name.startsWith('ScrapeClient + ours + extract,'));
    if (ours && ref) {
      console.log(
        `  scrape+parse per worker: ours ${fmt(ours.cpuUsPerOp, 1)} µs CPU, reference ${fmt(ref.cpuUsPerOp, 1)} µs CPU ` +
          `(${fmt(ref.cpuUsPerOp / ours.cpuUsPerOp, 2)}×)`,
      );
      console.log(
        `  collection of 1,000 workers/s: ${fmt(ours.coreFor1000PerS * 100, 1)} % of a core sequential` +
          (wide ? `, ${fmt(wide.coreFor1000PerS * 100, 1)} % via ScrapeClient (${scrape.options.concurrency} in flight)` : '') +
          '  (budget ≤ 100 %)',
      );
    }
  }
  if (evaluation) {
    const big = evaluation.rounds.filter((r) => r.workers === Math.max(...evaluation.options.workerCounts));
    for (const arrival of ['burst', 'spread'] as const) {
      const rows = big.filter((r) => r.arrival === arrival);
      console.log(
        `  evaluation: collection round of ${rows[0]?.workers} workers (writes ${arrival === 'burst' ? 'back to back' : 'spread over the interval'}) costs ` +
          rows.map((r) => `${fmt(r.cpuMsPerRound, 1)} ms with ${r.streams} StreamIsActive stream(s)`).join(', '),
      );
    }
  }
  if (collection) {
    // The verdict lines after the per-round table (the table itself was printed with the step).
    const text = formatCollection(collection);
    const verdicts = text.split('\n').filter((line) => /PASS|FAIL/.test(line));
    for (const line of verdicts) console.log(`  ${line}`);
  }
  if (getMetrics) {
    const g = getMetrics;
    const b = g.baseline;
    console.log(`  GetMetrics, ${g.options.objects} ScaledObjects per signal, ${g.options.concurrency} in flight, ${g.workers} workers:`);
    for (const [i, s] of g.scalers.entries()) {
      const v = g.versusBaseline[i];
      if (!v) continue;
      const value = s.valueAtEnd?.ok ? fmt(s.valueAtEnd.value ?? NaN, 3) : `none (${s.valueAtEnd?.error ?? '?'})`;
      console.log(`    ${s.metric} (value ${value}):`);
      console.log(
        `      raw h2 load:  scaler ${fmt(s.closedH2.callsPerS, 0)} calls/s, baseline ${fmt(b.closedH2.callsPerS, 0)} calls/s, ratio ` +
          `${fmt(v.throughputRatioH2, 3)} (budget ≥ 0.8)`,
      );
      console.log(
        `      grpc-js load: scaler ${fmt(s.closed.callsPerS, 0)} calls/s, baseline ${fmt(b.closed.callsPerS, 0)} calls/s, ratio ` +
          `${fmt(v.throughputRatio, 3)} (client-bound)`,
      );
      console.log(
        `      server CPU per call: scaler ${fmt(s.closedH2.server.cpuUsPerCall, 1)} µs, baseline ${fmt(b.closedH2.server.cpuUsPerCall, 1)} µs ` +
          `(${fmt(v.cpuPerCallRatio, 2)}×)`,
      );
      console.log(
        `      p99: server handler ${ms(worstHandlerP99Us(s) / 1000)}; client-side paced ${g.options.rate}/s raw h2 ${ms(s.pacedH2.latencyMs.p99)} ` +
          `(baseline ${ms(b.pacedH2.latencyMs.p99)}), ` +
          `grpc-js ${ms(s.paced.latencyMs.p99)} (baseline ${ms(b.paced.latencyMs.p99)}) (budget < 1 ms)`,
      );
    }
    for (const c of g.versusReference) {
      console.log(
        `    ${c.metric} vs ${c.reference}: throughput ${fmt(c.throughputRatioH2, 3)}× raw h2 (${fmt(c.throughputRatio, 3)}× grpc-js), server CPU/call ` +
          `${fmt(c.cpuPerCallRatio, 2)}×, ` +
          `handler p99 ${fmt(c.handlerP99Ratio, 2)}×, paced p99 ${fmt(c.pacedP99RatioH2, 2)}× raw h2 / ${fmt(c.pacedP99Ratio, 2)}× grpc-js — ` +
          `within 20 %: throughput ${c.withinThroughput ? 'yes' : 'NO'}, server p99 ${c.withinHandlerP99 ? 'yes' : 'NO'}`,
      );
    }
    const phases = [b, ...g.scalers].flatMap((x) => [x.closedH2, x.closed, x.pacedH2, x.paced]);
    const other = Math.max(...phases.map((p) => p.otherLoadCores));
    if (other > 0.1) console.log(`    WARNING: other processes used up to ${fmt(other, 2)} cores during the measurements; numbers are disturbed`);
  }
  if (nats) {
    for (const m of nats.modes) {
      const ok = m.ingest.msgsPerS >= NATS_BUDGET_MSGS_PER_S;
      console.log(
        `  NATS ingest (${m.mode}, ${nats.options.workers} workers): ${fmt(m.ingest.msgsPerS, 0)} msgs/s wall, ${fmt(m.ingest.cpuUsPerMsg, 2)} µs CPU/msg ` +
          `(${fmt(m.ingest.coreMsgsPerS, 0)} msgs/s per core); bare subscription ${fmt(m.bare.msgsPerS, 0)} msgs/s  (budget ≥ ` +
          `${fmt(NATS_BUDGET_MSGS_PER_S, 0)} msgs/s) ${ok ? 'PASS' : 'FAIL'}; ` +
          `ingest/bare ${fmt(m.ratio, 3)} (goal ≥ ${m.mode === 'event-plane' ? '0.5' : '0.33'})`,
      );
    }
  } else if (natsSkipped) {
    console.log(`  NATS ingest: skipped — ${natsSkipped}`);
  }
  if (reaction) for (const line of reactionSummary(reaction)) console.log(line);
  if (statusHistory) {
    const big = statusHistory.rows[statusHistory.rows.length - 1];
    if (big) {
      console.log(
        `  status page history, ${big.workers} workers and ${big.triggers} triggers: ${fmt(big.coldUsPerTick / 1000, 1)} ms per tick when it evaluates ` +
          `alone (${fmt(big.coldRatio, 1)}× a snapshot rebuild, ${fmt(big.coreFraction * 100, 2)} % of a core at one tick a second), ` +
          `${fmt(big.sharedUsPerTick / 1000, 2)} ms once KEDA's calls have evaluated the triggers; rings ${fmt(big.historyBytes / 1024, 0)} KiB`,
      );
    }
  }

  if (simulate) {
    console.log(
      `  simulate seed 002 (${simulate.scenario.requests} request-replays, ${simulate.strategies.length} strategies): ` +
        `${fmt(simulate.scenario.wallSeconds, 2)} s wall ` +
        `(budget < 40 s) ${simulate.withinGoal ? 'PASS' : 'FAIL'}, ${fmt(simulate.scenario.requestsPerS, 0)} requests/s = ` +
        `${fmt(simulate.versusDynamoReplay, 1)}× Dynamo's offline replay (goal ≥ 2×), ${fmt(simulate.scenario.eventsPerS, 0)} events/s; ` +
        `scaler in the loop ${fmt(simulate.scalerCostRatio, 2)}× the fleet model alone`,
    );
  }
  if (promSource) {
    const mean = (source: 'direct' | 'prometheus', key: 'scalerCpuMsPerInterval' | 'prometheusCores') => {
      const ws = promSource.windows.filter((w) => w.source === source);
      return ws.reduce((n, w) => n + w[key], 0) / ws.length;
    };
    console.log(
      `  source: prometheus, ${promSource.options.workers} workers: scaler ${fmt(mean('prometheus', 'scalerCpuMsPerInterval'), 1)} ms CPU per interval ` +
        `through Prometheus vs ${fmt(mean('direct', 'scalerCpuMsPerInterval'), 1)} ms directly (ratio ${fmt(promSource.ratio, 3)}; per 1,000 samples ` +
        `${fmt(promSource.ratioPerSample, 3)}); Prometheus itself ` +
        `${fmt(mean('prometheus', 'prometheusCores') * 100, 1)} % / ${fmt(mean('direct', 'prometheusCores') * 100, 1)} % of a core`,
    );
  }

  if (hardening) {
    const h = hardening;
    console.log(
      `  hardening: GetMetrics p99 ${fmt(h.without.p99Ms, 2)} ms alone, ${fmt(h.with.p99Ms, 2)} ms beside a ${fmt(h.options.series, 0)}-series worker ` +
        `(${fmt(h.ratio, 2)}×, goal ≤ 2×); ${h.options.triggers} triggers of ${h.options.valueKb} KB: RSS ${fmt(h.memory.rssBeforeMiB, 0)} → ` +
        `${fmt(h.memory.rssAfterMiB, 0)} MiB, /api/v1/decisions HTTP ${h.memory.decisionsStatus} in ${fmt(h.memory.decisionsMs, 0)} ms`,
    );
  }

  const outDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'results');
  mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `bench-${machine.date.replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    JSON.stringify(
      {
        machine,
        scrapeParse: scrape,
        evaluation,
        collection,
        getMetrics,
        natsIngest: nats,
        reaction,
        prometheusSource: promSource,
        statusHistory,
        simulate,
        forecast: forecastFits,
        hardening,
        ...(natsSkipped ? { natsIngestSkipped: natsSkipped } : {}),
      },
      null,
      2,
    ),
  );
  console.log(`  results: ${path.relative(process.cwd(), file)}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
