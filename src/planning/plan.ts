/**
 * `plan`: KEDA targets and replica bounds from observed service times (seed 000's microbenchmark
 * plan), with each class (sentence, token) an M/M/n queue (erlang-c.ts):
 *
 *   λ = target_rps × attach_rate;  λ_token = λ × token_mix;  λ_sentence = λ × (1 − token_mix)
 *   μ_c = gpu_throughput_c per replica;  t_c = SLO_c − p95_c (the time a request may queue)
 *   n_c(x) = the smallest n > x/μ_c with ErlangC(n, x/μ_c) · e^(−(n·μ_c − x)·t_c) ≤ 1 − q
 *   minReplicaCount = Σ_c n_c(λ_c);  maxReplicaCount = Σ_c n_c(peak × λ_c)
 *   backlogSecondsTarget = Σ_c λ_c·t_c / λ
 *   Kafka: lagThresholdPerPartition = ceil(λ / partitions × backlogSecondsTarget)
 */
import { probabilityWaitAbove, serversFor } from './erlang-c.js';
import { PLAN_CLASSES, type PlanClass, type ServiceTimes } from './service-times-file.js';

export interface PlanInputs {
  /** Backlog-seconds SLO per class: the end-to-end time a request may take, queueing included. */
  readonly sloSeconds: Readonly<Record<PlanClass, number>>;
  readonly serviceTimes: ServiceTimes;
  /** The file the service times were read from, for messages. */
  readonly serviceTimesFile?: string;
  /** Chat requests per second at the planned mean. */
  readonly targetRps: number;
  /** Share of chat requests that ask for an explanation (0..1). */
  readonly attachRate: number;
  /** Share of explanations that are token-level (0..1); the rest are sentence-level. */
  readonly tokenMix: number;
  /** Explanations per second one replica (one GPU) completes, per class. */
  readonly gpuThroughput: Readonly<Record<PlanClass, number>>;
  /** q: the share of requests that must start within the allowed queueing time (default 0.95). */
  readonly sloQuantile: number;
  /** Peak rate over the mean, for maxReplicaCount (default 2). */
  readonly peakFactor: number;
  /** Where the values go in the Helm values file (default `explainer.keda`). */
  readonly helmKey: string;
  /** The `pool` of the generated trigger. */
  readonly pool: string;
  readonly scalerAddress: string;
}

export interface ClassPlan {
  /** Arrival rate at the mean, per second. */
  readonly lambda: number;
  /** Service rate of one replica, per second. */
  readonly mu: number;
  /** Allowed queueing time: SLO − p95 service time (seconds). */
  readonly t: number;
  readonly sloSeconds: number;
  readonly p50Seconds: number;
  readonly p95Seconds: number;
  readonly observedRequests: number;
  /** λ/μ at the mean: the replicas that would be busy all the time. */
  readonly offeredLoad: number;
  readonly offeredLoadAtPeak: number;
  readonly replicasAtMean: number;
  readonly replicasAtPeak: number;
  /** P(wait > t) with replicasAtMean at the mean rate (≤ 1 − q by construction). */
  readonly pWaitAboveT: number;
  /** P(wait > t) with replicasAtPeak at the peak rate. */
  readonly pWaitAboveTAtPeak: number;
  /** Share of time a replica is busy at the mean: λ / (n·μ). */
  readonly utilizationAtMean: number;
}

export interface Plan {
  readonly backlogSecondsTarget: number;
  readonly minReplicaCount: number;
  readonly maxReplicaCount: number;
  readonly classes: Readonly<Record<PlanClass, ClassPlan>>;
  readonly kafka?: { readonly partitions: number; readonly lagThresholdPerPartition: number };
  readonly helmValues: Record<string, unknown>;
  readonly scaledObjectTrigger: { readonly type: 'external'; readonly metadata: Readonly<Record<string, string>> };
  readonly assumptions: {
    readonly targetRps: number;
    readonly attachRate: number;
    readonly tokenMix: number;
    readonly lambda: number;
    readonly sloQuantile: number;
    readonly peakFactor: number;
    readonly model: string;
  };
}

/** A bad input, naming the flag or field. */
export class PlanInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PlanInputError';
  }
}

function check(condition: boolean, message: string): void {
  if (!condition) throw new PlanInputError(message);
}

/** The backlog target as a trigger metadata string: 3 decimals, never below the trigger's 0.001. */
export function targetText(seconds: number): string {
  return String(Math.max(0.001, Math.round(seconds * 1000) / 1000));
}

export function makePlan(inputs: PlanInputs): Plan {
  const { targetRps, attachRate, tokenMix, sloQuantile: q, peakFactor } = inputs;
  check(Number.isFinite(targetRps) && targetRps >= 0, `--target-rps: must be a number ≥ 0, got ${targetRps}`);
  check(Number.isFinite(attachRate) && attachRate >= 0 && attachRate <= 1, `--attach-rate: must be a share between 0 and 1, got ${attachRate}`);
  check(Number.isFinite(tokenMix) && tokenMix >= 0 && tokenMix <= 1, `--token-mix: must be a share between 0 and 1, got ${tokenMix}`);
  check(Number.isFinite(q) && q > 0 && q < 1, `--slo-quantile: must be between 0 and 1 (exclusive), got ${q}`);
  check(Number.isFinite(peakFactor) && peakFactor >= 1, `--peak-factor: must be a number ≥ 1, got ${peakFactor}`);
  const lambda = targetRps * attachRate;
  check(lambda > 0, `--target-rps × --attach-rate must be > 0 (no explanations would be asked for), got ${targetRps} × ${attachRate}`);
  const rates: Record<PlanClass, number> = { sentence: lambda * (1 - tokenMix), token: lambda * tokenMix };

  const classes = {} as Record<PlanClass, ClassPlan>;
  for (const c of PLAN_CLASSES) {
    const mu = inputs.gpuThroughput[c];
    check(Number.isFinite(mu) && mu > 0, `--gpu-throughput-${c}: must be a number > 0 (explanations per second per GPU), got ${mu}`);
    const slo = inputs.sloSeconds[c];
    check(Number.isFinite(slo) && slo > 0, `--backlog-seconds-slo: the ${c} SLO must be a number of seconds > 0, got ${slo}`);
    const observed = inputs.serviceTimes[c];
    const t = slo - observed.p95;
    const field = `${c}.p95${inputs.serviceTimesFile ? ` in ${inputs.serviceTimesFile}` : ''}`;
    check(
      t > 0,
      `class ${c}: the SLO ${slo} s leaves no time to queue: the observed p95 service time is ${observed.p95} s (${field}), so SLO − p95 = ` +
        `${round(t, 6)} s; raise the ${c} SLO above ${observed.p95} s or make the service faster`,
    );
    const x = rates[c];
    const peak = x * peakFactor;
    const atMean = serversFor(x, mu, t, q);
    const atPeak = serversFor(peak, mu, t, q);
    classes[c] = {
      lambda: x,
      mu,
      t,
      sloSeconds: slo,
      p50Seconds: observed.p50,
      p95Seconds: observed.p95,
      observedRequests: observed.count,
      offeredLoad: x / mu,
      offeredLoadAtPeak: peak / mu,
      replicasAtMean: atMean,
      replicasAtPeak: atPeak,
      pWaitAboveT: atMean === 0 ? 0 : probabilityWaitAbove(atMean, x, mu, t),
      pWaitAboveTAtPeak: atPeak === 0 ? 0 : probabilityWaitAbove(atPeak, peak, mu, t),
      utilizationAtMean: atMean === 0 ? 0 : x / (atMean * mu),
    };
  }

  const minReplicaCount = PLAN_CLASSES.reduce((n, c) => n + classes[c].replicasAtMean, 0);
  const maxReplicaCount = PLAN_CLASSES.reduce((n, c) => n + classes[c].replicasAtPeak, 0);
  const backlogSecondsTarget = PLAN_CLASSES.reduce((s, c) => s + classes[c].lambda * classes[c].t, 0) / lambda;

  const kafkaSettings = inputs.serviceTimes.kafka;
  const kafka =
    kafkaSettings?.enabled === true && kafkaSettings.partitions !== undefined
      ? { partitions: kafkaSettings.partitions, lagThresholdPerPartition: ceilTolerant((lambda / kafkaSettings.partitions) * backlogSecondsTarget) }
      : undefined;

  const values: Record<string, unknown> = { enabled: true, backlogSecondsTarget: round(backlogSecondsTarget, 3), minReplicaCount, maxReplicaCount };
  if (kafka) values['lagThresholdPerPartition'] = kafka.lagThresholdPerPartition;

  return {
    backlogSecondsTarget,
    minReplicaCount,
    maxReplicaCount,
    classes,
    ...(kafka ? { kafka } : {}),
    helmValues: nestUnder(inputs.helmKey, values),
    scaledObjectTrigger: {
      type: 'external',
      metadata: { scalerAddress: inputs.scalerAddress, pool: inputs.pool, metric: 'backlog_seconds', target: targetText(backlogSecondsTarget) },
    },
    assumptions: {
      targetRps,
      attachRate,
      tokenMix,
      lambda,
      sloQuantile: q,
      peakFactor,
      model:
        'each class an M/M/n queue: Poisson arrivals, exponential service at gpu_throughput per replica, one FIFO queue per class; ' +
        'n_c = smallest n > λ_c/μ_c with ErlangC(n, λ_c/μ_c)·exp(−(n·μ_c − λ_c)·t_c) ≤ 1 − q, t_c = SLO_c − p95_c',
    },
  };
}

/** `explainer.keda` + {…} → { explainer: { keda: {…} } }. */
export function nestUnder(path: string, value: Record<string, unknown>): Record<string, unknown> {
  const keys = path.split('.');
  check(keys.length > 0 && keys.every((k) => /^[A-Za-z_][A-Za-z0-9_-]*$/.test(k)), `--helm-key: '${path}' is not a dotted values path such as explainer.keda`);
  let out: Record<string, unknown> = value;
  for (const key of [...keys].reverse()) out = { [key]: out };
  return out;
}

export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** `ceil`, forgiving float noise such as 150 / 12 × 0.64 = 8.000000000000002. */
export function ceilTolerant(x: number): number {
  return Math.ceil(x - 1e-9 * Math.max(1, Math.abs(x)));
}
