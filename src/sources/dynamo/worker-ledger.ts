/**
 * What the Dynamo NATS source knows about each worker, independent of NATS itself: per-rank
 * readings from every feed that spoke about the worker, which feed to believe, how long the
 * worker lives when it falls silent, and the fleet view a sample is built from.
 */
import type { LoadReading, RankReading } from './decode.js';
import { GRADE_RANK, PublisherRegistry, type PublisherGrade } from './publishers.js';

/**
 * The three generations of Dynamo's load transport (ai-dynamo/dynamo): `$SRV.STATS` pull (to 2025-10),
 * JSON push on `kv_metrics` (2025-08 to 2026-01), the MessagePack event plane (2026).
 */
export type Generation = 'stats' | 'kv-metrics' | 'event-plane';

export interface Observation {
  readonly reading: RankReading;
  readonly generation: Generation;
  /** Event-plane publisher id; absent for `$SRV.STATS` and JSON kv_metrics. */
  readonly publisherId?: string;
  /** The message itself is engine data (an FPM, an ActiveLoad with kv_used_blocks). */
  readonly engine?: boolean;
  /** A ForwardPassMetrics message: this worker heartbeats every second even when idle. */
  readonly heartbeats?: boolean;
  /** Seen on this pool's own component-scoped subject: certainly one of ours. */
  readonly ownComponent?: boolean;
}

export interface LedgerOptions {
  /** A worker that answered `$SRV.STATS` is gone once it has not answered for this long (cache TTL). */
  readonly statsTtlMs: number;
  /** A worker that sends FPM heartbeats is gone once silent this long. */
  readonly heartbeatTtlMs: number;
  /** A push worker (silent while idle) is gone once silent this long (workerTtl). */
  readonly pushTtlMs: number;
}

/** Which rule ends a silent worker's life, strongest evidence first. */
export type Lifetime = 'stats' | 'heartbeat' | 'push';

export interface Aggregate {
  /** Fields not reported are undefined. Valid until the next `observe` (it may be the rank's own state): copy what you keep. */
  readonly load: LoadReading;
  /** The grade of the feeds the values came from: `router` means only the KV router spoke of it. */
  readonly grade: PublisherGrade;
}

/** One rank's latest value of each field, updated in place (a field not reported stays as it was). */
type RankLoad = { -readonly [K in keyof LoadReading]: number | undefined };

interface Feed {
  readonly publisherId?: string;
  readonly generation: Generation;
  lastAt: number;
  readonly ranks: Map<number, RankLoad>;
}

interface Entry {
  readonly feeds: Map<string, Feed>;
  lastStatsAt?: number;
  lastPushAt?: number;
  heartbeats: boolean;
}

/** The grade of each rank (GRADE_RANK read backwards). */
const GRADE_OF_RANK: readonly PublisherGrade[] = (Object.keys(GRADE_RANK) as PublisherGrade[]).sort((a, b) => GRADE_RANK[a] - GRADE_RANK[b]);

const SUMMED = ['waiting', 'running', 'activeSlots', 'totalSlots', 'kvBlocksUsed', 'kvBlocksTotal', 'queuedPrefillTokens'] as const;

export class WorkerLedger {
  readonly publishers = new PublisherRegistry();
  private readonly workers = new Map<string, Entry>();
  /** Worker ids seen on another component's forward-pass-metrics subject: not this pool's. */
  private readonly foreign = new Map<string, number>();
  /** Workers whose feed grades changed since `takeRegraded` was last called. */
  private regraded: string[] = [];

  constructor(private readonly options: LedgerOptions) {}

  get size(): number {
    return this.workers.size;
  }

  ids(): IterableIterator<string> {
    return this.workers.keys();
  }

  has(id: string): boolean {
    return this.workers.has(id);
  }

  /**
   * Records one reading. Returns 'new' when the worker was unknown, 'known' otherwise, and
   * 'foreign' when the id belongs to another component (the reading is dropped).
   */
  observe(observation: Observation, now: number): 'new' | 'known' | 'foreign' {
    const { reading, generation, publisherId } = observation;
    const id = reading.workerId;
    if (observation.ownComponent) this.foreign.delete(id);
    else if (this.foreign.has(id)) return 'foreign';
    if (publisherId !== undefined) {
      for (const other of this.publishers.note(publisherId, id, observation.engine === true, now)) {
        if (this.workers.has(other)) this.regraded.push(other);
      }
    }
    let entry = this.workers.get(id);
    const added = entry === undefined;
    if (!entry) {
      entry = { feeds: new Map(), heartbeats: false };
      this.workers.set(id, entry);
    }
    // A publisher id is decimal digits, a generation a word: one map holds both without a prefix.
    const key = publisherId ?? generation;
    let feed = entry.feeds.get(key);
    if (!feed) {
      feed = { publisherId, generation, lastAt: now, ranks: new Map() };
      entry.feeds.set(key, feed);
    }
    feed.lastAt = now;
    let rank = feed.ranks.get(reading.dpRank);
    if (!rank) {
      rank = emptyRankLoad();
      feed.ranks.set(reading.dpRank, rank);
    }
    absorb(rank, reading.load);
    if (generation === 'stats') entry.lastStatsAt = now;
    else entry.lastPushAt = now;
    if (observation.heartbeats) entry.heartbeats = true;
    return added ? 'new' : 'known';
  }

  /** Workers to re-aggregate because a publisher that spoke of them was re-graded (e.g. found to be the router). */
  takeRegraded(): string[] {
    const taken = this.regraded;
    this.regraded = [];
    return taken;
  }

  /**
   * Marks an id as another component's (seen on its forward-pass-metrics subject): the namespace-wide
   * kv_metrics topic carries every component's workers. Returns true when a known worker was dropped.
   */
  markForeign(id: string, now: number): boolean {
    this.foreign.set(id, now);
    return this.workers.delete(id);
  }

  /**
   * The worker's values: per rank, the latest value of each field over the feeds of the best grade
   * that are still alive (worker-published data wins; the router's is used only when nobody else
   * reports the worker); then ranks merged — counts and blocks summed, usage averaged — and a field
   * reported only if every rank reports it, so a missing rank never shrinks a sum.
   */
  aggregate(id: string, now: number): Aggregate | undefined {
    const entry = this.workers.get(id);
    if (!entry) return undefined;
    // The usual worker: one feed, one rank: its fields are the answer, nothing to merge.
    if (entry.feeds.size === 1) {
      const feed = entry.feeds.values().next().value as Feed;
      if (feed.ranks.size === 1 && now - feed.lastAt <= this.feedTtl(feed)) {
        return { load: feed.ranks.values().next().value as LoadReading, grade: this.gradeOf(feed) };
      }
    }
    let best = -1;
    const alive: { feed: Feed; rank: number }[] = [];
    for (const feed of entry.feeds.values()) {
      if (now - feed.lastAt > this.feedTtl(feed)) continue;
      const rank = GRADE_RANK[this.gradeOf(feed)];
      best = Math.max(best, rank);
      alive.push({ feed, rank });
    }
    if (best < 0) return undefined;
    const chosen = alive
      .filter((a) => a.rank === best)
      .map((a) => a.feed)
      .sort((a, b) => a.lastAt - b.lastAt);
    const ranks = new Map<number, RankLoad>();
    for (const feed of chosen) {
      for (const [rank, load] of feed.ranks) {
        let merged = ranks.get(rank);
        if (!merged) {
          merged = emptyRankLoad();
          ranks.set(rank, merged);
        }
        absorb(merged, load);
      }
    }
    const grade = GRADE_OF_RANK[best] ?? 'unclassified';
    return { load: mergeRanks([...ranks.values()]), grade };
  }

  lifetime(id: string): Lifetime | undefined {
    const entry = this.workers.get(id);
    return entry ? lifetimeOf(entry) : undefined;
  }

  /**
   * Ends the workers whose lifetime has passed and returns them, plus the push workers that are
   * still within theirs (their last value stays fresh: push topics are silent while idle).
   */
  sweep(now: number): { removed: string[]; alive: string[]; why: Map<string, string> } {
    const removed: string[] = [];
    const alive: string[] = [];
    const why = new Map<string, string>();
    for (const [id, entry] of this.workers) {
      const lifetime = lifetimeOf(entry);
      const lastHeard = Math.max(entry.lastStatsAt ?? 0, entry.lastPushAt ?? 0);
      const ttl = lifetime === 'stats' ? this.options.statsTtlMs : lifetime === 'heartbeat' ? this.options.heartbeatTtlMs : this.options.pushTtlMs;
      if (now - lastHeard > ttl) {
        this.workers.delete(id);
        removed.push(id);
        const rule = lifetime === 'stats' ? 'stopped answering $SRV.STATS for longer than the cache TTL' : 'silent for longer than workerTtl';
        why.set(id, `${rule} (${ttl / 1000}s; last heard ${new Date(lastHeard).toISOString()})`);
      } else if (lifetime !== 'stats') {
        alive.push(id);
      }
    }
    this.publishers.prune(now - this.options.pushTtlMs);
    for (const [id, at] of this.foreign) if (now - at > this.options.pushTtlMs) this.foreign.delete(id);
    return { removed, alive, why };
  }

  /** Moves every clock forward by `ms`: time NATS was down is not silence of the workers. */
  shift(ms: number): void {
    for (const entry of this.workers.values()) {
      if (entry.lastStatsAt !== undefined) entry.lastStatsAt += ms;
      if (entry.lastPushAt !== undefined) entry.lastPushAt += ms;
      for (const feed of entry.feeds.values()) feed.lastAt += ms;
    }
    this.publishers.shift(ms);
  }

  private gradeOf(feed: Feed): PublisherGrade {
    // Stats replies and JSON kv_metrics come from the worker itself (no router published those).
    return feed.publisherId === undefined ? 'worker' : this.publishers.grade(feed.publisherId);
  }

  private feedTtl(feed: Feed): number {
    return feed.generation === 'stats' ? this.options.statsTtlMs : this.options.pushTtlMs;
  }
}

function lifetimeOf(entry: Entry): Lifetime {
  // `$SRV.STATS` is discovery: a worker that ever answered is judged by whether it still answers.
  if (entry.lastStatsAt !== undefined) return 'stats';
  return entry.heartbeats ? 'heartbeat' : 'push';
}

/** Every field present (undefined until reported): one object shape for every rank and sample. */
function emptyRankLoad(): RankLoad {
  return {
    waiting: undefined,
    running: undefined,
    activeSlots: undefined,
    totalSlots: undefined,
    kvBlocksUsed: undefined,
    kvBlocksTotal: undefined,
    kvUsage: undefined,
    queuedPrefillTokens: undefined,
  };
}

/** Field by field, latest wins: a reading that does not report a field leaves it as it was. */
function absorb(into: RankLoad, load: LoadReading): void {
  if (load.waiting !== undefined) into.waiting = load.waiting;
  if (load.running !== undefined) into.running = load.running;
  if (load.activeSlots !== undefined) into.activeSlots = load.activeSlots;
  if (load.totalSlots !== undefined) into.totalSlots = load.totalSlots;
  if (load.kvBlocksUsed !== undefined) into.kvBlocksUsed = load.kvBlocksUsed;
  if (load.kvBlocksTotal !== undefined) into.kvBlocksTotal = load.kvBlocksTotal;
  if (load.kvUsage !== undefined) into.kvUsage = load.kvUsage;
  if (load.queuedPrefillTokens !== undefined) into.queuedPrefillTokens = load.queuedPrefillTokens;
}

function mergeRanks(ranks: readonly LoadReading[]): LoadReading {
  const out = emptyRankLoad();
  if (ranks.length === 0) return out;
  for (const field of SUMMED) {
    let sum = 0;
    let all = true;
    for (const rank of ranks) {
      const value = rank[field];
      if (value === undefined) {
        all = false;
        break;
      }
      sum += value;
    }
    if (all) out[field] = sum;
  }
  let usage = 0;
  let allUsage = true;
  for (const rank of ranks) {
    if (rank.kvUsage === undefined) {
      allUsage = false;
      break;
    }
    usage += rank.kvUsage;
  }
  if (allUsage) out.kvUsage = usage / ranks.length;
  return out;
}
