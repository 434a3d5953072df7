/** Configuration of `source: prometheus` pools and of Kubernetes discovery: defaults, and errors that name the key. */
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';

const prom = { url: 'http://prometheus.monitoring.svc:9090/', selector: '{job="vllm", namespace="llm"}', engine: 'vllm' };

function errorOf(pools: unknown[]): string {
  try {
    validateConfig({ pools });
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected the configuration to be refused');
}

describe('source: prometheus configuration', () => {
  it('fills its defaults and parses the selector once', () => {
    const config = validateConfig({ pools: [{ name: 'p', source: 'prometheus', prometheus: prom }] });
    expect(config.pools[0]).toMatchObject({
      source: 'prometheus',
      prometheus: {
        url: 'http://prometheus.monitoring.svc:9090',
        engine: 'vllm',
        workerLabel: 'instance',
        timeout: 5000,
        maxBodyBytes: 64 * 1024 * 1024,
        selector: [
          { label: 'job', op: '=', value: 'vllm' },
          { label: 'namespace', op: '=', value: 'llm' },
        ],
      },
    });
  });

  it('refuses what cannot work, naming the key', () => {
    expect(errorOf([{ name: 'p', source: 'prometheus' }])).toContain('pools[0].prometheus: required for a prometheus pool');
    expect(errorOf([{ name: 'p', source: 'prometheus', prometheus: prom, targets: ['a:1'] }])).toContain('a prometheus pool finds its workers in the engine');
    expect(errorOf([{ name: 'p', source: 'vllm', targets: ['a:1'], prometheus: prom }])).toContain('pools[0].prometheus: only applies to prometheus pools');
    expect(errorOf([{ name: 'p', source: 'prometheus', prometheus: { ...prom, selector: 'job=vllm' } }])).toContain(
      "pools[0].prometheus.selector: the value of label 'job' must be a quoted string",
    );
    expect(errorOf([{ name: 'p', source: 'prometheus', prometheus: { ...prom, url: 'prometheus:9090' } }])).toContain(
      'pools[0].prometheus.url: must be an http(s) URL',
    );
    expect(errorOf([{ name: 'p', source: 'prometheus', prometheus: { ...prom, engine: 'tgi' } }])).toContain('pools[0].prometheus.engine: must be one of');
    expect(errorOf([{ name: 'p', source: 'prometheus', prometheus: { ...prom, workerLabel: '__name__' } }])).toContain('pools[0].prometheus.workerLabel');
    expect(errorOf([{ name: 'p', source: 'prometheus', prometheus: { ...prom, headers: { 'bad header': 'x' } } }])).toContain('pools[0].prometheus.headers');
    expect(errorOf([{ name: 'p', source: 'prometheus', prometheus: { ...prom, component: 'x' } }])).toContain("unknown key(s) 'component'");
  });
});

describe('Kubernetes discovery configuration', () => {
  const kube = { namespace: 'llm', service: 'llama', port: 'http' };

  it('takes a Service or a label selector, a port number or name; the metrics path defaults to /metrics', () => {
    const config = validateConfig({
      pools: [
        { name: 'a', source: 'vllm', discovery: { kubernetes: kube } },
        { name: 'b', source: 'sglang', discovery: { kubernetes: { namespace: 'llm', labelSelector: 'app=qwen,tier!=canary', port: 30000 }, path: '/m' } },
      ],
    });
    expect(config.pools.map((p) => p.discovery)).toEqual([
      { kubernetes: kube, path: '/metrics' },
      { kubernetes: { namespace: 'llm', labelSelector: 'app=qwen,tier!=canary', port: 30000 }, path: '/m' },
    ]);
  });

  it('refuses ambiguous or incomplete discovery, naming the key', () => {
    expect(errorOf([{ name: 'a', source: 'vllm', discovery: { kubernetes: { namespace: 'llm', port: 80 } } }])).toContain(
      'pools[0].discovery.kubernetes: needs exactly one of service or labelSelector',
    );
    expect(errorOf([{ name: 'a', source: 'vllm', discovery: { kubernetes: { ...kube, labelSelector: 'a=b' } } }])).toContain(
      'needs exactly one of service or labelSelector',
    );
    expect(errorOf([{ name: 'a', source: 'vllm', discovery: { kubernetes: kube, dns: 'x', port: 80 } }])).toContain(
      'pools[0].discovery.dns: does not apply to kubernetes discovery',
    );
    expect(errorOf([{ name: 'a', source: 'vllm', discovery: { kubernetes: { ...kube, port: 0 } } }])).toContain('pools[0].discovery.kubernetes.port');
    expect(errorOf([{ name: 'a', source: 'vllm', discovery: { kubernetes: { ...kube, namespace: 'Bad_NS' } } }])).toContain(
      'pools[0].discovery.kubernetes.namespace',
    );
    expect(errorOf([{ name: 'a', source: 'vllm', discovery: { port: 80 } }])).toContain('pools[0].discovery.dns: needs dns (a DNS name) or kubernetes');
    expect(errorOf([{ name: 'a', source: 'vllm', discovery: { dns: 'x' } }])).toContain('pools[0].discovery.port: required with dns discovery');
  });
});
