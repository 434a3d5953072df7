import { ECHO_LIMIT, clipEcho } from '../config/bounds.js';

/**
 * Quoted input inside a message ('…'): each run longer than the echo limit is cut. Messages quote
 * the client's keys and values; a 100 KB value echoed whole made Node gRPC clients hang on the
 * status trailer (grpc-js caps metadata at 8 KB by default: grpc/grpc-node, packages/grpc-js/src/
 * channel-options.ts `grpc.max_metadata_size`).
 */
const QUOTED = new RegExp(`'([^']{${ECHO_LIMIT + 1},})'`, 'g');
/** Whatever else the message holds (lists of accepted names), it never exceeds this. */
const MAX_MESSAGE = 2000;

/** Bad trigger metadata; `key` names the metadata key at fault. Answered as INVALID_ARGUMENT. */
export class MetadataError extends Error {
  readonly key: string;

  constructor(key: string, message: string) {
    const clippedKey = clipEcho(key);
    const body = message.replace(QUOTED, (_m, inner: string) => `'${clipEcho(inner)}'`);
    super(clipEcho(`metadata '${clippedKey}': ${body}`, MAX_MESSAGE));
    this.key = clippedKey;
    this.name = 'MetadataError';
  }
}
