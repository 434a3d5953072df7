import { describe, expect, it } from 'vitest';
import { MetadataError, parseTriggerMetadata, type PoolCatalog } from '../src/policies/metadata.js';

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
    expect(spec.signal.name).toBe('kv_cache_usage');
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
    [{ pool: 'llama', metric: 'queue_depth', target: '5', activationTreshold: '1' }, 'activationTreshold', /unknown key; accepted keys are/],
  ])('rejects %j naming %s', (metadata, key, message) => {
    const error = rejection(metadata);
    expect(error.key).toBe(key);
    expect(error.message).toContain(`metadata '${key}'`);
    expect(error.message).toMatch(message);
  });
});
