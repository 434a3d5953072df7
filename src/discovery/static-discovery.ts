import { DEFAULT_METRICS_PATH, workerTarget, type Discovery, type Scheme, type WorkerTarget } from './discovery.js';

/** Parses `host:port` or `host:port/path` (host may be `[v6]`); throws on anything else. */
export function parseTarget(entry: string, scheme: Scheme): WorkerTarget {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})(\/.*)?$/.exec(entry.trim());
  const port = match ? Number(match[2]) : NaN;
  if (!match || !(port >= 0 && port <= 65535)) {
    throw new Error(`target '${entry}' is not host:port or host:port/path`);
  }
  return workerTarget(scheme, match[1] ?? '', port, match[3] ?? DEFAULT_METRICS_PATH);
}

/**
 * A fixed list of workers from the configuration. `replace` swaps the list (e.g. on a config
 * reload); workers dropped from it leave the store at the next round.
 */
export class StaticDiscovery implements Discovery {
  private targets: WorkerTarget[] = [];

  constructor(
    entries: readonly string[],
    private readonly scheme: Scheme = 'http',
  ) {
    this.replace(entries);
  }

  /** Validates every entry before swapping, so a bad list never half-replaces a good one. */
  replace(entries: readonly string[]): void {
    const byId = new Map<string, WorkerTarget>();
    for (const entry of entries) {
      const target = parseTarget(entry, this.scheme);
      byId.set(target.id, target); // the same host:port twice is one worker
    }
    this.targets = [...byId.values()];
  }

  resolve(): Promise<WorkerTarget[]> {
    return Promise.resolve([...this.targets]);
  }

  describe(): string {
    return `static ${this.targets.map((t) => t.id).join(', ') || '(empty)'}`;
  }
}
