/**
 * `npm run bench`: the scrape+parse, in-process evaluation, end-to-end collection and GetMetrics
 * benchmarks, then a summary against SPEC §8's budgets. Results are also written as
 * JSON under dist-bench/results/.
 *
 * Options (all optional), passed after `--`:
 *   --metric queue_depth  --meta key=value ...  --objects 1000 --concurrency 1000
 *   --warmup 2 --duration 5 --rounds 2 --rate 1000 --paced 4 --workers 4
 *   --iterations 2000 --parse-iterations 3000 --scrape-warmup 200 --scrape-concurrency 32 --scrape-rounds 2
 *   --collect-workers 1000 --collect-streams 0,1,10 --collect-duration 5
 *   --only scrape-parse|evaluation|collection|getmetrics
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ensureBenchProto, fmt, machineInfo, ms } from './common.js';
import { parseCollectionArgs, runCollectionBench, type CollectionResult } from './collection.js';
import { DEFAULT_EVALUATION_OPTIONS, runEvaluationBench, type EvaluationResult } from './evaluation.js';
import { parseGetMetricsArgs, runGetMetricsBench, worstHandlerP99Us, type GetMetricsResult } from './getmetrics.js';
import { parseScrapeParseArgs, runScrapeParseBench, type ScrapeParseResult } from './scrape-parse.js';

async function main(): Promise<void> {
  ensureBenchProto();
  const argv = process.argv.slice(2);
  const { values } = parseArgs({ args: argv, strict: false, allowPositionals: true, options: { only: { type: 'string' } } });
  const only = typeof values.only === 'string' ? values.only : undefined;
  const machine = machineInfo();
  console.log(`keda-llm-scaler benchmarks — ${machine.date}, Node ${machine.node}, ${machine.platform}, ${machine.cpus} CPUs (${machine.cpuModel})\n`);
  const started = Date.now();

  let scrape: ScrapeParseResult | undefined;
  let getMetrics: GetMetricsResult | undefined;
  if (only === undefined || only === 'scrape-parse') {
    scrape = await runScrapeParseBench(parseScrapeParseArgs(argv));
    console.log('');
  }
  let evaluation: EvaluationResult | undefined;
  if (only === undefined || only === 'evaluation') {
    const gm = parseGetMetricsArgs(argv);
    evaluation = await runEvaluationBench({ ...DEFAULT_EVALUATION_OPTIONS, metric: gm.metric });
    console.log('');
  }
  let collection: CollectionResult | undefined;
  if (only === undefined || only === 'collection') {
    collection = await runCollectionBench(parseCollectionArgs(argv));
    console.log('');
  }
  if (only === undefined || only === 'getmetrics') {
    getMetrics = await runGetMetricsBench(parseGetMetricsArgs(argv));
    console.log('');
  }

  console.log(`Summary (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  if (scrape) {
    const ours = scrape.cases.find((c) => c.name === 'fetch + ours (wanted) + extract');
    const ref = scrape.cases.find((c) => c.name === 'fetch + reference + extract');
    const wide = scrape.cases.find((c) => c.name.startsWith('ScrapeClient + ours + extract,'));
    if (ours && ref) {
      console.log(`  scrape+parse per worker: ours ${fmt(ours.cpuUsPerOp, 1)} µs CPU, reference ${fmt(ref.cpuUsPerOp, 1)} µs CPU (${fmt(ref.cpuUsPerOp / ours.cpuUsPerOp, 2)}×)`);
      console.log(`  collection of 1,000 workers/s: ${fmt(ours.coreFor1000PerS * 100, 1)} % of a core sequential` +
        (wide ? `, ${fmt(wide.coreFor1000PerS * 100, 1)} % via ScrapeClient (${scrape.options.concurrency} in flight)` : '') + '  (budget ≤ 100 %)');
    }
  }
  if (evaluation) {
    const big = evaluation.rounds.filter((r) => r.workers === Math.max(...evaluation.options.workerCounts));
    console.log(`  evaluation: collection round of ${big[0]?.workers} workers costs ` + big.map((r) => `${fmt(r.cpuMsPerRound, 1)} ms with ${r.streams} StreamIsActive stream(s)`).join(', '));
  }
  if (collection) {
    for (const step of collection.steps) {
      console.log(
        `  collection of ${collection.options.workers} workers/s end to end, ${step.streams} StreamIsActive stream(s): scaler ${fmt(step.scalerCores * 100, 1)} % of a core, ` +
          `${fmt(step.scrapesOkPerS, 0)} scrapes/s, heap ${fmt(step.scalerHeapUsedMiB, 0)} MiB after ${fmt(step.uptimeS, 0)} s`,
      );
    }
  }
  if (getMetrics) {
    const s = getMetrics.scaler;
    const b = getMetrics.baseline;
    const g = getMetrics;
    const handlerP99 = worstHandlerP99Us(s);
    console.log(`  GetMetrics (${g.options.metric}), ${g.options.objects} ScaledObjects, ${g.options.concurrency} in flight:`);
    console.log(`    raw h2 load:  scaler ${fmt(s.closedH2.callsPerS, 0)} calls/s, baseline ${fmt(b.closedH2.callsPerS, 0)} calls/s, ratio ${fmt(g.throughputRatioH2, 3)} (budget ≥ 0.8)`);
    console.log(`    grpc-js load: scaler ${fmt(s.closed.callsPerS, 0)} calls/s, baseline ${fmt(b.closed.callsPerS, 0)} calls/s, ratio ${fmt(g.throughputRatio, 3)} (client-bound)`);
    console.log(`    server CPU per call: scaler ${fmt(s.closedH2.server.cpuUsPerCall, 1)} µs, baseline ${fmt(b.closedH2.server.cpuUsPerCall, 1)} µs (${fmt(g.cpuPerCallRatio, 2)}×)`);
    console.log(`    p99: server handler ${ms(handlerP99 / 1000)}; client-side paced ${g.options.rate}/s raw h2 ${ms(s.pacedH2.latencyMs.p99)} (baseline ${ms(b.pacedH2.latencyMs.p99)}), grpc-js ${ms(s.paced.latencyMs.p99)} (baseline ${ms(b.paced.latencyMs.p99)}) (budget < 1 ms)`);
    const phases = [s, b].flatMap((x) => [x.closedH2, x.closed, x.pacedH2, x.paced]);
    const other = Math.max(...phases.map((p) => p.otherLoadCores));
    if (other > 0.1) console.log(`    WARNING: other processes used up to ${fmt(other, 2)} cores during the measurements; numbers are disturbed`);
  }

  const outDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'results');
  mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `bench-${machine.date.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ machine, scrapeParse: scrape, evaluation, collection, getMetrics }, null, 2));
  console.log(`  results: ${path.relative(process.cwd(), file)}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
