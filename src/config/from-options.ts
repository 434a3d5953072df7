import { ConfigError, mergeConfig, readConfigFile, validateConfig } from './load.js';
import type { ScalerConfig } from './schema.js';

/**
 * Command-line/environment settings as the CLI collects them. Only values the user actually
 * gave are present, so that flags win over environment and environment over the file.
 */
export interface ServeOptions {
  config?: string;
  host?: string;
  port?: string;
  httpHost?: string;
  httpPort?: string;
  httpUi?: string;
  checkInterval?: string;
  cacheTtl?: string;
  historyWindow?: string;
  scrapeTimeout?: string;
  scrapeConcurrency?: string;
  maxBodyBytes?: string;
  threshold?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
  logLevel?: string;
  /** The default pool, built when no configuration file is given. */
  poolName?: string;
  source?: string;
  targets?: string;
  dns?: string;
  dnsPort?: string;
  model?: string;
  metric?: string;
  /** Dynamo's metrics-keda flags: a default `dynamo-nats` pool for this component. */
  componentName?: string;
  endpointName?: string;
  namespace?: string;
  natsUrl?: string;
  mode?: string;
}

/**
 * The default pool's signal with `--component-name`: a KV-cache fraction, which a 0.7 target
 * (metrics-keda's default threshold) means something for. metrics-keda compared 0.7 with
 * `llm_load_avg`, a mean count of KV blocks, so HPA aimed at 0.7 blocks per pod.
 */
export const DYNAMO_DEFAULT_METRIC = 'kv_cache_usage';
/** metrics-keda's `--threshold` default, kept when the default signal is a fraction. */
export const DYNAMO_DEFAULT_THRESHOLD = 0.7;

const DYNAMO_POOL_FLAGS = [
  ['endpointName', '--endpoint-name'],
  ['namespace', '--namespace'],
  ['natsUrl', '--nats-url'],
  ['mode', '--mode'],
] as const;

/** Merges file, environment and flags (commander has already applied env < flags) and validates. */
export async function configFromOptions(options: ServeOptions): Promise<ScalerConfig> {
  const file = options.config ? await readConfigFile(options.config) : {};
  const overrides: Record<string, unknown> = {
    grpc: { host: options.host, port: options.port },
    http: { host: options.httpHost, port: options.httpPort, ui: options.httpUi },
    checkInterval: options.checkInterval,
    cacheTtl: options.cacheTtl,
    historyWindow: options.historyWindow,
    scrape: { timeout: options.scrapeTimeout, concurrency: options.scrapeConcurrency, maxBodyBytes: options.maxBodyBytes },
    defaultTarget: options.threshold,
    tls: { cert: options.tlsCert, key: options.tlsKey, clientCa: options.tlsClientCa },
    logLevel: options.logLevel,
  };
  const defaultPool = options.componentName ? dynamoPoolFrom(options) : defaultPoolFrom(options);
  if (defaultPool) {
    if (options.config) {
      const flags = options.componentName ? '--component-name builds' : '--targets/--dns build';
      throw new ConfigError(`${flags} a default pool and cannot be combined with --config; declare the pool in the file instead`);
    }
    overrides['pools'] = [defaultPool];
    // metrics-keda's default threshold, for its default-shaped deployment (`--component-name` only).
    if (options.componentName && options.threshold === undefined && defaultPool['defaultMetric'] === DYNAMO_DEFAULT_METRIC) {
      overrides['defaultTarget'] = DYNAMO_DEFAULT_THRESHOLD;
    }
  } else if (!options.config) {
    throw new ConfigError(
      'no pools configured: give --config <file>, or --targets host:port[,host:port] (or --dns <name> --dns-port <port>) for a single default pool, or ' +
        '--component-name <name> for a default Dynamo (NATS) pool',
    );
  }
  if (!options.componentName) {
    const stray = DYNAMO_POOL_FLAGS.filter(([key]) => options[key] !== undefined).map(([, flag]) => flag);
    if (stray.length > 0) {
      throw new ConfigError(`${stray.join(', ')} describe the default Dynamo pool and need --component-name (or declare a dynamo-nats pool in --config)`);
    }
  }
  return validateConfig(mergeConfig(file, prune(overrides)));
}

/** `--component-name` (metrics-keda's flag) builds a `dynamo-nats` pool, as `--targets` builds an HTTP one. */
function dynamoPoolFrom(options: ServeOptions): Record<string, unknown> {
  if (options.targets || options.dns) {
    throw new ConfigError('--component-name builds a default dynamo-nats pool (workers found over NATS) and cannot be combined with --targets/--dns');
  }
  if (options.source !== undefined && options.source !== 'dynamo-nats') {
    throw new ConfigError(`--component-name builds a dynamo-nats pool, but --source is '${options.source}'; drop --source or use --targets for an HTTP pool`);
  }
  return {
    ...prune({
      name: options.poolName ?? 'default',
      source: 'dynamo-nats',
      component: options.componentName,
      endpoint: options.endpointName,
      namespace: options.namespace,
      mode: options.mode,
      model: options.model,
      defaultMetric: options.metric ?? DYNAMO_DEFAULT_METRIC,
    }),
    // Always present, so the schema's default URL shows in the effective configuration.
    nats: prune({ url: options.natsUrl }),
  };
}

function defaultPoolFrom(options: ServeOptions): Record<string, unknown> | undefined {
  if (options.dnsPort !== undefined && options.dns === undefined) {
    throw new ConfigError('--dns-port is the metrics port of the workers found with --dns; give --dns <name> too');
  }
  if (options.targets === undefined && options.dns === undefined) return undefined;
  const targets = options.targets
    ?.split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
  if (targets !== undefined && targets.length === 0) {
    throw new ConfigError(`--targets (${JSON.stringify((options.targets ?? '').slice(0, 100))}) lists no worker; give host:port[,host:port]`);
  }
  return prune({
    name: options.poolName ?? 'default',
    source: options.source ?? 'vllm',
    targets,
    discovery: options.dns ? { dns: options.dns, port: options.dnsPort } : undefined,
    model: options.model,
    defaultMetric: options.metric,
  });
}

/** Drops undefined values and objects left empty, so they do not override the file. */
function prune(value: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (v === undefined) continue;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      const inner = prune(v as Record<string, unknown>);
      if (Object.keys(inner).length > 0) out[key] = inner;
    } else {
      out[key] = v;
    }
  }
  return out;
}
