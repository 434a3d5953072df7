/** `plan`'s Markdown: the plan as a table, with the model's assumptions stated. */
import { round, type Plan } from './plan.js';
import { PLAN_CLASSES } from './service-times-file.js';

const fmt = (x: number, digits = 3): string => String(round(x, digits));
const pct = (p: number): string => (p === 0 ? '0 %' : p < 0.0001 ? `${p.toExponential(2)}` : `${fmt(p * 100, 2)} %`);

/** Fewer observed requests than this and a p95 is mostly noise. */
const FEW_OBSERVATIONS = 100;

export function planMarkdown(plan: Plan): string {
  const a = plan.assumptions;
  const rows = PLAN_CLASSES.map((c) => {
    const k = plan.classes[c];
    return (
      `| ${c} | ${fmt(k.lambda)} | ${fmt(k.mu)} | ${fmt(k.sloSeconds)} | ${fmt(k.p95Seconds)} | ${fmt(k.t)} | ${fmt(k.offeredLoad)} | ` +
      `${k.replicasAtMean} | ${pct(k.pWaitAboveT)} | ${fmt(k.utilizationAtMean * 100, 1)} % | ${k.replicasAtPeak} | ${pct(k.pWaitAboveTAtPeak)} |`
    );
  });
  const few = PLAN_CLASSES.filter((c) => plan.classes[c].observedRequests < FEW_OBSERVATIONS);
  const lines = [
    '# KEDA thresholds',
    '',
    '| value | |',
    '|---|---|',
    `| backlogSecondsTarget | ${fmt(plan.backlogSecondsTarget)} s |`,
    `| minReplicaCount | ${plan.minReplicaCount} |`,
    `| maxReplicaCount | ${plan.maxReplicaCount} |`,
    ...(plan.kafka ? [`| Kafka lagThresholdPerPartition | ${plan.kafka.lagThresholdPerPartition} (${plan.kafka.partitions} partitions) |`] : []),
    '',
    '## Per class',
    '',
    `| class | λ (req/s) | μ per replica (req/s) | SLO (s) | p95 service (s) | t = SLO − p95 (s) | offered load λ/μ | replicas at mean | ` +
      `P(wait > t) | utilisation | replicas at peak (×${fmt(a.peakFactor)}) | P(wait > t) at peak |`,
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    '## Assumptions',
    '',
    `- λ = target RPS ${fmt(a.targetRps)} × attach rate ${fmt(a.attachRate)} = ${fmt(a.lambda)} explanations/s; token share ${fmt(a.tokenMix)}.`,
    `- Each class is an M/M/n queue: Poisson arrivals, exponential service at the GPU throughput per replica, one FIFO queue per class.`,
    `- A class gets the fewest replicas n > λ/μ for which P(wait > t) = ErlangC(n, λ/μ) · e^(−(nμ − λ)t) ≤ 1 − q, with q = ${fmt(a.sloQuantile)}: ` +
      `at least ${fmt(a.sloQuantile * 100, 1)} % of requests start within t = SLO − p95.`,
    `- minReplicaCount covers the mean rate, maxReplicaCount the peak (×${fmt(a.peakFactor)}); backlogSecondsTarget = Σ λ_c·t_c / λ.`,
    ...(plan.kafka ? [`- Kafka: lagThresholdPerPartition = ceil(λ / ${plan.kafka.partitions} partitions × backlogSecondsTarget).`] : []),
    ...(few.length > 0
      ? [`- Few observed requests for ${few.map((c) => `${c} (${plan.classes[c].observedRequests})`).join(', ')}: the p95 is uncertain; measure longer.`]
      : []),
    '',
    '## ScaledObject trigger',
    '',
    '```yaml',
    `- type: ${plan.scaledObjectTrigger.type}`,
    '  metadata:',
    ...Object.entries(plan.scaledObjectTrigger.metadata).map(([k, v]) => `    ${k}: ${JSON.stringify(v)}`),
    '```',
    '',
  ];
  return lines.join('\n');
}
