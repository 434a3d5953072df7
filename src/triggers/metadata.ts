import { useOf } from '../signals/evaluate.js';
import { MetadataError } from '../signals/metadata-error.js';
import type { SignalUse } from '../signals/types.js';
import { MAX_PLAUSIBLE_VALUE } from '../store/sample.js';
import { findSignal, signalNames } from './catalogue.js';

/** A configured dynamo-nats pool, as Dynamo metrics-keda metadata (`component`, `endpoint`) selects it. */
export interface DynamoPoolIdentity {
  readonly pool: string;
  readonly component: string;
  /** Unset: the pool is not tied to one endpoint, and any `endpoint` in metadata selects it. */
  readonly endpoint?: string;
}

/** What the scaler's configuration offers to trigger metadata. */
export interface PoolCatalog {
  poolNames(): readonly string[];
  hasPool(name: string): boolean;
  defaultMetric(pool: string): string | undefined;
  readonly defaultTarget?: number;
  /** The dynamo-nats pools with their component and endpoint; absent means there are none. */
  dynamoPools?(): readonly DynamoPoolIdentity[];
}

export interface TriggerSpec {
  readonly pool: string;
  /** The signal with its parameters (window, quantile, policy … validated from the metadata). */
  readonly use: SignalUse;
  readonly target: number;
  readonly activationThreshold: number;
  /** `raw` returns the plain fleet value (for metricType: Value); `average` follows AverageValue semantics. */
  readonly valueMode: 'average' | 'raw';
  readonly metricName: string;
  readonly model?: string;
}

/** Keys KEDA itself reads from the trigger metadata and forwards to every external scaler. */
export const KEDA_KEYS: ReadonlySet<string> = new Set(['scalerAddress', 'enableTLS', 'unsafeSsl', 'caCert', 'tlsClientCert', 'tlsClientKey']);
/**
 * `threshold`, `component` and `endpoint` are the keys of Dynamo's metrics-keda ScaledObjects
 * (`{component: backend, endpoint: generate, threshold: "0.7"}`): `threshold` is `target`, and
 * `component`/`endpoint` select the dynamo-nats pool watching that component.
 */
const COMMON_KEYS = ['pool', 'metric', 'target', 'activationThreshold', 'valueMode', 'metricName', 'model', 'threshold', 'component', 'endpoint'] as const;
const COMMON_KEY_SET = new Set<string>(COMMON_KEYS);
const MIN_TARGET = 0.001;
const METRIC_NAME = /^[a-z0-9]([a-z0-9._-]{0,198}[a-z0-9])?$/;

/**
 * Validates a trigger's `scalerMetadata`. Every problem names its key and what is accepted;
 * metadata can only select configured pools, never make the scaler contact an address.
 */
export function parseTriggerMetadata(metadata: Readonly<Record<string, string>>, catalog: PoolCatalog): TriggerSpec {
  const values = new Map<string, string>();
  const rawKeys = new Map<string, string>();
  for (const [rawKey, value] of Object.entries(metadata)) {
    if (KEDA_KEYS.has(rawKey)) continue;
    // KEDA resolves `<key>FromEnv` from the target's environment and keeps the key name.
    const key = rawKey.endsWith('FromEnv') ? rawKey.slice(0, -'FromEnv'.length) : rawKey;
    const twin = rawKeys.get(key);
    if (twin !== undefined && values.get(key) !== value.trim()) {
      // KEDA's metadata is a map: which of the two came first is not defined, so neither may win.
      const [plain, fromEnv] = twin.endsWith('FromEnv') ? [rawKey, twin] : [twin, rawKey];
      throw new MetadataError(`${plain}/${fromEnv}`, `both are given, with different values; give one of them`);
    }
    values.set(key, value.trim());
    rawKeys.set(key, rawKey);
  }

  const pool = selectPool(values, catalog);

  const metricValue = values.get('metric') || catalog.defaultMetric(pool);
  if (!metricValue) throw new MetadataError('metric', `required; accepted signals are ${signalNames().join(', ')}`);
  const signal = findSignal(metricValue);
  if (!signal) throw new MetadataError('metric', `unknown signal '${metricValue}'; accepted signals are ${signalNames().join(', ')}`);

  // Keys are checked once the signal is known: each signal adds its own (window, quantile …).
  const signalKeys = signal.params?.keys ?? [];
  for (const key of values.keys()) {
    if (!COMMON_KEY_SET.has(key) && !signalKeys.includes(key)) {
      const accepted = [...COMMON_KEYS, ...signalKeys].join(', ');
      throw new MetadataError(rawKeys.get(key) ?? key, `unknown key for metric '${signal.name}'; accepted keys are ${accepted}`);
    }
  }
  const use = useOf(signal, values);

  const target = use.kind === 'replicas' ? replicaTarget(values, signal.name) : parseTargetKeys(values, catalog);

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

  return { pool, use, target, activationThreshold, valueMode: modeText, metricName, model };
}

/**
 * The pool a trigger reads: `pool`, else the dynamo-nats pool that `component` (and `endpoint`)
 * name, else the only configured pool. `component`/`endpoint` next to `pool` must agree with it.
 */
function selectPool(values: ReadonlyMap<string, string>, catalog: PoolCatalog): string {
  const pools = catalog.poolNames();
  const poolValue = values.get('pool') || undefined;
  const component = values.get('component') || undefined;
  const endpoint = values.get('endpoint') || undefined;
  const dynamo = catalog.dynamoPools?.() ?? [];
  const described = dynamo.length === 0 ? 'no dynamo-nats pool is configured' : `dynamo-nats pools are ${dynamo.map(describeIdentity).join(', ')}`;

  if (poolValue !== undefined) {
    if (!catalog.hasPool(poolValue)) throw new MetadataError('pool', `unknown pool '${poolValue}'; configured pools are ${pools.join(', ')}`);
    if (component === undefined && endpoint === undefined) return poolValue;
    const identity = dynamo.find((d) => d.pool === poolValue);
    const key = component !== undefined ? 'component' : 'endpoint';
    if (!identity)
      throw new MetadataError(key, `pool '${poolValue}' is not a dynamo-nats pool, so it has no ${key}; drop '${key}' or choose a pool by it (${described})`);
    if (component !== undefined && component !== identity.component) {
      throw new MetadataError('component', `'${component}' does not match pool '${poolValue}', which watches component '${identity.component}'`);
    }
    if (endpoint !== undefined && identity.endpoint !== undefined && endpoint !== identity.endpoint) {
      throw new MetadataError('endpoint', `'${endpoint}' does not match pool '${poolValue}', which watches endpoint '${identity.endpoint}'`);
    }
    return poolValue;
  }

  if (component === undefined) {
    if (endpoint !== undefined) throw new MetadataError('component', `required with 'endpoint' (or give 'pool'); ${described}`);
    if (pools.length !== 1) throw new MetadataError('pool', `required; configured pools are ${pools.join(', ')}`);
    return pools[0] as string;
  }

  const byComponent = dynamo.filter((d) => d.component === component);
  if (byComponent.length === 0) throw new MetadataError('component', `no dynamo-nats pool watches component '${component}'; ${described}`);
  let matches = byComponent;
  if (endpoint !== undefined) {
    // A pool naming this endpoint wins over one that is not tied to an endpoint.
    const exact = byComponent.filter((d) => d.endpoint === endpoint);
    matches = exact.length > 0 ? exact : byComponent.filter((d) => d.endpoint === undefined);
    if (matches.length === 0) {
      throw new MetadataError(
        'endpoint',
        `no dynamo-nats pool watches component '${component}' with endpoint '${endpoint}'; ${byComponent.map(describeIdentity).join(', ')}`,
      );
    }
  }
  if (matches.length > 1) {
    const which = matches.map(describeIdentity).join(', ');
    if (endpoint === undefined)
      throw new MetadataError('endpoint', `required: component '${component}' is watched by several pools (${which}); add 'endpoint' or 'pool'`);
    throw new MetadataError('pool', `required: component '${component}' endpoint '${endpoint}' is watched by several pools (${which})`);
  }
  return (matches[0] as DynamoPoolIdentity).pool;
}

function describeIdentity(d: DynamoPoolIdentity): string {
  return `${d.pool} (component '${d.component}'${d.endpoint === undefined ? '' : `, endpoint '${d.endpoint}'`})`;
}

/**
 * A replica-count signal is read with target 1 (HPA desired = ceil(value / 1)): the target may be
 * left out — a configured `--threshold` default does not apply — and any other value is refused.
 */
function replicaTarget(values: ReadonlyMap<string, string>, signal: string): number {
  for (const key of ['target', 'threshold'] as const) {
    const text = values.get(key);
    if (text !== undefined && text !== '' && Number(text) !== 1) {
      throw new MetadataError(
        key,
        `'${text}' is not accepted for ${signal}: its value is a replica count, so the ${key} must be 1 (metricType AverageValue: HPA desired = ` +
          `ceil(value / 1))`,
      );
    }
  }
  return 1;
}

/** `target`, or metrics-keda's `threshold` for it; both only if they agree; else the configured default. */
function parseTargetKeys(values: ReadonlyMap<string, string>, catalog: PoolCatalog): number {
  const given = (['target', 'threshold'] as const)
    .map((key) => ({ key, text: values.get(key) }))
    .filter((g): g is { key: 'target' | 'threshold'; text: string } => g.text !== undefined && g.text !== '');
  if (given.length === 0) {
    if (catalog.defaultTarget === undefined) throw new MetadataError('target', `required (or 'threshold'); a number ≥ ${MIN_TARGET}`);
    return catalog.defaultTarget;
  }
  const parsed = given.map(({ key, text }) => {
    const value = parseNumber(key, text, `a number ≥ ${MIN_TARGET}`);
    if (value < MIN_TARGET) throw new MetadataError(key, `'${text}' is too small; expected a number ≥ ${MIN_TARGET}`);
    if (value > MAX_PLAUSIBLE_VALUE) throw new MetadataError(key, `'${text}' is too large; expected a number ≤ ${MAX_PLAUSIBLE_VALUE}`);
    return value;
  });
  const [target, threshold] = parsed as [number, number | undefined];
  if (threshold !== undefined && threshold !== target) {
    throw new MetadataError(
      'threshold',
      `'${values.get('threshold')}' differs from target '${values.get('target')}'; threshold is another name for target, give one of them`,
    );
  }
  return target;
}

function parseNumber(key: string, text: string, expected: string): number {
  const value = Number(text);
  if (text === '' || !Number.isFinite(value)) throw new MetadataError(key, `'${text}' is not a number; expected ${expected}`);
  return value;
}

function defaultMetricName(pool: string, signal: string, model: string | undefined): string {
  const base = `${pool}-${signal}`;
  if (!model) return base;
  const slug = model
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return `${base}-${slug}`.slice(0, 200).replace(/[^a-z0-9]+$/, '');
}

/** A stable key for a metadata map, so parsed triggers can be reused across calls. */
export function metadataKey(metadata: Readonly<Record<string, string>>): string {
  const keys = Object.keys(metadata).sort();
  let key = '';
  for (const k of keys) key += `${k}\u0000${metadata[k]}\u0001`;
  return key;
}
