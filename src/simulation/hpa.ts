/**
 * The Kubernetes HorizontalPodAutoscaler's decision for External metrics, as the controller
 * computes it (kubernetes/kubernetes `pkg/controller/podautoscaler/replica_calculator.go` and
 * `horizontal.go`):
 *
 * - per metric, AverageValue: usageRatio = value / (target × statusReplicas); outside the tolerance
 *   (|1 − ratio| > 0.1 by default) the proposal is ceil(value / target), else statusReplicas.
 *   Value: usageRatio = value / target; outside the tolerance ceil(ratio × ready pods). Values are
 *   milli-quantities, as KEDA hands them over (int64(value × 1000)).
 * - the arithmetic is float64, as the controller's, with its truncations (int32(…) of a scale-down percentage);
 * - the largest proposal wins; when some metrics are unavailable, the others may scale up but
 *   never down (and with none available nothing changes);
 * - `behavior`: stabilization (scale-up: the lowest recommendation inside the window, scale-down:
 *   the highest; the current count in between), then the rate limits of the policies over their
 *   periods (`selectPolicy` Max: the policy allowing the largest change, Min: the smallest,
 *   Disabled: none), then min/max replicas. Scale events are remembered per direction, and the
 *   replicas at the start of a period are the current ones minus what was added plus what was
 *   removed in it.
 * - without `behavior`, Kubernetes' defaults: scale up by at most max(4 pods, 100 %) per 15 s with
 *   no stabilization, scale down by up to 100 % per 15 s after a 300 s stabilization window.
 */
import type { HpaInput, ScalingRulesInput } from './scenario.js';

export interface ScalingPolicy {
  readonly type: 'Pods' | 'Percent';
  readonly value: number;
  readonly periodSeconds: number;
}

export interface ScalingRules {
  readonly stabilizationWindowSeconds: number;
  readonly selectPolicy: 'Max' | 'Min' | 'Disabled';
  readonly policies: readonly ScalingPolicy[];
}

export interface HpaSpec {
  readonly minReplicas: number;
  readonly maxReplicas: number;
  readonly tolerance: number;
  readonly scaleUp: ScalingRules;
  readonly scaleDown: ScalingRules;
}

/** Kubernetes' defaults (pkg/apis/autoscaling/v2/defaults.go). */
export const DEFAULT_SCALE_UP: ScalingRules = {
  stabilizationWindowSeconds: 0,
  selectPolicy: 'Max',
  policies: [
    { type: 'Pods', value: 4, periodSeconds: 15 },
    { type: 'Percent', value: 100, periodSeconds: 15 },
  ],
};
export const DEFAULT_SCALE_DOWN: ScalingRules = {
  stabilizationWindowSeconds: 300,
  selectPolicy: 'Max',
  policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
};

function rules(input: ScalingRulesInput | undefined, defaults: ScalingRules): ScalingRules {
  return {
    stabilizationWindowSeconds: input?.stabilizationWindowSeconds ?? defaults.stabilizationWindowSeconds,
    selectPolicy: input?.selectPolicy ?? defaults.selectPolicy,
    policies: input?.policies ?? defaults.policies,
  };
}

export function hpaSpec(input: Pick<HpaInput, 'minReplicas' | 'maxReplicas' | 'behavior' | 'tolerance'>): HpaSpec {
  return {
    minReplicas: input.minReplicas,
    maxReplicas: input.maxReplicas,
    tolerance: input.tolerance,
    scaleUp: rules(input.behavior?.scaleUp, DEFAULT_SCALE_UP),
    scaleDown: rules(input.behavior?.scaleDown, DEFAULT_SCALE_DOWN),
  };
}

/** One metric as the HPA reads it from KEDA: a value, or unavailable. */
export interface MetricReading {
  readonly name: string;
  readonly type: 'AverageValue' | 'Value';
  readonly target: number;
  /** Undefined: KEDA could not get a value (the HPA counts the metric as invalid). */
  readonly value?: number;
}

export interface HpaDecision {
  readonly desired: number;
  /** Per metric: its proposal, or why it has none. */
  readonly proposals: readonly { readonly name: string; readonly replicas?: number; readonly error?: string }[];
  /** The largest proposal, before behaviour (undefined when no metric could be used). */
  readonly recommendation?: number;
  readonly stabilized?: number;
  /** What limited the result (ScaleUpLimit, TooManyReplicas, …), as the HPA's ScalingLimited condition says. */
  readonly limitedBy?: string;
}

interface Timestamped {
  readonly at: number;
  readonly value: number;
}

/** A metric value as KEDA hands it to the HPA: milli-units, truncated (KEDA's GenerateMetricInMili: int64(v × 1000)). */
function milliValue(value: number): number {
  return Math.trunc(value * 1000);
}

/** A target as a Kubernetes quantity ("600m", "3"): exact milli-units. */
function milliTarget(target: number): number {
  return Math.round(target * 1000);
}

/**
 * One HPA object's controller state: its recommendations and scale events. `sync` is one
 * reconcile (every --horizontal-pod-autoscaler-sync-period, 15 s by default).
 */
export class HpaController {
  private recommendations: Timestamped[] = [];
  private scaleUpEvents: Timestamped[] = [];
  private scaleDownEvents: Timestamped[] = [];

  constructor(readonly spec: HpaSpec) {}

  /**
   * @param now seconds
   * @param current the scale target's spec.replicas
   * @param ready pods that are ready (for Value metrics)
   */
  sync(now: number, current: number, ready: number, metrics: readonly MetricReading[]): HpaDecision {
    const { spec } = this;
    if (this.recommendations.length === 0) this.recommendations.push({ at: now, value: current });
    if (current > spec.maxReplicas) return this.apply(now, current, { desired: spec.maxReplicas, proposals: [], limitedBy: 'TooManyReplicas' });
    if (current < spec.minReplicas) return this.apply(now, current, { desired: spec.minReplicas, proposals: [], limitedBy: 'TooFewReplicas' });

    const proposals: { name: string; replicas?: number; error?: string }[] = [];
    let invalid = 0;
    let largest = -1;
    for (const m of metrics) {
      if (m.value === undefined || !Number.isFinite(m.value)) {
        invalid++;
        proposals.push({ name: m.name, error: 'metric unavailable' });
        continue;
      }
      const replicas = this.proposal(m, current, ready);
      proposals.push({ name: m.name, replicas });
      largest = Math.max(largest, replicas);
    }
    // All invalid, or some invalid and the rest would scale down: keep the current count.
    if (invalid >= metrics.length || (invalid > 0 && largest < current)) return { desired: current, proposals };
    const recommendation = Math.max(0, largest);
    return this.apply(now, current, this.normalize(now, current, recommendation, proposals));
  }

  private proposal(m: MetricReading, current: number, ready: number): number {
    const value = milliValue(m.value as number);
    const target = milliTarget(m.target);
    if (m.type === 'AverageValue') {
      const ratio = value / (target * current);
      return Math.abs(1 - ratio) > this.spec.tolerance ? Math.ceil(value / target) : current;
    }
    const ratio = value / target;
    if (Math.abs(1 - ratio) <= this.spec.tolerance) return current;
    return Math.ceil(ratio * ready);
  }

  private normalize(now: number, current: number, recommendation: number, proposals: HpaDecision['proposals']): HpaDecision {
    const stabilized = this.stabilize(now, current, recommendation);
    const { desired, limitedBy } = this.rateLimit(now, current, stabilized);
    return { desired, proposals, recommendation, stabilized, limitedBy };
  }

  /** horizontal.go stabilizeRecommendationWithBehaviors. */
  private stabilize(now: number, current: number, recommendation: number): number {
    const upCutoff = now - this.spec.scaleUp.stabilizationWindowSeconds;
    const downCutoff = now - this.spec.scaleDown.stabilizationWindowSeconds;
    let up = recommendation;
    let down = recommendation;
    let oldIndex = -1;
    for (const [i, rec] of this.recommendations.entries()) {
      if (rec.at > upCutoff) up = Math.min(up, rec.value);
      if (rec.at > downCutoff) down = Math.max(down, rec.value);
      if (rec.at < upCutoff && rec.at < downCutoff) oldIndex = i;
    }
    let result = current;
    if (result < up) result = up;
    if (result > down) result = down;
    const entry = { at: now, value: recommendation };
    if (oldIndex >= 0) this.recommendations[oldIndex] = entry;
    else this.recommendations.push(entry);
    return result;
  }

  /** horizontal.go convertDesiredReplicasWithBehaviorRate. */
  private rateLimit(now: number, current: number, desired: number): { desired: number; limitedBy?: string } {
    const { spec } = this;
    if (desired > current) {
      let limit = this.scaleUpLimit(now, current);
      if (limit < current) limit = current;
      let maximum = spec.maxReplicas;
      let reason = 'TooManyReplicas';
      if (maximum > limit) {
        maximum = limit;
        reason = 'ScaleUpLimit';
      }
      return desired > maximum ? { desired: maximum, limitedBy: reason } : { desired };
    }
    if (desired < current) {
      let limit = this.scaleDownLimit(now, current);
      if (limit > current) limit = current;
      let minimum = spec.minReplicas;
      let reason = 'TooFewReplicas';
      if (minimum < limit) {
        minimum = limit;
        reason = 'ScaleDownLimit';
      }
      return desired < minimum ? { desired: minimum, limitedBy: reason } : { desired };
    }
    return { desired };
  }

  private changeInPeriod(events: readonly Timestamped[], periodSeconds: number, now: number): number {
    const cutoff = now - periodSeconds;
    let sum = 0;
    for (const e of events) if (e.at > cutoff) sum += e.value;
    return sum;
  }

  /** calculateScaleUpLimitWithScalingRules. */
  private scaleUpLimit(now: number, current: number): number {
    const r = this.spec.scaleUp;
    if (r.selectPolicy === 'Disabled') return current;
    let result = r.selectPolicy === 'Min' ? Number.MAX_SAFE_INTEGER : Number.MIN_SAFE_INTEGER;
    for (const p of r.policies) {
      const start = current - this.changeInPeriod(this.scaleUpEvents, p.periodSeconds, now) + this.changeInPeriod(this.scaleDownEvents, p.periodSeconds, now);
      const proposed = p.type === 'Pods' ? start + p.value : Math.ceil(start * (1 + p.value / 100));
      result = r.selectPolicy === 'Min' ? Math.min(result, proposed) : Math.max(result, proposed);
    }
    return result;
  }

  /** calculateScaleDownLimitWithBehaviors. */
  private scaleDownLimit(now: number, current: number): number {
    const r = this.spec.scaleDown;
    if (r.selectPolicy === 'Disabled') return current;
    let result = r.selectPolicy === 'Min' ? Number.MIN_SAFE_INTEGER : Number.MAX_SAFE_INTEGER;
    for (const p of r.policies) {
      const start = current - this.changeInPeriod(this.scaleUpEvents, p.periodSeconds, now) + this.changeInPeriod(this.scaleDownEvents, p.periodSeconds, now);
      const proposed = p.type === 'Pods' ? start - p.value : Math.trunc(start * (1 - p.value / 100));
      result = r.selectPolicy === 'Min' ? Math.max(result, proposed) : Math.min(result, proposed);
    }
    return result;
  }

  /** Records the scale event when the count changes (storeScaleEvent), dropping events older than the longest period. */
  private apply(now: number, current: number, decision: HpaDecision): HpaDecision {
    if (decision.desired === current) return decision;
    const up = decision.desired > current;
    const r = up ? this.spec.scaleUp : this.spec.scaleDown;
    const longest = Math.max(0, ...r.policies.map((p) => p.periodSeconds));
    const kept = (up ? this.scaleUpEvents : this.scaleDownEvents).filter((e) => e.at > now - longest);
    kept.push({ at: now, value: Math.abs(decision.desired - current) });
    if (up) this.scaleUpEvents = kept;
    else this.scaleDownEvents = kept;
    return decision;
  }
}
