/* eslint-disable @typescript-eslint/no-explicit-any -- rendered manifests are untyped JSON that the assertions navigate */
/**
 * deploy/: the plain manifests for users without Helm. Every object in every YAML file validates
 * against the Kubernetes / KEDA schemas, the scaler's ConfigMap passes the scaler's own
 * validateConfig, every example ScaledObject dials the Service and selects a configured pool, and
 * the Deployment keeps the chart's hardening and probes.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { find, helmRenderBinary, parseManifests, renderChart, repoRoot, resolveScaledObjectTriggers, validateObject, type K8sObject } from './support/k8s.js';

const deployDir = path.join(repoRoot, 'deploy');

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return yamlFiles(full);
    return /\.ya?ml$/.test(entry.name) ? [full] : [];
  });
}

const files = yamlFiles(deployDir);
const byFile = new Map(files.map((file) => [path.relative(deployDir, file), parseManifests(readFileSync(file, 'utf8'), file)]));
const all: K8sObject[] = [...byFile.values()].flat();

beforeAll(async () => {
  await helmRenderBinary(); // compared with the chart's rendering below; the cold Go build takes a few seconds
}, 300_000);

describe('deploy/ manifests', () => {
  it('has the scaler and examples for vLLM, SGLang and Dynamo', () => {
    expect([...byFile.keys()].sort()).toEqual(
      expect.arrayContaining([
        'keda-llm-scaler.yaml',
        'examples/scaledobject-vllm.yaml',
        'examples/scaledobject-sglang.yaml',
        'examples/scaledobject-dynamo.yaml',
        'examples/triggerauthentication-tls.yaml',
      ]),
    );
    expect(byFile.get('keda-llm-scaler.yaml')!.map((o) => o.kind)).toEqual(['ServiceAccount', 'ConfigMap', 'Deployment', 'Service']);
  });

  it.each(files.map((f) => [path.relative(deployDir, f)]))('%s: every object is valid against its schema', (file) => {
    const objects = byFile.get(file)!;
    expect(objects.length).toBeGreaterThan(0);
    for (const object of objects) validateObject(object);
  });

  const scaler = byFile.get('keda-llm-scaler.yaml')!;
  const configMap = find<any>(scaler, 'ConfigMap');
  const config = validateConfig(parseYaml(configMap.data['config.yaml']));
  const service = find<any>(scaler, 'Service');
  const deployment = find<any>(scaler, 'Deployment');

  it('the ConfigMap is a valid scaler configuration with vLLM, SGLang and Dynamo pools', () => {
    expect(config.pools.map((p) => [p.name, p.source])).toEqual([
      ['llama', 'vllm'],
      ['qwen', 'sglang'],
      ['dynamo-decode', 'dynamo-nats'],
      ['dynamo-prefill', 'dynamo-nats'],
    ]);
    for (const object of scaler) expect(object.metadata.namespace).toBe('keda');
  });

  it('the Deployment is hardened like the chart, and mounts and serves what the config says', async () => {
    const pod = deployment.spec.template.spec;
    const container = pod.containers[0];
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(container.args).toEqual(['serve', '--config', '/etc/keda-llm-scaler/config.yaml']);
    expect(Object.fromEntries(container.ports.map((p: any) => [p.name, p.containerPort]))).toEqual({ grpc: config.grpc.port, http: config.http.port });
    expect(pod.volumes).toContainEqual({ name: 'config', configMap: { name: configMap.metadata.name } });
    expect(pod.serviceAccountName).toBe(find(scaler, 'ServiceAccount').metadata.name);
    expect(deployment.spec.template.metadata.labels).toMatchObject(deployment.spec.selector.matchLabels);
    expect(deployment.spec.template.metadata.labels).toMatchObject(service.spec.selector);

    // Same probes, resources and security settings as the chart's defaults.
    const chart = await renderChart(path.join(repoRoot, 'helm', 'keda-llm-scaler'));
    const chartContainer = find<any>(chart.objects, 'Deployment').spec.template.spec.containers[0];
    for (const key of ['livenessProbe', 'readinessProbe', 'resources', 'securityContext', 'args']) {
      const { initialDelaySeconds: _a, ...ours } = container[key] ?? {};
      const { initialDelaySeconds: _b, ...theirs } = chartContainer[key] ?? {};
      expect(ours, key).toEqual(theirs);
    }
  });

  const scaledObjects = all.filter((o) => o.kind === 'ScaledObject') as any[];

  it('every example ScaledObject trigger is accepted by the scaler as written', () => {
    expect(resolveScaledObjectTriggers(config, scaledObjects)).toBeGreaterThanOrEqual(scaledObjects.length);
  });

  it('every example ScaledObject dials the Service, selects a configured pool and has a fallback', () => {
    expect(scaledObjects.length).toBeGreaterThanOrEqual(4);
    const address = `${service.metadata.name}.${service.metadata.namespace}.svc:${config.grpc.port}`;
    const pools = new Map(config.pools.map((p) => [p.name, p]));
    for (const so of scaledObjects) {
      expect(so.spec.fallback, so.metadata.name).toMatchObject({ failureThreshold: expect.any(Number), replicas: expect.any(Number) });
      for (const trigger of so.spec.triggers) {
        expect(trigger.metadata.scalerAddress).toBe(address);
        expect(pools.has(trigger.metadata.pool), `${so.metadata.name}: pool ${trigger.metadata.pool}`).toBe(true);
      }
      // Scale from zero needs an activation signal: the pool's own (activation:) or an activationThreshold.
      // (pushed over StreamIsActive, so at least one trigger is external-push).
      if (so.spec.minReplicaCount === 0) {
        expect(
          so.spec.triggers.some((t: any) => t.type === 'external-push'),
          so.metadata.name,
        ).toBe(true);
        for (const trigger of so.spec.triggers) {
          expect(pools.get(trigger.metadata.pool)!.activation, `${so.metadata.name} scales from zero`).toBeDefined();
        }
      }
    }
  });

  it('the Dynamo example scales decode and prefill from zero on dynamo-nats pools with a frontend activation', () => {
    const dynamo = byFile.get('examples/scaledobject-dynamo.yaml')! as any[];
    expect(dynamo.map((o) => o.metadata.name)).toEqual(['dynamo-decode', 'dynamo-prefill']);
    for (const so of dynamo) {
      expect(so.spec.minReplicaCount).toBe(0);
      const pool = config.pools.find((p) => p.name === so.spec.triggers[0].metadata.pool)!;
      expect(pool.source).toBe('dynamo-nats');
      expect(pool.activation).toMatchObject({ source: 'dynamo-http', metric: 'queue_depth' });
    }
  });

  it('the TLS example wires enableTLS and a TriggerAuthentication in the ScaledObject namespace', () => {
    const objects = byFile.get('examples/triggerauthentication-tls.yaml')! as any[];
    const auth = find<any>(objects, 'TriggerAuthentication');
    expect(auth.spec.secretTargetRef.map((r: any) => r.parameter)).toEqual(['caCert', 'tlsClientCert', 'tlsClientKey']);
    const so = find<any>(objects, 'ScaledObject');
    expect(so.metadata.namespace).toBe(auth.metadata.namespace);
    for (const trigger of so.spec.triggers) {
      expect(trigger.metadata.enableTLS).toBe('true');
      expect(trigger.authenticationRef).toEqual({ name: auth.metadata.name });
    }
  });
});
