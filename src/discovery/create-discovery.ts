import type { DiscoveryConfig } from '../config/schema.js';
import { DEFAULT_METRICS_PATH, type Discovery, type Scheme } from './discovery.js';
import { DnsDiscovery } from './dns-discovery.js';
import { KubernetesDiscovery } from './kubernetes-discovery.js';
import { StaticDiscovery } from './static-discovery.js';

/** The part of a pool's configuration that says where its workers are (a PoolConfig is one). */
export interface DiscoverySettings {
  readonly scheme?: Scheme;
  readonly targets?: readonly string[];
  readonly discovery?: DiscoveryConfig;
}

/** Builds the discovery a pool's configuration asks for: Kubernetes or DNS when given, else the static list. */
export function createDiscovery(config: DiscoverySettings): Discovery {
  const scheme = config.scheme ?? 'http';
  const discovery = config.discovery;
  if (discovery !== undefined && 'kubernetes' in discovery) {
    const { namespace, service, labelSelector, port, kubeconfig } = discovery.kubernetes;
    return new KubernetesDiscovery({ namespace, service, labelSelector, port, kubeconfig, path: discovery.path ?? DEFAULT_METRICS_PATH, scheme });
  }
  if (discovery !== undefined) {
    const { dns, port, path, server } = discovery;
    return new DnsDiscovery({ name: dns, port, path, scheme, server });
  }
  return new StaticDiscovery(config.targets ?? [], scheme);
}
