/**
 * llm-d Workload Variant Autoscaler (WVA) V1 "percentage-based" saturation analyzer, as pure
 * functions: `analyzeSaturation` is WVA's `AnalyzeModelSaturation` and `saturationTarget` its
 * `CalculateSaturationTargets`, for one variant (a pool is one Deployment of one model).
 *
 * Source: llm-d/llm-d-workload-variant-autoscaler `internal/saturation/analyzer.go` and
 * `constants.go`. The arithmetic keeps WVA's order of floating-point operations, so values right
 * at a trigger fall on the same side as in WVA.
 */
import { round6 as round } from '../signals/rounding.js';

export interface WvaConfig {
  /** A replica is saturated when its KV-cache usage (0..1) is ≥ this. */
  readonly kvCacheThreshold: number;
  /** A replica is saturated when its waiting requests are ≥ this. */
  readonly queueLengthThreshold: number;
  /** Scale up when the average spare KV over non-saturated replicas is < this. */
  readonly kvSpareTrigger: number;
  /** Scale up when the average spare queue over non-saturated replicas is < this. */
  readonly queueSpareTrigger: number;
}

/** WVA's defaults (`interfaces.DefaultSaturationScalingConfig`, docs/saturation-scaling-config.md). */
export const WVA_DEFAULTS: WvaConfig = {
  kvCacheThreshold: 0.8,
  queueLengthThreshold: 5,
  kvSpareTrigger: 0.1,
  queueSpareTrigger: 3,
};

/** WVA: "MinNonSaturatedReplicasForScaleDown" — fewer cannot absorb a removed replica's load. */
export const MIN_NON_SATURATED_FOR_SCALE_DOWN = 2;

/**
 * WVA's `SaturationScalingConfig.Validate`: the ranges, and kvCacheThreshold ≥ kvSpareTrigger.
 * Returns the offending key and why, or undefined when the configuration is valid.
 */
export function validateWvaConfig(c: WvaConfig): { key: keyof WvaConfig; message: string } | undefined {
  if (!(c.kvCacheThreshold >= 0 && c.kvCacheThreshold <= 1)) return { key: 'kvCacheThreshold', message: `must be between 0 and 1, got ${c.kvCacheThreshold}` };
  if (!(c.queueLengthThreshold >= 0)) return { key: 'queueLengthThreshold', message: `must be ≥ 0, got ${c.queueLengthThreshold}` };
  if (!(c.kvSpareTrigger >= 0 && c.kvSpareTrigger <= 1)) return { key: 'kvSpareTrigger', message: `must be between 0 and 1, got ${c.kvSpareTrigger}` };
  if (!(c.queueSpareTrigger >= 0)) return { key: 'queueSpareTrigger', message: `must be ≥ 0, got ${c.queueSpareTrigger}` };
  if (c.kvCacheThreshold < c.kvSpareTrigger) {
    return { key: 'kvSpareTrigger', message: `kvCacheThreshold (${c.kvCacheThreshold}) must be ≥ kvSpareTrigger (${c.kvSpareTrigger})` };
  }
  return undefined;
}

/** One replica that reports both metrics (WVA reads `max_over_time[1m]` of each per pod). */
export interface ReplicaMetrics {
  readonly name: string;
  readonly kvCacheUsage: number;
  readonly queueLength: number;
}

export interface ReplicaVerdict extends ReplicaMetrics {
  readonly saturated: boolean;
  /** Why it is saturated, e.g. "kv 0.9 ≥ 0.8". */
  readonly why?: string;
  /** Spare capacity, for non-saturated replicas only (saturated ones are left out of the averages). */
  readonly spareKv?: number;
  readonly spareQueue?: number;
}

export interface ScaleDownCheck {
  readonly safe: boolean;
  /** Why not, or the simulated N → N−1 redistribution. */
  readonly reason: string;
  readonly remainingSpareKv?: number;
  readonly remainingSpareQueue?: number;
}

export interface SaturationAnalysis {
  /** Replicas with metrics (WVA's metrics replica count, its "ready" replicas). */
  readonly totalReplicas: number;
  readonly nonSaturatedCount: number;
  readonly replicas: readonly ReplicaVerdict[];
  /** Averages over non-saturated replicas only; 0 when every replica is saturated. */
  readonly avgSpareKv: number;
  readonly avgSpareQueue: number;
  readonly shouldScaleUp: boolean;
  readonly scaleUpReason: string;
  readonly scaleDown: ScaleDownCheck;
}

/** WVA `AnalyzeModelSaturation` for a single variant. */
export function analyzeSaturation(replicas: readonly ReplicaMetrics[], config: WvaConfig): SaturationAnalysis {
  if (replicas.length === 0) {
    return {
      totalReplicas: 0,
      nonSaturatedCount: 0,
      replicas: [],
      avgSpareKv: 0,
      avgSpareQueue: 0,
      shouldScaleUp: false,
      scaleUpReason: 'no replica reports metrics',
      scaleDown: { safe: false, reason: 'no replica reports metrics' },
    };
  }

  // analyzeVariant: saturated replicas are listed, the others' spare capacity is summed.
  let totalSpareKv = 0;
  let totalSpareQueue = 0;
  let nonSaturated = 0;
  const verdicts: ReplicaVerdict[] = [];
  for (const r of replicas) {
    const kvSaturated = r.kvCacheUsage >= config.kvCacheThreshold;
    const queueSaturated = r.queueLength >= config.queueLengthThreshold;
    if (kvSaturated || queueSaturated) {
      const why = [
        kvSaturated ? `kv ${r.kvCacheUsage} ≥ ${config.kvCacheThreshold}` : '',
        queueSaturated ? `queue ${r.queueLength} ≥ ${config.queueLengthThreshold}` : '',
      ]
        .filter(Boolean)
        .join(' and ');
      verdicts.push({ ...r, saturated: true, why });
    } else {
      const spareKv = config.kvCacheThreshold - r.kvCacheUsage;
      const spareQueue = config.queueLengthThreshold - r.queueLength;
      totalSpareKv += spareKv;
      totalSpareQueue += spareQueue;
      nonSaturated += 1;
      verdicts.push({ ...r, saturated: false, spareKv, spareQueue });
    }
  }
  // The variant's averages, then the model's (total = avg × count, avg = total / count): WVA's order.
  let avgSpareKv = 0;
  let avgSpareQueue = 0;
  if (nonSaturated > 0) {
    const variantAvgKv = totalSpareKv / nonSaturated;
    const variantAvgQueue = totalSpareQueue / nonSaturated;
    avgSpareKv = (variantAvgKv * nonSaturated) / nonSaturated;
    avgSpareQueue = (variantAvgQueue * nonSaturated) / nonSaturated;
  }

  const kvTriggered = avgSpareKv < config.kvSpareTrigger;
  const queueTriggered = avgSpareQueue < config.queueSpareTrigger;
  const reasons: string[] = [];
  if (kvTriggered) reasons.push(`average spare KV ${round(avgSpareKv)} < kvSpareTrigger ${config.kvSpareTrigger}`);
  if (queueTriggered) reasons.push(`average spare queue ${round(avgSpareQueue)} < queueSpareTrigger ${config.queueSpareTrigger}`);
  const allSaturated = nonSaturated === 0 ? 'every replica is saturated, so the average spare capacity is 0: ' : '';

  return {
    totalReplicas: replicas.length,
    nonSaturatedCount: nonSaturated,
    replicas: verdicts,
    avgSpareKv,
    avgSpareQueue,
    shouldScaleUp: kvTriggered || queueTriggered,
    scaleUpReason: reasons.length > 0 ? `${allSaturated}${reasons.join(' and ')}` : '',
    scaleDown: scaleDownCheck(nonSaturated, avgSpareKv, avgSpareQueue, config),
  };
}

/** WVA `isScaleDownSafe`: spread the non-saturated replicas' load over one replica fewer. */
function scaleDownCheck(nonSaturated: number, avgSpareKv: number, avgSpareQueue: number, config: WvaConfig): ScaleDownCheck {
  if (nonSaturated < MIN_NON_SATURATED_FOR_SCALE_DOWN) {
    return { safe: false, reason: `${nonSaturated} non-saturated replica(s); scale-down needs at least ${MIN_NON_SATURATED_FOR_SCALE_DOWN}` };
  }
  const avgKvLoad = config.kvCacheThreshold - avgSpareKv;
  const avgQueueLoad = config.queueLengthThreshold - avgSpareQueue;
  const remaining = nonSaturated - 1;
  const scaleFactor = nonSaturated / remaining;
  const remainingSpareKv = config.kvCacheThreshold - avgKvLoad * scaleFactor;
  const remainingSpareQueue = config.queueLengthThreshold - avgQueueLoad * scaleFactor;
  const kvSafe = remainingSpareKv >= config.kvSpareTrigger;
  const queueSafe = remainingSpareQueue >= config.queueSpareTrigger;
  const spread = `load of ${nonSaturated} non-saturated replicas spread over ${remaining}`;
  const kvText = `spare KV ${round(remainingSpareKv)} ${kvSafe ? '≥' : '<'} kvSpareTrigger ${config.kvSpareTrigger}`;
  const queueText = `spare queue ${round(remainingSpareQueue)} ${queueSafe ? '≥' : '<'} queueSpareTrigger ${config.queueSpareTrigger}`;
  return {
    safe: kvSafe && queueSafe,
    reason: `${spread}: ${kvText}, ${queueText}`,
    remainingSpareKv,
    remainingSpareQueue,
  };
}

/** What the deployment looks like, as WVA's `VariantReplicaState`. */
export interface ReplicaState {
  /** Replicas that exist (WVA: the Deployment's pods; here: the pool's discovered workers). */
  readonly current: number;
  /**
   * WVA's previous decision (the VariantAutoscaling status), 0 or undefined when unset. The scaler
   * leaves it unset: KEDA/HPA own the replica count, and the answer is recomputed from what is
   * observed, so a +1 that has not been applied yet is asked for again rather than compounded.
   */
  readonly desired?: number;
}

export type SaturationDecision = 'scale-up' | 'scale-down' | 'steady' | 'hold';

export interface SaturationTarget {
  readonly target: number;
  readonly decision: SaturationDecision;
  /** The rule that fired, in words. */
  readonly rule: string;
}

/**
 * WVA `CalculateSaturationTargets` for a single variant:
 * - in transition (desired set and ≠ current, or replicas with metrics ≠ current): hold at desired
 *   if set, else current — no decision while replicas are pending or missing metrics;
 * - else start from the replicas with metrics, +1 if the analysis asks to scale up,
 *   −1 if scale-down is safe and more than one replica remains, otherwise unchanged.
 */
export function saturationTarget(analysis: SaturationAnalysis, state: ReplicaState): SaturationTarget {
  const desired = state.desired ?? 0;
  const withMetrics = analysis.totalReplicas;
  const desiredMismatch = desired !== 0 && desired !== state.current;
  const metricsMismatch = withMetrics !== state.current;
  if (desiredMismatch || metricsMismatch) {
    const reasons = [
      desiredMismatch ? `desired(${desired}) != current(${state.current})` : '',
      metricsMismatch ? `metrics(${withMetrics}) != current(${state.current})` : '',
    ].filter(Boolean);
    const target = desiredMismatch ? desired : state.current;
    return {
      target,
      decision: 'hold',
      rule: `in transition (${reasons.join(', ')}): hold at ${desiredMismatch ? 'desired' : 'current'} ${target}, no scaling decision`,
    };
  }
  if (analysis.shouldScaleUp) {
    return { target: withMetrics + 1, decision: 'scale-up', rule: `scale up by 1: ${analysis.scaleUpReason}` };
  }
  if (analysis.scaleDown.safe) {
    if (withMetrics <= 1) return { target: withMetrics, decision: 'steady', rule: 'scale-down is safe but a variant never goes below 1 replica' };
    return { target: withMetrics - 1, decision: 'scale-down', rule: `scale down by 1: ${analysis.scaleDown.reason}` };
  }
  return {
    target: withMetrics,
    decision: 'steady',
    rule:
      `no change: spare capacity is above both triggers (average spare KV ${round(analysis.avgSpareKv)}, queue ${round(analysis.avgSpareQueue)}) ` +
      `and scale-down is unsafe (${analysis.scaleDown.reason})`,
  };
}
