/**
 * Counts the sample lines of an exposition as its chunks arrive, so a worker exposing far more
 * series than any inference engine does is refused before its body is parsed: parsing is
 * synchronous, and a 50,000-series body held the event loop (and every GetMetrics behind it) for
 * tens of milliseconds per scrape. Prometheus bounds the same thing per scrape with
 * `sample_limit` (prometheus/prometheus, scrape/scrape.go: "sample limit exceeded").
 *
 * A sample line is a line whose first byte is neither `#` nor a line end; `indexOf` finds the
 * line ends natively, so a body costs one call per line.
 */
const NEWLINE = 0x0a;
const HASH = 0x23;
const CR = 0x0d;

export class SeriesCounter {
  count = 0;
  /** The next byte starts a line (true at the start of the body). */
  private lineStart = true;

  /** Adds a chunk; returns the running count of sample lines. */
  add(chunk: Uint8Array): number {
    let pos = 0;
    const end = chunk.length;
    while (pos < end) {
      if (this.lineStart) {
        const first = chunk[pos] as number;
        if (first !== HASH && first !== NEWLINE && first !== CR) this.count++;
        this.lineStart = false;
      }
      const nl = chunk.indexOf(NEWLINE, pos);
      if (nl === -1) break;
      pos = nl + 1;
      this.lineStart = true;
    }
    return this.count;
  }
}
