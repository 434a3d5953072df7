import type { Discovery, Scheme } from './discovery.js';
import { DnsDiscovery } from './dns-discovery.js';
import { StaticDiscovery } from './static-discovery.js';

/** The part of a pool's configuration that says where its workers are (a PoolConfig is one). */
export interface DiscoverySettings {
  readonly scheme?: Scheme;
  readonly targets?: readonly string[];
  readonly discovery?: { readonly dns: string; readonly port: number; readonly path?: string; readonly server?: string };
}

/** Builds the discovery a pool's configuration asks for: DNS when given, else the static list. */
export function createDiscovery(config: DiscoverySettings): Discovery {
  const scheme = config.scheme ?? 'http';
  if (config.discovery) {
    const { dns, port, path, server } = config.discovery;
    return new DnsDiscovery({ name: dns, port, path, scheme, server });
  }
  return new StaticDiscovery(config.targets ?? [], scheme);
}
