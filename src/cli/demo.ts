/**
 * `keda-llm-scaler demo`: the real scaler plus simulated vLLM workers in one process, no external
 * services. The workers' load rises and falls; every few seconds the demo asks its own gRPC
 * server what KEDA would get (GetMetricSpec → GetMetrics → IsActive) and prints it as a table.
 *
 * `--source dynamo` simulates NVIDIA Dynamo workers instead: over the 2026 event plane when
 * `nats-server` is on PATH (the demo starts one; the pool is `dynamo-nats`, mode `event-plane`),
 * else over the workers' system-port `/metrics` (the pool is `dynamo-http`).
 */
import { Command, Option } from 'commander';
import pino from 'pino';
import { validateConfig } from '../config/load.js';
import type { Logger } from '../log.js';
import { Scaler } from '../scaler.js';
import { DEMO_POOL, startBackend, startDynamoBackend, type DemoBackend } from './demo/backends.js';
import { DEMO_SOURCES, LOG_LEVELS, parseDemoOptions, type DemoOptions, type RawDemoOptions } from './demo/options.js';
import { formatBanner, formatReport, shownHost, viewOf } from './demo/report.js';
import { loadPattern } from './demo/simulated-worker.js';
import { probe, type ProbeResult } from './probe.js';

export function demoCommand(): Command {
  return new Command('demo')
    .description('run the scaler against simulated vLLM (or Dynamo) workers whose load rises and falls, and print what KEDA would see')
    .addOption(new Option('--source <kind>', `simulated workers: ${DEMO_SOURCES.join(' or ')}`).default('vllm'))
    .addOption(
      new Option(
        '--transport <how>',
        'with --source dynamo: nats (event plane; needs nats-server on PATH), http (worker system port), or auto = nats when nats-server is on PATH',
      ),
    )
    .addOption(new Option('--workers <n>', 'simulated workers').default('3'))
    .addOption(new Option('--host <host>', 'listen address of the scaler (gRPC and HTTP)').default('127.0.0.1'))
    .addOption(new Option('--port <port>', 'gRPC port, 0 = any free port').default('9090'))
    .addOption(new Option('--http-port <port>', 'HTTP ops port, 0 = any free port').default('8080'))
    .addOption(new Option('--interval <duration>', 'collection period and load step, e.g. 1s or 200ms').default('1s'))
    .addOption(new Option('--print-every <duration>', 'seconds between tables (or a duration like 500ms)').default('3'))
    .addOption(new Option('--duration <seconds>', 'stop after this many seconds (default: run until Ctrl-C)'))
    .addOption(new Option('--period <seconds>', 'period of the rising and falling load').default('60'))
    .addOption(new Option('--log-level <level>', `scaler log level on stderr: ${LOG_LEVELS.join(', ')}`).default('warn'))
    .action(async (raw: RawDemoOptions) => {
      let options: DemoOptions;
      try {
        options = parseDemoOptions(raw);
      } catch (error) {
        process.stderr.write(`keda-llm-scaler demo: ${(error as Error).message}\n`);
        process.exit(2);
      }
      await runDemo(options);
    });
}

function demoLogger(level: string): Logger {
  // Logs go to stderr so the tables on stdout stay readable.
  return pino({ level, base: { service: 'keda-llm-scaler' }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination(2));
}

/** Runs the demo until `durationMs` passes or SIGINT/SIGTERM arrives. */
export async function runDemo(options: DemoOptions, write: (text: string) => void = (t) => void process.stdout.write(t)): Promise<void> {
  const log = demoLogger(options.logLevel);
  const startScaler = (pool: Record<string, unknown>) =>
    Scaler.start(
      validateConfig({
        grpc: { host: options.host, port: options.port },
        http: { host: options.host, port: options.httpPort },
        checkInterval: `${options.intervalMs}ms`,
        cacheTtl: `${Math.max(5000, 5 * options.intervalMs)}ms`,
        logLevel: options.logLevel,
        pools: [pool],
      }),
      { log },
    );
  let backend: DemoBackend | undefined;
  let scaler: Scaler | undefined;
  try {
    backend = await startBackend(options);
    try {
      scaler = await startScaler(backend.pool);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      // With auto, a scaler that cannot read Dynamo over NATS falls back to the system port.
      if (backend.transport !== 'nats' || options.transport !== 'auto' || /listen|EADDRINUSE/i.test(message)) throw error;
      await backend.close();
      backend = undefined;
      process.stderr.write(`keda-llm-scaler demo: the dynamo-nats pool did not start (${message}); using the HTTP system port instead\n`);
      backend = await startDynamoBackend(options, 'http', `the dynamo-nats pool did not start: ${message}`);
      scaler = await startScaler(backend.pool);
    }
  } catch (error) {
    await backend?.close();
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`keda-llm-scaler demo: ${message}\n`);
    if (/listen|EADDRINUSE/i.test(message)) process.stderr.write('  choose other ports with --port/--http-port (0 = any free port)\n');
    process.exitCode = 1;
    return;
  }
  const running = scaler;
  const { workers, triggers } = backend;

  const started = Date.now();
  const elapsed = () => Date.now() - started;
  // Workers start at different points of the wave, so the fleet is never perfectly uniform.
  const phases = workers.map((_, i) => (i * Math.PI) / (2 * Math.max(1, workers.length)));
  let lastStep = started;
  const step = () => {
    const now = Date.now();
    const t = (now - started) / 1000;
    workers.forEach((w, i) => {
      w.setLoad(loadPattern(t, phases[i] ?? 0, options.periodMs / 1000));
      w.tick?.((now - lastStep) / 1000);
    });
    lastStep = now;
  };
  step();
  const stepper = setInterval(step, Math.min(options.intervalMs, 1000));

  write(formatBanner(options, running, workers, backend));

  const probeAddress = `${shownHost(options.host)}:${running.grpcPort}`;
  // Asked once, as KEDA would for a ScaledObject using it: the status page then shows WVA's decision and why.
  void probe(probeAddress, { pool: DEMO_POOL, metric: 'desired_replicas', policy: 'saturation' }, 2000).catch(() => undefined);
  let printer: NodeJS.Timeout | undefined;
  let printing: Promise<void> = Promise.resolve();
  let stopping = false;
  const print = async () => {
    const results = await Promise.all(triggers.map((t) => probe(probeAddress, { pool: DEMO_POOL, metric: t.metric, target: String(t.target) }, 2000)));
    if (stopping) return;
    write(
      `${formatReport(
        elapsed(),
        workers,
        triggers.map((t, i) => viewOf(t, results[i] as ProbeResult)),
      )}\n`,
    );
  };
  const schedule = () => {
    printer = setTimeout(() => {
      printing = print().catch((error: unknown) => {
        process.stderr.write(`keda-llm-scaler demo: probe failed: ${error instanceof Error ? error.message : String(error)}\n`);
      });
      void printing.then(() => {
        if (!stopping) schedule();
      });
    }, options.printEveryMs);
  };
  schedule();

  await new Promise<void>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = (why: string) => {
      if (stopping) return;
      stopping = true;
      clearTimeout(timer);
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      process.once('SIGINT', () => process.exit(130)); // a second Ctrl-C does not wait
      write(`stopping (${why}) ...\n`);
      resolve();
    };
    const onInt = () => finish('SIGINT');
    const onTerm = () => finish('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    const limit = options.durationMs;
    if (limit !== undefined) timer = setTimeout(() => finish(`--duration ${limit / 1000}s`), limit);
  });

  clearTimeout(printer);
  clearInterval(stepper);
  await printing;
  await running.stop(2000);
  await backend.close();
  write(`demo stopped after ${(elapsed() / 1000).toFixed(1)}s\n`);
  // Everything is closed; should a library keep a handle open, do not hang on it.
  setTimeout(() => process.exit(process.exitCode ?? 0), 2000).unref();
}
