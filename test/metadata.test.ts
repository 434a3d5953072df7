import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { MetadataError } from '../src/signals/metadata-error.js';
import { parseTriggerMetadata, type PoolCatalog } from '../src/triggers/metadata.js';
import { TriggerRegistry } from '../src/triggers/trigger-registry.js';
import { PoolStore } from '../src/store/pool-store.js';

const catalog = (names: string[], defaultTarget?: number, defaultMetric?: string): PoolCatalog => ({
  poolNames: () => names,
  hasPool: (name) => names.includes(name),
  defaultMetric: () => defaultMetric,
  defaultTarget,
});

function rejection(metadata: Record<string, string>, pools = catalog(['llama', 'qwen'])): MetadataError {
  try {
    parseTriggerMetadata(metadata, pools);
  } catch (error) {
    expect(error).toBeInstanceOf(MetadataError);
    return error as MetadataError;
  }
  throw new Error('expected a metadata error');
}

describe('trigger metadata', () => {
  it('parses a complete trigger and ignores the keys KEDA itself reads', () => {
    const spec = parseTriggerMetadata(
      { scalerAddress: 'scaler:9090', enableTLS: 'false', pool: 'llama', metric: 'KV_CACHE_USAGE', target: '0.7', activationThreshold: '0.05' },
      catalog(['llama', 'qwen']),
    );
    expect(spec).toMatchObject({ pool: 'llama', target: 0.7, activationThreshold: 0.05, valueMode: 'average', metricName: 'llama-kv_cache_usage' });
    expect(spec.use.signal.name).toBe('kv_cache_usage');
  });

  it('uses the only pool, the pool default metric and the --threshold default when omitted', () => {
    const spec = parseTriggerMetadata({}, catalog(['default'], 0.7, 'queue_depth'));
    expect(spec).toMatchObject({ pool: 'default', target: 0.7, metricName: 'default-queue_depth' });
  });

  it('reads <key>FromEnv as KEDA resolves it', () => {
    const spec = parseTriggerMetadata({ pool: 'llama', metric: 'queue_depth', targetFromEnv: '12' }, catalog(['llama']));
    expect(spec.target).toBe(12);
  });

  it('makes metric names unique per model and valid as URL path segments', () => {
    const spec = parseTriggerMetadata({ pool: 'llama', metric: 'queue_depth', target: '5', model: 'meta-llama/Llama-3.1-8B-Instruct' }, catalog(['llama']));
    expect(spec.metricName).toBe('llama-queue_depth-meta-llama-llama-3.1-8b-instruct');
    expect(parseTriggerMetadata({ pool: 'llama', metric: 'queue_depth', target: '5', metricName: 'My-Queue' }, catalog(['llama'])).metricName).toBe('my-queue');
  });

  it.each([
    [{ metric: 'queue_depth', target: '5' }, 'pool', /required; configured pools are llama, qwen/],
    [{ pool: 'mistral', metric: 'queue_depth', target: '5' }, 'pool', /unknown pool 'mistral'; configured pools are llama, qwen/],
    [{ pool: 'llama', target: '5' }, 'metric', /required; accepted signals are .*kv_cache_usage/],
    [{ pool: 'llama', metric: 'gpu_util', target: '5' }, 'metric', /unknown signal 'gpu_util'; accepted signals are/],
    [{ pool: 'llama', metric: 'queue_depth' }, 'target', /required/],
    [{ pool: 'llama', metric: 'queue_depth', target: 'five' }, 'target', /'five' is not a number/],
    [{ pool: 'llama', metric: 'queue_depth', target: '0' }, 'target', /too small; expected a number ≥ 0.001/],
    [{ pool: 'llama', metric: 'queue_depth', target: '-3' }, 'target', /too small/],
    [{ pool: 'llama', metric: 'queue_depth', target: 'NaN' }, 'target', /not a number/],
    [{ pool: 'llama', metric: 'queue_depth', target: 'Infinity' }, 'target', /not a number/],
    [{ pool: 'llama', metric: 'queue_depth', target: '5', activationThreshold: 'x' }, 'activationThreshold', /not a number/],
    [{ pool: 'llama', metric: 'queue_depth', target: '5', activationThreshold: '-1' }, 'activationThreshold', /negative/],
    [{ pool: 'llama', metric: 'queue_depth', target: '5', valueMode: 'sum' }, 'valueMode', /expected average or raw/],
    [{ pool: 'llama', metric: 'queue_depth', target: '5', metricName: 'a/b' }, 'metricName', /not usable as a metric name/],
    [
      { pool: 'llama', metric: 'queue_depth', target: '5', activationTreshold: '1' },
      'activationTreshold',
      /unknown key for metric 'queue_depth'; accepted keys are/,
    ],
  ])('rejects %j naming %s', (metadata, key, message) => {
    const error = rejection(metadata);
    expect(error.key).toBe(key);
    expect(error.message).toContain(`metadata '${key}'`);
    expect(error.message).toMatch(message);
  });
});

describe('Dynamo metrics-keda metadata ({component, endpoint, threshold})', () => {
  const dynamo: PoolCatalog = {
    poolNames: () => ['llama', 'decode', 'legacy', 'prefill'],
    hasPool: (name) => ['llama', 'decode', 'legacy', 'prefill'].includes(name),
    defaultMetric: (pool) => (pool === 'llama' ? undefined : 'kv_cache_usage'),
    dynamoPools: () => [
      { pool: 'decode', component: 'backend', endpoint: 'generate' },
      { pool: 'legacy', component: 'backend', endpoint: 'load_metrics' },
      { pool: 'prefill', component: 'prefill' },
    ],
  };

  function dynamoRejection(metadata: Record<string, string>, pools: PoolCatalog = dynamo): MetadataError {
    return rejection(metadata, pools);
  }

  it("takes metrics-keda's ScaledObject metadata as it is", () => {
    // seeds/003: `component`, `endpoint`, `threshold`, nothing else but scalerAddress.
    const spec = parseTriggerMetadata({ scalerAddress: 'dynamo-metrics-keda:9090', component: 'prefill', endpoint: 'kv-router', threshold: '0.7' }, dynamo);
    expect(spec).toMatchObject({ pool: 'prefill', target: 0.7, metricName: 'prefill-kv_cache_usage' });
    expect(spec.use.signal.name).toBe('kv_cache_usage');
  });

  it('selects the pool watching the component, and the endpoint among several', () => {
    expect(parseTriggerMetadata({ component: 'backend', endpoint: 'generate', target: '0.7' }, dynamo).pool).toBe('decode');
    expect(parseTriggerMetadata({ component: 'backend', endpoint: 'load_metrics', target: '0.7' }, dynamo).pool).toBe('legacy');
    expect(parseTriggerMetadata({ component: 'prefill', target: '0.7' }, dynamo).pool).toBe('prefill');
    // `component`/`endpoint` next to `pool` are checked against it.
    expect(parseTriggerMetadata({ pool: 'decode', component: 'backend', endpoint: 'generate', target: '1' }, dynamo).pool).toBe('decode');
    expect(parseTriggerMetadata({ pool: 'prefill', endpoint: 'generate', target: '1' }, dynamo).pool).toBe('prefill');
  });

  it.each([
    [
      { component: 'backend', threshold: '0.7' },
      'endpoint',
      /required: component 'backend' is watched by several pools \(decode \(component 'backend', endpoint 'generate'\), legacy .*\); add 'endpoint' or 'pool'/,
    ],
    [
      { component: 'llm-worker', endpoint: 'kv-router', threshold: '0.7' },
      'component',
      /no dynamo-nats pool watches component 'llm-worker'; dynamo-nats pools are decode .*, prefill \(component 'prefill'\)/,
    ],
    [
      { component: 'backend', endpoint: 'kv-router', threshold: '0.7' },
      'endpoint',
      /no dynamo-nats pool watches component 'backend' with endpoint 'kv-router'/,
    ],
    [{ endpoint: 'generate', threshold: '0.7' }, 'component', /required with 'endpoint' \(or give 'pool'\)/],
    [{ pool: 'decode', component: 'prefill', target: '1' }, 'component', /'prefill' does not match pool 'decode', which watches component 'backend'/],
    [{ pool: 'decode', endpoint: 'load_metrics', target: '1' }, 'endpoint', /'load_metrics' does not match pool 'decode', which watches endpoint 'generate'/],
    [
      { pool: 'llama', component: 'backend', metric: 'queue_depth', target: '1' },
      'component',
      /pool 'llama' is not a dynamo-nats pool, so it has no component/,
    ],
    [{ pool: 'decode', target: '5', threshold: '6' }, 'threshold', /'6' differs from target '5'; threshold is another name for target/],
    [{ pool: 'decode', threshold: 'seven' }, 'threshold', /'seven' is not a number/],
    [{ pool: 'decode', threshold: '0' }, 'threshold', /too small; expected a number ≥ 0.001/],
    [{ pool: 'decode', loadAvgThreshold: '0.7' }, 'loadAvgThreshold', /unknown key for metric '[a-z_]+'; accepted keys are .*threshold, component, endpoint/],
  ])('rejects %j naming %s', (metadata, key, message) => {
    const error = dynamoRejection(metadata);
    expect(error.key).toBe(key);
    expect(error.message).toContain(`metadata '${key}'`);
    expect(error.message).toMatch(message);
  });

  it('treats several pools on one component and endpoint as ambiguous', () => {
    const twice: PoolCatalog = {
      ...dynamo,
      dynamoPools: () => [
        { pool: 'a', component: 'backend' },
        { pool: 'b', component: 'backend' },
      ],
    };
    const error = dynamoRejection({ component: 'backend', endpoint: 'generate', target: '1' }, twice);
    expect(error.key).toBe('pool');
    expect(error.message).toMatch(/several pools \(a \(component 'backend'\), b \(component 'backend'\)\)/);
  });

  it('has no Dynamo pools to offer when the catalog declares none', () => {
    const error = dynamoRejection({ component: 'backend', target: '1' }, catalog(['llama']));
    expect(error.key).toBe('component');
    expect(error.message).toMatch(/no dynamo-nats pool is configured/);
  });

  it('reads threshold as target, also from env, and accepts both when they agree', () => {
    expect(parseTriggerMetadata({ pool: 'llama', metric: 'queue_depth', threshold: '5' }, dynamo).target).toBe(5);
    expect(parseTriggerMetadata({ pool: 'llama', metric: 'queue_depth', thresholdFromEnv: '8' }, dynamo).target).toBe(8);
    expect(parseTriggerMetadata({ pool: 'llama', metric: 'queue_depth', target: '5', threshold: '5.0' }, dynamo).target).toBe(5);
  });

  it('TriggerRegistry: finds dynamo-nats pools by component and defaults them to kv_cache_usage', () => {
    const config = validateConfig({
      pools: [
        { name: 'llama', source: 'vllm', targets: ['127.0.0.1:1'] },
        { name: 'decode', source: 'dynamo-nats', component: 'backend', endpoint: 'generate' },
        { name: 'frontend', source: 'dynamo-http', targets: ['127.0.0.1:2'] },
      ],
    });
    const registry = new TriggerRegistry(
      new Map(
        config.pools.map((p) => [
          p.name,
          { config: p, runtime: { name: p.name, store: new PoolStore(p.name, { cacheTtlMs: 5000, intervalMs: 1000, historyWindowMs: 600_000 }) } },
        ]),
      ),
    );
    expect(registry.dynamoPools()).toEqual([{ pool: 'decode', component: 'backend', endpoint: 'generate' }]);
    expect(registry.defaultMetric('decode')).toBe('kv_cache_usage');
    expect(registry.defaultMetric('llama')).toBeUndefined();
    expect(registry.defaultMetric('frontend')).toBeUndefined();
    const trigger = registry.resolve({ scalerAddress: 'scaler:9090', component: 'backend', endpoint: 'generate', threshold: '0.7' });
    expect(trigger.spec).toMatchObject({ pool: 'decode', target: 0.7, metricName: 'decode-kv_cache_usage' });
    expect(trigger.pool.name).toBe('decode');
    expect(() => registry.resolve({ component: 'frontend', threshold: '0.7' })).toThrow(
      /metadata 'component': no dynamo-nats pool watches component 'frontend'/,
    );
  });
});
