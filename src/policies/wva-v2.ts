/**
 * llm-d Workload Variant Autoscaler (WVA) V2 "token-based" saturation analyzer, as pure functions
 * for one variant (a pool is one Deployment of one model): capacity in KV tokens per replica, the
 * memory-bound k1 and compute-bound k2, supply and anticipated supply (ready + pending replicas),
 * then the cost-aware optimizer's step for a single variant.
 *
 * Sources: llm-d/llm-d-workload-variant-autoscaler
 * `internal/engines/analyzers/saturation_v2/analyzer.go` and `constants.go` (the analyzer),
 * `internal/engines/pipeline/cost_aware_optimizer.go` (replicas from required/spare capacity).
 */

export interface WvaV2Config {
  /** k1 = total KV tokens × this: the memory-bound capacity. */
  readonly kvCacheThreshold: number;
  /** A replica whose queue is ≥ this (and has tokens in use) shows its compute-bound capacity. */
  readonly queueLengthThreshold: number;
  /** Capacity is required while demand / this exceeds the anticipated supply. */
  readonly scaleUpThreshold: number;
  /** Capacity is spare while the supply exceeds demand / this. */
  readonly scaleDownBoundary: number;
  /** vLLM `--max-num-seqs`, for the derived k2 (priority 3). */
  readonly maxNumSeqs?: number;
  /** vLLM `--max-num-batched-tokens`, for the derived k2 (priority 3). */
  readonly maxNumBatchedTokens?: number;
}

/** WVA's defaults (`saturation_v2/constants.go`; thresholds shared with V1's ConfigMap). */
export const WVA_V2_DEFAULTS: WvaV2Config = { kvCacheThreshold: 0.8, queueLengthThreshold: 5, scaleUpThreshold: 0.85, scaleDownBoundary: 0.7 };

/** WVA keeps the last 10 observed k2 values per model and output-length bucket. */
export const K2_HISTORY_LENGTH = 10;

export function validateWvaV2Config(c: WvaV2Config): { key: keyof WvaV2Config; message: string } | undefined {
  if (!(c.kvCacheThreshold > 0 && c.kvCacheThreshold <= 1)) return { key: 'kvCacheThreshold', message: `must be > 0 and ≤ 1, got ${c.kvCacheThreshold}` };
  if (!(c.queueLengthThreshold >= 0)) return { key: 'queueLengthThreshold', message: `must be ≥ 0, got ${c.queueLengthThreshold}` };
  if (!(c.scaleUpThreshold > 0 && c.scaleUpThreshold <= 1)) return { key: 'scaleUpThreshold', message: `must be > 0 and ≤ 1, got ${c.scaleUpThreshold}` };
  if (!(c.scaleDownBoundary > 0 && c.scaleDownBoundary <= 1)) return { key: 'scaleDownBoundary', message: `must be > 0 and ≤ 1, got ${c.scaleDownBoundary}` };
  // WVA: "scaleUpThreshold must be greater than scaleDownBoundary", else up and down overlap.
  if (!(c.scaleUpThreshold > c.scaleDownBoundary)) {
    return { key: 'scaleDownBoundary', message: `scaleUpThreshold (${c.scaleUpThreshold}) must be greater than scaleDownBoundary (${c.scaleDownBoundary})` };
  }
  if (c.maxNumSeqs !== undefined && !(Number.isInteger(c.maxNumSeqs) && c.maxNumSeqs >= 1))
    return { key: 'maxNumSeqs', message: `must be an integer ≥ 1, got ${c.maxNumSeqs}` };
  if (c.maxNumBatchedTokens !== undefined && !(Number.isInteger(c.maxNumBatchedTokens) && c.maxNumBatchedTokens >= 1)) {
    return { key: 'maxNumBatchedTokens', message: `must be an integer ≥ 1, got ${c.maxNumBatchedTokens}` };
  }
  return undefined;
}

/** One ready replica: it reports KV usage, its queue and `cache_config_info`. */
export interface V2Replica {
  readonly name: string;
  /** Σ over engines of num_gpu_blocks × block_size. */
  readonly totalKvCapacityTokens: number;
  readonly kvUsage: number;
  readonly queueLength: number;
}

export interface V2Inputs {
  readonly ready: readonly V2Replica[];
  /** Replicas discovered but not collected yet: anticipated supply. */
  readonly pending: number;
  /** Mean prompt and generation tokens per request; undefined when no request finished yet. */
  readonly avgInputTokens?: number;
  readonly avgOutputTokens?: number;
  /** The rolling average of earlier observed k2 values, if any. */
  readonly historicalK2?: number;
}

export type K2Source = 'observed' | 'historical' | 'derived' | 'k1';

export interface V2ReplicaVerdict extends V2Replica {
  readonly tokensInUse: number;
  readonly demand: number;
  readonly k1: number;
  readonly k2: number;
  readonly k2Source: K2Source;
  readonly effective: number;
  readonly saturated: boolean;
}

export type V2Decision = 'scale-up' | 'scale-down' | 'steady' | 'hold';

export interface V2Result {
  readonly replicas: readonly V2ReplicaVerdict[];
  /** k2 values observed this time (to feed the rolling average). */
  readonly observedK2: readonly number[];
  readonly totalDemand: number;
  readonly perReplicaCapacity: number;
  readonly supply: number;
  readonly anticipatedSupply: number;
  readonly requiredCapacity: number;
  readonly spareCapacity: number;
  /** ready + pending. */
  readonly current: number;
  readonly target: number;
  readonly decision: V2Decision;
  /** The rule that fired, with its numbers. */
  readonly rule: string;
}

const r3 = (x: number): number => Math.round(x * 1000) / 1000;

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * k2 from the deployment's limits (WVA priority 3): N = min(B·O/(I+O), S) concurrent sequences,
 * each holding I + O/2 tokens on average. With only one limit known, that limit alone bounds N.
 */
export function derivedK2(c: WvaV2Config, avgIn: number | undefined, avgOut: number | undefined): number | undefined {
  if (avgIn === undefined || avgOut === undefined || avgIn + avgOut <= 0) return undefined;
  const byTokens = c.maxNumBatchedTokens === undefined ? undefined : (c.maxNumBatchedTokens * avgOut) / (avgIn + avgOut);
  const bySeqs = c.maxNumSeqs;
  if (byTokens === undefined && bySeqs === undefined) return undefined;
  const n = Math.min(byTokens ?? Number.POSITIVE_INFINITY, bySeqs ?? Number.POSITIVE_INFINITY);
  return n * (avgIn + avgOut / 2);
}

/** WVA V2 for one variant: analysis and target. `ready` empty → hold (no capacity is known). */
export function analyzeV2(inputs: V2Inputs, c: WvaV2Config): V2Result {
  const current = inputs.ready.length + inputs.pending;
  const queued = inputs.ready.reduce((a, r) => a + r.queueLength, 0);
  const base = {
    observedK2: [] as number[],
    totalDemand: 0,
    perReplicaCapacity: 0,
    supply: 0,
    anticipatedSupply: 0,
    requiredCapacity: 0,
    spareCapacity: 0,
    current,
  };
  if (inputs.ready.length === 0) {
    return { ...base, replicas: [], target: current, decision: 'hold', rule: `no ready replica reports its KV capacity: hold at current ${current}` };
  }
  if (queued > 0 && inputs.avgInputTokens === undefined) {
    return {
      ...base,
      replicas: [],
      target: current,
      decision: 'hold',
      rule: `${queued} request(s) queued but the mean input tokens per request is unknown (no request finished yet): hold at current ${current}`,
    };
  }
  const avgIn = inputs.avgInputTokens ?? 0;
  const derived = derivedK2(c, inputs.avgInputTokens, inputs.avgOutputTokens);
  const observedK2: number[] = [];
  const replicas: V2ReplicaVerdict[] = inputs.ready.map((r) => {
    const tokensInUse = Math.round(r.kvUsage * r.totalKvCapacityTokens);
    const demand = tokensInUse + r.queueLength * avgIn;
    const k1 = r.totalKvCapacityTokens * c.kvCacheThreshold;
    let k2: number;
    let k2Source: K2Source;
    if (r.queueLength >= c.queueLengthThreshold && tokensInUse > 0) {
      k2 = tokensInUse;
      k2Source = 'observed';
      observedK2.push(k2);
    } else if (inputs.historicalK2 !== undefined) {
      k2 = inputs.historicalK2;
      k2Source = 'historical';
    } else if (derived !== undefined) {
      k2 = derived;
      k2Source = 'derived';
    } else {
      k2 = k1;
      k2Source = 'k1';
    }
    const effective = Math.min(k1, k2);
    return { ...r, tokensInUse, demand, k1, k2, k2Source, effective, saturated: demand >= effective };
  });
  const totalDemand = replicas.reduce((a, r) => a + r.demand, 0);
  const perReplicaCapacity = median(replicas.map((r) => r.effective));
  const supply = replicas.length * perReplicaCapacity;
  const anticipatedSupply = current * perReplicaCapacity;
  const requiredCapacity = Math.max(0, totalDemand / c.scaleUpThreshold - anticipatedSupply);
  const spareCapacity = Math.max(0, supply - totalDemand / c.scaleDownBoundary);
  const numbers = { observedK2, totalDemand, perReplicaCapacity, supply, anticipatedSupply, requiredCapacity, spareCapacity, current, replicas };
  if (perReplicaCapacity <= 0) {
    return { ...numbers, target: current, decision: 'hold', rule: `per-replica capacity is 0 tokens: hold at current ${current}` };
  }
  const demandText = `demand ${r3(totalDemand)} tokens`;
  if (requiredCapacity > 0) {
    const add = Math.ceil(requiredCapacity / perReplicaCapacity);
    return {
      ...numbers,
      target: current + add,
      decision: 'scale-up',
      rule:
        `required capacity = ${demandText} / scaleUpThreshold ${c.scaleUpThreshold} − anticipated supply ${r3(anticipatedSupply)} ` +
        `(${current} replicas × ${r3(perReplicaCapacity)}) = ${r3(requiredCapacity)} > 0: ` +
        `${current} + ceil(${r3(requiredCapacity)} / ${r3(perReplicaCapacity)}) = ${current + add}`,
    };
  }
  if (spareCapacity > 0) {
    const remove = Math.floor(spareCapacity / perReplicaCapacity);
    const target = Math.max(1, current - remove);
    const floorNote = current - remove < 1 ? ' (never below 1)' : '';
    return {
      ...numbers,
      target,
      decision: target < current ? 'scale-down' : 'steady',
      rule:
        `spare capacity = supply ${r3(supply)} − ${demandText} / scaleDownBoundary ${c.scaleDownBoundary} = ${r3(spareCapacity)}: ` +
        `${current} − floor(${r3(spareCapacity)} / ${r3(perReplicaCapacity)}) = ${current - remove}${floorNote}`,
    };
  }
  return {
    ...numbers,
    target: current,
    decision: 'steady',
    rule: `${demandText} is within [supply × scaleDownBoundary, anticipated supply × scaleUpThreshold]: no capacity required or spare, stay at ${current}`,
  };
}

/**
 * WVA keys its rolling k2 history by model, accelerator and output-length bucket (< 100, < 500,
 * else tokens per request): a replica's compute-bound capacity in tokens depends on how long its
 * answers are, so a k2 observed under short answers is not reused for long ones. Without a mean
 * output length the bucket is `unknown`, never one of the three.
 */
export type OutputBucket = 'short' | 'medium' | 'long' | 'unknown';

export function outputBucket(avgOutputTokens: number | undefined): OutputBucket {
  if (avgOutputTokens === undefined || !Number.isFinite(avgOutputTokens)) return 'unknown';
  return avgOutputTokens < 100 ? 'short' : avgOutputTokens < 500 ? 'medium' : 'long';
}

/** The rolling average of the last K2_HISTORY_LENGTH observed k2 values, with the new ones pushed. */
export function pushK2(history: readonly number[], observed: readonly number[]): number[] {
  return [...history, ...observed].slice(-K2_HISTORY_LENGTH);
}

export function meanOf(values: readonly number[]): number | undefined {
  return values.length === 0 ? undefined : values.reduce((a, b) => a + b, 0) / values.length;
}
