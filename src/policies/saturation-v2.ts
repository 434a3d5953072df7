/**
 * `desired_replicas` with `policy: saturation-v2`: llm-d WVA V2, the token-based analyzer
 * (wva-v2.ts), over a pool snapshot — which replicas are ready (fresh, with KV usage, queue and
 * `cache_config_info`), which are pending (discovered, never collected yet: anticipated supply),
 * which are failing or stale (they hold the decision), and which are past `pendingTimeout` —
 * then through the panic mode, the tolerance band and the trigger's behaviour.
 */
import { MetadataError } from '../signals/metadata-error.js';
import { optionalNumberKey, parseNumberKey } from '../signals/metadata-values.js';
import type { Contribution, Evaluation, SignalContext } from '../signals/types.js';
import { fleetMeanTokens } from '../signals/windowed/per-request.js';
import { notFreshMembers, type FreshWorker, type StateScope } from '../store/pool-store.js';
import { applyPanic, PANIC_KEYS, panicKey, parsePanic, type PanicConfig } from './panic-window.js';
import { ageOutIn, parsePendingTimeout, PENDING_TIMEOUT_KEYS } from './pending-timeout.js';
import { applyBehaviour, behaviourDetails, behaviourKey, parseBehaviour, type ReplicaBehaviour } from './replica-behaviour.js';
import { applyTolerance, parseTolerance, TOLERANCE_KEYS, toleranceKey, type Tolerance } from './tolerance.js';
import {
  analyzeV2,
  meanOf,
  outputBucket,
  pushK2,
  validateWvaV2Config,
  WVA_V2_DEFAULTS,
  type OutputBucket,
  type V2Replica,
  type WvaV2Config,
} from './wva-v2.js';

/** WVA's ConfigMap names, then the deployment limits for the derived k2. */
export const WVA_V2_KEYS = ['kvCacheThreshold', 'queueLengthThreshold', 'scaleUpThreshold', 'scaleDownBoundary', 'maxNumSeqs', 'maxNumBatchedTokens'] as const;
export const SATURATION_V2_KEYS: readonly string[] = [...WVA_V2_KEYS, ...PANIC_KEYS, ...TOLERANCE_KEYS, ...PENDING_TIMEOUT_KEYS];

export interface SaturationV2Params {
  readonly policy: 'saturation-v2';
  readonly wva: WvaV2Config;
  readonly pendingTimeoutMs: number;
  readonly panic?: PanicConfig;
  readonly tolerance: Tolerance;
  readonly behaviour: ReplicaBehaviour;
}

export function parseSaturationV2(values: ReadonlyMap<string, string>): SaturationV2Params {
  const d = WVA_V2_DEFAULTS;
  const wva: WvaV2Config = {
    kvCacheThreshold: parseNumberKey(values, 'kvCacheThreshold', d.kvCacheThreshold, 'a number > 0 and ≤ 1', () => true),
    queueLengthThreshold: parseNumberKey(values, 'queueLengthThreshold', d.queueLengthThreshold, 'a number ≥ 0', () => true),
    scaleUpThreshold: parseNumberKey(values, 'scaleUpThreshold', d.scaleUpThreshold, 'a number > 0 and ≤ 1', () => true),
    scaleDownBoundary: parseNumberKey(values, 'scaleDownBoundary', d.scaleDownBoundary, 'a number > 0 and ≤ 1', () => true),
    maxNumSeqs: optionalNumberKey(values, 'maxNumSeqs', 'an integer ≥ 1 (vLLM --max-num-seqs)', () => true),
    maxNumBatchedTokens: optionalNumberKey(values, 'maxNumBatchedTokens', 'an integer ≥ 1 (vLLM --max-num-batched-tokens)', () => true),
  };
  const problem = validateWvaV2Config(wva);
  if (problem) throw new MetadataError(problem.key, `'${values.get(problem.key) ?? wva[problem.key]}' is not accepted: ${problem.message}`);
  return {
    policy: 'saturation-v2',
    wva,
    pendingTimeoutMs: parsePendingTimeout(values),
    panic: parsePanic(values),
    tolerance: parseTolerance(values),
    behaviour: parseBehaviour(values, { defaultMin: 1, lowest: 1, why: 'WVA V2 never scales below 1 replica' }),
  };
}

export function saturationV2Key(p: SaturationV2Params): string {
  const w = p.wva;
  const wva = [w.kvCacheThreshold, w.queueLengthThreshold, w.scaleUpThreshold, w.scaleDownBoundary, w.maxNumSeqs ?? '', w.maxNumBatchedTokens ?? ''].join('/');
  return `saturation-v2|${wva}|${p.pendingTimeoutMs}|${panicKey(p.panic)}|${toleranceKey(p.tolerance)}|${behaviourKey(p.behaviour)}`;
}

/**
 * WVA V2 reads the mean prompt and generation lengths as 5-minute rates of the request-token
 * histograms (llm-d/workload-variant-autoscaler internal/collector/registration/saturation.go).
 */
export const MEAN_TOKENS_WINDOW_MS = 5 * 60_000;

/** Mean tokens per request over the last five minutes, else since the workers started, and which it is. */
function meanTokens(workers: readonly FreshWorker[], at: number, which: 'prompt' | 'generation'): { value?: number; over: string } {
  const mean = fleetMeanTokens(workers, MEAN_TOKENS_WINDOW_MS, at, which);
  if (mean.value === undefined) return { over: 'no finished request' };
  if (mean.over === 'window') return { value: mean.value, over: `${mean.requests} requests finished in the last 5m` };
  return { value: mean.value, over: `no request finished in the last 5m: ${mean.requests} requests since the workers started` };
}

/** The observed k2 values of each policy use, per output-length bucket (WVA's rolling window of 10). */
const k2Histories = new WeakMap<StateScope, Map<OutputBucket, number[]>>();

export function computeSaturationV2(workers: readonly FreshWorker[], p: SaturationV2Params, context: SignalContext): Evaluation {
  const at = context.snapshot.at;
  const aged = ageOutIn(context.state, notFreshMembers(context.snapshot), at, p.pendingTimeoutMs);
  // Pending = never collected successfully (starting, refusing or timing out since it appeared);
  // one that reported and then fails is failing, and holds the decision.
  const isPending = (w: { state: string; sample?: unknown }) => w.state === 'pending' || (w.state === 'failing' && w.sample === undefined);
  const pending = aged.kept.filter(isPending);
  const broken = aged.kept.filter((w) => !isPending(w));
  const ready: V2Replica[] = [];
  const unexplained: { worker: string; why: string }[] = [];
  for (const { id, sample } of workers) {
    const missing = [
      sample.kvCapacityTokens === undefined ? 'cache_config_info (num_gpu_blocks × block_size)' : '',
      sample.kvUsage === undefined ? 'KV-cache usage' : '',
      sample.waiting === undefined ? 'waiting requests' : '',
    ].filter(Boolean);
    if (missing.length > 0) {
      unexplained.push({ worker: id, why: `does not report ${missing.join(', ')}: its capacity is not guessed` });
      continue;
    }
    ready.push({
      name: id,
      totalKvCapacityTokens: sample.kvCapacityTokens as number,
      kvUsage: sample.kvUsage as number,
      queueLength: sample.waiting as number,
    });
  }
  const input = meanTokens(workers, at, 'prompt');
  const output = meanTokens(workers, at, 'generation');
  const bucket = outputBucket(output.value);
  let histories = k2Histories.get(context.state);
  if (!histories) k2Histories.set(context.state, (histories = new Map()));
  const history = histories.get(bucket) ?? [];
  const analysis = analyzeV2(
    { ready, pending: pending.length, avgInputTokens: input.value, avgOutputTokens: output.value, historicalK2: meanOf(history) },
    p.wva,
  );
  histories.set(bucket, pushK2(history, analysis.observedK2));
  // Counted in current: ready, pending, broken and those without capacity (they exist).
  const current = analysis.current + broken.length + unexplained.length;
  let recommendation = analysis.target;
  let rule = analysis.rule;
  if (broken.length > 0 || unexplained.length > 0) {
    const who = [...broken.map((w) => `${w.id} ${w.state}`), ...unexplained.map((u) => `${u.worker} without capacity`)].join(', ');
    recommendation = current;
    rule = `in transition (${who}): hold at current ${current}, no scaling decision (would be: ${analysis.rule})`;
  }
  const panic = applyPanic(recommendation, ready.length, at, p.panic, context.state);
  const tolerated = applyTolerance(panic.value, current, p.tolerance);
  const shaped = applyBehaviour(tolerated.value, current, at, p.behaviour, context.state);

  const contributions: Contribution[] = analysis.replicas.map((r) => ({ worker: r.name, value: r.effective }));
  for (const u of unexplained) contributions.push({ worker: u.worker, excluded: u.why });
  const r3 = (x: number) => Math.round(x * 1000) / 1000;
  return {
    ok: true,
    value: shaped.value,
    readyWorkers: ready.length,
    contributions,
    details: {
      policy: 'saturation-v2',
      algorithm: 'llm-d WVA V2 token-based saturation analyzer',
      config: p.wva,
      currentReplicas: current,
      readyReplicas: ready.length,
      pendingReplicas: pending.map((w) => w.id),
      holding: broken.map((w) => ({ worker: w.id, state: w.state, why: w.reason })),
      withoutCapacity: unexplained,
      timedOut: aged.timedOut.map((t) => ({ worker: t.member.id, why: t.why })),
      replicas: analysis.replicas.map((r) => ({
        worker: r.name,
        totalKvCapacityTokens: r.totalKvCapacityTokens,
        kv: r.kvUsage,
        queue: r.queueLength,
        tokensInUse: r.tokensInUse,
        demand: r3(r.demand),
        k1: r3(r.k1),
        k2: r3(r.k2),
        k2Source: r.k2Source,
        effective: r3(r.effective),
        saturated: r.saturated,
      })),
      avgInputTokens: input.value === undefined ? undefined : r3(input.value),
      avgInputTokensOver: input.over,
      avgOutputTokens: output.value === undefined ? undefined : r3(output.value),
      avgOutputTokensOver: output.over,
      k2History: { outputBucket: bucket, observations: history.length },
      totalDemand: r3(analysis.totalDemand),
      perReplicaCapacity: r3(analysis.perReplicaCapacity),
      supply: r3(analysis.supply),
      anticipatedSupply: r3(analysis.anticipatedSupply),
      requiredCapacity: r3(analysis.requiredCapacity),
      spareCapacity: r3(analysis.spareCapacity),
      decision: recommendation === analysis.target ? analysis.decision : 'hold',
      rule,
      recommendation,
      panic: panic.details,
      tolerance: tolerated.rule,
      behaviour: behaviourDetails(shaped, p.behaviour),
    },
  };
}
