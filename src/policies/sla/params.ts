/**
 * `desired_replicas` with `policy: sla`: the trigger metadata, validated key by key. Defaults are
 * Dynamo SLA planner's (`components/planner/src/dynamo/planner/defaults.py`, `SLAPlannerDefaults`)
 * except the adjustment interval (60 s here, 180 s there: KEDA polls every 30 s by default).
 */
import { MetadataError } from '../../signals/metadata-error.js';
import { optionalNumberKey, parseChoiceKey, parseDurationKey, parseNumberKey } from '../../signals/metadata-values.js';
import { PREDICTOR_NAMES, type PredictorName } from '../predictors/predictor.js';

export const ROLES = ['prefill', 'decode'] as const;
export type Role = (typeof ROLES)[number];

export const SLA_KEYS = [
  'role',
  'profile',
  'ttftTarget',
  'itlTarget',
  'adjustmentInterval',
  'predictor',
  'predictionWindow',
  'correction',
  'gpuBudget',
  'prefillGpus',
  'decodeGpus',
  'minReplicas',
  'maxReplicas',
  'prefillPool',
  'decodePool',
  'isl',
  'osl',
] as const;

export interface SlaParams {
  readonly policy: 'sla';
  readonly role: Role;
  readonly profile: string;
  readonly ttftTargetMs: number;
  readonly itlTargetMs: number;
  readonly adjustmentIntervalMs: number;
  readonly predictor: PredictorName;
  readonly predictionWindow: number;
  readonly correction: boolean;
  readonly gpuBudget?: number;
  readonly prefillGpus: number;
  readonly decodeGpus: number;
  readonly minReplicas: number;
  readonly maxReplicas?: number;
  /** Unset: the trigger's pool. */
  readonly prefillPool?: string;
  readonly decodePool?: string;
  /** Used until traffic is observed (Dynamo's defaults 3000 / 150). */
  readonly isl: number;
  readonly osl: number;
}

const isInt = (min: number) => (n: number) => Number.isInteger(n) && n >= min;
const POOL_NAME = /^[A-Za-z0-9._-]{1,100}$/;

export function parseSla(values: ReadonlyMap<string, string>): SlaParams {
  const roleText = values.get('role');
  if (!roleText) throw new MetadataError('role', `required with policy sla; expected ${ROLES.join(' or ')}`);
  const role = ROLES.find((r) => r === roleText.toLowerCase());
  if (!role) throw new MetadataError('role', `'${roleText}' is not accepted; expected ${ROLES.join(' or ')}`);
  const profile = values.get('profile');
  if (!profile) throw new MetadataError('profile', 'required with policy sla: the name of a profile in the scaler configuration (profiles.NAME)');
  if (!POOL_NAME.test(profile))
    throw new MetadataError('profile', `'${profile}' is not a profile name: profiles are named in the scaler configuration, never by path`);
  const target = (key: string, fallbackMs: number) => parseDurationKey(values, key, fallbackMs, { minMs: 0.001, maxMs: 600_000 });
  const ttftTargetMs = target('ttftTarget', 500);
  const itlTargetMs = target('itlTarget', 50);
  const adjustmentIntervalMs = parseDurationKey(values, 'adjustmentInterval', 60_000, { minMs: 1000, maxMs: 3_600_000 });
  const predictor = parseChoiceKey(values, 'predictor', PREDICTOR_NAMES, 'arima');
  const predictionWindow = parseNumberKey(values, 'predictionWindow', 50, 'an integer from 1 to 1000 (intervals)', (n) => isInt(1)(n) && n <= 1000);
  const correctionText = (values.get('correction') || 'true').toLowerCase();
  if (correctionText !== 'true' && correctionText !== 'false')
    throw new MetadataError('correction', `'${values.get('correction')}' is not accepted; expected true or false`);
  const gpuBudget = optionalNumberKey(values, 'gpuBudget', 'an integer ≥ 1 (GPUs for prefill and decode together)', isInt(1));
  const prefillGpus = parseNumberKey(values, 'prefillGpus', 1, 'an integer ≥ 1 (GPUs per prefill engine)', isInt(1));
  const decodeGpus = parseNumberKey(values, 'decodeGpus', 1, 'an integer ≥ 1 (GPUs per decode engine)', isInt(1));
  const minReplicas = parseNumberKey(values, 'minReplicas', 1, 'an integer ≥ 1 (scale-to-zero is not supported by Dynamo graphs)', isInt(1));
  const maxReplicas = optionalNumberKey(values, 'maxReplicas', `an integer ≥ minReplicas (${minReplicas})`, isInt(minReplicas));
  if (gpuBudget !== undefined && gpuBudget < minReplicas * (prefillGpus + decodeGpus)) {
    throw new MetadataError(
      'gpuBudget',
      `${gpuBudget} cannot hold minReplicas (${minReplicas}) of both roles: they need ${minReplicas * (prefillGpus + decodeGpus)} GPUs`,
    );
  }
  const pool = (key: string) => {
    const text = values.get(key) || undefined;
    if (text !== undefined && !POOL_NAME.test(text)) throw new MetadataError(key, `'${text}' is not a pool name`);
    return text;
  };
  const tokens = (key: string, fallback: number) => parseNumberKey(values, key, fallback, 'a token count > 0', (n) => n > 0);
  return {
    policy: 'sla',
    role,
    profile,
    ttftTargetMs,
    itlTargetMs,
    adjustmentIntervalMs,
    predictor,
    predictionWindow,
    correction: correctionText === 'true',
    gpuBudget,
    prefillGpus,
    decodeGpus,
    minReplicas,
    maxReplicas,
    prefillPool: pool('prefillPool'),
    decodePool: pool('decodePool'),
    isl: tokens('isl', 3000),
    osl: tokens('osl', 150),
  };
}

/** Everything but the role: two triggers that agree on it share one plan. */
export function slaPlanKey(p: SlaParams): string {
  const { role, ...rest } = p;
  void role;
  return JSON.stringify(rest);
}

export function slaKey(p: SlaParams): string {
  return `sla|${p.role}|${slaPlanKey(p)}`;
}
