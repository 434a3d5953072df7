/**
 * NATS connection settings for a dynamo-nats pool: credentials and TLS from the pool's `nats`
 * block, reconnecting forever with capped exponential backoff and jitter.
 */
import { readFileSync } from 'node:fs';
import { credsAuthenticator, type ConnectionOptions } from 'nats';
import type { NatsConfig } from '../../config/schema.js';

/**
 * Reconnect delays: 50 ms doubling per attempt up to a cap, each scaled by a random 50–100 %
 * ("equal jitter") so many clients do not hammer a restarted server in lock-step. The cap is half a
 * check interval (between 50 ms and 5 s): a scaler should be back within about one interval of
 * NATS coming back, and a refused TCP connect is cheap.
 */
export class ReconnectBackoff {
  private attempt = 0;
  readonly capMs: number;

  constructor(
    intervalMs: number,
    private readonly random: () => number = Math.random,
  ) {
    this.capMs = Math.min(5000, Math.max(50, intervalMs / 2));
  }

  next(): number {
    const base = Math.min(this.capMs, 50 * 2 ** Math.min(this.attempt, 16));
    this.attempt += 1;
    return Math.round(base * (0.5 + this.random() * 0.5));
  }

  reset(): void {
    this.attempt = 0;
  }
}

/** The URL with any user:password removed, for logs and the pools API. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z]+:\/\/)[^@/]*@/i, '$1');
}

/**
 * Connection options for nats.js. A credentials or TLS file that cannot be read fails the connect
 * attempt with the file named; the caller reports it as the source's problem and tries again.
 */
export function natsConnectionOptions(config: NatsConfig, intervalMs: number, backoff: ReconnectBackoff): ConnectionOptions {
  const url = config.url;
  const options: ConnectionOptions = {
    servers: url,
    name: 'keda-llm-scaler',
    // Reconnect forever: a scaler that gave up on NATS would answer UNAVAILABLE until restarted.
    maxReconnectAttempts: -1,
    reconnectDelayHandler: () => backoff.next(),
    // Notice a half-open connection (no RST, e.g. a partition) within seconds, not the default minutes.
    pingInterval: Math.min(30_000, Math.max(2000, intervalMs * 5)),
    maxPingOut: 2,
    timeout: 5000,
  };
  if (config.user !== undefined) options.user = config.user;
  if (config.pass !== undefined) options.pass = config.pass;
  if (config.token !== undefined) options.token = config.token;
  if (config.credsFile !== undefined) {
    const file = config.credsFile;
    // Read at every (re)connect, so rotated credentials are picked up without a restart.
    options.authenticator = credsAuthenticator(() => readFile(file, 'nats.credsFile'));
  }
  const tls = config.tls;
  if (tls?.ca !== undefined || tls?.cert !== undefined || tls?.key !== undefined || url.startsWith('tls://')) {
    // By path: nats.js reads the files at every (re)connect, so rotated certificates are picked up.
    options.tls = {};
    if (tls?.ca !== undefined) options.tls.caFile = tls.ca;
    if (tls?.cert !== undefined) options.tls.certFile = tls.cert;
    if (tls?.key !== undefined) options.tls.keyFile = tls.key;
  }
  return options;
}

function readFile(file: string, key: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new Error(`cannot read ${key} '${file}': ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}
