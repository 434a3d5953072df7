/**
 * One vLLM replica with continuous batching, step by step in virtual time.
 *
 * The scheduler follows vLLM V1's (vllm/v1/core/sched/scheduler.py) in outline:
 * - each step first gives every decoding sequence one token of the step's budget
 *   (`maxBatchedTokens`), then continues chunked prefills in admission order, then admits waiting
 *   requests first come, first served while a sequence slot (`maxNumSeqs`) and KV space for the
 *   whole prompt are free — the first that does not fit blocks the ones behind it;
 * - a step takes `base + prefillToken × prefill tokens + decodeSeq × decoding sequences +
 *   kvToken × KV tokens held`; requests arriving during a step wait for the next one;
 * - a prefill that completes produces the request's first token at the end of its step, every
 *   decode step one more token per decoding sequence;
 * - when the KV cache cannot hold the next decode tokens, the most recently admitted sequence is
 *   preempted (its KV freed, back to the front of the queue, recomputed when readmitted).
 *
 * Not modelled: prefix caching, KV blocks (tokens are counted one by one), speculative decoding,
 * priorities, and any variation of step time beyond the linear formula.
 */
import type { EngineSettings } from './scenario.js';
import { VllmMetrics } from './vllm-metrics.js';
import type { RequestSpec } from './workload.js';

/** What becomes of a request, for the report. */
export interface RequestOutcome {
  readonly spec: RequestSpec;
  firstScheduledAt: number;
  firstTokenAt: number;
  finishedAt: number;
}

class Sequence {
  /** Tokens to compute before the next token (the prompt, or prompt + generated after a preemption). */
  prefillNeeded = 0;
  prefillDone = 0;
  /** Tokens emitted to the user so far (while decoding: at `joinCounter`). */
  generated = 0;
  /** KV tokens reserved at admission (prefillNeeded) and the generated count then. */
  kvBase = 0;
  generatedAtAdmission = 0;
  decoding = false;
  joinCounter = 0;
  finishCounter = 0;
  constructor(readonly outcome: RequestOutcome) {}
  get spec(): RequestSpec {
    return this.outcome.spec;
  }
}

export interface EngineHooks {
  /** A request finished (all its output tokens). */
  finished(outcome: RequestOutcome): void;
  /** A request got its first token. */
  firstToken(outcome: RequestOutcome): void;
}

export class Engine {
  readonly metrics: VllmMetrics;
  /** Steps run so far. */
  steps = 0;
  /** Seconds spent stepping (busy). */
  busySeconds = 0;
  /** When the current step ends; Infinity while idle. */
  stepEnd = Number.POSITIVE_INFINITY;
  /** When the engine last became idle (for a terminating replica's end). */
  idleSince = 0;

  private readonly waiting: Sequence[] = [];
  private waitingHead = 0;
  /** Admitted sequences (prefilling or decoding), in admission order. */
  private readonly running: Sequence[] = [];
  private readonly prefilling: Sequence[] = [];
  private decodingCount = 0;
  private decodeCounter = 0;
  /** Decoding sequences by the decode counter at which they finish. */
  private readonly finishing = new Map<number, Sequence[]>();
  private kvUsed = 0;
  // The step in progress.
  private stepStart = 0;
  private stepDecode = 0;
  private readonly stepChunkSeqs: Sequence[] = [];
  private readonly stepChunkSizes: number[] = [];

  constructor(
    private readonly settings: EngineSettings,
    model: string,
    private readonly hooks: EngineHooks,
  ) {
    const { kvCacheTokens, blockSize } = settings;
    this.metrics = new VllmMetrics(model, Math.floor(kvCacheTokens / blockSize), blockSize, kvCacheTokens);
  }

  get waitingCount(): number {
    return this.waiting.length - this.waitingHead;
  }

  get runningCount(): number {
    return this.running.length;
  }

  get kvTokens(): number {
    return this.kvUsed;
  }

  /** Nothing waiting, nothing running. */
  get idle(): boolean {
    return this.running.length === 0 && this.waitingCount === 0;
  }

  /** Whether this engine could ever serve the request (prompt + output within the KV cache). */
  fits(spec: RequestSpec): boolean {
    return spec.promptTokens + spec.outputTokens <= this.settings.kvCacheTokens;
  }

  /** Queues a request (the engine must have been advanced to its arrival); `kick` then starts a step if the engine is idle. */
  submit(outcome: RequestOutcome): void {
    const seq = new Sequence(outcome);
    seq.prefillNeeded = outcome.spec.promptTokens;
    this.waiting.push(seq);
  }

  /** Starts a step at `t` when idle with work queued: requests arriving at the same instant share the first step. */
  kick(t: number): void {
    if (this.stepEnd === Number.POSITIVE_INFINITY && this.waitingCount > 0) this.startStep(t);
  }

  /** Runs every step that ends at or before `t`. */
  advanceTo(t: number): void {
    while (this.stepEnd <= t) {
      const end = this.stepEnd;
      this.finishStep(end);
      this.startStep(end);
    }
  }

  /** The gauges as vLLM reports them, for a scrape at the current time. */
  updateGauges(): void {
    const m = this.metrics;
    m.waiting = this.waitingCount;
    m.running = this.running.length;
    m.kvUsage = this.kvUsed / this.settings.kvCacheTokens;
  }

  /** Everything still queued or running (e.g. at the end, or when a terminating replica is killed). */
  inFlight(): RequestOutcome[] {
    return [...this.running.map((s) => s.outcome), ...this.waiting.slice(this.waitingHead).map((s) => s.outcome)];
  }

  /** Partial step time up to `t` (for busy-time accounting at the end). */
  busyUntil(t: number): number {
    return this.busySeconds + (this.stepEnd === Number.POSITIVE_INFINITY ? 0 : Math.max(0, Math.min(t, this.stepEnd) - this.stepStart));
  }

  private startStep(t: number): void {
    const s = this.settings;
    let nDecode = this.decodingCount;
    // Room for this step's decode tokens, else preempt the newest sequence (vLLM: recompute).
    while (nDecode > 0 && this.kvUsed + nDecode > s.kvCacheTokens && this.running.length > 0) {
      const victim = this.running[this.running.length - 1] as Sequence;
      if (victim.decoding) nDecode--;
      this.preempt(victim);
    }
    let budget = s.maxBatchedTokens - nDecode;
    this.stepChunkSeqs.length = 0;
    this.stepChunkSizes.length = 0;
    let prefillTokens = 0;
    for (const seq of this.prefilling) {
      if (budget <= 0) break;
      const chunk = Math.min(seq.prefillNeeded - seq.prefillDone, budget);
      this.stepChunkSeqs.push(seq);
      this.stepChunkSizes.push(chunk);
      budget -= chunk;
      prefillTokens += chunk;
    }
    while (budget > 0 && this.waitingCount > 0 && this.running.length < s.maxNumSeqs) {
      const seq = this.waiting[this.waitingHead] as Sequence;
      if (this.kvUsed + seq.prefillNeeded > s.kvCacheTokens) break;
      this.waitingHead++;
      seq.prefillDone = 0;
      seq.kvBase = seq.prefillNeeded;
      seq.generatedAtAdmission = seq.generated;
      this.kvUsed += seq.prefillNeeded;
      this.running.push(seq);
      this.prefilling.push(seq);
      if (seq.outcome.firstScheduledAt < 0) seq.outcome.firstScheduledAt = t;
      const chunk = Math.min(seq.prefillNeeded, budget);
      this.stepChunkSeqs.push(seq);
      this.stepChunkSizes.push(chunk);
      budget -= chunk;
      prefillTokens += chunk;
    }
    if (this.waitingHead > 1024 && this.waitingHead * 2 > this.waiting.length) {
      this.waiting.splice(0, this.waitingHead);
      this.waitingHead = 0;
    }
    if (nDecode === 0 && prefillTokens === 0) {
      if (this.stepEnd !== Number.POSITIVE_INFINITY) this.idleSince = t;
      this.stepEnd = Number.POSITIVE_INFINITY;
      return;
    }
    this.stepDecode = nDecode;
    this.stepStart = t;
    const { base, prefillToken, decodeSeq, kvToken } = s.step;
    this.stepEnd = t + base + prefillToken * prefillTokens + decodeSeq * nDecode + kvToken * this.kvUsed;
  }

  private finishStep(end: number): void {
    const duration = end - this.stepStart;
    this.steps++;
    this.busySeconds += duration;
    const m = this.metrics;
    const nDecode = this.stepDecode;
    if (nDecode > 0) {
      this.decodeCounter++;
      this.kvUsed += nDecode;
      m.generationTokens += nDecode;
      m.histograms.itl.observe(duration, nDecode);
      const done = this.finishing.get(this.decodeCounter);
      if (done !== undefined) {
        this.finishing.delete(this.decodeCounter);
        for (const seq of done) {
          seq.generated = seq.spec.outputTokens;
          this.finish(seq, end);
        }
      }
    }
    for (let i = 0; i < this.stepChunkSeqs.length; i++) {
      const seq = this.stepChunkSeqs[i] as Sequence;
      if (!seq.decoding) {
        seq.prefillDone += this.stepChunkSizes[i] as number;
        if (seq.prefillDone >= seq.prefillNeeded) this.prefillComplete(seq, end);
      }
    }
  }

  private prefillComplete(seq: Sequence, end: number): void {
    const at = this.prefilling.indexOf(seq);
    if (at >= 0) this.prefilling.splice(at, 1);
    const m = this.metrics;
    const outcome = seq.outcome;
    if (outcome.firstTokenAt < 0) {
      outcome.firstTokenAt = end;
      m.histograms.ttft.observe(end - outcome.spec.arrival);
      m.promptTokens += outcome.spec.promptTokens;
      this.hooks.firstToken(outcome);
    }
    // The step that completes a prefill samples the next token.
    seq.generated += 1;
    this.kvUsed += 1;
    m.generationTokens += 1;
    const remaining = outcome.spec.outputTokens - seq.generated;
    if (remaining <= 0) {
      this.finish(seq, end);
      return;
    }
    seq.decoding = true;
    this.decodingCount++;
    seq.joinCounter = this.decodeCounter;
    seq.finishCounter = this.decodeCounter + remaining;
    const list = this.finishing.get(seq.finishCounter);
    if (list) list.push(seq);
    else this.finishing.set(seq.finishCounter, [seq]);
  }

  private generatedNow(seq: Sequence): number {
    return seq.decoding ? seq.generated + (this.decodeCounter - seq.joinCounter) : seq.generated;
  }

  private kvHeld(seq: Sequence): number {
    return seq.kvBase + (this.generatedNow(seq) - seq.generatedAtAdmission);
  }

  private release(seq: Sequence): void {
    this.kvUsed -= this.kvHeld(seq);
    const at = this.running.lastIndexOf(seq);
    if (at >= 0) this.running.splice(at, 1);
    if (seq.decoding) {
      seq.decoding = false;
      this.decodingCount--;
    } else {
      const p = this.prefilling.indexOf(seq);
      if (p >= 0) this.prefilling.splice(p, 1);
    }
  }

  private finish(seq: Sequence, end: number): void {
    if (seq.decoding) {
      seq.decoding = false;
      this.decodingCount--;
    }
    // Its KV: what was reserved at admission plus every token generated since.
    this.kvUsed -= seq.kvBase + (seq.spec.outputTokens - seq.generatedAtAdmission);
    const at = this.running.lastIndexOf(seq);
    if (at >= 0) this.running.splice(at, 1);
    const outcome = seq.outcome;
    outcome.finishedAt = end;
    const m = this.metrics;
    const h = m.histograms;
    h.e2e.observe(end - outcome.spec.arrival);
    h.queueTime.observe(outcome.firstScheduledAt - outcome.spec.arrival);
    h.promptTokens.observe(outcome.spec.promptTokens);
    h.generationTokens.observe(outcome.spec.outputTokens);
    m.finishedLength += 1;
    this.hooks.finished(outcome);
  }

  private preempt(seq: Sequence): void {
    const generated = this.generatedNow(seq);
    if (seq.decoding) {
      const list = this.finishing.get(seq.finishCounter);
      if (list) {
        const i = list.indexOf(seq);
        if (i >= 0) list.splice(i, 1);
        if (list.length === 0) this.finishing.delete(seq.finishCounter);
      }
    }
    this.release(seq);
    seq.generated = generated;
    seq.prefillNeeded = seq.spec.promptTokens + generated;
    seq.prefillDone = 0;
    this.metrics.preemptions += 1;
    // Back to the front of the queue.
    if (this.waitingHead > 0) this.waiting[--this.waitingHead] = seq;
    else this.waiting.unshift(seq);
  }
}
