import { promises as dns } from 'node:dns';
import { DEFAULT_METRICS_PATH, workerTarget, type Discovery, type Scheme, type WorkerTarget } from './discovery.js';

export interface DnsDiscoveryOptions {
  /** The name to resolve, typically a headless Service (`llama-headless.ns.svc.cluster.local`). */
  readonly name: string;
  readonly port: number;
  readonly path?: string;
  readonly scheme?: Scheme;
  /**
   * A DNS server `host:port` to query directly (A + AAAA). Without it the system resolver
   * (`getaddrinfo`) is used, so /etc/hosts and the pod's search domains apply.
   */
  readonly server?: string;
  /** Per-query timeout when `server` is set; c-ares' default (5 s × 4 tries) would stall a round. */
  readonly timeoutMs?: number;
  readonly tries?: number;
}

/**
 * Answers "no such name / no such record": the name legitimately has no workers right now
 * (a headless Service with no ready endpoints), which is zero workers, not an error.
 */
const EMPTY_ANSWER_CODES = new Set<string>([dns.NOTFOUND, dns.NODATA, 'ENOTFOUND', 'ENODATA']);

function isEmptyAnswer(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && EMPTY_ANSWER_CODES.has(code);
}

async function orEmpty(query: Promise<string[]>): Promise<string[]> {
  try {
    return await query;
  } catch (error) {
    if (isEmptyAnswer(error)) return [];
    throw error;
  }
}

/**
 * All A and AAAA records of a name, re-resolved on every call so that pods joining or leaving a
 * headless Service are seen within one collection interval. A failed resolution rejects: the
 * caller keeps the workers it had, because one DNS hiccup must not look like "all workers gone".
 */
export class DnsDiscovery implements Discovery {
  private readonly resolver?: dns.Resolver;
  private readonly path: string;
  private readonly scheme: Scheme;

  constructor(private readonly options: DnsDiscoveryOptions) {
    this.path = options.path ?? DEFAULT_METRICS_PATH;
    this.scheme = options.scheme ?? 'http';
    if (options.server !== undefined) {
      this.resolver = new dns.Resolver({ timeout: options.timeoutMs ?? 2000, tries: options.tries ?? 2 });
      this.resolver.setServers([options.server]);
    }
  }

  async resolve(): Promise<WorkerTarget[]> {
    const addresses = await this.addresses();
    // Sorted and de-duplicated so that identical answers in a different order are no change.
    return [...new Set(addresses)].sort().map((address) => workerTarget(this.scheme, address, this.options.port, this.path));
  }

  describe(): string {
    const via = this.options.server === undefined ? '' : ` via ${this.options.server}`;
    return `dns ${this.options.name}:${this.options.port}${via}`;
  }

  private async addresses(): Promise<string[]> {
    const { name } = this.options;
    if (this.resolver) {
      const [v4, v6] = await Promise.all([orEmpty(this.resolver.resolve4(name)), orEmpty(this.resolver.resolve6(name))]);
      return [...v4, ...v6];
    }
    try {
      const found = await dns.lookup(name, { all: true });
      return found.map((entry) => entry.address);
    } catch (error) {
      if (isEmptyAnswer(error)) return [];
      throw error;
    }
  }
}
