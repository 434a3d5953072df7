/**
 * Offline Kubernetes checks for the Helm chart and the plain manifests:
 *
 *  - `renderChart(chartDir, valueFiles)`: renders the chart with test/support/helm-render (Go
 *    text/template + sprig + Helm's own functions, see its main.go), built once per source hash
 *    into node_modules/.cache/helm-render. Needs `go` and Debian's sprig sources
 *    (apt-get install golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v2-dev).
 *  - `validateObject(doc)`: validates one object against the Kubernetes OpenAPI schema
 *    (kubernetes-models), KEDA's CRDs (@kubernetes-models/keda) or prometheus-operator's
 *    (@kubernetes-models/prometheus-operator): types, required fields, enums, formats.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ClusterTriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1/ClusterTriggerAuthentication';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import type { ScalerConfig } from '../../src/config/schema.js';
import { TriggerRegistry } from '../../src/triggers/trigger-registry.js';
import { PoolStore } from '../../src/store/pool-store.js';

const run = promisify(execFile);
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

interface Validatable {
  validate(): void;
}
type ModelClass = new (data: never) => Validatable;

const MODELS: Record<string, ModelClass> = {
  'v1/ConfigMap': ConfigMap as unknown as ModelClass,
  'v1/Namespace': Namespace as unknown as ModelClass,
  'v1/Secret': Secret as unknown as ModelClass,
  'v1/Service': Service as unknown as ModelClass,
  'v1/ServiceAccount': ServiceAccount as unknown as ModelClass,
  'apps/v1/Deployment': Deployment as unknown as ModelClass,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget as unknown as ModelClass,
  'rbac.authorization.k8s.io/v1/Role': Role as unknown as ModelClass,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding as unknown as ModelClass,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject as unknown as ModelClass,
  'keda.sh/v1alpha1/TriggerAuthentication': TriggerAuthentication as unknown as ModelClass,
  'keda.sh/v1alpha1/ClusterTriggerAuthentication': ClusterTriggerAuthentication as unknown as ModelClass,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor as unknown as ModelClass,
};

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Throws with the object's kind/name and the schema's complaint when the object is invalid. */
export function validateObject(object: K8sObject): void {
  const doc = Object.fromEntries(Object.entries(object).filter(([k]) => !k.startsWith('__'))) as K8sObject;
  const key = `${doc.apiVersion}/${doc.kind}`;
  const Model = MODELS[key];
  if (!Model) throw new Error(`no schema for ${key} (${doc.metadata?.name}): add it to test/support/k8s.ts`);
  const where = `${doc.kind} ${doc.metadata?.namespace ?? ''}/${doc.metadata?.name}`;
  try {
    new Model(doc as never).validate();
  } catch (error) {
    throw new Error(`${where}: ${(error as Error).message}`);
  }
  // What the API server checks beyond the OpenAPI schema and kubeconform would catch too.
  const name = doc.metadata?.name ?? '';
  if (!DNS_SUBDOMAIN.test(name) || name.length > 253) throw new Error(`${where}: metadata.name is not a DNS subdomain`);
  for (const [k, v] of Object.entries(doc.metadata.labels ?? {})) {
    if (typeof v !== 'string' || v.length > 63 || !/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/.test(v))
      throw new Error(`${where}: label ${k}=${String(v)} is not a valid label value`);
  }
}

/** Parses a multi-document YAML stream; empty documents are dropped, a YAML error throws. */
export function parseManifests(text: string, source: string): K8sObject[] {
  const out: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`${source}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value = doc.toJS() as K8sObject | null;
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

// ---- the Go renderer ------------------------------------------------------------------------

const RENDERER_DIR = path.join(repoRoot, 'test', 'support', 'helm-render');
const GOPATH = '/usr/share/gocode';

export function goToolchainProblem(): string | undefined {
  const sprig = path.join(GOPATH, 'src', 'github.com', 'Masterminds', 'sprig', 'functions.go');
  const yamlV2 = path.join(GOPATH, 'src', 'gopkg.in', 'yaml.v2', 'yaml.go');
  const missing = [existsSync(sprig) ? '' : sprig, existsSync(yamlV2) ? '' : yamlV2].filter(Boolean);
  if (missing.length > 0) {
    return `missing ${missing.join(', ')}: apt-get install -y golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v2-dev`;
  }
  return undefined;
}

let built: Promise<string> | undefined;

/** Builds helm-render once per source hash (cached under node_modules/.cache) and returns its path. */
export function helmRenderBinary(): Promise<string> {
  built ??= (async () => {
    const problem = goToolchainProblem();
    if (problem) throw new Error(problem);
    const source = readFileSync(path.join(RENDERER_DIR, 'main.go'));
    const hash = createHash('sha256').update(source).digest('hex').slice(0, 16);
    const cacheDir = path.join(repoRoot, 'node_modules', '.cache', 'helm-render');
    const binary = path.join(cacheDir, `helm-render-${hash}`);
    if (existsSync(binary)) return binary;
    mkdirSync(cacheDir, { recursive: true });
    const tmp = `${binary}.${process.pid}.tmp`;
    await run('go', ['build', '-o', tmp, '.'], {
      cwd: RENDERER_DIR,
      timeout: 300_000,
      env: { ...process.env, GO111MODULE: 'off', GOPATH, GOFLAGS: '', GOCACHE: path.join(cacheDir, 'gocache'), CGO_ENABLED: '0' },
    });
    await import('node:fs/promises').then((fs) => fs.rename(tmp, binary));
    return binary;
  })();
  return built;
}

export interface Rendered {
  /** The merged values Helm validates against values.schema.json and renders with. */
  values: Record<string, unknown>;
  /** Every rendered object, with the template it came from. */
  objects: (K8sObject & { __template: string })[];
  notes: string;
}

export class RenderError extends Error {}

/** The values Helm would validate against values.schema.json: values.yaml coalesced with the files. */
export async function mergedValues(chartDir: string, valueFiles: string[]): Promise<Record<string, unknown>> {
  const binary = await helmRenderBinary();
  const { stdout } = await run(binary, ['--chart', chartDir, '--values-only', ...valueFiles.flatMap((f) => ['-f', f])]);
  return (JSON.parse(stdout) as { values: Record<string, unknown> }).values;
}

/** `helm template <name> <chart> --namespace <ns> -f ...`, offline. */
export async function renderChart(chartDir: string, valueFiles: string[] = [], release = { name: 'kls', namespace: 'keda' }): Promise<Rendered> {
  const binary = await helmRenderBinary();
  const args = ['--chart', chartDir, '--name', release.name, '--namespace', release.namespace, ...valueFiles.flatMap((f) => ['-f', f])];
  let stdout: string;
  try {
    ({ stdout } = await run(binary, args, { maxBuffer: 64 * 1024 * 1024 }));
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new RenderError((e.stderr ?? e.message).trim());
  }
  const out = JSON.parse(stdout) as { values: Record<string, unknown>; manifests: { template: string; content: string }[]; notes: string };
  const objects = out.manifests.flatMap((m) => parseManifests(m.content, m.template).map((o) => Object.assign(o, { __template: m.template })));
  return { values: out.values, objects, notes: out.notes };
}

/** The object of a kind (and name, when several), failing loudly when it is missing. */
export function find<T = K8sObject>(objects: K8sObject[], kind: string, name?: string): T {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0] as T;
}

/**
 * Resolves every trigger of every ScaledObject the way the scaler would on KEDA's first call:
 * unknown keys, bad values and unknown pools fail here, not in a cluster.
 */
export function resolveScaledObjectTriggers(config: ScalerConfig, objects: readonly K8sObject[]): number {
  const registry = new TriggerRegistry(
    new Map(
      config.pools.map((pool) => [
        pool.name,
        {
          runtime: { name: pool.name, store: new PoolStore(pool.name, { cacheTtlMs: config.cacheTtl, intervalMs: 1000, historyWindowMs: 600_000 }) },
          config: pool,
        },
      ]),
    ),
    config.defaultTarget,
  );
  let resolved = 0;
  for (const so of objects.filter((o) => o.kind === 'ScaledObject') as unknown as {
    metadata: { name: string };
    spec: { triggers: { metadata: Record<string, string> }[] };
  }[]) {
    for (const trigger of so.spec.triggers) {
      try {
        registry.resolve(trigger.metadata);
      } catch (error) {
        throw new Error(`ScaledObject ${so.metadata.name}: ${(error as Error).message}`);
      }
      resolved += 1;
    }
  }
  return resolved;
}
