import type { EventEmitter } from 'node:events';

/**
 * Calls `onEnd` once when a server stream ends, however it ends: the client cancels, the call
 * closes or finishes, or errors. grpc-js emits several of these for one end.
 */
export function onStreamEnd(call: EventEmitter, onEnd: () => void): void {
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    onEnd();
  };
  for (const event of ['cancelled', 'close', 'error', 'finish']) call.on(event, end);
}
