import { z } from 'zod';
import { parseDuration } from './duration.js';

/** HTTP sources implemented today; later sources extend this list. */
export const HTTP_SOURCES = ['vllm', 'sglang', 'trtllm'] as const;
export type HttpSourceKind = (typeof HTTP_SOURCES)[number];

const duration = (what: string) =>
  z.union([z.string(), z.number()]).transform((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === undefined || ms <= 0) {
      ctx.addIssue({
        code: 'custom',
        message: `${what}: '${String(value)}' is not a positive duration; write e.g. 500ms, 1s, 2m or a number of seconds`,
      });
      return z.NEVER;
    }
    return ms;
  });

const port = z.coerce
  .number({ error: 'must be a port number' })
  .int('must be a whole port number')
  .min(0, 'must be between 0 and 65535')
  .max(65535, 'must be between 0 and 65535');

const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):\d{1,5}(\/.*)?$/, "must be host:port (optionally with a path, e.g. 10.0.0.7:8000/metrics)");

const discovery = z.strictObject({
  dns: z.string().min(1, 'must name a DNS name, e.g. a headless Service'),
  port: port,
  path: z.string().startsWith('/').default('/metrics'),
  /** Ask this DNS server (host:port) instead of the system resolver. */
  server: z.string().regex(/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:.]+\]:\d{1,5}$/, 'must be host:port of a DNS server').optional(),
});

const activation = z.strictObject({
  source: z.enum(HTTP_SOURCES, { error: `must be one of ${HTTP_SOURCES.join(', ')}` }),
  targets: z.array(hostPort).optional(),
  discovery: discovery.optional(),
  metric: z.string().default('queue_depth'),
  threshold: z.coerce.number().min(0, 'must be ≥ 0').default(0),
  model: z.string().optional(),
});

const poolName = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, 'must be lowercase letters, digits and dashes (it becomes part of metric names)');

const pool = z.strictObject({
  name: poolName,
  source: z.enum(HTTP_SOURCES, { error: `must be one of ${HTTP_SOURCES.join(', ')}` }),
  targets: z.array(hostPort).optional(),
  discovery: discovery.optional(),
  model: z.string().min(1).optional(),
  scheme: z.enum(['http', 'https']).default('http'),
  activation: activation.optional(),
  defaultMetric: z.string().optional(),
});

export const configSchema = z
  .strictObject({
    grpc: z.strictObject({ host: z.string().default('0.0.0.0'), port: port.default(9090) }).default({ host: '0.0.0.0', port: 9090 }),
    http: z.strictObject({ host: z.string().default('0.0.0.0'), port: port.default(8080) }).default({ host: '0.0.0.0', port: 8080 }),
    checkInterval: duration('checkInterval').default(1000),
    cacheTtl: duration('cacheTtl').default(5000),
    scrape: z
      .strictObject({
        timeout: duration('scrape.timeout').default(2000),
        concurrency: z.coerce.number().int().min(1, 'must be ≥ 1').default(64),
        maxBodyBytes: z.coerce.number().int().min(1024, 'must be ≥ 1024').default(8 * 1024 * 1024),
      })
      .default({ timeout: 2000, concurrency: 64, maxBodyBytes: 8 * 1024 * 1024 }),
    historySize: z.coerce.number().int().min(2, 'must be ≥ 2').default(120),
    defaultTarget: z.coerce.number().positive('must be > 0').optional(),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    pools: z.array(pool).min(1, 'at least one pool is needed (or use --targets to build a default pool)'),
  })
  .superRefine((config, ctx) => {
    const seen = new Set<string>();
    config.pools.forEach((p, index) => {
      if (seen.has(p.name)) ctx.addIssue({ code: 'custom', path: ['pools', index, 'name'], message: `pool '${p.name}' is declared twice` });
      seen.add(p.name);
      const where = (p.targets ? 1 : 0) + (p.discovery ? 1 : 0);
      if (where !== 1) {
        ctx.addIssue({ code: 'custom', path: ['pools', index], message: 'needs exactly one of targets or discovery' });
      }
      if (p.activation && (p.activation.targets ? 1 : 0) + (p.activation.discovery ? 1 : 0) !== 1) {
        ctx.addIssue({ code: 'custom', path: ['pools', index, 'activation'], message: 'needs exactly one of targets or discovery' });
      }
    });
    if (config.scrape.timeout > 60_000) {
      ctx.addIssue({ code: 'custom', path: ['scrape', 'timeout'], message: 'must be at most 60s' });
    }
  });

export type ScalerConfig = z.output<typeof configSchema>;
export type PoolConfig = ScalerConfig['pools'][number];
export type DiscoveryConfig = z.output<typeof discovery>;
export type ActivationConfig = z.output<typeof activation>;
