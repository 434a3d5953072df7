import type * as grpc from '@grpc/grpc-js';
import { BoundedCache } from '../config/bounds.js';

/** At most this many distinct request bodies are remembered (as many as the trigger registry caches triggers). */
const MAX_ENTRIES = 10_000;
/** And at most about this many bytes of them (each body twice: its bytes as the key and the decoded strings). */
const MAX_BYTES = 16 * 1024 * 1024;
/** Bodies larger than this are decoded every time (metadata with KEDA's PEM certificates stays under it). */
const MAX_BODY_BYTES = 64 * 1024;
const ENTRY_OVERHEAD_BYTES = 512;

/**
 * KEDA sends the same bytes for a ScaledObject on every poll (its `ScaledObjectRef` with the
 * trigger's `scalerMetadata`), so a request body seen before is answered with the message decoded
 * the first time instead of being decoded again: the decoding, and the garbage of a fresh object
 * graph per call, grow with the size of the metadata, while the lookup is one hash of the bytes.
 * The decoded messages are frozen, since every call with those bytes shares them; the trigger
 * registry keys a frozen metadata map once (triggers/trigger-registry.ts).
 *
 * grpc-js calls a method's `requestDeserialize` with the message body (grpc/grpc-node
 * packages/grpc-js/src/server-interceptors.ts, `deserializeMessage`); the memo wraps it.
 */
export class RequestMemo {
  private readonly decoded = new BoundedCache<unknown>(MAX_ENTRIES, MAX_BYTES);

  /** The service definition with the decoder of every method whose request is one message memoized (all of KEDA's). */
  wrap(service: grpc.ServiceDefinition): grpc.ServiceDefinition {
    const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
    // One key prefix per method: the same bytes are another message to another request type.
    for (const [index, [name, method]] of (Object.entries(service) as [string, grpc.MethodDefinition<unknown, unknown>][]).entries()) {
      const prefix = String.fromCharCode(index);
      const decode = method.requestDeserialize;
      out[name] = method.requestStream ? method : { ...method, requestDeserialize: (body: Buffer) => this.decode(body, prefix, decode) };
    }
    return out as grpc.ServiceDefinition;
  }

  /** Entries held, for tests and the bound. */
  get size(): number {
    return this.decoded.size;
  }

  private decode(body: Buffer, prefix: string, decode: (body: Buffer) => unknown): unknown {
    if (body.length > MAX_BODY_BYTES) return decode(body);
    const key = prefix + body.toString('latin1');
    const hit = this.decoded.get(key);
    if (hit !== undefined) return hit;
    const message = deepFreeze(decode(body));
    this.decoded.set(key, message, body.length * 4 + ENTRY_OVERHEAD_BYTES);
    return message;
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
