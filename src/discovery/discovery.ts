import { DnsDiscovery } from './dns-discovery.js';
import { StaticDiscovery } from './static-discovery.js';

/** One worker to scrape: a stable identity for the store plus the URL of its exposition. */
export interface WorkerTarget {
  /** `host:port` (IPv6 hosts bracketed): the worker's id in the store, logs and metrics. */
  readonly id: string;
  /** `<scheme>://host:port<path>`. */
  readonly url: string;
}

/** Decides which workers a pool has right now. Called once per collection round. */
export interface Discovery {
  /** The current workers. Rejects when the answer is unknown (not when it is "none"). */
  resolve(): Promise<WorkerTarget[]>;
  /** A short human-readable description for logs, e.g. `dns llama-headless:8000`. */
  describe(): string;
}

/** The subset of a pool's configuration that discovery needs (PoolConfig satisfies it). */
export interface DiscoveryConfig {
  readonly scheme?: 'http' | 'https';
  readonly targets?: readonly string[];
  readonly discovery?: {
    readonly dns: string;
    readonly port: number;
    readonly path?: string;
    /** Optional DNS server `host:port` to ask instead of the system resolver. */
    readonly server?: string;
  };
}

/** Builds the discovery a pool's configuration asks for: DNS when given, else the static list. */
export function createDiscovery(config: DiscoveryConfig): Discovery {
  const scheme = config.scheme ?? 'http';
  if (config.discovery) {
    const { dns, port, path, server } = config.discovery;
    return new DnsDiscovery({ name: dns, port, path, scheme, server });
  }
  return new StaticDiscovery(config.targets ?? [], scheme);
}
