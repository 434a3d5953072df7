/**
 * Event-plane publishers: ordering by `sequence` and telling worker publishers from the KV router.
 *
 * Two kinds of publisher put ActiveLoad on `kv_metrics` (ai-dynamo/dynamo: the worker's
 * `lib/llm/src/kv_router/publisher/worker_metrics.rs`, the router's `lib/llm/src/kv_router/sequence.rs`): each
 * worker about itself, and the frontend's KV router about every worker it routes to, from its own
 * bookkeeping (no `kv_used_blocks`). The envelope's `publisher_id` tells them apart:
 * - a publisher that ever sent engine data (a ForwardPassMetrics, or an ActiveLoad carrying
 *   `kv_used_blocks`) is a worker — even when it speaks for several worker ids (the mocker runs
 *   many workers in one process);
 * - otherwise a publisher that speaks for two or more worker ids is a router;
 * - otherwise (one id, no engine data yet) it is unclassified: it ranks between the two.
 */

/** How far a feed can be trusted about the worker it names; higher wins. */
export type PublisherGrade = 'worker' | 'unclassified' | 'router';

export const GRADE_RANK: Readonly<Record<PublisherGrade, number>> = { worker: 2, unclassified: 1, router: 0 };

/**
 * A sequence that goes backwards is a duplicate or a reordered old message — unless the publisher
 * restarted under the same id, which its clock shows: accept a reset when published_at moved on by
 * more than this.
 */
const RESTART_GAP_MS = 1000n;

interface Publisher {
  /** Up to two distinct worker ids: enough to call it a router. */
  readonly ids: Set<string>;
  engine: boolean;
  lastAt: number;
  /** Per topic: a publisher may keep one counter per topic or one for all; per topic works for both. */
  readonly topics: Map<string, { sequence: bigint; publishedAt: bigint }>;
}

export type SequenceVerdict = 'ok' | 'duplicate' | 'older';

export class PublisherRegistry {
  private readonly publishers = new Map<string, Publisher>();

  /** Decides whether an envelope is new for its publisher and topic, and records it if so. */
  accept(publisherId: string, topic: string, sequence: bigint, publishedAt: bigint, now: number): SequenceVerdict {
    const publisher = this.get(publisherId, now);
    const last = publisher.topics.get(topic);
    if (last && sequence <= last.sequence && publishedAt <= last.publishedAt + RESTART_GAP_MS) {
      return sequence === last.sequence ? 'duplicate' : 'older';
    }
    if (last) {
      last.sequence = sequence;
      last.publishedAt = publishedAt;
    } else publisher.topics.set(topic, { sequence, publishedAt });
    return 'ok';
  }

  /**
   * Records that `publisherId` spoke about `workerId`, with engine data or not. Returns the other
   * workers it spoke about before when this changed its grade (their values must be re-chosen).
   */
  note(publisherId: string, workerId: string, engine: boolean, now: number): readonly string[] {
    const publisher = this.get(publisherId, now);
    const before = this.grade(publisherId);
    if (engine) publisher.engine = true;
    if (publisher.ids.size < 2) publisher.ids.add(workerId);
    if (this.grade(publisherId) === before) return [];
    return [...publisher.ids].filter((id) => id !== workerId);
  }

  grade(publisherId: string): PublisherGrade {
    const publisher = this.publishers.get(publisherId);
    if (!publisher) return 'unclassified';
    if (publisher.engine) return 'worker';
    return publisher.ids.size >= 2 ? 'router' : 'unclassified';
  }

  /** Forgets publishers silent since before `cutoff` (their workers are gone or moved on). */
  prune(cutoff: number): void {
    for (const [id, publisher] of this.publishers) if (publisher.lastAt < cutoff) this.publishers.delete(id);
  }

  /** Moves every clock forward by `ms` (time NATS was down is not silence). */
  shift(ms: number): void {
    for (const publisher of this.publishers.values()) publisher.lastAt += ms;
  }

  counts(): { workers: number; routers: number; unclassified: number } {
    const counts = { workers: 0, routers: 0, unclassified: 0 };
    for (const id of this.publishers.keys()) {
      const grade = this.grade(id);
      if (grade === 'worker') counts.workers += 1;
      else if (grade === 'router') counts.routers += 1;
      else counts.unclassified += 1;
    }
    return counts;
  }

  private get(publisherId: string, now: number): Publisher {
    let publisher = this.publishers.get(publisherId);
    if (!publisher) {
      publisher = { ids: new Set(), engine: false, lastAt: now, topics: new Map() };
      this.publishers.set(publisherId, publisher);
    }
    publisher.lastAt = now;
    return publisher;
  }
}
