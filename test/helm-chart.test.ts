/* eslint-disable @typescript-eslint/no-explicit-any -- rendered manifests are untyped JSON that the assertions navigate */
/**
 * The Helm chart, rendered offline the way `helm template` does (Go text/template + sprig +
 * Helm's functions: test/support/helm-render) with its defaults and each documented option, then
 * every object validated against the Kubernetes / KEDA / prometheus-operator schemas, the
 * ConfigMap's config file against the scaler's own validateConfig, and values.schema.json (what
 * `helm install` validates values with) against good and bad values.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { parse as parseYaml, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import type { ScalerConfig } from '../src/config/schema.js';
import {
  RenderError,
  find,
  helmRenderBinary,
  mergedValues,
  renderChart,
  repoRoot,
  resolveScaledObjectTriggers,
  validateObject,
  type K8sObject,
  type Rendered,
} from './support/k8s.js';

const chart = path.join(repoRoot, 'helm', 'keda-llm-scaler');
let dir: string;
let validateValues: ValidateFunction;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'helm-chart-'));
  const schema = JSON.parse(await readFile(path.join(chart, 'values.schema.json'), 'utf8')) as object;
  validateValues = new Ajv({ allErrors: true, strict: false }).compile(schema);
  await helmRenderBinary(); // the first (cold) Go build takes a few seconds
}, 300_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let counter = 0;
/** Renders with these values over the chart's values.yaml (like `helm template -f`). */
async function render(values: Record<string, unknown> = {}, release?: { name: string; namespace: string }): Promise<Rendered> {
  const file = path.join(dir, `values-${(counter += 1)}.yaml`);
  await writeFile(file, stringify(values));
  return renderChart(chart, [file], release);
}

/** What every rendering must satisfy, whatever the options. */
function checkAll(rendered: Rendered): { config: ScalerConfig; deployment: any; service: any } {
  expect(validateValues(rendered.values), JSON.stringify(validateValues.errors)).toBe(true);
  for (const object of rendered.objects) validateObject(object);
  const configMap = find<any>(rendered.objects, 'ConfigMap');
  const config = validateConfig(parseYaml(configMap.data['config.yaml']));
  const deployment = find<any>(rendered.objects, 'Deployment');
  const service = find<any>(rendered.objects, 'Service');
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];

  // Security: non-root, read-only root filesystem, no capabilities, RuntimeDefault seccomp.
  expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
  expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
  // A token is mounted only for Kubernetes discovery, and then the chart grants what it needs.
  const roles = rendered.objects.filter((o) => o.kind === 'Role');
  expect(pod.automountServiceAccountToken).toBe(roles.length > 0);
  // The process, the Service and the probes agree on ports.
  const ports = Object.fromEntries(container.ports.map((p: any) => [p.name, p.containerPort]));
  expect(ports).toEqual({ grpc: config.grpc.port, http: config.http.port });
  expect(service.spec.ports.map((p: any) => [p.name, p.targetPort])).toEqual([
    ['grpc', 'grpc'],
    ['http', 'http'],
  ]);
  expect(container.livenessProbe.httpGet.port).toBe('http');
  expect(container.readinessProbe.httpGet.port).toBe('http');
  expect(container.args).toEqual(['serve', '--config', '/etc/keda-llm-scaler/config.yaml']);
  // Selectors select the pod template.
  expect(pod).toBeDefined();
  expect(deployment.spec.template.metadata.labels).toMatchObject(deployment.spec.selector.matchLabels);
  expect(deployment.spec.template.metadata.labels).toMatchObject(service.spec.selector);
  expect(deployment.spec.template.metadata.annotations['checksum/config']).toMatch(/^[0-9a-f]{64}$/);
  // Every volume mount has its volume; the ConfigMap is the one mounted.
  const volumes = new Map(pod.volumes.map((v: any) => [v.name, v]));
  for (const mount of container.volumeMounts) expect(volumes.has(mount.name), mount.name).toBe(true);
  expect((volumes.get('config') as any).configMap.name).toBe(configMap.metadata.name);
  // The TLS files the config names are where the Secrets are mounted, under the Secrets' keys.
  if (config.tls) {
    for (const file of [config.tls.cert, config.tls.key, config.tls.clientCa].filter((f): f is string => f !== undefined)) {
      const mount = container.volumeMounts.find((m: any) => file.startsWith(`${m.mountPath}/`));
      expect(mount, file).toBeDefined();
      expect(mount.subPath, 'a subPath mount would never see a renewed certificate').toBeUndefined();
      const secret = (volumes.get(mount.name) as any).secret;
      expect(secret.secretName).toBeTruthy();
    }
  }
  // Every generated ScaledObject dials this Service and selects a configured pool.
  const poolNames = new Set(config.pools.map((p) => p.name));
  for (const so of rendered.objects.filter((o) => o.kind === 'ScaledObject') as any[]) {
    for (const trigger of so.spec.triggers) {
      expect(trigger.metadata.scalerAddress).toBe(`${service.metadata.name}.${service.metadata.namespace}.svc:${config.grpc.port}`);
      expect(poolNames.has(trigger.metadata.pool), `pool ${trigger.metadata.pool}`).toBe(true);
      expect(['external', 'external-push']).toContain(trigger.type);
      if (config.tls) expect(trigger.metadata.enableTLS).toBe('true');
      else expect(trigger.metadata.enableTLS).toBeUndefined();
    }
  }
  // …and every trigger's metadata is one the scaler accepts.
  resolveScaledObjectTriggers(config, rendered.objects);
  // Labels are the usual ones.
  for (const object of rendered.objects) {
    expect(object.metadata.labels).toMatchObject({ 'app.kubernetes.io/name': 'keda-llm-scaler', 'app.kubernetes.io/managed-by': 'Helm' });
  }
  return { config, deployment, service };
}

const kinds = (objects: K8sObject[]) => objects.map((o) => o.kind).sort();

describe('helm chart: defaults', () => {
  it('renders a valid ServiceAccount, ConfigMap, Deployment and Service', async () => {
    const rendered = await render();
    expect(kinds(rendered.objects)).toEqual(['ConfigMap', 'Deployment', 'Service', 'ServiceAccount']);
    const { config, deployment, service } = checkAll(rendered);
    expect(config.grpc.port).toBe(9090);
    expect(config.http.port).toBe(8080);
    expect(config.http.ui).toBe(true);
    expect(rendered.notes).toContain('open http://localhost:8080/     # the status page');
    expect(config.tls).toBeUndefined();
    expect(config.pools.map((p) => p.name)).toEqual(['llama']);
    const pod = deployment.spec.template.spec;
    const container = pod.containers[0];
    expect(container.image).toBe('ghcr.io/keda-llm-scaler/keda-llm-scaler:0.1.0');
    // Readiness is /healthz: a scaler without fresh data must stay reachable for KEDA's fallback.
    expect(container.readinessProbe.httpGet.path).toBe('/healthz');
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(container.resources).toEqual({ requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } });
    expect(pod.topologySpreadConstraints).toEqual([
      {
        maxSkew: 1,
        topologyKey: 'kubernetes.io/hostname',
        whenUnsatisfiable: 'ScheduleAnyway',
        labelSelector: { matchLabels: deployment.spec.selector.matchLabels },
      },
    ]);
    expect(pod.volumes.map((v: any) => v.name)).toEqual(['config']);
    expect(service.spec.clusterIP).toBeUndefined();
    expect(service.metadata.name).toBe('kls-keda-llm-scaler');
    expect(pod.serviceAccountName).toBe(find(rendered.objects, 'ServiceAccount').metadata.name);
    expect(rendered.notes).toContain('scalerAddress: kls-keda-llm-scaler.keda.svc:9090');
    expect(rendered.notes).not.toContain('WARNING');
  });

  it('names objects after the release, or the release alone when it contains the chart name', async () => {
    const rendered = await render({}, { name: 'keda-llm-scaler', namespace: 'ops' });
    const { service } = checkAll(rendered);
    expect(service.metadata).toMatchObject({ name: 'keda-llm-scaler', namespace: 'ops' });
    const custom = await render({
      fullnameOverride: 'llm-scaler',
      grpcPort: 9443,
      httpPort: 9000,
      image: { repository: 'registry.local/kls', digest: `sha256:${'a'.repeat(64)}` },
    });
    const { config, deployment } = checkAll(custom);
    expect(config.grpc.port).toBe(9443);
    expect(config.http.port).toBe(9000);
    const off = await render({ statusPage: { enabled: false } });
    expect(checkAll(off).config.http.ui).toBe(false);
    expect(off.notes).not.toContain('the status page');
    expect(deployment.spec.template.spec.containers[0].image).toBe(`registry.local/kls@sha256:${'a'.repeat(64)}`);
    expect(custom.notes).toContain('scalerAddress: llm-scaler.keda.svc:9443');
  });

  it('changes the config checksum (and so rolls the pods) when the configuration changes', async () => {
    const a = checkAll(await render());
    const b = checkAll(await render({ config: { checkInterval: '2s' } }));
    expect(b.config.checkInterval).toBe(2000);
    expect(a.deployment.spec.template.metadata.annotations['checksum/config']).not.toBe(b.deployment.spec.template.metadata.annotations['checksum/config']);
  });
});

describe('helm chart: TLS', () => {
  it('TLS on: mounts the Secret as a directory and points the config at it', async () => {
    const rendered = await render({ tls: { enabled: true, secretName: 'scaler-cert' } });
    const { config, deployment } = checkAll(rendered);
    expect(config.tls).toEqual({ cert: '/etc/keda-llm-scaler/tls/tls.crt', key: '/etc/keda-llm-scaler/tls/tls.key' });
    const pod = deployment.spec.template.spec;
    expect(pod.volumes).toContainEqual({ name: 'tls', secret: { secretName: 'scaler-cert' } });
    expect(pod.containers[0].volumeMounts).toContainEqual({ name: 'tls', mountPath: '/etc/keda-llm-scaler/tls', readOnly: true });
    expect(rendered.objects.filter((o) => o.kind === 'TriggerAuthentication')).toHaveLength(0);
    expect(rendered.notes).toContain('(TLS)');
    expect(rendered.notes).toContain('enableTLS: "true"');
  });

  it('mTLS with the client CA in the same Secret, and a TriggerAuthentication for KEDA', async () => {
    const rendered = await render({
      tls: {
        enabled: true,
        secretName: 'scaler-cert',
        clientCa: { enabled: true },
        triggerAuthentication: { create: true, secretName: 'keda-client-cert', namespace: 'llm' },
      },
      scaledObjects: [
        { name: 'llama', namespace: 'llm', scaleTargetRef: { name: 'llama-vllm' }, pool: 'llama', triggers: [{ metric: 'kv_cache_usage', target: '0.7' }] },
      ],
    });
    const { config, deployment } = checkAll(rendered);
    expect(config.tls).toEqual({
      cert: '/etc/keda-llm-scaler/tls/tls.crt',
      key: '/etc/keda-llm-scaler/tls/tls.key',
      clientCa: '/etc/keda-llm-scaler/tls/ca.crt',
    });
    expect(deployment.spec.template.spec.volumes.map((v: any) => v.name)).toEqual(['config', 'tls']);
    const auth = find<any>(rendered.objects, 'TriggerAuthentication');
    expect(auth.metadata).toMatchObject({ name: 'kls-keda-llm-scaler-tls', namespace: 'llm' });
    expect(auth.spec.secretTargetRef).toEqual([
      { parameter: 'caCert', name: 'keda-client-cert', key: 'ca.crt' },
      { parameter: 'tlsClientCert', name: 'keda-client-cert', key: 'tls.crt' },
      { parameter: 'tlsClientKey', name: 'keda-client-cert', key: 'tls.key' },
    ]);
    const so = find<any>(rendered.objects, 'ScaledObject');
    expect(so.spec.triggers[0]).toMatchObject({
      type: 'external-push',
      authenticationRef: { name: 'kls-keda-llm-scaler-tls' },
      metadata: { enableTLS: 'true' },
    });
    expect(rendered.notes).toContain('client certificate required');
  });

  it('mTLS with the client CA in its own Secret, and a ClusterTriggerAuthentication', async () => {
    const rendered = await render({
      tls: {
        enabled: true,
        secretName: 'scaler-cert',
        certKey: 'server.pem',
        keyKey: 'server-key.pem',
        clientCa: { enabled: true, secretName: 'client-ca', key: 'ca.pem' },
        triggerAuthentication: { create: true, kind: 'ClusterTriggerAuthentication', secretName: 'keda-client-cert' },
      },
      scaledObjects: [
        { name: 'llama', scaleTargetRef: { name: 'llama-vllm' }, pool: 'llama', triggers: [{ metric: 'queue_depth', target: 5, type: 'external' }] },
      ],
    });
    const { config, deployment } = checkAll(rendered);
    expect(config.tls).toEqual({
      cert: '/etc/keda-llm-scaler/tls/server.pem',
      key: '/etc/keda-llm-scaler/tls/server-key.pem',
      clientCa: '/etc/keda-llm-scaler/client-ca/ca.pem',
    });
    expect(deployment.spec.template.spec.volumes).toContainEqual({ name: 'client-ca', secret: { secretName: 'client-ca' } });
    const auth = find<any>(rendered.objects, 'ClusterTriggerAuthentication');
    expect(auth.metadata.namespace).toBeUndefined();
    const so = find<any>(rendered.objects, 'ScaledObject');
    expect(so.spec.triggers[0]).toMatchObject({
      type: 'external',
      authenticationRef: { name: 'kls-keda-llm-scaler-tls', kind: 'ClusterTriggerAuthentication' },
      metadata: { target: '5' },
    });
  });

  it('refuses a ScaledObject outside the namespace of the TriggerAuthentication it would need', async () => {
    await expect(
      render({
        tls: { enabled: true, secretName: 's', triggerAuthentication: { create: true, secretName: 'k', namespace: 'llm' } },
        scaledObjects: [{ name: 'other', namespace: 'elsewhere', scaleTargetRef: { name: 'y' }, pool: 'llama', triggers: [{ metric: 'queue_depth' }] }],
      }),
    ).rejects.toThrow(/scaledObjects\[other\] is in namespace elsewhere but the TriggerAuthentication is in llm/);
  });

  it('a template guard stops TLS without a Secret even when the schema is bypassed', async () => {
    await expect(render({ tls: { enabled: true } })).rejects.toThrow(RenderError);
    await expect(render({ tls: { enabled: true } })).rejects.toThrow(/tls\.secretName is empty/);
    await expect(render({ tls: { clientCa: { enabled: true } } })).rejects.toThrow(/needs tls\.enabled/);
  });
});

describe('helm chart: topology and availability options', () => {
  it('headless Service for several replicas (KEDA balances round_robin over DNS)', async () => {
    const rendered = await render({ replicaCount: 3, service: { headless: true } });
    const { deployment, service } = checkAll(rendered);
    expect(deployment.spec.replicas).toBe(3);
    expect(service.spec.clusterIP).toBe('None');
    expect(rendered.notes).not.toContain('WARNING');
    const notHeadless = await render({ replicaCount: 3 });
    checkAll(notHeadless);
    expect(notHeadless.notes).toContain('WARNING: replicaCount is 3 but service.headless is false');
  });

  it('PodDisruptionBudget with minAvailable or maxUnavailable', async () => {
    const rendered = await render({ replicaCount: 2, podDisruptionBudget: { enabled: true } });
    const { deployment } = checkAll(rendered);
    const pdb = find<any>(rendered.objects, 'PodDisruptionBudget');
    expect(pdb.spec).toEqual({ minAvailable: 1, selector: { matchLabels: deployment.spec.selector.matchLabels } });
    const pct = await render({ replicaCount: 4, podDisruptionBudget: { enabled: true, minAvailable: null, maxUnavailable: '25%' } });
    checkAll(pct);
    expect(find<any>(pct.objects, 'PodDisruptionBudget').spec).toMatchObject({ maxUnavailable: '25%' });
  });

  it('ServiceMonitor scraping /metrics on the http port of this Service', async () => {
    const rendered = await render({ serviceMonitor: { enabled: true, labels: { release: 'prometheus' }, interval: '15s' } });
    const { service } = checkAll(rendered);
    const monitor = find<any>(rendered.objects, 'ServiceMonitor');
    expect(monitor.metadata.labels.release).toBe('prometheus');
    expect(monitor.spec.endpoints).toEqual([{ port: 'http', path: '/metrics', interval: '15s', scrapeTimeout: '10s' }]);
    expect(service.metadata.labels).toMatchObject(monitor.spec.selector.matchLabels);
    expect(monitor.spec.namespaceSelector.matchNames).toEqual([service.metadata.namespace]);
  });

  it('custom topology spread, scheduling and extra env/volumes pass through', async () => {
    const rendered = await render({
      topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'DoNotSchedule' }],
      nodeSelector: { 'kubernetes.io/os': 'linux' },
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'ops', effect: 'NoSchedule' }],
      extraEnv: [{ name: 'SCALER_LOG_LEVEL', value: 'debug' }],
      extraVolumes: [{ name: 'nats-creds', secret: { secretName: 'nats-creds' } }],
      extraVolumeMounts: [{ name: 'nats-creds', mountPath: '/etc/nats', readOnly: true }],
      priorityClassName: 'system-cluster-critical',
    });
    const { deployment } = checkAll(rendered);
    const pod = deployment.spec.template.spec;
    expect(pod.topologySpreadConstraints[0]).toMatchObject({
      topologyKey: 'topology.kubernetes.io/zone',
      labelSelector: { matchLabels: deployment.spec.selector.matchLabels },
    });
    expect(pod.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux' });
    expect(pod.containers[0].env).toEqual([{ name: 'SCALER_LOG_LEVEL', value: 'debug' }]);
    expect(pod.priorityClassName).toBe('system-cluster-critical');
    const none = checkAll(await render({ topologySpreadConstraints: [] }));
    expect(none.deployment.spec.template.spec.topologySpreadConstraints).toBeUndefined();
  });
});

describe('helm chart: pools and ScaledObjects for the common cases', () => {
  const pools = [
    { name: 'llama', source: 'vllm', discovery: { dns: 'llama-vllm-headless.llm.svc.cluster.local', port: 8000 }, model: 'meta-llama/Llama-3.1-8B-Instruct' },
    {
      name: 'dynamo-decode',
      source: 'dynamo-nats',
      nats: { url: 'nats://dynamo-nats.dynamo.svc:4222' },
      namespace: 'dynamo',
      component: 'backend',
      endpoint: 'load_metrics',
      activation: { source: 'dynamo-http', targets: ['dynamo-frontend.dynamo.svc:8000'], metric: 'queue_depth', threshold: 0 },
    },
    { name: 'dynamo-prefill', source: 'dynamo-nats', nats: { url: 'nats://dynamo-nats.dynamo.svc:4222' }, namespace: 'dynamo', component: 'prefill' },
  ];

  it('vLLM on kv_cache_usage and on desired_replicas; Dynamo decode/prefill on dynamo-nats pools', async () => {
    const rendered = await render({
      config: { pools, scrape: { timeout: '3s', concurrency: 32, maxBodyBytes: 16777216 }, defaultTarget: 0.7 },
      scaledObjects: [
        {
          name: 'llama',
          namespace: 'llm',
          scaleTargetRef: { name: 'llama-vllm' },
          pool: 'llama',
          minReplicaCount: 1,
          maxReplicaCount: 8,
          pollingInterval: 15,
          fallback: { failureThreshold: 3, replicas: 4 },
          advanced: { horizontalPodAutoscalerConfig: { behavior: { scaleDown: { stabilizationWindowSeconds: 300 } } } },
          triggers: [
            { metric: 'kv_cache_usage', target: '0.7', activationThreshold: '0.05' },
            { metric: 'queue_depth', target: 5, type: 'external', useCachedMetrics: true },
          ],
        },
        {
          name: 'llama-wva',
          namespace: 'llm',
          scaleTargetRef: { name: 'llama-vllm' },
          pool: 'llama',
          triggers: [{ metric: 'desired_replicas', target: '1', metadata: { policy: 'saturation', kvCacheThreshold: 0.8 } }],
        },
        {
          name: 'dynamo-decode',
          namespace: 'dynamo',
          scaleTargetRef: { name: 'dynamo-vllmdecodeworker' },
          pool: 'dynamo-decode',
          minReplicaCount: 0,
          maxReplicaCount: 8,
          cooldownPeriod: 600,
          fallback: { failureThreshold: 3, replicas: 2, behavior: 'currentReplicasIfHigher' },
          triggers: [{ metric: 'kv_blocks_usage_percent', target: '70', activationThreshold: '0' }],
        },
        {
          name: 'dynamo-prefill',
          namespace: 'dynamo',
          scaleTargetRef: { name: 'dynamo-vllmprefillworker', kind: 'Deployment' },
          pool: 'dynamo-prefill',
          triggers: [{ metric: 'queue_depth', target: '4' }],
        },
      ],
    });
    const { config } = checkAll(rendered);
    expect(config.scrape).toEqual({ timeout: 3000, concurrency: 32, maxBodyBytes: 16777216, maxSeries: 20000 });
    expect(config.defaultTarget).toBe(0.7);
    expect(config.pools.find((p) => p.name === 'dynamo-decode')).toMatchObject({
      source: 'dynamo-nats',
      component: 'backend',
      activation: { source: 'dynamo-http' },
    });
    const llama = find<any>(rendered.objects, 'ScaledObject', 'llama');
    expect(llama.metadata.namespace).toBe('llm');
    expect(llama.spec).toMatchObject({ minReplicaCount: 1, maxReplicaCount: 8, pollingInterval: 15, fallback: { failureThreshold: 3, replicas: 4 } });
    expect(llama.spec.scaleTargetRef).toEqual({ name: 'llama-vllm', kind: 'Deployment', apiVersion: 'apps/v1' });
    expect(llama.spec.triggers).toEqual([
      {
        type: 'external-push',
        metadata: { scalerAddress: 'kls-keda-llm-scaler.keda.svc:9090', pool: 'llama', metric: 'kv_cache_usage', target: '0.7', activationThreshold: '0.05' },
      },
      {
        type: 'external',
        useCachedMetrics: true,
        metadata: { scalerAddress: 'kls-keda-llm-scaler.keda.svc:9090', pool: 'llama', metric: 'queue_depth', target: '5' },
      },
    ]);
    const wva = find<any>(rendered.objects, 'ScaledObject', 'llama-wva');
    expect(wva.spec.triggers[0].metadata).toMatchObject({ metric: 'desired_replicas', target: '1', policy: 'saturation', kvCacheThreshold: '0.8' });
    const decode = find<any>(rendered.objects, 'ScaledObject', 'dynamo-decode');
    expect(decode.spec).toMatchObject({ minReplicaCount: 0, cooldownPeriod: 600, fallback: { behavior: 'currentReplicasIfHigher' } });
    expect(decode.spec.triggers[0].metadata).toMatchObject({ pool: 'dynamo-decode', metric: 'kv_blocks_usage_percent', target: '70' });
    expect(find<any>(rendered.objects, 'ScaledObject', 'dynamo-prefill').spec.triggers[0].metadata.pool).toBe('dynamo-prefill');
    expect(rendered.notes).toContain('Pools: llama (vllm), dynamo-decode (dynamo-nats), dynamo-prefill (dynamo-nats)');
  });

  it('a ScaledObject without a pool is refused with a clear message', async () => {
    await expect(render({ scaledObjects: [{ name: 'x', scaleTargetRef: { name: 'y' }, triggers: [{ metric: 'queue_depth' }] }] })).rejects.toThrow(
      /scaledObjects\[x\]\.triggers\[0\]: pool is required/,
    );
  });
});

describe('helm chart: RBAC for Kubernetes discovery', () => {
  it('renders no Role, no RoleBinding and no token when no pool uses Kubernetes discovery', async () => {
    const rendered = await render({
      config: {
        pools: [{ name: 'p', source: 'prometheus', prometheus: { url: 'http://prometheus.monitoring.svc:9090', selector: '{job="vllm"}', engine: 'vllm' } }],
      },
    });
    checkAll(rendered);
    expect(kinds(rendered.objects)).toEqual(['ConfigMap', 'Deployment', 'Service', 'ServiceAccount']);
  });

  it('a Role (list/watch EndpointSlices) and a RoleBinding to the scaler in each namespace a pool or activation discovers', async () => {
    const rendered = await render(
      {
        config: {
          pools: [
            { name: 'a', source: 'vllm', discovery: { kubernetes: { namespace: 'llm', service: 'llama', port: 'http' } } },
            {
              name: 'b',
              source: 'sglang',
              discovery: { kubernetes: { namespace: 'llm', labelSelector: 'app=qwen', port: 30000 } },
              activation: { source: 'dynamo-http', discovery: { kubernetes: { namespace: 'gateway', service: 'frontend', port: 8000 } } },
            },
            { name: 'c', source: 'vllm', discovery: { dns: 'x.llm.svc', port: 8000 } },
          ],
        },
      },
      { name: 'kls', namespace: 'keda' },
    );
    const { config, deployment } = checkAll(rendered);
    expect(config.pools[0]?.discovery).toEqual({ kubernetes: { namespace: 'llm', service: 'llama', port: 'http' }, path: '/metrics' });
    const roles = rendered.objects.filter((o) => o.kind === 'Role') as any[];
    expect(roles.map((r) => r.metadata.namespace)).toEqual(['gateway', 'llm']);
    for (const role of roles) {
      expect(role.metadata.name).toBe('kls-keda-llm-scaler-endpointslices');
      expect(role.rules).toEqual([{ apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] }]);
    }
    const bindings = rendered.objects.filter((o) => o.kind === 'RoleBinding') as any[];
    expect(bindings.map((b) => [b.metadata.namespace, b.roleRef.name, b.subjects])).toEqual(
      ['gateway', 'llm'].map((ns) => [ns, 'kls-keda-llm-scaler-endpointslices', [{ kind: 'ServiceAccount', name: 'kls-keda-llm-scaler', namespace: 'keda' }]]),
    );
    expect(deployment.spec.template.spec.serviceAccountName).toBe('kls-keda-llm-scaler');
    expect(find<any>(rendered.objects, 'ServiceAccount').automountServiceAccountToken).toBe(true);
  });

  it('rbac.create false leaves RBAC to the cluster admin (the token is still mounted)', async () => {
    const rendered = await render({
      rbac: { create: false },
      config: { pools: [{ name: 'a', source: 'vllm', discovery: { kubernetes: { namespace: 'llm', service: 'llama', port: 8000 } } }] },
    });
    expect(rendered.objects.filter((o) => o.kind === 'Role' || o.kind === 'RoleBinding')).toEqual([]);
    expect(find<any>(rendered.objects, 'Deployment').spec.template.spec.automountServiceAccountToken).toBe(true);
  });
});

describe('values.schema.json (what helm install validates values with)', () => {
  async function merged(values: Record<string, unknown>): Promise<Record<string, unknown>> {
    // The schema validates the merged values, as Helm does; rendering may still fail, which is fine here.
    const file = path.join(dir, `schema-${(counter += 1)}.yaml`);
    await writeFile(file, stringify(values));
    return mergedValues(chart, [file]);
  }

  function errorsOf(values: Record<string, unknown>): string {
    return validateValues(values) ? '' : JSON.stringify(validateValues.errors);
  }

  it('accepts the defaults and every option combination above', async () => {
    expect(errorsOf(await merged({}))).toBe('');
    expect(
      errorsOf(
        await merged({ tls: { enabled: true, secretName: 's', clientCa: { enabled: true }, triggerAuthentication: { create: true, secretName: 'k' } } }),
      ),
    ).toBe('');
    expect(errorsOf(await merged({ podDisruptionBudget: { enabled: true, minAvailable: null, maxUnavailable: '25%' } }))).toBe('');
  });

  it('rejects a non-numeric port', async () => {
    expect(errorsOf(await merged({ grpcPort: 'abc' }))).toContain('/grpcPort');
    expect(errorsOf(await merged({ httpPort: '8080' }))).toContain('/httpPort');
    expect(errorsOf(await merged({ statusPage: { enabled: 'sometimes' } }))).toContain('/statusPage/enabled');
    expect(errorsOf(await merged({ grpcPort: 70000 }))).toContain('/grpcPort');
    expect(errorsOf(await merged({ config: { pools: [{ name: 'a', source: 'vllm', discovery: { dns: 'x', port: 'http' } }] } }))).toContain(
      '/config/pools/0/discovery/port',
    );
  });

  it('rejects an unknown pool source', async () => {
    const errors = errorsOf(await merged({ config: { pools: [{ name: 'a', source: 'tgi', targets: ['10.0.0.1:8000'] }] } }));
    expect(errors).toContain('/config/pools/0/source');
    expect(errors).toContain('allowedValues');
  });

  it('rejects TLS enabled without a secret name', async () => {
    expect(errorsOf(await merged({ tls: { enabled: true } }))).toContain('secretName');
    expect(errorsOf(await merged({ tls: { enabled: true, secretName: '' } }))).toContain('/tls/secretName');
    expect(errorsOf(await merged({ tls: { clientCa: { enabled: true } } }))).toContain('/tls/enabled');
    expect(errorsOf(await merged({ tls: { enabled: true, secretName: 's', triggerAuthentication: { create: true } } }))).toContain('secretName');
  });

  it('rejects other mistakes: unknown keys, bad pools, bad ScaledObjects', async () => {
    expect(errorsOf(await merged({ replicas: 2 }))).toContain('additionalProperties');
    expect(errorsOf(await merged({ config: { pools: [] } }))).toContain('/config/pools');
    expect(errorsOf(await merged({ config: { pools: [{ name: 'Bad_Name', source: 'vllm', targets: ['a:1'] }] } }))).toContain('/config/pools/0/name');
    expect(errorsOf(await merged({ config: { pools: [{ name: 'd', source: 'dynamo-nats' }] } }))).toContain('component');
    expect(errorsOf(await merged({ config: { pools: [{ name: 'v', source: 'vllm' }] } }))).not.toBe('');
    expect(
      errorsOf(
        await merged({ scaledObjects: [{ name: 'x', scaleTargetRef: { name: 'y' }, triggers: [{ metric: 'm', metadata: { scalerAddress: 'evil:1' } }] }] }),
      ),
    ).not.toBe('');
    expect(errorsOf(await merged({ probes: { readiness: { path: '/metrics' } } }))).toContain('/probes/readiness/path');
  });

  it('prometheus pools and Kubernetes discovery: accepted as the scaler accepts them, refused as it refuses them', async () => {
    const prom = { url: 'http://prom:9090', selector: '{job="vllm"}', engine: 'vllm', workerLabel: 'pod', timeout: '3s', headers: { 'X-Scope-OrgID': 'llm' } };
    expect(errorsOf(await merged({ config: { pools: [{ name: 'p', source: 'prometheus', prometheus: prom }] } }))).toBe('');
    expect(errorsOf(await merged({ config: { pools: [{ name: 'p', source: 'prometheus' }] } }))).toContain('prometheus');
    expect(errorsOf(await merged({ config: { pools: [{ name: 'p', source: 'prometheus', prometheus: prom, targets: ['a:1'] }] } }))).not.toBe('');
    expect(errorsOf(await merged({ config: { pools: [{ name: 'p', source: 'vllm', targets: ['a:1'], prometheus: prom }] } }))).not.toBe('');
    expect(errorsOf(await merged({ config: { pools: [{ name: 'p', source: 'prometheus', prometheus: { ...prom, engine: 'tgi' } }] } }))).toContain(
      '/config/pools/0/prometheus/engine',
    );
    const kube = (kubernetes: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
      merged({ config: { pools: [{ name: 'k', source: 'vllm', discovery: { kubernetes, ...extra } }] } });
    expect(errorsOf(await kube({ namespace: 'llm', service: 'llama', port: 'http' }))).toBe('');
    expect(errorsOf(await kube({ namespace: 'llm', labelSelector: 'app=llama', port: 8000 }))).toBe('');
    expect(errorsOf(await kube({ namespace: 'llm', port: 8000 }))).not.toBe('');
    expect(errorsOf(await kube({ namespace: 'llm', service: 'llama', labelSelector: 'a=b', port: 8000 }))).not.toBe('');
    expect(errorsOf(await kube({ namespace: 'llm', service: 'llama', port: 8000 }, { dns: 'x' }))).not.toBe('');
    expect(errorsOf(await kube({ namespace: 'LLM', service: 'llama', port: 8000 }))).toContain('/config/pools/0/discovery/kubernetes/namespace');
  });
});
