/**
 * The scenario file of `simulate`: a workload, a fleet of vLLM replicas, KEDA and HPA settings,
 * SLOs and the strategies to compare (each a list of ScaledObject triggers, or a fixed replica
 * count). Validated with zod: every problem names its key, e.g. `fleet.engine.maxNumSeqs`.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseDuration } from '../config/duration.js';

/** A problem with the scenario (or a file it names), naming the key or file. */
export class ScenarioError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScenarioError';
  }
}

/** A duration (`20m`, `100ms`, `2s` or a number of seconds), in seconds. */
const seconds = (options: { positive?: boolean } = {}) =>
  z.union([z.string(), z.number()]).transform((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === undefined || (options.positive && ms <= 0)) {
      ctx.addIssue({
        code: 'custom',
        message: `'${String(value)}' is not a ${options.positive ? 'positive ' : ''}duration; write e.g. 100ms, 15s, 20m or a number of seconds`,
      });
      return z.NEVER;
    }
    return ms / 1000;
  });

const positive = (what: string) => z.number({ error: `${what} must be a number` }).positive(`${what} must be > 0`);
const nonNegative = (what: string) => z.number({ error: `${what} must be a number` }).nonnegative(`${what} must be ≥ 0`);
const wholeNumber = (what: string, min: number) =>
  z
    .number({ error: `${what} must be a number` })
    .int(`${what} must be a whole number`)
    .min(min, `${what} must be ≥ ${min}`);

const tokenDistribution = z
  .strictObject({
    mean: positive('mean'),
    stdev: nonNegative('stdev').default(0),
    min: wholeNumber('min', 1).default(1),
    max: wholeNumber('max', 1),
  })
  .refine((d) => d.min <= d.max, { message: 'min must not exceed max', path: ['min'] });

const phasedWorkload = z.strictObject({
  rates: z.array(nonNegative('a rate'), { error: 'rates must be a list of requests per second' }).min(1, 'rates needs at least one rate'),
  durationPerRate: seconds({ positive: true }),
  promptTokens: tokenDistribution,
  outputTokens: tokenDistribution,
  /** constant: evenly spaced (guidellm's `constant` profile); poisson: exponential gaps. */
  arrival: z.enum(['constant', 'poisson'], { error: 'arrival must be constant or poisson' }).default('constant'),
  seed: z.number().int('seed must be a whole number').default(1),
  /** guidellm's `samples`: this many distinct (prompt, output) pairs, cycled. */
  samples: wholeNumber('samples', 1).optional(),
});

const traceWorkload = z.strictObject({
  /** CSV with TIMESTAMP,ContextTokens,GeneratedTokens (the Azure LLM inference traces); relative to the scenario file. */
  trace: z.string().min(1, 'trace must name a CSV file'),
  /** Time scale: 2 replays the trace twice as fast. */
  speedup: positive('speedup').default(1),
  seed: z.number().int('seed must be a whole number').default(1),
});

const step = z.strictObject({
  base: nonNegative('base'),
  prefillToken: nonNegative('prefillToken'),
  decodeSeq: nonNegative('decodeSeq'),
  kvToken: nonNegative('kvToken').default(0),
});

const engine = z
  .strictObject({
    kvCacheTokens: wholeNumber('kvCacheTokens', 1),
    maxNumSeqs: wholeNumber('maxNumSeqs', 1),
    maxBatchedTokens: wholeNumber('maxBatchedTokens', 1),
    step,
    /** Tokens per KV block (vLLM's block_size): only the `num_gpu_blocks` label of cache_config_info. */
    blockSize: wholeNumber('blockSize', 1).default(16),
    profile: z.string().optional(),
  })
  .refine((e) => e.maxBatchedTokens >= e.maxNumSeqs, {
    message: 'maxBatchedTokens must be ≥ maxNumSeqs (every running sequence decodes one token per step)',
    path: ['maxBatchedTokens'],
  })
  .refine((e) => e.profile === undefined, {
    message: 'engine.profile (speed from a Dynamo profile) is not available yet: give step { base, prefillToken, decodeSeq, kvToken }',
    path: ['profile'],
  });

const fleet = z.strictObject({
  /** The pool's name: triggers imply it (`pool` may be left out). */
  name: z
    .string()
    .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, 'name must be lowercase letters, digits and dashes')
    .default('llm'),
  model: z.string().min(1).default('Qwen/Qwen3-0.6B'),
  engine,
  startupSeconds: seconds().default(180),
  initialReplicas: wholeNumber('initialReplicas', 1).default(1),
  routing: z.enum(['round-robin', 'least-loaded'], { error: 'routing must be round-robin or least-loaded' }).default('round-robin'),
  /** Share of requests sent to the oldest ready replica whatever its load (a hot replica, e.g. prefix affinity); 0..1. */
  skew: z.number().min(0, 'skew must be between 0 and 1').max(1, 'skew must be between 0 and 1').default(0),
  gpusPerReplica: positive('gpusPerReplica').default(1),
  /** How long a deleted replica keeps serving its in-flight requests before they are aborted. */
  terminationGracePeriodSeconds: seconds().default(30),
});

const policy = z.strictObject({
  type: z.enum(['Pods', 'Percent'], { error: 'type must be Pods or Percent' }),
  value: wholeNumber('value', 1),
  periodSeconds: wholeNumber('periodSeconds', 1).max(1800, 'periodSeconds must be ≤ 1800'),
});

const scalingRules = z.strictObject({
  stabilizationWindowSeconds: wholeNumber('stabilizationWindowSeconds', 0).max(3600, 'stabilizationWindowSeconds must be ≤ 3600').optional(),
  selectPolicy: z.enum(['Max', 'Min', 'Disabled'], { error: 'selectPolicy must be Max, Min or Disabled' }).optional(),
  policies: z.array(policy).min(1, 'policies needs at least one policy').optional(),
});

const hpaFields = {
  minReplicas: wholeNumber('minReplicas', 1),
  maxReplicas: wholeNumber('maxReplicas', 1),
  behavior: z.strictObject({ scaleUp: scalingRules.optional(), scaleDown: scalingRules.optional() }).optional(),
  /** kube-controller-manager's --horizontal-pod-autoscaler-tolerance. */
  tolerance: nonNegative('tolerance').default(0.1),
  /** kube-controller-manager's --horizontal-pod-autoscaler-sync-period. */
  syncPeriod: seconds({ positive: true }).default(15),
};

const hpa = z
  .strictObject(hpaFields)
  .refine((h) => h.minReplicas <= h.maxReplicas, { message: 'minReplicas must not exceed maxReplicas', path: ['minReplicas'] });
const hpaOverride = z.strictObject({
  minReplicas: hpaFields.minReplicas.optional(),
  maxReplicas: hpaFields.maxReplicas.optional(),
  behavior: hpaFields.behavior,
  tolerance: nonNegative('tolerance').optional(),
  syncPeriod: seconds({ positive: true }).optional(),
});

/** A trigger's metadata: KEDA passes strings; YAML numbers and booleans are taken as their text. */
const trigger = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).transform((entry) => {
  const metadata: Record<string, string> = {};
  let metricType: 'AverageValue' | 'Value' = 'AverageValue';
  for (const [key, value] of Object.entries(entry)) {
    if (key === 'metricType') metricType = value === 'Value' ? 'Value' : 'AverageValue';
    else metadata[key] = String(value);
  }
  return { metadata, metricType, declaredMetricType: entry['metricType'] };
});

const strategy = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'name must be letters, digits, dots, dashes or underscores'),
    triggers: z.array(trigger).min(1, 'triggers needs at least one trigger').optional(),
    fixedReplicas: wholeNumber('fixedReplicas', 1).optional(),
    hpa: hpaOverride.optional(),
  })
  .superRefine((s, ctx) => {
    if ((s.triggers === undefined) === (s.fixedReplicas === undefined)) {
      ctx.addIssue({ code: 'custom', message: `strategy '${s.name}' needs either triggers or fixedReplicas (one of them)`, path: ['triggers'] });
    }
    for (const [i, t] of (s.triggers ?? []).entries()) {
      if (t.declaredMetricType !== undefined && t.declaredMetricType !== 'AverageValue' && t.declaredMetricType !== 'Value') {
        ctx.addIssue({ code: 'custom', message: 'metricType must be AverageValue or Value', path: ['triggers', i, 'metricType'] });
      }
    }
  });

export const scenarioSchema = z
  .strictObject({
    workload: z.union([phasedWorkload, traceWorkload], { error: 'workload needs rates + durationPerRate + promptTokens + outputTokens, or trace' }),
    fleet,
    keda: z
      .strictObject({ pollingInterval: seconds({ positive: true }).default(15), useCachedMetrics: z.boolean().default(false) })
      .default({ pollingInterval: 15, useCachedMetrics: false }),
    hpa: hpa.optional(),
    /** The scaler inside: its collection period, sample TTL and history window (src/config's defaults). */
    scaler: z
      .strictObject({
        checkInterval: seconds({ positive: true }).default(1),
        cacheTtl: seconds({ positive: true }).default(5),
        historyWindow: seconds({ positive: true })
          .refine((s) => s >= 10 && s <= 3600, 'historyWindow must be from 10s to 1h')
          .default(600),
      })
      .default({ checkInterval: 1, cacheTtl: 5, historyWindow: 600 }),
    slo: z.strictObject({ ttft: seconds({ positive: true }), itl: seconds({ positive: true }) }),
    strategies: z.array(strategy).min(1, 'strategies needs at least one strategy'),
  })
  .superRefine((s, ctx) => {
    const names = new Set<string>();
    for (const [i, st] of s.strategies.entries()) {
      if (names.has(st.name)) ctx.addIssue({ code: 'custom', message: `strategy name '${st.name}' is used twice`, path: ['strategies', i, 'name'] });
      names.add(st.name);
      if (st.triggers !== undefined && s.hpa === undefined && (st.hpa?.minReplicas === undefined || st.hpa.maxReplicas === undefined)) {
        ctx.addIssue({
          code: 'custom',
          message: `strategy '${st.name}' scales with triggers: give hpa { minReplicas, maxReplicas } (top level or in the strategy)`,
          path: ['strategies', i, 'hpa'],
        });
      }
    }
  });

export type Scenario = z.infer<typeof scenarioSchema>;
export type PhasedWorkload = z.infer<typeof phasedWorkload>;
export type TraceWorkload = z.infer<typeof traceWorkload>;
export type EngineSettings = z.infer<typeof engine>;
export type FleetSettings = z.infer<typeof fleet>;
export type ScalingRulesInput = z.infer<typeof scalingRules>;
export type StrategyInput = z.infer<typeof strategy>;
export type HpaInput = z.infer<typeof hpa>;

export function isTraceWorkload(w: Scenario['workload']): w is TraceWorkload {
  return 'trace' in w;
}

function issuePath(p: readonly PropertyKey[]): string {
  return p
    .map((k) => (typeof k === 'number' ? `[${k}]` : `.${String(k)}`))
    .join('')
    .replace(/^\./, '');
}

/** Validates a parsed scenario; the error lists every problem with its key. */
export function validateScenario(raw: unknown, file: string): Scenario {
  const result = scenarioSchema.safeParse(raw, { reportInput: true });
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const where = issuePath(issue.path) || '(top level)';
    if (issue.code === 'unrecognized_keys') return `  - ${where}: unknown key(s) ${issue.keys.map((k) => `'${k}'`).join(', ')}`;
    if (issue.code === 'invalid_type' && issue.input === undefined) return `  - ${where}: required`;
    return `  - ${where}: ${issue.message}`;
  });
  throw new ScenarioError(`invalid scenario ${file}:\n${lines.join('\n')}`);
}

/** Reads and validates a scenario file (YAML). */
export async function loadScenario(file: string): Promise<{ scenario: Scenario; dir: string }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ScenarioError(`cannot read scenario ${file}: ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw new ScenarioError(`scenario ${file} is not valid YAML: ${(error as Error).message}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new ScenarioError(`scenario ${file} must be a mapping with workload, fleet, slo and strategies`);
  return { scenario: validateScenario(raw, file), dir: path.dirname(path.resolve(file)) };
}
