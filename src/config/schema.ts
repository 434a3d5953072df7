import { z } from 'zod';
import { DEFAULT_MAX_SERIES } from './bounds.js';
import { formatDuration, parseDuration } from './duration.js';
import { parsePromSelector, type PromMatcher } from './prom-selector.js';
import { profilesSchema } from './profile-schema.js';

/** Sources scraped over HTTP (Prometheus text), each with its engine's metric names. */
export const HTTP_SOURCES = ['vllm', 'sglang', 'trtllm', 'dynamo-http'] as const;
export type HttpSourceKind = (typeof HTTP_SOURCES)[number];
/** Every source a pool can have. */
export const SOURCES = [...HTTP_SOURCES, 'dynamo-nats', 'prometheus'] as const;
export type SourceKind = (typeof SOURCES)[number];
/** How Dynamo workers publish load over NATS; `auto` detects it. */
export const DYNAMO_NATS_MODES = ['auto', 'stats', 'kv-metrics', 'event-plane'] as const;
export type DynamoNatsMode = (typeof DYNAMO_NATS_MODES)[number];

/** What a dynamo-nats pool gets for every key it leaves out (ai-dynamo/dynamo's own defaults where it has one). */
export const DYNAMO_DEFAULTS = {
  /** `DYNAMO_NAMESPACE`'s default. */
  namespace: 'dynamo',
  /** The endpoint whose `$SRV.STATS` carry load: Dynamo's `KV_METRICS_ENDPOINT`. */
  endpoint: 'load_metrics',
  natsUrl: 'nats://127.0.0.1:4222',
  mode: 'auto',
  /** A push worker silent this long is gone (push topics are silent while the worker is idle). */
  workerTtlMs: 10 * 60_000,
  /**
   * A KV-cache fraction, which metrics-keda's 0.7 threshold means something for: metrics-keda
   * compared 0.7 with `llm_load_avg`, a mean count of KV blocks, so HPA aimed at 0.7 blocks per pod.
   */
  metric: 'kv_cache_usage',
} as const;

/** Dynamo's own aggregators wait 300 ms for `$SRV.STATS` replies; never more than half an interval. */
export function defaultStatsWindow(checkIntervalMs: number): number {
  return Math.min(300, Math.max(1, Math.floor(checkIntervalMs / 2)));
}

/**
 * Every duration of the configuration has a lower and an upper bound: below the lower one a timer
 * would spin, and Node's timers hold at most 2^31 − 1 ms (about 24.8 days) — a longer one fires
 * after 1 ms instead (nodejs/node lib/internal/timers.js, TIMEOUT_MAX), a hot loop.
 */
export const DURATION_BOUNDS = {
  checkInterval: [100, 600_000],
  cacheTtl: [100, 3_600_000],
  historyWindow: [10_000, 3_600_000],
  'scrape.timeout': [10, 60_000],
  'prometheus.timeout': [100, 300_000],
  statsWindow: [10, 60_000],
  workerTtl: [1000, 86_400_000],
} as const satisfies Record<string, readonly [number, number]>;
export type DurationKey = keyof typeof DURATION_BOUNDS;

const duration = (what: DurationKey) =>
  z.union([z.string(), z.number()], { error: 'must be a duration such as 500ms, 1s, 2m or a number of seconds' }).transform((value, ctx) => {
    const ms = parseDuration(value);
    const [min, max] = DURATION_BOUNDS[what];
    if (ms === undefined || ms <= 0) {
      ctx.addIssue({
        code: 'custom',
        message: `'${String(value)}' is not a positive duration; write e.g. 500ms, 1s, 2m or a number of seconds`,
      });
      return z.NEVER;
    }
    if (ms < min || ms > max) {
      ctx.addIssue({ code: 'custom', message: `must be from ${formatDuration(min)} to ${formatDuration(max)}` });
      return z.NEVER;
    }
    return ms;
  });

/**
 * A number as written: a YAML number, or a string of decimal digits (flags and environment
 * variables are strings). `""`, `null`, `true` and `0x4e21` are refused, not coerced to 0, 1 or
 * 20001 — a silent coercion binds a random port or changes a bound.
 */
const PLAIN_NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const plainNumber = (what = 'a finite number') =>
  z.union([z.number(), z.string()], { error: `must be ${what}` }).transform((value, ctx) => {
    const text = typeof value === 'string' ? value.trim() : undefined;
    const n = text === undefined ? value : PLAIN_NUMBER.test(text) ? Number(text) : NaN;
    if (typeof n !== 'number' || !Number.isFinite(n)) {
      ctx.addIssue({ code: 'custom', message: `must be ${what} written in decimal digits` });
      return z.NEVER;
    }
    return n;
  });

const port = plainNumber('a port number').pipe(
  z.number().int('must be a whole port number').min(0, 'must be between 0 and 65535').max(65535, 'must be between 0 and 65535'),
);

const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):\d{1,5}(\/.*)?$/, 'must be host:port (optionally with a path, e.g. 10.0.0.7:8000/metrics)');

const dnsServer = z
  .string()
  .regex(/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:.]+\]:\d{1,5}$/, 'must be host:port of a DNS server')
  .optional();

/** Where a pool's pods are found through the Kubernetes API: the EndpointSlices of a Service, or of a label selector. */
const kubernetesDiscovery = z.strictObject({
  namespace: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a Kubernetes namespace name'),
  /** The Service whose EndpointSlices list the workers (label `kubernetes.io/service-name`). */
  service: z
    .string()
    .regex(/^[a-z]([-a-z0-9]*[a-z0-9])?$/, 'must be a Kubernetes Service name')
    .optional(),
  /** A label selector over EndpointSlices (they carry their Service's labels), e.g. app=llama. */
  labelSelector: z.string().min(1, 'must be a Kubernetes label selector such as app=llama').optional(),
  /** The workers' metrics port: a number, or the name of a port of the EndpointSlices. */
  port: z.union([
    port.refine((p) => p > 0, 'must be between 1 and 65535'),
    z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a port name or number'),
  ]),
  /** A kubeconfig file; without it, the pod's service account (in-cluster configuration). */
  kubeconfig: z.string().min(1).optional(),
});

const discovery = z
  .strictObject({
    dns: z.string().min(1, 'must name a DNS name, e.g. a headless Service').optional(),
    port: port.optional(),
    path: z.string().startsWith('/').default('/metrics'),
    /** Ask this DNS server (host:port) instead of the system resolver. */
    server: dnsServer,
    kubernetes: kubernetesDiscovery.optional(),
  })
  .superRefine((d, ctx) => {
    if (d.kubernetes !== undefined) {
      for (const key of ['dns', 'port', 'server'] as const) {
        if (d[key] !== undefined)
          ctx.addIssue({ code: 'custom', path: [key], message: `does not apply to kubernetes discovery (its port is kubernetes.port)` });
      }
      if ((d.kubernetes.service === undefined) === (d.kubernetes.labelSelector === undefined)) {
        ctx.addIssue({ code: 'custom', path: ['kubernetes'], message: 'needs exactly one of service or labelSelector' });
      }
      return;
    }
    if (d.dns === undefined) ctx.addIssue({ code: 'custom', path: ['dns'], message: 'needs dns (a DNS name) or kubernetes (EndpointSlices)' });
    if (d.port === undefined) ctx.addIssue({ code: 'custom', path: ['port'], message: 'required with dns discovery' });
  })
  .transform((d): DiscoveryConfig => {
    if (d.kubernetes !== undefined) return { kubernetes: d.kubernetes, path: d.path };
    return { dns: d.dns ?? '', port: d.port ?? 0, path: d.path, server: d.server };
  });

const activation = z.strictObject({
  source: z.enum(HTTP_SOURCES, { error: `must be one of ${HTTP_SOURCES.join(', ')}` }),
  targets: z.array(hostPort).min(1, 'lists no worker; give at least one host:port').optional(),
  discovery: discovery.optional(),
  metric: z.string().default('queue_depth'),
  threshold: plainNumber().pipe(z.number().min(0, 'must be ≥ 0')).default(0),
  model: z.string().optional(),
});

const nats = z.strictObject({
  url: z
    .string()
    .regex(/^(nats|tls|wss?):\/\/[^\s]+$/, 'must be a NATS URL such as nats://127.0.0.1:4222')
    .default(DYNAMO_DEFAULTS.natsUrl),
  user: z.string().optional(),
  pass: z.string().optional(),
  token: z.string().optional(),
  /** A NATS .creds file (JWT + NKey seed). */
  credsFile: z.string().optional(),
  tls: z.strictObject({ ca: z.string().optional(), cert: z.string().optional(), key: z.string().optional() }).optional(),
});

const headerName = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Where a `source: prometheus` pool reads its workers' series: a Prometheus-compatible HTTP query API. */
const prometheusSource = z.strictObject({
  /** The engine's base URL; `/api/v1/query` is appended (Thanos, Mimir with its prefix, VictoriaMetrics). */
  url: z
    .string()
    .regex(/^https?:\/\/[^\s/]+(\/\S*)?$/, 'must be an http(s) URL such as http://prometheus.monitoring.svc:9090')
    .transform((u) => u.replace(/\/+$/, '')),
  /** PromQL label matchers naming the pool's scrape targets, e.g. {job="vllm", namespace="llm"}. */
  selector: z.string().transform((text, ctx): readonly PromMatcher[] => {
    const parsed = parsePromSelector(text);
    if (!parsed.ok) {
      ctx.addIssue({ code: 'custom', message: parsed.message });
      return z.NEVER;
    }
    return parsed.matchers;
  }),
  /** Which engine's series to read (the same profiles as direct scraping). */
  engine: z.enum(HTTP_SOURCES, { error: `must be one of ${HTTP_SOURCES.join(', ')}` }),
  /** The label whose value is one worker (a scrape target): instance by default, pod is common. */
  workerLabel: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a label name')
    .refine((l) => l !== '__name__', 'must be a target label, not __name__')
    .default('instance'),
  /** Sent with every query, e.g. Authorization, or X-Scope-OrgID for a Mimir tenant. */
  headers: z.record(z.string().regex(headerName, 'must be an HTTP header name'), z.string().regex(/^[^\r\n]*$/, 'must be one line')).optional(),
  tls: z
    .strictObject({
      ca: z.string().min(1).optional(),
      cert: z.string().min(1).optional(),
      key: z.string().min(1).optional(),
      insecureSkipVerify: z.boolean().default(false),
    })
    .optional(),
  /** Per query, connect to last byte; the engine is also asked to give up by then. */
  timeout: duration('prometheus.timeout').default(5000),
  /** Largest query response accepted (a round's largest answer holds one histogram family of every worker). */
  maxBodyBytes: plainNumber()
    .pipe(z.number().int('must be a whole number of bytes').min(1024, 'must be ≥ 1024'))
    .default(64 * 1024 * 1024),
});

/** Dynamo's namespace, component and endpoint become NATS subject tokens (Dynamo uses them the same way). */
const subjectToken = z.string().regex(/^[^\s.*>]+$/, 'cannot be part of a NATS subject (no dots, spaces, * or >)');

const poolName = z.string().regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, 'must be lowercase letters, digits and dashes (it becomes part of metric names)');

const pool = z.strictObject({
  name: poolName,
  source: z.enum(SOURCES, { error: `must be one of ${SOURCES.join(', ')}` }),
  targets: z.array(hostPort).min(1, 'lists no worker; give at least one host:port').optional(),
  discovery: discovery.optional(),
  model: z.string().min(1).optional(),
  scheme: z.enum(['http', 'https']).default('http'),
  activation: activation.optional(),
  defaultMetric: z.string().optional(),
  // prometheus only:
  prometheus: prometheusSource.optional(),
  // dynamo-nats only:
  nats: nats.optional(),
  namespace: subjectToken.optional(),
  component: subjectToken.optional(),
  endpoint: subjectToken.optional(),
  mode: z.enum(DYNAMO_NATS_MODES, { error: `must be one of ${DYNAMO_NATS_MODES.join(', ')}` }).optional(),
  /** How long to gather `$SRV.STATS` replies each round (stats mode). */
  statsWindow: duration('statsWindow').optional(),
  /** A push worker silent for this long is considered gone (push topics are silent while idle). */
  workerTtl: duration('workerTtl').optional(),
  /**
   * KV blocks each worker has (all its data-parallel ranks together), for load messages that
   * report only blocks in use — the 2026 event plane's ActiveLoad. Lets KV usage be computed.
   */
  kvBlocksPerWorker: plainNumber().pipe(z.number().int('must be a whole number of blocks').positive('must be > 0')).optional(),
  /**
   * `custom` series queries collected from start-up (a metric name with optional label matchers),
   * so that a trigger asking for their rate later is answered from what was already collected.
   */
  queries: z.array(z.string().min(1, 'must be a query such as vllm:num_preemptions_total')).max(100, 'at most 100 queries per pool').optional(),
  /** Most workers the pool holds (default 1000, config/bounds.ts); ids past it are refused with cause `max-workers`. */
  maxWorkers: plainNumber().pipe(z.number().int('must be a whole number').min(1, 'must be ≥ 1').max(1_000_000, 'must be ≤ 1000000')).optional(),
});

const NATS_ONLY_KEYS = ['nats', 'namespace', 'component', 'endpoint', 'mode', 'statsWindow', 'workerTtl', 'kvBlocksPerWorker'] as const;

export const configSchema = z
  .strictObject({
    grpc: z.strictObject({ host: z.string().default('0.0.0.0'), port: port.default(9090) }).default({ host: '0.0.0.0', port: 9090 }),
    http: z
      .strictObject({
        host: z.string().default('0.0.0.0'),
        port: port.default(8080),
        /** The status page at `/` (and its `/api/v1/status` JSON); false turns both off. */
        ui: z.union([z.boolean(), z.stringbool()], { error: 'must be true or false' }).default(true),
      })
      .default({ host: '0.0.0.0', port: 8080, ui: true }),
    checkInterval: duration('checkInterval').default(1000),
    cacheTtl: duration('cacheTtl').default(5000),
    scrape: z
      .strictObject({
        timeout: duration('scrape.timeout').default(2000),
        concurrency: plainNumber().pipe(z.number().int('must be a whole number').min(1, 'must be ≥ 1').max(10_000, 'must be ≤ 10000')).default(64),
        maxBodyBytes: plainNumber()
          .pipe(z.number().int('must be a whole number of bytes').min(1024, 'must be ≥ 1024'))
          .default(8 * 1024 * 1024),
        /** Sample lines accepted in one scrape: parsing is synchronous, so an enormous exposition would hold up every KEDA call. */
        maxSeries: plainNumber()
          .pipe(z.number().int('must be a whole number').min(100, 'must be ≥ 100').max(10_000_000, 'must be ≤ 10000000'))
          .default(DEFAULT_MAX_SERIES),
      })
      .default({ timeout: 2000, concurrency: 64, maxBodyBytes: 8 * 1024 * 1024, maxSeries: DEFAULT_MAX_SERIES }),
    /** gRPC TLS: server certificate and key (PEM files); with `clientCa`, clients must present a certificate (mTLS). */
    tls: z
      .strictObject({
        cert: z.string().min(1, 'must name the server certificate PEM file'),
        key: z.string().min(1, 'must name the server private key PEM file'),
        clientCa: z.string().min(1).optional(),
      })
      .optional(),
    /**
     * How far back every worker's history reaches from start-up (full rate for the recent minutes,
     * thinned further back); a trigger asking for a longer window extends it, up to 1h.
     */
    historyWindow: duration('historyWindow').default(600_000),
    defaultTarget: plainNumber().pipe(z.number().positive('must be > 0').max(1e12, 'must be ≤ 1e12')).optional(),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    pools: z.array(pool).min(1, 'at least one pool is needed (or use --targets to build a default pool)'),
    /** Pre-deployment profiles for `policy: sla`, by name (config/profiles.ts). */
    profiles: profilesSchema.optional(),
  })
  .superRefine((config, ctx) => {
    const seen = new Set<string>();
    config.pools.forEach((p, index) => {
      if (seen.has(p.name)) ctx.addIssue({ code: 'custom', path: ['pools', index, 'name'], message: `pool '${p.name}' is declared twice` });
      seen.add(p.name);
      const where = (p.targets ? 1 : 0) + (p.discovery ? 1 : 0);
      if (p.prometheus !== undefined && p.source !== 'prometheus') {
        ctx.addIssue({ code: 'custom', path: ['pools', index, 'prometheus'], message: `only applies to prometheus pools, not ${p.source}` });
      }
      if (p.source === 'prometheus') {
        if (where !== 0)
          ctx.addIssue({
            code: 'custom',
            path: ['pools', index],
            message: 'a prometheus pool finds its workers in the engine (prometheus.selector); remove targets/discovery',
          });
        if (!p.prometheus)
          ctx.addIssue({ code: 'custom', path: ['pools', index, 'prometheus'], message: 'required for a prometheus pool: { url, selector, engine }' });
        for (const key of NATS_ONLY_KEYS) {
          if (p[key] !== undefined) ctx.addIssue({ code: 'custom', path: ['pools', index, key], message: 'only applies to dynamo-nats pools, not prometheus' });
        }
      } else if (p.source === 'dynamo-nats') {
        if (where !== 0)
          ctx.addIssue({ code: 'custom', path: ['pools', index], message: 'a dynamo-nats pool finds its workers over NATS; remove targets/discovery' });
        if (!p.component) ctx.addIssue({ code: 'custom', path: ['pools', index, 'component'], message: 'required for a dynamo-nats pool (e.g. backend)' });
        if (p.queries) {
          ctx.addIssue({
            code: 'custom',
            path: ['pools', index, 'queries'],
            message: "custom queries read an exposition's series: only HTTP pools collect them",
          });
        }
      } else {
        if (where !== 1) ctx.addIssue({ code: 'custom', path: ['pools', index], message: 'needs exactly one of targets or discovery' });
        for (const key of NATS_ONLY_KEYS) {
          if (p[key] !== undefined)
            ctx.addIssue({ code: 'custom', path: ['pools', index, key], message: `only applies to dynamo-nats pools, not ${p.source}` });
        }
      }
      for (const [key, targets] of [
        ['targets', p.targets],
        ['activation', p.activation?.targets],
      ] as const) {
        const twice = repeatedWorker(targets ?? []);
        if (twice) ctx.addIssue({ code: 'custom', path: ['pools', index, ...(key === 'targets' ? [] : ['activation']), 'targets'], message: twice });
      }
      if (p.activation && (p.activation.targets ? 1 : 0) + (p.activation.discovery ? 1 : 0) !== 1) {
        ctx.addIssue({ code: 'custom', path: ['pools', index, 'activation'], message: 'needs exactly one of targets or discovery' });
      }
    });
    if (config.cacheTtl < config.checkInterval) {
      // A sample is collected once per interval: a shorter TTL leaves most of every interval stale.
      ctx.addIssue({
        code: 'custom',
        path: ['cacheTtl'],
        message:
          `(${formatDuration(config.cacheTtl)}) is shorter than checkInterval (${formatDuration(config.checkInterval)}): every sample would go ` +
          'stale before the next one arrives; make cacheTtl at least checkInterval (5 × is usual)',
      });
    }
  })
  .transform((config) => ({ ...config, pools: config.pools.map((p) => withDefaults(p, config.checkInterval)) }));

/**
 * A worker is its host:port (its id in every report and explanation): the same host:port twice,
 * with the same path or two, would be counted twice or merged silently.
 */
function repeatedWorker(targets: readonly string[]): string | undefined {
  const seen = new Map<string, string>();
  for (const target of targets) {
    const slash = target.indexOf('/');
    const hostPort = slash < 0 ? target : target.slice(0, slash);
    const first = seen.get(hostPort);
    if (first !== undefined) {
      return first === target
        ? `'${target}' is listed twice`
        : `'${first}' and '${target}' are the same worker (${hostPort}); one worker has one metrics endpoint — list it once`;
    }
    seen.set(hostPort, target);
  }
  return undefined;
}

type PoolFields = z.output<typeof pool>;
export type NatsConfig = z.output<typeof nats>;
/** A dynamo-nats pool with every default applied. */
export type DynamoNatsPoolConfig = PoolFields & {
  readonly source: 'dynamo-nats';
  readonly component: string;
  readonly namespace: string;
  readonly mode: DynamoNatsMode;
  readonly nats: NatsConfig;
  readonly statsWindow: number;
  readonly workerTtl: number;
  readonly defaultMetric: string;
};
export type HttpPoolConfig = PoolFields & { readonly source: HttpSourceKind };
export type PrometheusSourceConfig = z.output<typeof prometheusSource>;
/** A pool read from a Prometheus-compatible engine instead of its workers. */
export type PrometheusPoolConfig = PoolFields & { readonly source: 'prometheus'; readonly prometheus: PrometheusSourceConfig };
export type PoolConfig = DynamoNatsPoolConfig | HttpPoolConfig | PrometheusPoolConfig;

/** Fills a validated pool's defaults (superRefine has checked that a dynamo-nats pool names its component). */
function withDefaults(p: PoolFields, checkIntervalMs: number): PoolConfig {
  if (p.source === 'prometheus') return { ...p, source: 'prometheus', prometheus: p.prometheus as PrometheusSourceConfig };
  if (p.source !== 'dynamo-nats') return { ...p, source: p.source };
  return {
    ...p,
    source: 'dynamo-nats',
    component: p.component ?? '',
    namespace: p.namespace ?? DYNAMO_DEFAULTS.namespace,
    mode: p.mode ?? DYNAMO_DEFAULTS.mode,
    nats: p.nats ?? { url: DYNAMO_DEFAULTS.natsUrl },
    statsWindow: p.statsWindow ?? defaultStatsWindow(checkIntervalMs),
    workerTtl: p.workerTtl ?? DYNAMO_DEFAULTS.workerTtlMs,
    defaultMetric: p.defaultMetric ?? DYNAMO_DEFAULTS.metric,
  };
}

export type ScalerConfig = z.output<typeof configSchema>;
export type KubernetesDiscoveryConfig = z.output<typeof kubernetesDiscovery>;
export interface DnsDiscoveryConfig {
  readonly dns: string;
  readonly port: number;
  /** The metrics path, `/metrics` unless set. */
  readonly path?: string;
  readonly server?: string;
}
/** A pool's `discovery`: DNS names, or Kubernetes EndpointSlices. */
export type DiscoveryConfig = DnsDiscoveryConfig | { readonly kubernetes: KubernetesDiscoveryConfig; readonly path?: string };
export type ActivationConfig = z.output<typeof activation>;
export type TlsConfig = NonNullable<ScalerConfig['tls']>;
