/**
 * What the status page charts: a short history of each pool's default signals and worker counts,
 * and of every trigger's answer (what KEDA gets, what HPA makes of it, active or not), plus the
 * last few changes of each trigger's decision with their explanation.
 *
 * Filled by `record()`, which the scaler calls once per tick from its background ticker: never on
 * KEDA's path. It reads published snapshots and the evaluations KEDA's calls share (memoised per
 * snapshot), so a tick costs one evaluation per default signal per pool plus a lookup per trigger.
 * Memory is bounded: rings of fixed capacity, at most `maxTriggers` triggers, at most `maxChanges`
 * changes each.
 */
import { evaluateSignal } from '../signals/evaluate.js';
import { countByState, type WorkerState } from '../store/pool-store.js';
import { defaultUses } from '../triggers/catalogue.js';
import { metadataKey } from '../triggers/metadata.js';
import type { PoolRuntime, Trigger, TriggerResult } from '../triggers/trigger.js';
import { hpaDesired, summarizeDecision } from './decision-summary.js';
import { TimeRing, type Columns } from './time-ring.js';
import type { DecisionChange } from './ui/contract.js';

export const STATE_COLUMNS: readonly WorkerState[] = ['fresh', 'stale', 'failing', 'pending'];
export const TRIGGER_COLUMNS = ['value', 'desired', 'active'] as const;

export interface StatusHistoryOptions {
  /** Rows kept per pool and per trigger (one per tick): 600 is 10 minutes at one tick a second. */
  readonly capacity?: number;
  /** Triggers with a history; those beyond are shown without one. */
  readonly maxTriggers?: number;
  /** Decision changes kept per trigger. */
  readonly maxChanges?: number;
  readonly now?: () => number;
}

export const HISTORY_DEFAULTS = { capacity: 600, maxTriggers: 200, maxChanges: 20 } as const;

interface TriggerTrack {
  readonly trigger: Trigger;
  readonly ring: TimeRing;
  readonly changes: DecisionChange[];
  last?: { desired?: number; active: boolean };
}

export interface StatusSource {
  pools(): Iterable<PoolRuntime>;
  triggers(): readonly Trigger[];
}

/** A trigger as the history identifies it: its pool and exact metadata (KEDA sends the same map every call). */
export function triggerKey(trigger: Trigger): string {
  let key = keys.get(trigger);
  if (key === undefined) {
    key = `${trigger.pool.name}\u0002${metadataKey(trigger.metadata)}`;
    keys.set(trigger, key);
  }
  return key;
}

/** Triggers are immutable: each one's key is built once. */
const keys = new WeakMap<Trigger, string>();

export class StatusHistory {
  readonly capacity: number;
  readonly maxTriggers: number;
  readonly maxChanges: number;
  private readonly now: () => number;
  private readonly poolRings = new Map<string, TimeRing>();
  private readonly tracks = new Map<string, TriggerTrack>();
  private readonly listeners = new Set<() => void>();
  /** When `record()` last ran. */
  lastAt?: number;
  /** The default signals' names, in column order, followed by the worker states. */
  readonly poolColumns: readonly string[];

  constructor(
    private readonly source: StatusSource,
    options: StatusHistoryOptions = {},
  ) {
    this.capacity = options.capacity ?? HISTORY_DEFAULTS.capacity;
    this.maxTriggers = options.maxTriggers ?? HISTORY_DEFAULTS.maxTriggers;
    this.maxChanges = options.maxChanges ?? HISTORY_DEFAULTS.maxChanges;
    this.now = options.now ?? Date.now;
    this.poolColumns = [...defaultUses().map((u) => u.signal.name), ...STATE_COLUMNS.map((s) => `workers_${s}`)];
  }

  /** Takes one row for every pool and trigger, then tells the listeners (the page's live streams). */
  record(): void {
    const at = this.now();
    this.lastAt = at;
    const uses = defaultUses();
    for (const pool of this.source.pools()) {
      let ring = this.poolRings.get(pool.name);
      if (!ring) {
        ring = new TimeRing(this.capacity, this.poolColumns);
        this.poolRings.set(pool.name, ring);
      }
      const snapshot = pool.store.published();
      const row = uses.map((use) => {
        const evaluation = evaluateSignal(snapshot, use);
        return evaluation.ok ? evaluation.value : Number.NaN;
      });
      const counts = countByState(snapshot);
      for (const state of STATE_COLUMNS) row.push(counts[state]);
      ring.push(at, row);
    }
    const listed = this.source.triggers();
    const keys = listed.map(triggerKey);
    // Triggers the registry forgot (its cache starts afresh past its bound) leave the history first,
    // so their places go to the triggers KEDA asks about now.
    const current = new Set(keys);
    for (const key of this.tracks.keys()) if (!current.has(key)) this.tracks.delete(key);
    listed.forEach((trigger, i) => {
      const key = keys[i] as string;
      let track = this.tracks.get(key);
      if (!track) {
        if (this.tracks.size >= this.maxTriggers) return;
        track = { trigger, ring: new TimeRing(this.capacity, TRIGGER_COLUMNS), changes: [] };
        this.tracks.set(key, track);
      }
      this.recordTrigger(track, at);
    });
    for (const listener of this.listeners) listener();
  }

  private recordTrigger(track: TriggerTrack, at: number): void {
    const { trigger } = track;
    const result: TriggerResult = trigger.evaluate();
    const current = trigger.pool.store.published().workers.length;
    const desired = result.ok ? hpaDesired(trigger.spec, result.value, current) : undefined;
    track.ring.push(at, [result.ok ? result.value : Number.NaN, desired ?? Number.NaN, result.active ? 1 : 0]);
    const last = track.last;
    if (last === undefined || last.desired !== desired || last.active !== result.active) {
      // Sentences are built on change only: a steady trigger costs no string work per tick.
      track.changes.push({ at, from: last?.desired, to: desired, active: result.active, headline: summarizeDecision(trigger, result, current).headline });
      if (track.changes.length > this.maxChanges) track.changes.splice(0, track.changes.length - this.maxChanges);
    }
    track.last = { desired, active: result.active };
  }

  /** Calls `listener` after every `record()`. Returns the function that unsubscribes. */
  onRecord(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A pool's rows newer than `after` (ms); empty before the first tick. */
  pool(name: string, after?: number): Columns {
    return this.poolRings.get(name)?.since(after) ?? { t: [], series: Object.fromEntries(this.poolColumns.map((c) => [c, []])) };
  }

  /** A trigger's rows newer than `after` and its recent changes, or undefined when it has no history (over `maxTriggers`). */
  trigger(trigger: Trigger, after?: number): { rows: Columns; changes: readonly DecisionChange[] } | undefined {
    const track = this.tracks.get(triggerKey(trigger));
    if (!track) return undefined;
    return { rows: track.ring.since(after), changes: [...track.changes] };
  }

  /** How many triggers have a history, and the bytes their and the pools' rings hold (fixed per ring). */
  footprint(): { triggers: number; pools: number; bytes: number } {
    let bytes = 0;
    for (const ring of this.poolRings.values()) bytes += ring.byteLength;
    for (const track of this.tracks.values()) bytes += track.ring.byteLength;
    return { triggers: this.tracks.size, pools: this.poolRings.size, bytes };
  }
}
