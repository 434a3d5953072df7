/**
 * Cost per worker of one collection: fetch a vLLM /metrics body over a keep-alive connection,
 * parse it, extract the WorkerSample — ours against the reference parser
 * `parse-prometheus-text-format` doing the same fetch and an equivalent extraction (the same
 * families from the same engine profile: waiting, running, KV usage, KV blocks, counters,
 * histograms). Also parse-only timings (no HTTP) for both.
 *
 * The fixture server runs in a child process, so the CPU time measured here (process.cpuUsage)
 * is the scraper's alone: that is what the "1,000 HTTP workers every second within one CPU
 * core" budgets.
 *
 * Run alone: node dist-bench/bench/scrape-parse.js [--iterations 2000]
 */
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { ChildHandle } from './child-handle.js';
import { distribution, fmt, isMain, machineBusySeconds, machineInfo, otherLoadCores, readVllmFixture, Samples, table, type Distribution } from './common.js';
import { profileFor, type EngineProfile } from '../src/sources/http/engine-profiles.js';
import { extractWorkerSample } from '../src/sources/http/extract-sample.js';
import { ExpositionReader, parsePrometheusText, type BodyShape } from '../src/sources/http/prometheus-text.js';
import { ScrapeClient } from '../src/sources/http/scrape-client.js';

// The reference parser is CommonJS without types; only the shape used here is described.
interface RefMetric {
  readonly labels?: Record<string, string>;
  readonly value?: string;
  readonly buckets?: Record<string, string>;
  readonly count?: string;
  readonly sum?: string;
}
interface RefFamily {
  readonly name: string;
  readonly type: string;
  readonly metrics: readonly RefMetric[];
}
const parseReference = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => RefFamily[];

export interface ScrapeParseOptions {
  /** Fetches per case, over all rounds. */
  iterations: number;
  /** Parses per parse-only case, over all rounds. */
  parseIterations: number;
  /** Untimed operations before each measurement. */
  warmup: number;
  /** In-flight requests for the concurrent ScrapeClient case. */
  concurrency: number;
  /** Rounds, alternating the order of the cases. */
  rounds: number;
}

export const DEFAULT_SCRAPE_PARSE_OPTIONS: ScrapeParseOptions = { iterations: 2000, parseIterations: 3000, warmup: 200, concurrency: 32, rounds: 2 };

export interface CaseResult {
  name: string;
  group: 'scrape' | 'parse';
  iterations: number;
  /** Wall time per operation (µs); for concurrent cases, elapsed ÷ iterations. */
  wallUsPerOp: number;
  /** Latency distribution of one operation in µs (sequential cases only). */
  opUs?: Distribution;
  /** CPU time of this process per operation (µs), GC included. */
  cpuUsPerOp: number;
  /** Fraction of one core needed for 1,000 workers per second. */
  coreFor1000PerS: number;
  /** CPU of the fixture server (child) per operation, µs. */
  serverCpuUsPerOp?: number;
  /** CPU used by other processes on the machine meanwhile, in cores (Linux only). */
  otherLoadCores: number;
}

/** Brackets one case: this process's CPU, the fixture child's CPU, and everything else's. */
async function window<T>(
  child: ChildHandle | undefined,
  body: () => Promise<T>,
): Promise<{ value: T; cpuUs: number; serverCpuUs?: number; wallS: number; otherLoadCores: number }> {
  await child?.begin();
  const busy = machineBusySeconds();
  const cpu = process.cpuUsage();
  const start = performance.now();
  const value = await body();
  const wallS = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  const busyAfter = machineBusySeconds();
  const server = await child?.end();
  const cpuUs = used.user + used.system;
  const serverCpuUs = server ? server.cpuUserUs + server.cpuSystemUs : undefined;
  return { value, cpuUs, serverCpuUs, wallS, otherLoadCores: otherLoadCores(busy, busyAfter, (cpuUs + (serverCpuUs ?? 0)) / 1e6, wallS) };
}

export interface ScrapeParseResult {
  options: ScrapeParseOptions;
  machine: ReturnType<typeof machineInfo>;
  fixtureBytes: number;
  cases: CaseResult[];
  check: { ours: WorkerGauges; reference: WorkerGauges };
}

interface WorkerGauges {
  waiting?: number;
  running?: number;
  kvUsage?: number;
  kvBlocksTotal?: number;
  counters: Record<string, number>;
  histograms: Record<string, { count: number; buckets: number }>;
}

/**
 * The reference side of the comparison: the same families the vLLM profile reads, found in the
 * reference parser's output and reduced the same way (Σ over engines for counts and counters,
 * mean KV usage, Σ blocks from cache_config_info, buckets merged by `le`).
 */
function referenceExtract(families: readonly RefFamily[], profile: EngineProfile): WorkerGauges {
  const byName = new Map<string, RefFamily>();
  for (const f of families) byName.set(f.name, f);
  const firstWith = (names: readonly string[]) => {
    for (const n of names) {
      const f = byName.get(n);
      if (f && f.metrics.length > 0) return f;
    }
    return undefined;
  };
  const sum = (names: readonly string[]) => {
    const f = firstWith(names);
    if (!f) return undefined;
    let total = 0;
    for (const m of f.metrics) total += Number(m.value);
    return total;
  };
  const kvFamily = firstWith(profile.kvUsage);
  let kvUsage: number | undefined;
  if (kvFamily) {
    let s = 0;
    for (const m of kvFamily.metrics) s += Number(m.value);
    kvUsage = s / kvFamily.metrics.length;
  }
  let kvBlocksTotal: number | undefined;
  for (const source of profile.blocks) {
    const f = byName.get(source.series);
    if (!f) continue;
    let s = 0;
    for (const m of f.metrics) s += Number(source.from === 'infoLabel' ? m.labels?.[source.label] : m.value);
    kvBlocksTotal = s;
    break;
  }
  const counters: Record<string, number> = {};
  for (const [name, candidates] of Object.entries(profile.counters)) {
    const v = sum(candidates as readonly string[]);
    if (v !== undefined) counters[name] = v;
  }
  const histograms: Record<string, { count: number; buckets: number }> = {};
  for (const [name, bases] of Object.entries(profile.histograms)) {
    const f = firstWith(bases as readonly string[]);
    if (!f) continue;
    const merged = new Map<number, number>();
    let count = 0;
    for (const m of f.metrics) {
      count += Number(m.count);
      for (const [le, c] of Object.entries(m.buckets ?? {})) {
        const bound = Number(le === '+Inf' ? Infinity : le);
        merged.set(bound, (merged.get(bound) ?? 0) + Number(c));
      }
    }
    const bounds = [...merged.keys()].sort((a, b) => a - b);
    histograms[name] = { count, buckets: bounds.map((b) => merged.get(b) ?? 0).length };
  }
  return { waiting: sum(profile.waiting), running: sum(profile.running), kvUsage, kvBlocksTotal, counters, histograms };
}

function oursGauges(text: string, profile: EngineProfile): WorkerGauges {
  const reader = new ExpositionReader(profile.wantedSeries, profile.readLabels);
  const result = extractWorkerSample(reader.read(Buffer.from(text, 'utf8')).parsed, profile, { at: Date.now() });
  if (!result.ok) throw new Error(`our extraction failed on the fixture: ${result.message}`);
  const s = result.sample;
  const histograms: WorkerGauges['histograms'] = {};
  for (const [k, h] of Object.entries(s.histograms)) if (h) histograms[k] = { count: h.count, buckets: h.bounds.length };
  return { waiting: s.waiting, running: s.running, kvUsage: s.kvUsage, kvBlocksTotal: s.kvBlocksTotal, counters: { ...s.counters }, histograms };
}

interface Measured {
  result: CaseResult;
  samples?: Float64Array;
  cpuUs: number;
  wallUs: number;
}

async function measureSequential(
  name: string,
  group: CaseResult['group'],
  iterations: number,
  warmup: number,
  op: () => unknown,
  child?: ChildHandle,
): Promise<Measured> {
  for (let i = 0; i < warmup; i++) await op();
  const samples = new Samples(iterations);
  const w = await window(child, async () => {
    for (let i = 0; i < iterations; i++) {
      const t0 = performance.now();
      await op();
      samples.push((performance.now() - t0) * 1000);
    }
  });
  const cpuUsPerOp = w.cpuUs / iterations;
  const result: CaseResult = {
    name,
    group,
    iterations,
    wallUsPerOp: (w.wallS * 1e6) / iterations,
    opUs: distribution(samples),
    cpuUsPerOp,
    coreFor1000PerS: (cpuUsPerOp * 1000) / 1e6,
    ...(w.serverCpuUs !== undefined ? { serverCpuUsPerOp: w.serverCpuUs / iterations } : {}),
    otherLoadCores: w.otherLoadCores,
  };
  return { result, samples: samples.values(), cpuUs: w.cpuUs, wallUs: w.wallS * 1e6 };
}

async function measureConcurrent(
  name: string,
  iterations: number,
  warmup: number,
  concurrency: number,
  op: () => Promise<unknown>,
  child: ChildHandle,
): Promise<Measured> {
  const runMany = async (count: number) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next++ < count) await op();
      }),
    );
  };
  await runMany(warmup);
  const w = await window(child, () => runMany(iterations));
  const cpuUsPerOp = w.cpuUs / iterations;
  const result: CaseResult = {
    name,
    group: 'scrape',
    iterations,
    wallUsPerOp: (w.wallS * 1e6) / iterations,
    cpuUsPerOp,
    coreFor1000PerS: (cpuUsPerOp * 1000) / 1e6,
    ...(w.serverCpuUs !== undefined ? { serverCpuUsPerOp: w.serverCpuUs / iterations } : {}),
    otherLoadCores: w.otherLoadCores,
  };
  return { result, cpuUs: w.cpuUs, wallUs: w.wallS * 1e6 };
}

/** One case measured in several rounds: totals over rounds, pooled per-op latencies. */
function combineCase(runs: readonly Measured[]): CaseResult {
  const first = (runs[0] as Measured).result;
  const iterations = runs.reduce((n, r) => n + r.result.iterations, 0);
  const cpuUs = runs.reduce((n, r) => n + r.cpuUs, 0);
  const wallUs = runs.reduce((n, r) => n + r.wallUs, 0);
  const serverCpu = runs.every((r) => r.result.serverCpuUsPerOp !== undefined)
    ? runs.reduce((n, r) => n + (r.result.serverCpuUsPerOp as number) * r.result.iterations, 0) / iterations
    : undefined;
  const sampled = runs.map((r) => r.samples).filter((x): x is Float64Array => x !== undefined);
  let opUs: Distribution | undefined;
  if (sampled.length > 0) {
    const pooled = new Float64Array(sampled.reduce((n, x) => n + x.length, 0));
    let at = 0;
    for (const x of sampled) {
      pooled.set(x, at);
      at += x.length;
    }
    opUs = distribution(pooled);
  }
  const cpuUsPerOp = cpuUs / iterations;
  return {
    name: first.name,
    group: first.group,
    iterations,
    wallUsPerOp: wallUs / iterations,
    ...(opUs ? { opUs } : {}),
    cpuUsPerOp,
    coreFor1000PerS: (cpuUsPerOp * 1000) / 1e6,
    ...(serverCpu !== undefined ? { serverCpuUsPerOp: serverCpu } : {}),
    otherLoadCores: runs.reduce((n, r) => n + r.result.otherLoadCores * r.wallUs, 0) / wallUs,
  };
}

export async function runScrapeParseBench(options: ScrapeParseOptions, log: (line: string) => void = console.log): Promise<ScrapeParseResult> {
  const text = readVllmFixture();
  const profile = profileFor('vllm');
  const check = { ours: oursGauges(text, profile), reference: referenceExtract(parseReference(text), profile) };
  log(
    `Scrape+parse benchmark: vLLM fixture (${text.length} bytes), ${options.iterations} fetches / ${options.parseIterations} parses per case ` +
      `in ${options.rounds} rounds of alternating order, ${options.warmup} untimed warm-up operations before each`,
  );

  const child = await ChildHandle.start('fixture');
  const url = `http://127.0.0.1:${child.ready.fixturePorts?.[0]}/metrics`;
  const accept = 'text/plain;version=0.0.4;q=1,*/*;q=0.1';
  const agent = new Agent({ connections: 1, keepAliveTimeout: 30_000 });
  const fetchBytes = async () => {
    const { statusCode, body } = await request(url, { dispatcher: agent, headers: { accept } });
    const bytes = Buffer.from(await body.arrayBuffer());
    if (statusCode !== 200) throw new Error(`fixture server answered ${statusCode}`);
    return bytes;
  };
  // Ours reads the bytes (what the collector does); the reference needs the text, so it decodes them.
  const reader = new ExpositionReader(profile.wantedSeries, profile.readLabels);
  let shape: BodyShape | undefined;
  const oursOnce = (body: Buffer) => {
    const read = reader.read(body, shape);
    shape = read.shape;
    const r = extractWorkerSample(read.parsed, profile, { at: Date.now() });
    if (!r.ok) throw new Error(r.message);
    return r.sample;
  };
  const refOnce = (body: Buffer | string) => referenceExtract(parseReference(typeof body === 'string' ? body : body.toString('utf8')), profile);
  const bytes = Buffer.from(text, 'utf8');
  const collector = new ScrapeClient({ timeoutMs: 2000, concurrency: 1, maxBodyBytes: 8 * 1024 * 1024, connectionsPerOrigin: 1 });
  const collectorWide = new ScrapeClient({
    timeoutMs: 2000,
    concurrency: options.concurrency,
    maxBodyBytes: 8 * 1024 * 1024,
    connectionsPerOrigin: options.concurrency,
  });
  const viaCollector = (client: ScrapeClient) => async () => {
    const r = await client.fetchBody(url);
    if (!r.ok) throw new Error(r.message);
    return oursOnce(r.body);
  };

  const { iterations: n, parseIterations: p, warmup: w, rounds } = options;
  const perRound = (total: number) => Math.max(1, Math.round(total / rounds));
  const specs: { name: string; measure: (iterations: number) => Promise<Measured>; parse: boolean }[] = [
    {
      name: 'fetch only (undici, keep-alive)',
      parse: false,
      measure: (k) => measureSequential('fetch only (undici, keep-alive)', 'scrape', k, w, fetchBytes, child),
    },
    {
      name: 'fetch + ours (wanted) + extract',
      parse: false,
      measure: (k) => measureSequential('fetch + ours (wanted) + extract', 'scrape', k, w, async () => oursOnce(await fetchBytes()), child),
    },
    {
      name: 'fetch + reference + extract',
      parse: false,
      measure: (k) => measureSequential('fetch + reference + extract', 'scrape', k, w, async () => refOnce(await fetchBytes()), child),
    },
    {
      name: 'ScrapeClient + ours + extract',
      parse: false,
      measure: (k) => measureSequential('ScrapeClient + ours + extract', 'scrape', k, w, viaCollector(collector), child),
    },
    {
      name: `ScrapeClient + ours + extract, ${options.concurrency} in flight`,
      parse: false,
      measure: (k) =>
        measureConcurrent(`ScrapeClient + ours + extract, ${options.concurrency} in flight`, k, w, options.concurrency, viaCollector(collectorWide), child),
    },
    {
      name: 'parse ours (wanted set)',
      parse: true,
      measure: (k) => measureSequential('parse ours (wanted set)', 'parse', k, w, () => (shape = reader.read(bytes, shape).shape)),
    },
    {
      name: 'parse ours (everything)',
      parse: true,
      measure: (k) => measureSequential('parse ours (everything)', 'parse', k, w, () => parsePrometheusText(text)),
    },
    {
      name: 'parse ours (wanted) + extract',
      parse: true,
      measure: (k) => measureSequential('parse ours (wanted) + extract', 'parse', k, w, () => oursOnce(bytes)),
    },
    { name: 'parse reference', parse: true, measure: (k) => measureSequential('parse reference', 'parse', k, w, () => parseReference(text)) },
    { name: 'parse reference + extract', parse: true, measure: (k) => measureSequential('parse reference + extract', 'parse', k, w, () => refOnce(text)) },
  ];
  const runs = new Map<string, Measured[]>(specs.map((spec) => [spec.name, []]));
  const cases: CaseResult[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      // Reverse the order every other round: a case that leaves garbage behind (the reference
      // parser) must not always bill its GC to the same neighbour.
      const order = round % 2 === 0 ? specs : [...specs].reverse();
      for (const spec of order) {
        const measured = await spec.measure(perRound(spec.parse ? p : n));
        runs.get(spec.name)?.push(measured);
        log(`  round ${round + 1} ${spec.name}: ${fmt(measured.result.cpuUsPerOp, 1)} µs CPU / op`);
      }
    }
    for (const spec of specs) cases.push(combineCase(runs.get(spec.name) ?? []));
  } finally {
    await Promise.all([agent.close(), collector.close(), collectorWide.close()]);
    await child.stop();
  }
  const result: ScrapeParseResult = { options, machine: machineInfo(), fixtureBytes: Buffer.byteLength(text), cases, check };
  log('');
  log(formatScrapeParse(result));
  return result;
}

function byName(r: ScrapeParseResult, name: string): CaseResult | undefined {
  return r.cases.find((c) => c.name === name);
}

export function formatScrapeParse(r: ScrapeParseResult): string {
  const rows = r.cases.map((c) => [
    c.name,
    fmt(c.cpuUsPerOp, 1),
    fmt(c.wallUsPerOp, 1),
    c.opUs ? `${fmt(c.opUs.p50, 1)} / ${fmt(c.opUs.p99, 1)}` : '-',
    fmt(c.coreFor1000PerS * 100, 1) + ' %',
    fmt(c.otherLoadCores, 2),
  ]);
  const lines = [table(['case', 'CPU µs/op', 'wall µs/op', 'op p50/p99 µs', 'core @1000/s', 'other load (cores)'], rows), ''];
  const ratio = (a: string, b: string) => {
    const x = byName(r, a);
    const y = byName(r, b);
    return x && y ? y.cpuUsPerOp / x.cpuUsPerOp : NaN;
  };
  const fetchOnly = byName(r, 'fetch only (undici, keep-alive)');
  const oursScrape = byName(r, 'fetch + ours (wanted) + extract');
  const collectorWide = r.cases.find((c) => c.name.startsWith('ScrapeClient + ours + extract,'));
  lines.push(
    `reference/ours CPU, fetch+parse+extract: ${fmt(ratio('fetch + ours (wanted) + extract', 'fetch + reference + extract'), 2)}×`,
    `reference/ours CPU, parse+extract only:  ${fmt(ratio('parse ours (wanted) + extract', 'parse reference + extract'), 2)}×`,
    `reference/ours CPU, parse only:          ${fmt(ratio('parse ours (wanted set)', 'parse reference'), 2)}×`,
  );
  if (fetchOnly && oursScrape) {
    lines.push(`share of the HTTP fetch in our per-worker cost: ${fmt((fetchOnly.cpuUsPerOp / oursScrape.cpuUsPerOp) * 100, 0)} %`);
  }
  const worst = Math.max(oursScrape?.coreFor1000PerS ?? NaN, collectorWide?.coreFor1000PerS ?? NaN);
  lines.push(
    `1,000 workers/s (sequential fetch+parse+extract): ${fmt((oursScrape?.coreFor1000PerS ?? NaN) * 100, 1)} % of one core; ` +
      `via ScrapeClient with ${r.options.concurrency} in flight: ${fmt((collectorWide?.coreFor1000PerS ?? NaN) * 100, 1)} %  budget ≤ 100 %  ` +
      `${worst <= 1 ? 'PASS' : 'FAIL'}`,
  );
  const o = r.check.ours;
  const f = r.check.reference;
  lines.push(
    `check (ours vs reference): waiting ${o.waiting}/${f.waiting}, running ${o.running}/${f.running}, kv ${o.kvUsage}/${f.kvUsage}, blocks ` +
      `${o.kvBlocksTotal}/${f.kvBlocksTotal}, ` +
      `counters ${Object.keys(o.counters).length}/${Object.keys(f.counters).length}, histograms ` +
      `${Object.keys(o.histograms).length}/${Object.keys(f.histograms).length}`,
  );
  return lines.join('\n');
}

export function parseScrapeParseArgs(argv: readonly string[]): ScrapeParseOptions {
  const { values } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: false,
    options: {
      iterations: { type: 'string' },
      'parse-iterations': { type: 'string' },
      'scrape-warmup': { type: 'string' },
      'scrape-concurrency': { type: 'string' },
      'scrape-rounds': { type: 'string' },
    },
  });
  const d = DEFAULT_SCRAPE_PARSE_OPTIONS;
  const num = (v: unknown, fallback: number) => (typeof v === 'string' && Number.isFinite(Number(v)) ? Number(v) : fallback);
  return {
    iterations: num(values.iterations, d.iterations),
    parseIterations: num(values['parse-iterations'], d.parseIterations),
    warmup: num(values['scrape-warmup'], d.warmup),
    concurrency: num(values['scrape-concurrency'], d.concurrency),
    rounds: Math.max(1, num(values['scrape-rounds'], d.rounds)),
  };
}

if (isMain(import.meta.url)) {
  runScrapeParseBench(parseScrapeParseArgs(process.argv.slice(2))).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
