/**
 * A pool's `custom` query slots. Each distinct query costs matching work on every scrape of
 * every worker, so a pool collects at most `max` of them; trigger metadata chooses them, so junk
 * must not hold a slot for ever. A slot is taken back, when a new query needs one and all are
 * taken, from a query that
 * - no trigger has asked for within `idleMs` (KEDA asks every polling interval, seconds), or
 * - matched nothing the workers expose in a collection made after it was added (a typo or junk).
 * Queries declared in the configuration are pinned: collected from start-up, never taken back.
 */
import type { SeriesQuery } from './series-query.js';

/** A query nobody asked for this long gives its slot up to a new one. */
export const QUERY_IDLE_MS = 10 * 60_000;

interface Slot {
  readonly query: SeriesQuery;
  readonly addedAt: number;
  readonly pinned: boolean;
  askedAt: number;
}

/** Whether any worker's sample taken after `since` holds a value for the query `key`; undefined: no sample after `since` yet. */
export type MatchedSince = (key: string, since: number) => boolean | undefined;

export class QuerySlots {
  private readonly slots = new Map<string, Slot>();
  private list: readonly SeriesQuery[] = Object.freeze([]);

  constructor(
    readonly max: number,
    private readonly idleMs = QUERY_IDLE_MS,
  ) {}

  /** Adds (or refreshes) a query; false when every slot is held by a query that may not be taken back. */
  require(query: SeriesQuery, now: number, matched: MatchedSince, pinned = false): boolean {
    const slot = this.slots.get(query.key);
    if (slot) {
      slot.askedAt = now;
      return true;
    }
    if (this.slots.size >= this.max) this.reclaim(now, matched);
    if (this.slots.size >= this.max) return false;
    this.slots.set(query.key, { query, addedAt: now, pinned, askedAt: now });
    this.publish();
    return true;
  }

  /** A trigger asked for this query again (on every evaluation); false when its slot was taken back. */
  touch(key: string, now: number): boolean {
    const slot = this.slots.get(key);
    if (!slot) return false;
    slot.askedAt = now;
    return true;
  }

  /** The queries to collect: the same (frozen) array until one is added or taken back. */
  queries(): readonly SeriesQuery[] {
    return this.list;
  }

  private reclaim(now: number, matched: MatchedSince): void {
    let changed = false;
    for (const [key, slot] of this.slots) {
      if (slot.pinned) continue;
      if (now - slot.askedAt > this.idleMs || matched(key, slot.addedAt) === false) {
        this.slots.delete(key);
        changed = true;
      }
    }
    if (changed) this.publish();
  }

  private publish(): void {
    this.list = Object.freeze([...this.slots.values()].map((s) => s.query));
  }
}
