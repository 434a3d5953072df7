/** A transport that keeps a pool's store filled. */
export interface Source {
  /** Starts periodic collection; the first round runs at once. Idempotent. */
  start(): void;
  /** Ends periodic collection and waits for in-flight work (bounded by its timeouts) to settle. */
  stop(): Promise<void>;
  /**
   * Runs one full round now and resolves when every worker of the round has an outcome
   * (a sample or a failure) in the store. Never rejects. Used by start-up readiness and tests.
   */
  collectOnce(): Promise<void>;
  /**
   * What the source is connected to and what it has seen, for operators (`/api/v1/pools`), e.g.
   * `{ transport: 'nats', url, connected, mode, detectedMode, subjects }`. No secrets.
   */
  describe?(): Record<string, unknown>;
}
