/** The demo's command-line options, validated: a bad flag stops it (exit 2) with the flag named. */
import { parseDuration } from '../../config/duration.js';
import { ConfigError } from '../../config/load.js';

export const DEMO_SOURCES = ['vllm', 'dynamo'] as const;
export type DemoSource = (typeof DEMO_SOURCES)[number];
export const DEMO_TRANSPORTS = ['auto', 'nats', 'http'] as const;
export type DemoTransport = (typeof DEMO_TRANSPORTS)[number];

export interface DemoOptions {
  workers: number;
  host: string;
  port: number;
  httpPort: number;
  /** Collection period and load-update step, ms. */
  intervalMs: number;
  printEveryMs: number;
  /** Stop after this long; undefined runs until SIGINT/SIGTERM. */
  durationMs?: number;
  /** Period of the load wave, ms. */
  periodMs: number;
  logLevel: string;
  /** Which workers to simulate; default vllm. */
  source?: DemoSource;
  /** Dynamo only: event plane over NATS, system port over HTTP, or NATS when nats-server is on PATH. */
  transport?: DemoTransport;
}

export interface RawDemoOptions {
  workers: string;
  host: string;
  port: string;
  httpPort: string;
  interval: string;
  printEvery: string;
  duration?: string;
  period: string;
  logLevel: string;
  source?: string;
  transport?: string;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function integer(flag: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`${flag}: '${text}' is not accepted; expected a whole number from ${min} to ${max}`);
  }
  return n;
}

function duration(flag: string, text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) {
    throw new ConfigError(`${flag}: '${text}' is not a positive duration; write e.g. 500ms, 2s, 1m or a number of seconds`);
  }
  return ms;
}

function oneOf<T extends string>(flag: string, text: string, accepted: readonly T[]): T {
  if (!(accepted as readonly string[]).includes(text)) {
    throw new ConfigError(`${flag}: '${text}' is not accepted; expected one of ${accepted.join(', ')}`);
  }
  return text as T;
}

export function parseDemoOptions(raw: RawDemoOptions): DemoOptions {
  if (!LOG_LEVELS.includes(raw.logLevel)) {
    throw new ConfigError(`--log-level: '${raw.logLevel}' is not accepted; expected one of ${LOG_LEVELS.join(', ')}`);
  }
  const source = oneOf('--source', raw.source ?? 'vllm', DEMO_SOURCES);
  if (raw.transport !== undefined && source !== 'dynamo') {
    throw new ConfigError('--transport: only applies to --source dynamo');
  }
  return {
    source,
    transport: oneOf('--transport', raw.transport ?? 'auto', DEMO_TRANSPORTS),
    workers: integer('--workers', raw.workers, 1, 64),
    host: raw.host,
    port: integer('--port', raw.port, 0, 65535),
    httpPort: integer('--http-port', raw.httpPort, 0, 65535),
    intervalMs: duration('--interval', raw.interval),
    printEveryMs: duration('--print-every', raw.printEvery),
    durationMs: raw.duration === undefined ? undefined : duration('--duration', raw.duration),
    periodMs: duration('--period', raw.period),
    logLevel: raw.logLevel,
  };
}
