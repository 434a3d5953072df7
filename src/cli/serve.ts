import { Command, Option } from 'commander';
import { configFromOptions, type ServeOptions } from '../config/from-options.js';
import { ConfigError } from '../config/load.js';
import { DYNAMO_NATS_MODES, HTTP_SOURCES } from '../config/schema.js';
import { createLogger } from '../log.js';
import { Scaler } from '../scaler.js';

/** Every flag is also an environment variable: SCALER_ + the flag in upper snake case. */
function flag(flags: string, description: string): Option {
  const long = /--([a-z-]+)/.exec(flags)?.[1] ?? '';
  return new Option(flags, description).env(`SCALER_${long.replace(/-/g, '_').toUpperCase()}`);
}

export function serveCommand(): Command {
  return (
    new Command('serve')
      .description('run the external scaler (gRPC for KEDA, HTTP for probes, metrics and the pools API)')
      .addOption(flag('-c, --config <file>', 'YAML configuration file with the pools'))
      .addOption(flag('--host <host>', 'gRPC listen address (default 0.0.0.0)'))
      .addOption(flag('--port <port>', 'gRPC port (default 9090)'))
      .addOption(flag('--http-host <host>', 'HTTP listen address (default 0.0.0.0)'))
      .addOption(flag('--http-port <port>', 'HTTP port for /healthz, /readyz, /metrics, /api/v1 (default 8080)'))
      .addOption(flag('--http-ui <true|false>', 'the status page at / on the HTTP port (default true)'))
      .addOption(flag('--check-interval <duration>', 'collection period, e.g. 1s, 500ms or seconds as a number (default 1s)'))
      .addOption(flag('--cache-ttl <duration>', 'a sample older than this is stale (default 5s)'))
      .addOption(flag('--history-window <duration>', "how far back every worker's history reaches, 10s to 1h (default 10m; longer windows extend it)"))
      .addOption(flag('--scrape-timeout <duration>', 'per-worker request timeout (default 2s)'))
      .addOption(flag('--scrape-concurrency <n>', 'scrapes in flight at once, over all pools (default 64)'))
      .addOption(flag('--max-body-bytes <n>', 'largest /metrics body accepted (default 8 MiB)'))
      .addOption(flag('--threshold <number>', 'default target when trigger metadata has none'))
      .addOption(flag('--tls-cert <file>', 'gRPC TLS server certificate (PEM); turns TLS on with --tls-key'))
      .addOption(flag('--tls-key <file>', 'gRPC TLS server private key (PEM)'))
      .addOption(flag('--tls-client-ca <file>', 'CA (PEM) that client certificates must chain to: mutual TLS'))
      .addOption(flag('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default info)'))
      .addOption(flag('--pool-name <name>', 'name of the default pool built from --targets/--dns (default "default")'))
      .addOption(flag('--source <kind>', `default pool's source: ${HTTP_SOURCES.join(', ')} (default vllm; dynamo-nats with --component-name)`))
      .addOption(flag('--targets <list>', "default pool's workers, comma-separated host:port[/path]"))
      .addOption(flag('--dns <name>', "default pool's DNS name (headless Service), re-resolved every interval"))
      .addOption(flag('--dns-port <port>', "default pool's metrics port with --dns"))
      .addOption(flag('--model <name>', "default pool's model filter (model_name label)"))
      .addOption(flag('--metric <signal>', "default pool's signal when trigger metadata has no 'metric'"))
      // Dynamo's metrics-keda flags: --component-name builds a dynamo-nats default pool.
      .addOption(
        flag('--component-name <name>', 'Dynamo component to watch over NATS, e.g. backend: builds a default dynamo-nats pool (metrics-keda compatible)'),
      )
      .addOption(flag('--endpoint-name <name>', "default Dynamo pool's endpoint (default load_metrics, the stats endpoint)"))
      .addOption(flag('--namespace <name>', "default Dynamo pool's Dynamo namespace (Dynamo's default: dynamo)"))
      .addOption(flag('--nats-url <url>', "default Dynamo pool's NATS server (default nats://127.0.0.1:4222)"))
      .addOption(flag('--mode <mode>', `default Dynamo pool's load transport: ${DYNAMO_NATS_MODES.join(', ')} (default auto)`))
      .action(async (options: ServeOptions) => {
        await serve(options);
      })
  );
}

/** The graceful stop's own grace (5 s for in-flight calls) and a margin for closing sockets. */
const SHUTDOWN_DEADLINE_MS = 8000;

async function serve(options: ServeOptions): Promise<void> {
  let scaler: Scaler;
  let log;
  try {
    const config = await configFromOptions(options);
    log = createLogger(config.logLevel);
    scaler = await Scaler.start(config, { log, processMetrics: true });
  } catch (error) {
    // Configuration problems, including unreadable TLS files, exit 2 with the key named.
    if (error instanceof ConfigError) {
      process.stderr.write(`keda-llm-scaler: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  // A reader that went away (`serve | head -1`) must not hold the process: writes to a closed
  // pipe are dropped instead of raising EPIPE again at every log line and at exit.
  process.stdout.on('error', () => undefined);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      // A second signal means now: whatever the graceful stop still waits for.
      process.exit(1);
    }
    stopping = true;
    // The graceful stop gives calls 5 s; should anything hang past that, exit anyway.
    setTimeout(() => process.exit(1), SHUTDOWN_DEADLINE_MS).unref();
    log.info({ signal }, 'shutting down');
    scaler.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
