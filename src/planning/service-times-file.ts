/**
 * The observed service-times file `plan` reads and `service-times` writes: per class the p50 and
 * p95 of end-to-end request latency (seconds) and how many requests they were measured on, plus
 * whether work is dispatched over Kafka. JSON Schema: docs/service-times.schema.json (generated
 * from this schema and checked by the tests).
 */
import { z } from 'zod';

export const PLAN_CLASSES = ['sentence', 'token'] as const;
export type PlanClass = (typeof PLAN_CLASSES)[number];

const seconds = (what: string) =>
  z
    .number({ error: `${what} must be a number of seconds` })
    .finite()
    .nonnegative(`${what} must be ≥ 0`);

export const classServiceTimes = z
  .strictObject({
    p50: seconds('p50'),
    p95: seconds('p95'),
    count: z.number({ error: 'count must be a number' }).int('count must be a whole number').nonnegative('count must be ≥ 0'),
  })
  .refine((c) => c.p50 <= c.p95, { message: 'p50 must not exceed p95', path: ['p50'] });

export const kafkaSettings = z
  .strictObject({
    enabled: z.boolean({ error: 'enabled must be true or false' }),
    partitions: z.number({ error: 'partitions must be a number' }).int('partitions must be a whole number').min(1, 'partitions must be ≥ 1').optional(),
  })
  .refine((k) => !k.enabled || k.partitions !== undefined, { message: 'partitions is required when enabled is true', path: ['partitions'] });

/** Where the figures came from (written by `service-times`; informative only). */
const observedFrom = z.strictObject({
  http: z.string().optional(),
  window: z.string().optional(),
  at: z.string().optional(),
  pools: z.record(z.string(), z.string()).optional(),
});

export const serviceTimesFile = z.strictObject({
  sentence: classServiceTimes,
  token: classServiceTimes,
  kafka: kafkaSettings.optional(),
  observed: observedFrom.optional(),
});

export type ClassServiceTimes = z.infer<typeof classServiceTimes>;
export type ServiceTimes = z.infer<typeof serviceTimesFile>;

/** A problem with the file, naming it and the field. */
export class ServiceTimesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ServiceTimesError';
  }
}

/** Parses and validates the file's text; every problem names `file` and the field (e.g. `token.p95`). */
export function parseServiceTimes(text: string, file: string): ServiceTimes {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ServiceTimesError(`${file}: not valid JSON (${(error as Error).message})`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new ServiceTimesError(`${file}: must hold a JSON object with 'sentence' and 'token'`);
  const result = serviceTimesFile.safeParse(raw, { reportInput: true });
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.map(String).join('.') || '(top level)';
    if (issue.code === 'unrecognized_keys') return `${path === '(top level)' ? '' : `${path}: `}unknown field(s) ${issue.keys.map((k) => `'${k}'`).join(', ')}`;
    if (issue.code === 'invalid_type' && issue.input === undefined) return `${path}: required`;
    return `${path}: ${issue.message}`;
  });
  throw new ServiceTimesError(`${file}: ${problems.join('; ')}`);
}

/** The JSON Schema of the file (what docs/service-times.schema.json holds). */
export function serviceTimesJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(serviceTimesFile, { target: 'draft-2020-12' }),
    title: 'Observed service times (keda-llm-scaler plan --observed-service-times-json)',
    description:
      'Per class (sentence, token): p50 and p95 of end-to-end request latency in seconds and the number of requests measured; kafka: whether work is ' +
      'dispatched over Kafka and over how many partitions. Written by keda-llm-scaler service-times.',
  };
}
