/** One worker to scrape: a stable identity for the store plus the URL of its exposition. */
export interface WorkerTarget {
  /** `host:port` (IPv6 hosts bracketed): the worker's id in the store, logs and metrics. */
  readonly id: string;
  /** `<scheme>://host:port<path>`. */
  readonly url: string;
  /** A name for explanations, e.g. the worker's pod. */
  readonly name?: string;
  /** Set (to the reason) while the worker drains (a terminating pod still serving): shown, not scraped, never counted. */
  readonly draining?: string;
}

/** Decides which workers a pool has right now. Called once per collection round. */
export interface Discovery {
  /** The current workers. Rejects when the answer is unknown (not when it is "none"). */
  resolve(): Promise<WorkerTarget[]>;
  /** A short human-readable description for logs, e.g. `dns llama-headless:8000`. */
  describe(): string;
  /**
   * Set while `resolve` answers from a cache that may be out of date (a watch that keeps failing
   * after a good list): the answer is still the best known, and this says why it may be old.
   */
  problem?(): string | undefined;
  /** Ends what the discovery keeps open (a watch); resolves once it has. */
  close?(): Promise<void>;
}

export type Scheme = 'http' | 'https';

export const DEFAULT_METRICS_PATH = '/metrics';

/**
 * Builds a target from its parts. IPv6 literals are bracketed in both id and URL so that the
 * id stays unambiguous (`[fd00::1]:8000`) and the URL valid.
 */
export function workerTarget(scheme: Scheme, host: string, port: number, path: string = DEFAULT_METRICS_PATH): WorkerTarget {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const hostPart = bare.includes(':') ? `[${bare}]` : bare;
  const id = `${hostPart}:${port}`;
  const normalisedPath = path.startsWith('/') ? path : `/${path}`;
  return { id, url: `${scheme}://${id}${normalisedPath}` };
}
