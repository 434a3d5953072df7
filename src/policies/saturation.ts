/**
 * `desired_replicas` with `policy: saturation`: llm-d WVA V1 (wva-saturation.ts) over a pool
 * snapshot — which replicas report both metrics, which are missing, the current count — then
 * shaped by the trigger's behaviour (replica-behaviour.ts).
 */
import { missingLoadMetrics } from '../signals/saturation.js';
import { MetadataError } from '../signals/metadata-error.js';
import { parseNumberKey } from '../signals/metadata-values.js';
import type { Contribution, Evaluation, SignalContext } from '../signals/types.js';
import { notFreshMembers, type FreshWorker } from '../store/pool-store.js';
import { applyBehaviour, behaviourDetails, behaviourKey, parseBehaviour, type ReplicaBehaviour } from './replica-behaviour.js';
import { WVA_DEFAULTS, analyzeSaturation, saturationTarget, validateWvaConfig, type ReplicaMetrics, type WvaConfig } from './wva-saturation.js';
import { round6 } from '../signals/rounding.js';
import { ageOutIn, parsePendingTimeout } from './pending-timeout.js';
import { applyPanic, PANIC_KEYS, panicKey, parsePanic, type PanicConfig } from './panic-window.js';
import { applyTolerance, parseTolerance, TOLERANCE_KEYS, toleranceKey, type Tolerance } from './tolerance.js';

export const WVA_KEYS = [
  'kvCacheThreshold',
  'queueLengthThreshold',
  'kvSpareTrigger',
  'queueSpareTrigger',
  'pendingTimeout',
  // Knative's panic window and AIBrix's tolerance bands, as for composite and saturation-v2.
  ...PANIC_KEYS,
  ...TOLERANCE_KEYS,
] as const;

export interface SaturationPolicyParams {
  readonly policy: 'saturation';
  readonly wva: WvaConfig;
  readonly behaviour: ReplicaBehaviour;
  /** A replica pending, stale or failing this long no longer holds the decision (pending-timeout.ts). */
  readonly pendingTimeoutMs: number;
  readonly panic?: PanicConfig;
  readonly tolerance: Tolerance;
}

export function parseSaturationPolicy(values: ReadonlyMap<string, string>): SaturationPolicyParams {
  const wva: WvaConfig = {
    kvCacheThreshold: parseNumberKey(values, 'kvCacheThreshold', WVA_DEFAULTS.kvCacheThreshold, 'a number between 0 and 1', () => true),
    queueLengthThreshold: parseNumberKey(values, 'queueLengthThreshold', WVA_DEFAULTS.queueLengthThreshold, 'a number ≥ 0', () => true),
    kvSpareTrigger: parseNumberKey(values, 'kvSpareTrigger', WVA_DEFAULTS.kvSpareTrigger, 'a number between 0 and 1', () => true),
    queueSpareTrigger: parseNumberKey(values, 'queueSpareTrigger', WVA_DEFAULTS.queueSpareTrigger, 'a number ≥ 0', () => true),
  };
  const problem = validateWvaConfig(wva);
  if (problem) throw new MetadataError(problem.key, `'${values.get(problem.key) ?? wva[problem.key]}' is not accepted: ${problem.message}`);
  const behaviour = parseBehaviour(values, { defaultMin: 1, lowest: 1, why: 'WVA V1 never scales below 1 replica' });
  return {
    policy: 'saturation',
    wva,
    behaviour,
    pendingTimeoutMs: parsePendingTimeout(values),
    panic: parsePanic(values),
    tolerance: parseTolerance(values),
  };
}

export function saturationPolicyKey(p: SaturationPolicyParams): string {
  const w = p.wva;
  const wva = `${w.kvCacheThreshold}/${w.queueLengthThreshold}/${w.kvSpareTrigger}/${w.queueSpareTrigger}`;
  return `saturation|${wva}|${behaviourKey(p.behaviour)}|${p.pendingTimeoutMs}|${panicKey(p.panic)}|${toleranceKey(p.tolerance)}`;
}

export function computeSaturationPolicy(workers: readonly FreshWorker[], p: SaturationPolicyParams, context: SignalContext): Evaluation {
  const aged = ageOutIn(context.state, notFreshMembers(context.snapshot), context.snapshot.at, p.pendingTimeoutMs);
  const notFresh = aged.kept;
  // Current replicas: every worker of the fleet discovery knows about, fresh or not.
  const current = workers.length + notFresh.length;
  const replicas: ReplicaMetrics[] = [];
  const missing: { worker: string; why: string; fresh: boolean }[] = [];
  for (const { id, sample } of workers) {
    const queue = sample.waiting !== undefined && Number.isFinite(sample.waiting) ? sample.waiting : undefined;
    const kv = sample.kvUsage !== undefined && Number.isFinite(sample.kvUsage) ? sample.kvUsage : undefined;
    if (queue === undefined || kv === undefined) {
      missing.push({ worker: id, why: `does not report ${missingLoadMetrics(queue, kv)}`, fresh: true });
      continue;
    }
    replicas.push({ name: id, kvCacheUsage: kv, queueLength: queue });
  }
  for (const w of notFresh) missing.push({ worker: w.id, why: `${w.state}${w.reason ? `: ${w.reason}` : ''}`, fresh: false });

  const analysis = analyzeSaturation(replicas, p.wva);
  const target = saturationTarget(analysis, { current });
  const panic = applyPanic(target.target, analysis.totalReplicas, context.snapshot.at, p.panic, context.state);
  const tolerated = applyTolerance(panic.value, current, p.tolerance);
  const shaped = applyBehaviour(tolerated.value, current, context.snapshot.at, p.behaviour, context.state);

  const contributions: Contribution[] = analysis.replicas.map((r) =>
    r.saturated
      ? { worker: r.name, excluded: `saturated (${r.why}): left out of the spare-capacity averages` }
      : { worker: r.name, value: round6(r.spareKv as number) },
  );
  // Not-fresh workers are listed by evaluateSignal itself; fresh ones missing a metric are listed here.
  for (const m of missing) {
    if (m.fresh) contributions.push({ worker: m.worker, excluded: `${m.why}: counted in current replicas, not in ready ones (holds the decision)` });
  }

  return {
    ok: true,
    value: shaped.value,
    readyWorkers: analysis.totalReplicas,
    contributions,
    details: {
      policy: 'saturation',
      algorithm: 'llm-d WVA V1 saturation analyzer',
      config: p.wva,
      currentReplicas: current,
      readyReplicas: analysis.totalReplicas,
      replicas: analysis.replicas.map((r) => ({
        worker: r.name,
        kv: r.kvCacheUsage,
        queue: r.queueLength,
        saturated: r.saturated,
        why: r.why,
        spareKv: r.spareKv === undefined ? undefined : round6(r.spareKv),
        spareQueue: r.spareQueue === undefined ? undefined : round6(r.spareQueue),
      })),
      missingMetrics: missing.map(({ worker, why }) => ({ worker, why })),
      timedOut: aged.timedOut.length > 0 ? aged.timedOut.map((t) => ({ worker: t.member.id, why: t.why })) : undefined,
      nonSaturatedCount: analysis.nonSaturatedCount,
      saturatedReplicas: analysis.replicas.filter((r) => r.saturated).map((r) => r.name),
      avgSpareKv: round6(analysis.avgSpareKv),
      avgSpareQueue: round6(analysis.avgSpareQueue),
      shouldScaleUp: analysis.shouldScaleUp,
      scaleUpReason: analysis.scaleUpReason || undefined,
      scaleDownSafe: analysis.scaleDown.safe,
      scaleDownCheck: analysis.scaleDown.reason,
      decision: target.decision,
      rule: target.rule,
      recommendation: target.target,
      panic: panic.details,
      tolerance: tolerated.rule,
      behaviour: behaviourDetails(shaped, p.behaviour),
    },
  };
}
