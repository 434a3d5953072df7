/**
 * The `maxWorkers` bound of one pool: how many workers a source refused because the pool already
 * had that many, and since when. Anyone who can publish on a pool's NATS subjects can invent
 * worker ids; each id costs a ledger entry, a store record and per-worker gauges, so past the
 * bound new ids are refused (the workers already known keep being read).
 */
export class WorkerBound {
  refused = 0;
  private readonly refusedIds = new Set<string>();
  private since: number | undefined;

  constructor(readonly max: number) {}

  /** Records that `id` was refused at `at`; returns true the first time the bound is hit (log it then). */
  refuse(id: string, at: number): boolean {
    // Distinct ids counted up to a point: the set itself must not become the unbounded thing.
    if (this.refusedIds.size < 10_000) this.refusedIds.add(id);
    this.refused++;
    const first = this.since === undefined;
    this.since ??= at;
    return first;
  }

  /** The pool fell below the bound again (workers left): the next refusal is logged anew. */
  clear(): void {
    this.since = undefined;
    this.refusedIds.clear();
  }

  /** For `/api/v1/pools`: undefined while nothing is refused. */
  report(): { maxWorkers: number; refusals: number; refusedWorkerIds: number; since: string; cause: string } | undefined {
    if (this.since === undefined) return undefined;
    return {
      maxWorkers: this.max,
      refusals: this.refused,
      refusedWorkerIds: this.refusedIds.size,
      since: new Date(this.since).toISOString(),
      cause: `max-workers: the pool already has ${this.max} workers (maxWorkers); further workers are refused`,
    };
  }
}
