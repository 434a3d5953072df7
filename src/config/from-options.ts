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
  checkInterval?: string;
  cacheTtl?: string;
  scrapeTimeout?: string;
  scrapeConcurrency?: string;
  maxBodyBytes?: string;
  threshold?: string;
  logLevel?: string;
  /** The default pool, built when no configuration file is given. */
  poolName?: string;
  source?: string;
  targets?: string;
  dns?: string;
  dnsPort?: string;
  model?: string;
  metric?: string;
}

/** Merges file, environment and flags (commander has already applied env < flags) and validates. */
export async function configFromOptions(options: ServeOptions): Promise<ScalerConfig> {
  const file = options.config ? await readConfigFile(options.config) : {};
  const overrides: Record<string, unknown> = {
    grpc: { host: options.host, port: options.port },
    http: { host: options.httpHost, port: options.httpPort },
    checkInterval: options.checkInterval,
    cacheTtl: options.cacheTtl,
    scrape: { timeout: options.scrapeTimeout, concurrency: options.scrapeConcurrency, maxBodyBytes: options.maxBodyBytes },
    defaultTarget: options.threshold,
    logLevel: options.logLevel,
  };
  const defaultPool = defaultPoolFrom(options);
  if (defaultPool) {
    if (options.config) {
      throw new ConfigError('--targets/--dns build a default pool and cannot be combined with --config; declare the pool in the file instead');
    }
    overrides['pools'] = [defaultPool];
  } else if (!options.config) {
    throw new ConfigError('no pools configured: give --config <file>, or --targets host:port[,host:port] (or --dns <name> --dns-port <port>) for a single default pool');
  }
  return validateConfig(mergeConfig(file, prune(overrides)));
}

function defaultPoolFrom(options: ServeOptions): Record<string, unknown> | undefined {
  if (!options.targets && !options.dns) return undefined;
  return prune({
    name: options.poolName ?? 'default',
    source: options.source ?? 'vllm',
    targets: options.targets
      ?.split(',')
      .map((t) => t.trim())
      .filter((t) => t !== ''),
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
