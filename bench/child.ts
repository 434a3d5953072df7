/**
 * Child-process entry for the benchmarks, so that the server under test and the load generator
 * each get a core of their own (the benchmark machine has two).
 *
 *   node dist-bench/bench/child.js scaler [--workers N]     the real Scaler, one vLLM pool of N
 *                                                          fixture servers started in this child
 *   node dist-bench/bench/child.js scaler --target-ports p1,p2,...
 *                                                          ... or of workers served elsewhere
 *   node dist-bench/bench/child.js scaler --config '{"pools":[...]}'
 *                                                          ... or configured by the parent
 *   node dist-bench/bench/child.js scaler --prometheus-url URL [--prometheus-selector '{job="bench"}']
 *                                                          one `source: prometheus` pool instead
 *   node dist-bench/bench/child.js baseline                do-nothing grpc-js ExternalScaler
 *   node dist-bench/bench/child.js fixture [--servers N]   N HTTP servers serving the fixture
 *   node dist-bench/bench/child.js fleet [--servers N] [--tick-ms 500]
 *                                                          N workers in prometheus_client's format whose
 *                                                          bodies change every tick (bench/vllm-fleet.ts)
 *   node dist-bench/bench/child.js simulated [--servers N] [--tick-ms 100] [--loads 0.5,0.6]
 *                                                          N SimulatedVllmWorkers (src/cli/demo):
 *                                                          prom-client expositions whose counters
 *                                                          and histograms grow every tick, for
 *                                                          windowed signals (ttft, itl …)
 *
 * Talks to the parent over the IPC channel: it sends `ready` once listening, answers `begin` /
 * `end` with its own CPU time, event-loop utilisation and (scaler only) exact GetMetrics handler
 * durations between the two, and exits on `stop`.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { ensureBenchProto, readVllmFixture, Samples, startFixtureServer, distribution, type Distribution, type FixtureServer } from './common.js';
import { startVllmFleet } from './vllm-fleet.js';

export type ChildMode = 'scaler' | 'baseline' | 'fixture' | 'fleet' | 'simulated';

export type ParentMessage = { type: 'begin' } | { type: 'end' } | { type: 'stop' };

export interface ChildWindow {
  /** CPU time of the child between begin and end, in microseconds. */
  cpuUserUs: number;
  cpuSystemUs: number;
  wallMs: number;
  /** Event-loop utilisation (0..1) between begin and end. */
  elu: number;
  /** Memory at the end of the window, bytes. */
  rssBytes: number;
  heapUsedBytes: number;
  /** Exact GetMetrics handler durations in µs (scaler only): the span the scaler itself times. */
  handlerUs?: Distribution;
  /** Fixture requests answered during the window (fixture child, or the scaler's own fixture servers). */
  served?: number;
  /** The scaler's own count of worker scrapes during the window, by result. */
  scrapesOk?: number;
  scrapesFailed?: number;
  /** Observations of the scrape-duration histogram: worker scrapes, or rounds of queries for a prometheus pool. */
  collections?: number;
  /** Scaler only: undefined when ready, else why not (at the end of the window). */
  notReady?: string;
}

export type ChildMessage =
  | { type: 'ready'; grpcPort?: number; httpPort?: number; fixturePorts?: number[] }
  | { type: 'begun' }
  | { type: 'ended'; window: ChildWindow }
  | { type: 'error'; message: string };

function send(message: ChildMessage): void {
  process.send?.(message);
}

interface Running {
  stop(): Promise<void>;
  /** Called at begin/end; returns extra window data. */
  window?: { begin(): Promise<void> | void; end(): Promise<Partial<ChildWindow>> | Partial<ChildWindow> };
}

async function startScaler(
  workers: number,
  targetPorts: number[] | undefined,
  configJson: string | undefined,
  prometheus?: { url: string; selector: string; timeout: string },
): Promise<{ running: Running; grpcPort: number; httpPort: number }> {
  ensureBenchProto();
  const [{ Scaler }, { validateConfig }] = await Promise.all([import('../src/scaler.js'), import('../src/config/load.js')]);
  const servers: FixtureServer[] = [];
  if (!targetPorts && !prometheus && configJson === undefined) {
    const text = readVllmFixture();
    for (let i = 0; i < workers; i++) servers.push(await startFixtureServer(text));
  }
  const ports = targetPorts ?? servers.map((s) => s.port);
  const config = validateConfig({
    grpc: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    checkInterval: '1s',
    cacheTtl: '5s',
    logLevel: 'silent',
    pools: [
      prometheus
        ? {
            name: 'bench',
            source: 'prometheus',
            prometheus: { url: prometheus.url, selector: prometheus.selector, engine: 'vllm', timeout: prometheus.timeout },
          }
        : { name: 'bench', source: 'vllm', targets: ports.map((port) => `127.0.0.1:${port}`) },
    ],
    ...(configJson !== undefined ? (JSON.parse(configJson) as Record<string, unknown>) : {}),
  });
  const scaler = await Scaler.start(config);

  // Record the exact duration the scaler's own handler wrapper measures for each GetMetrics
  // (it observes keda_llm_scaler_grpc_request_duration_seconds), without touching src/.
  const histogram = scaler.metrics.rpcDuration as unknown as { observe: (labels: Record<string, string>, value: number) => void };
  const original = histogram.observe.bind(histogram);
  const handler = new Samples(1 << 20);
  let recording = false;
  histogram.observe = (labels, value) => {
    if (recording && labels['method'] === 'GetMetrics') handler.push(value * 1e6);
    original(labels, value);
  };

  // Ready means the first collection finished and every worker is fresh. Through Prometheus, a first
  // round answered is enough: on a loaded machine its answers can be older than cacheTtl by the time they arrive.
  const deadline = Date.now() + (prometheus ? 60_000 : 15_000);
  const started = (reason: string | undefined) => reason === undefined || (prometheus !== undefined && reason.endsWith('no worker has fresh data'));
  while (!started(scaler.notReadyReason())) {
    if (Date.now() > deadline) throw new Error(`scaler not ready in time: ${scaler.notReadyReason()}`);
    await new Promise((r) => setTimeout(r, 50));
  }

  let servedAtBegin = 0;
  const served = () => servers.reduce((n, s) => n + s.served(), 0);
  const scrapeCounts = async () => {
    const counts = { ok: 0, error: 0 };
    for (const v of (await scaler.metrics.scrapes.get()).values) {
      if (v.labels['result'] === 'ok') counts.ok += v.value;
      else counts.error += v.value;
    }
    return counts;
  };
  let scrapesAtBegin = { ok: 0, error: 0 };
  const collections = async () => {
    let n = 0;
    for (const v of (await scaler.metrics.scrapeDuration.get()).values) if (v.metricName?.endsWith('_count')) n += v.value;
    return n;
  };
  let collectionsAtBegin = 0;
  return {
    grpcPort: scaler.grpcPort,
    httpPort: scaler.httpPort,
    running: {
      async stop() {
        await scaler.stop(1000);
        await Promise.all(servers.map((s) => s.close()));
      },
      window: {
        async begin() {
          handler.clear();
          recording = true;
          servedAtBegin = served();
          scrapesAtBegin = await scrapeCounts();
          collectionsAtBegin = await collections();
        },
        async end() {
          recording = false;
          const now = await scrapeCounts();
          const notReady = scaler.notReadyReason();
          return {
            handlerUs: distribution(handler),
            served: served() - servedAtBegin,
            scrapesOk: now.ok - scrapesAtBegin.ok,
            scrapesFailed: now.error - scrapesAtBegin.error,
            collections: (await collections()) - collectionsAtBegin,
            ...(notReady !== undefined ? { notReady } : {}),
          };
        },
      },
    },
  };
}

async function startBaseline(): Promise<{ running: Running; grpcPort: number }> {
  ensureBenchProto();
  const { externalScalerService } = await import('../src/grpc/proto.js');
  type Ref = { scalerMetadata?: Record<string, string> };
  const server = new grpc.Server();
  // A constant answer the same size as the scaler's (metric names are `bench-so-NNNN`).
  const metrics = { metricValues: [{ metricName: 'bench-so-0000', metricValue: 3, metricValueFloat: 3 }] };
  const implementation: grpc.UntypedServiceImplementation = {
    IsActive: (_call: grpc.ServerUnaryCall<Ref, unknown>, callback: grpc.sendUnaryData<unknown>) => callback(null, { result: true }),
    GetMetricSpec: (call: grpc.ServerUnaryCall<Ref, unknown>, callback: grpc.sendUnaryData<unknown>) =>
      callback(null, { metricSpecs: [{ metricName: call.request.scalerMetadata?.['metricName'] ?? 'bench', targetSize: 5, targetSizeFloat: 5 }] }),
    GetMetrics: (_call: grpc.ServerUnaryCall<Ref, unknown>, callback: grpc.sendUnaryData<unknown>) => callback(null, metrics),
    StreamIsActive: (call: grpc.ServerWritableStream<Ref, unknown>) => call.end(),
    StreamMetricSpec: (call: grpc.ServerWritableStream<Ref, unknown>) => call.end(),
  };
  server.addService(externalScalerService(), implementation);
  const grpcPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => (error ? reject(error) : resolve(port))),
  );
  return {
    grpcPort,
    running: {
      stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
    },
  };
}

async function startFixture(count: number): Promise<{ running: Running; fixturePorts: number[] }> {
  const text = readVllmFixture();
  const servers: FixtureServer[] = [];
  for (let i = 0; i < count; i++) servers.push(await startFixtureServer(text));
  const served = () => servers.reduce((n, s) => n + s.served(), 0);
  let atBegin = 0;
  return {
    fixturePorts: servers.map((s) => s.port),
    running: {
      stop: async () => {
        await Promise.all(servers.map((s) => s.close()));
      },
      window: {
        begin() {
          atBegin = served();
        },
        end() {
          return { served: served() - atBegin };
        },
      },
    },
  };
}

/**
 * Simulated vLLM workers with live histograms: each ticks every `tickMs` at its own constant load
 * (loads[i % loads.length]), so TTFT/ITL histograms and token counters grow between scrapes.
 */
async function startSimulated(count: number, tickMs: number, loads: number[], engines: number): Promise<{ running: Running; fixturePorts: number[] }> {
  const { SimulatedVllmWorker } = await import('../src/cli/demo/simulated-worker.js');
  const workers = Array.from({ length: count }, (_, i) => new SimulatedVllmWorker({ seed: i + 1, engines, tickMs, load: loads[i % loads.length] ?? 0.6 }));
  const ports: number[] = [];
  for (const w of workers) ports.push(await w.start());
  // Some history before the scaler's first scrape, so the first window already has observations.
  for (const w of workers) w.tick(1);
  const scrapes = () => workers.reduce((n, w) => n + w.scrapes, 0);
  let atBegin = 0;
  return {
    fixturePorts: ports,
    running: {
      stop: async () => {
        await Promise.all(workers.map((w) => w.close()));
      },
      window: {
        begin() {
          atBegin = scrapes();
        },
        end() {
          return { served: scrapes() - atBegin };
        },
      },
    },
  };
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      workers: { type: 'string', default: '4' },
      servers: { type: 'string', default: '1' },
      'target-ports': { type: 'string' },
      /** Configuration keys (JSON) over the default single-pool one, e.g. other pools or checkInterval. */
      config: { type: 'string' },
      'prometheus-url': { type: 'string' },
      'prometheus-selector': { type: 'string', default: '{job="bench"}' },
      'prometheus-timeout': { type: 'string', default: '5s' },
      'tick-ms': { type: 'string', default: '100' },
      loads: { type: 'string', default: '0.6' },
      engines: { type: 'string', default: '2' },
    },
  });
  const mode = positionals[0] as ChildMode | undefined;
  let running: Running;
  if (mode === 'scaler') {
    const targetPorts = values['target-ports']?.split(',').map(Number);
    const promUrl = values['prometheus-url'];
    const prometheus = promUrl !== undefined ? { url: promUrl, selector: values['prometheus-selector'], timeout: values['prometheus-timeout'] } : undefined;
    const started = await startScaler(Number(values.workers), targetPorts, values.config, prometheus);
    running = started.running;
    send({ type: 'ready', grpcPort: started.grpcPort, httpPort: started.httpPort });
  } else if (mode === 'baseline') {
    const started = await startBaseline();
    running = started.running;
    send({ type: 'ready', grpcPort: started.grpcPort });
  } else if (mode === 'fixture') {
    const started = await startFixture(Number(values.servers));
    running = started.running;
    send({ type: 'ready', fixturePorts: started.fixturePorts });
  } else if (mode === 'fleet') {
    const fleet = await startVllmFleet(readVllmFixture(), Number(values.servers), Number(values['tick-ms']));
    let atBegin = 0;
    running = {
      stop: () => fleet.close(),
      window: {
        begin: () => {
          atBegin = fleet.served();
        },
        end: () => ({ served: fleet.served() - atBegin }),
      },
    };
    send({ type: 'ready', fixturePorts: [...fleet.ports] });
  } else if (mode === 'simulated') {
    const loads = values.loads.split(',').map(Number);
    const started = await startSimulated(Number(values.servers), Number(values['tick-ms']), loads, Number(values.engines));
    running = started.running;
    send({ type: 'ready', fixturePorts: started.fixturePorts });
  } else {
    throw new Error(`unknown mode '${String(mode)}'; expected scaler, baseline, fixture, fleet or simulated`);
  }

  let cpu = process.cpuUsage();
  let elu = performance.eventLoopUtilization();
  let wall = performance.now();
  process.on('message', (message: ParentMessage) => {
    if (message.type === 'begin') {
      void Promise.resolve(running.window?.begin()).then(() => {
        cpu = process.cpuUsage();
        elu = performance.eventLoopUtilization();
        wall = performance.now();
        send({ type: 'begun' });
      });
    } else if (message.type === 'end') {
      const usedCpu = process.cpuUsage(cpu);
      const usedElu = performance.eventLoopUtilization(elu);
      const wallMs = performance.now() - wall;
      void Promise.resolve(running.window?.end() ?? {}).then((extra) => {
        // With --expose-gc the heap is what is live, not live plus garbage waiting to be collected.
        (globalThis as { gc?: () => void }).gc?.();
        const memory = process.memoryUsage();
        send({
          type: 'ended',
          window: {
            cpuUserUs: usedCpu.user,
            cpuSystemUs: usedCpu.system,
            wallMs,
            elu: usedElu.utilization,
            rssBytes: memory.rss,
            heapUsedBytes: memory.heapUsed,
            ...extra,
          },
        });
      });
    } else if (message.type === 'stop') {
      void running.stop().finally(() => process.exit(0));
    }
  });
  // The parent going away must not leave a server behind.
  process.on('disconnect', () => void running.stop().finally(() => process.exit(0)));
}

main().catch((error: unknown) => {
  send({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exit(1);
});
