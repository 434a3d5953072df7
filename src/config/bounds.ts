/**
 * Bounds on what workers, clients and configuration can make the scaler hold or echo. Each is a
 * documented limit (README, "Bounds"): past it, input is refused with a cause naming the bound,
 * never silently truncated into a different answer.
 */

/**
 * `scrape.maxSeries`: sample lines read from one scrape. vLLM's full exposition is a few hundred
 * (its histograms included); this leaves room for many LoRA adapters and engines.
 */
export const DEFAULT_MAX_SERIES = 20_000;

/** `maxWorkers` of a pool when its configuration does not say. */
export const DEFAULT_MAX_WORKERS = 1000;

/** Echoed keys and values in error messages are cut to this many characters, then `…`. */
export const ECHO_LIMIT = 100;

/** Cuts `text` to ECHO_LIMIT characters (or `limit`) and marks the cut with `…`, so an error never carries a client's whole input back. */
export function clipEcho(text: string, limit = ECHO_LIMIT): string {
  if (text.length <= limit) return text;
  return `${text.slice(0, limit)}… (${text.length} characters)`;
}

/**
 * A map bounded by entry count and by estimated bytes: past either bound the oldest entries go
 * first (insertion order, no reordering on a hit, so a read costs one lookup). What falls out is
 * computed again when asked for. Used for what clients can make the scaler remember: parsed
 * triggers (triggers/trigger-registry.ts) and decoded request bodies (grpc/request-memo.ts).
 */
export class BoundedCache<V> {
  private readonly entries = new Map<string, { value: V; bytes: number }>();
  private heldBytes = 0;

  constructor(
    readonly maxEntries: number,
    readonly maxBytes: number,
  ) {}

  get(key: string): V | undefined {
    return this.entries.get(key)?.value;
  }

  /** Keeps `value` under `key`, counted as `bytes`, first dropping the oldest entries past either bound. */
  set(key: string, value: V, bytes: number): void {
    const previous = this.entries.get(key);
    if (previous) {
      this.entries.delete(key);
      this.heldBytes -= previous.bytes;
    }
    for (const [oldKey, old] of this.entries) {
      if (this.entries.size < this.maxEntries && this.heldBytes + bytes <= this.maxBytes) break;
      this.entries.delete(oldKey);
      this.heldBytes -= old.bytes;
    }
    this.entries.set(key, { value, bytes });
    this.heldBytes += bytes;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The estimated bytes held. */
  get bytes(): number {
    return this.heldBytes;
  }

  *values(): IterableIterator<V> {
    for (const entry of this.entries.values()) yield entry.value;
  }
}
