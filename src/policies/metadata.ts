import { findSignal, signalNames, type SignalDefinition } from '../signals/catalogue.js';

/** Bad trigger metadata; `key` names the metadata key at fault. Answered as INVALID_ARGUMENT. */
export class MetadataError extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(`metadata '${key}': ${message}`);
    this.name = 'MetadataError';
  }
}

/** What the scaler's configuration offers to trigger metadata. */
export interface PoolCatalog {
  poolNames(): readonly string[];
  hasPool(name: string): boolean;
  defaultMetric(pool: string): string | undefined;
  readonly defaultTarget?: number;
}

export interface TriggerSpec {
  readonly pool: string;
  readonly signal: SignalDefinition;
  readonly target: number;
  readonly activationThreshold: number;
  /** `raw` returns the plain fleet value (for metricType: Value); `average` follows AverageValue semantics. */
  readonly valueMode: 'average' | 'raw';
  readonly metricName: string;
  readonly model?: string;
}

/** Keys KEDA itself reads from the trigger metadata and forwards to every external scaler. */
const KEDA_KEYS = new Set(['scalerAddress', 'enableTLS', 'unsafeSsl', 'caCert', 'tlsClientCert', 'tlsClientKey']);
const OWN_KEYS = ['pool', 'metric', 'target', 'activationThreshold', 'valueMode', 'metricName', 'model'] as const;
const OWN_KEY_SET = new Set<string>(OWN_KEYS);
const MIN_TARGET = 0.001;
const METRIC_NAME = /^[a-z0-9]([a-z0-9._-]{0,198}[a-z0-9])?$/;

/**
 * Validates a trigger's `scalerMetadata`. Every problem names its key and what is accepted;
 * metadata can only select configured pools, never make the scaler contact an address.
 */
export function parseTriggerMetadata(metadata: Readonly<Record<string, string>>, catalog: PoolCatalog): TriggerSpec {
  const values = new Map<string, string>();
  for (const [rawKey, value] of Object.entries(metadata)) {
    if (KEDA_KEYS.has(rawKey)) continue;
    // KEDA resolves `<key>FromEnv` from the target's environment and keeps the key name.
    const key = rawKey.endsWith('FromEnv') ? rawKey.slice(0, -'FromEnv'.length) : rawKey;
    if (!OWN_KEY_SET.has(key)) {
      throw new MetadataError(rawKey, `unknown key; accepted keys are ${OWN_KEYS.join(', ')}`);
    }
    values.set(key, value.trim());
  }

  const pools = catalog.poolNames();
  const poolValue = values.get('pool');
  let pool: string;
  if (poolValue === undefined || poolValue === '') {
    if (pools.length !== 1) throw new MetadataError('pool', `required; configured pools are ${pools.join(', ')}`);
    pool = pools[0] as string;
  } else if (!catalog.hasPool(poolValue)) {
    throw new MetadataError('pool', `unknown pool '${poolValue}'; configured pools are ${pools.join(', ')}`);
  } else {
    pool = poolValue;
  }

  const metricValue = values.get('metric') || catalog.defaultMetric(pool);
  if (!metricValue) throw new MetadataError('metric', `required; accepted signals are ${signalNames().join(', ')}`);
  const signal = findSignal(metricValue);
  if (!signal) throw new MetadataError('metric', `unknown signal '${metricValue}'; accepted signals are ${signalNames().join(', ')}`);

  const targetText = values.get('target');
  let target: number;
  if (targetText === undefined || targetText === '') {
    if (catalog.defaultTarget === undefined) throw new MetadataError('target', `required; a number ≥ ${MIN_TARGET}`);
    target = catalog.defaultTarget;
  } else {
    target = parseNumber('target', targetText, `a number ≥ ${MIN_TARGET}`);
    if (target < MIN_TARGET) throw new MetadataError('target', `'${targetText}' is too small; expected a number ≥ ${MIN_TARGET}`);
  }

  const activationText = values.get('activationThreshold');
  const activationThreshold = activationText ? parseNumber('activationThreshold', activationText, 'a number ≥ 0') : 0;
  if (activationThreshold < 0) throw new MetadataError('activationThreshold', `'${activationText}' is negative; expected a number ≥ 0`);

  const modeText = (values.get('valueMode') || 'average').toLowerCase();
  if (modeText !== 'average' && modeText !== 'raw') {
    throw new MetadataError('valueMode', `'${values.get('valueMode')}' is not accepted; expected average or raw`);
  }

  const model = values.get('model') || undefined;
  const metricName = (values.get('metricName') || defaultMetricName(pool, signal.name, model)).toLowerCase();
  if (!METRIC_NAME.test(metricName)) {
    throw new MetadataError('metricName', `'${metricName}' is not usable as a metric name; use lowercase letters, digits, '.', '_' and '-' (at most 200)`);
  }

  return { pool, signal, target, activationThreshold, valueMode: modeText, metricName, model };
}

function parseNumber(key: string, text: string, expected: string): number {
  const value = Number(text);
  if (text === '' || !Number.isFinite(value)) throw new MetadataError(key, `'${text}' is not a number; expected ${expected}`);
  return value;
}

function defaultMetricName(pool: string, signal: string, model: string | undefined): string {
  const base = `${pool}-${signal}`;
  if (!model) return base;
  const slug = model.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '');
  return `${base}-${slug}`.slice(0, 200).replace(/[^a-z0-9]+$/, '');
}

/** A stable key for a metadata map, so parsed triggers can be reused across calls. */
export function metadataKey(metadata: Readonly<Record<string, string>>): string {
  const keys = Object.keys(metadata).sort();
  let key = '';
  for (const k of keys) key += `${k}\u0000${metadata[k]}\u0001`;
  return key;
}
