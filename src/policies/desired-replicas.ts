/**
 * `desired_replicas`: a replica count for KEDA (target 1), decided by the trigger's `policy` —
 * `saturation` (llm-d WVA V1, saturation.ts), `composite` (several signals, composite.ts) —
 * each then shaped by stabilization windows, change limits and min/max bounds
 * (replica-behaviour.ts) — or `sla` (Dynamo's SLA planner, sla/, answered from a plan computed
 * once per interval by triggers/sla-planner.ts). This module picks the policy and refuses keys the chosen policy does
 * not read, so a key meant for another policy never passes silently.
 */
import { MetadataError } from '../signals/metadata-error.js';
import { define, type SignalDefinition } from '../signals/types.js';
import {
  compositeHistoryMs,
  compositeKey,
  compositeQueries,
  computeComposite,
  COMPOSITE_KEYS,
  parseComposite,
  parseCompositeMetrics,
  SUB_SIGNAL_KEYS,
  type CompositeParams,
} from './composite.js';
import { BEHAVIOUR_KEYS } from './replica-behaviour.js';
import { parseSla, SLA_KEYS, slaKey, type SlaParams } from './sla/params.js';
import { computeSaturationPolicy, parseSaturationPolicy, saturationPolicyKey, WVA_KEYS, type SaturationPolicyParams } from './saturation.js';
import {
  computeSaturationV2,
  MEAN_TOKENS_WINDOW_MS,
  parseSaturationV2,
  SATURATION_V2_KEYS,
  saturationV2Key,
  type SaturationV2Params,
} from './saturation-v2.js';

const POLICIES = ['saturation', 'saturation-v2', 'composite', 'sla'] as const;

export type DesiredParams = SaturationPolicyParams | SaturationV2Params | CompositeParams | SlaParams;

/** Every key some policy reads. */
const ALL_KEYS: readonly string[] = [
  ...new Set(['policy', ...WVA_KEYS, ...SATURATION_V2_KEYS, ...COMPOSITE_KEYS, ...BEHAVIOUR_KEYS, ...SUB_SIGNAL_KEYS, ...SLA_KEYS]),
];

const isOneOf = (list: readonly string[], key: string): boolean => list.includes(key);

/** Refuses keys the chosen policy does not read, saying whose they are. */
function refuseForeignKeys(values: ReadonlyMap<string, string>, allowed: ReadonlySet<string>, policy: string, hint: (key: string) => string): void {
  for (const key of ALL_KEYS) {
    if (values.has(key) && !allowed.has(key)) throw new MetadataError(key, `not used by desired_replicas with policy '${policy}': ${hint(key)}`);
  }
}

function parseDesired(values: ReadonlyMap<string, string>): DesiredParams {
  const policyText = (values.get('policy') || 'saturation').toLowerCase();
  if (!isOneOf(POLICIES, policyText)) {
    throw new MetadataError('policy', `unknown policy '${values.get('policy')}'; accepted policies are ${POLICIES.join(', ')}`);
  }
  if (policyText === 'sla') {
    refuseForeignKeys(values, new Set(['policy', ...SLA_KEYS]), 'sla', () => `policy sla reads ${SLA_KEYS.join(', ')}`);
    return parseSla(values);
  }
  if (policyText === 'saturation') {
    const reads = ['policy', ...WVA_KEYS, ...BEHAVIOUR_KEYS];
    refuseForeignKeys(values, new Set(reads), 'saturation', (key) =>
      isOneOf(COMPOSITE_KEYS, key)
        ? 'it belongs to policy composite'
        : `policy saturation reads ${reads.slice(1).join(', ')}${key === 'queueThreshold' ? ' (WVA names the queue threshold queueLengthThreshold)' : ''}`,
    );
    return parseSaturationPolicy(values);
  }
  if (policyText === 'saturation-v2') {
    const reads = ['policy', ...SATURATION_V2_KEYS, ...BEHAVIOUR_KEYS];
    refuseForeignKeys(values, new Set(reads), 'saturation-v2', (key) =>
      isOneOf(COMPOSITE_KEYS, key) ? 'it belongs to policy composite' : `policy saturation-v2 reads ${reads.slice(1).join(', ')}`,
    );
    return parseSaturationV2(values);
  }
  const metrics = parseCompositeMetrics(values);
  refuseForeignKeys(values, new Set(['policy', ...COMPOSITE_KEYS, ...BEHAVIOUR_KEYS, ...metrics.readKeys]), 'composite', (key) =>
    isOneOf(WVA_KEYS, key) ? 'it belongs to policy saturation' : `no signal in 'metrics' reads it (${metrics.names.map((m) => m.signal).join(', ')})`,
  );
  return parseComposite(values, metrics);
}

export const DESIRED_REPLICAS: SignalDefinition = define<DesiredParams>({
  name: 'desired_replicas',
  kind: 'replicas',
  unit: 'replicas',
  description:
    'replica count (target 1) from policy saturation (llm-d WVA V1), saturation-v2 (llm-d WVA V2, KV tokens), composite ' +
    '(several signals, strategy max|min|average|up-max-down-min) or sla (TTFT/ITL targets from a profile)',
  params: {
    keys: ALL_KEYS,
    parse: parseDesired,
    key: (p) =>
      p.policy === 'saturation' ? saturationPolicyKey(p) : p.policy === 'saturation-v2' ? saturationV2Key(p) : p.policy === 'sla' ? slaKey(p) : compositeKey(p),
    historyMs: (p) => (p.policy === 'composite' ? compositeHistoryMs(p) : p.policy === 'saturation-v2' ? MEAN_TOKENS_WINDOW_MS : 0),
    queries: (p) => (p.policy === 'composite' ? compositeQueries(p) : []),
  },
  compute: (workers, p, context) => {
    if (p.policy === 'sla') return { ok: false, reason: 'policy sla is answered from its plan (triggers/sla-planner.ts)', contributions: [] };
    if (p.policy === 'saturation') return computeSaturationPolicy(workers, p, context);
    return p.policy === 'saturation-v2' ? computeSaturationV2(workers, p, context) : computeComposite(workers, p, context);
  },
});
