import type * as grpc from '@grpc/grpc-js';
import type { PoolStore } from '../store/pool-store.js';
import type { Trigger } from '../triggers/trigger.js';
import type { IsActiveResponse, ScaledObjectRef } from './messages.js';
import { onStreamEnd } from './stream-end.js';

type ActivityCall = grpc.ServerWritableStream<ScaledObjectRef, IsActiveResponse>;

interface OpenStream {
  readonly call: ActivityCall;
  readonly trigger: Trigger;
  wasActive: boolean;
}

/**
 * Open StreamIsActive calls. Each is re-evaluated whenever its pool's store changes (coalesced
 * per event-loop turn), and receives `true` only on an inactive→active transition: KEDA treats
 * every `true` as a scale request, and ignores `false`.
 */
export class ActivityStreams {
  private readonly byStore = new Map<PoolStore, Set<OpenStream>>();
  private readonly unsubscribe = new Map<PoolStore, () => void>();

  constructor(private readonly onCountChange: (delta: number) => void = () => {}) {}

  open(call: ActivityCall, trigger: Trigger): void {
    const stream: OpenStream = { call, trigger, wasActive: false };
    const stores = [trigger.pool.store, ...(trigger.pool.activation ? [trigger.pool.activation.store] : [])];
    for (const store of stores) this.add(store, stream);
    this.onCountChange(1);
    onStreamEnd(call, () => {
      for (const store of stores) this.remove(store, stream);
      this.onCountChange(-1);
    });
    this.check(stream);
  }

  /** Ends every stream with status OK, so KEDA reconnects quickly instead of backing off. */
  endAll(): void {
    for (const streams of this.byStore.values()) {
      for (const stream of streams) {
        if (!stream.call.cancelled && !stream.call.writableEnded) stream.call.end();
      }
    }
  }

  private add(store: PoolStore, stream: OpenStream): void {
    let streams = this.byStore.get(store);
    if (!streams) {
      const set = new Set<OpenStream>();
      streams = set;
      this.byStore.set(store, set);
      this.unsubscribe.set(
        store,
        store.onChange(() => {
          for (const s of set) this.check(s);
        }),
      );
    }
    streams.add(stream);
  }

  private remove(store: PoolStore, stream: OpenStream): void {
    const streams = this.byStore.get(store);
    if (!streams) return;
    streams.delete(stream);
    if (streams.size === 0) {
      this.byStore.delete(store);
      this.unsubscribe.get(store)?.();
      this.unsubscribe.delete(store);
    }
  }

  private check(stream: OpenStream): void {
    if (stream.call.cancelled || stream.call.writableEnded) return;
    const result = stream.trigger.evaluate();
    // Unknown is not inactive: while data is missing keep the last state, so a blip in
    // collection does not produce a second `true` for one real activation.
    if (!result.ok && !result.active) return;
    const active = result.active;
    if (active && !stream.wasActive) stream.call.write({ result: true });
    stream.wasActive = active;
  }
}
