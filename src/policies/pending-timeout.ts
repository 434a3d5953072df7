/**
 * `pendingTimeout`: a replica that stays pending, stale or failing holds the saturation policies'
 * decision (V1) or counts as coming supply (V2) — but not forever. A pod with no GPU to land on or
 * in a crash loop would otherwise freeze scaling (ai-dynamo/dynamo #14251: the planner waited on a
 * Pending decode pod and never scaled again). Past the timeout such a replica is left out of the
 * arithmetic, and the explanation says so.
 */
import { formatDuration } from '../config/duration.js';
import { parseDurationKey } from '../signals/metadata-values.js';
import type { StateScope } from '../store/pool-store.js';

export const PENDING_TIMEOUT_KEYS = ['pendingTimeout'] as const;
export const DEFAULT_PENDING_TIMEOUT_MS = 300_000;

export function parsePendingTimeout(values: ReadonlyMap<string, string>): number {
  return parseDurationKey(values, 'pendingTimeout', DEFAULT_PENDING_TIMEOUT_MS, { minMs: 1_000, maxMs: 86_400_000 });
}

export interface Unready {
  readonly id: string;
  readonly state: string;
}

export interface AgedOut<T extends Unready> {
  readonly kept: readonly T[];
  readonly timedOut: readonly { readonly member: T; readonly why: string }[];
}

/**
 * Splits the not-fresh members into those still counted and those past the timeout. `since`
 * remembers when each was first seen not fresh; members that are fresh again or gone are forgotten.
 */
export function ageOut<T extends Unready>(members: readonly T[], at: number, timeoutMs: number, since: Map<string, number>): AgedOut<T> {
  const present = new Set(members.map((m) => m.id));
  for (const id of since.keys()) if (!present.has(id)) since.delete(id);
  const kept: T[] = [];
  const timedOut: { member: T; why: string }[] = [];
  for (const m of members) {
    const first = since.get(m.id) ?? at;
    since.set(m.id, first);
    if (at - first >= timeoutMs) {
      timedOut.push({
        member: m,
        why: `${m.state} for ${formatDuration(at - first)} ≥ pendingTimeout ${formatDuration(timeoutMs)}: left out of the replica counts`,
      });
    } else kept.push(m);
  }
  return { kept, timedOut };
}

const memories = new WeakMap<StateScope, Map<string, number>>();

/** `ageOut` with the memory kept per policy use. */
export function ageOutIn<T extends Unready>(scope: StateScope, members: readonly T[], at: number, timeoutMs: number): AgedOut<T> {
  let since = memories.get(scope);
  if (!since) {
    since = new Map();
    memories.set(scope, since);
  }
  return ageOut(members, at, timeoutMs, since);
}
