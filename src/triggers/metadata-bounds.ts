/**
 * Size bounds on a trigger's `scalerMetadata`, checked before anything else reads it (before it
 * is even keyed for the trigger cache): anyone who reaches the gRPC port can send metadata, and
 * every distinct map is parsed and cached. KEDA forwards its own TLS keys (`caCert`,
 * `tlsClientCert`, `tlsClientKey`: PEM text) to every external scaler, so those get the room a
 * certificate chain needs; the scaler's own keys are names, numbers and short queries.
 */
import { MetadataError } from '../signals/metadata-error.js';

/** Longest key. */
export const MAX_KEY_LENGTH = 128;
/** Longest value of the scaler's own keys (a `query` is at most 1024 characters, a model name a few hundred). */
export const MAX_VALUE_LENGTH = 2048;
/** Longest value of a key KEDA itself sets (PEM certificates). */
export const MAX_KEDA_VALUE_LENGTH = 32 * 1024;
/** Keys and values together. */
export const MAX_METADATA_LENGTH = 64 * 1024;
/** Most keys in one map. */
export const MAX_KEYS = 64;

/** Throws MetadataError (answered INVALID_ARGUMENT) naming the first key past a bound; MetadataError cuts the echoed value. */
export function checkMetadataBounds(metadata: Readonly<Record<string, string>>, kedaKeys: ReadonlySet<string>): void {
  let total = 0;
  let keys = 0;
  for (const key in metadata) {
    if (!Object.hasOwn(metadata, key)) continue;
    const value = metadata[key] ?? '';
    keys++;
    if (keys > MAX_KEYS) throw new MetadataError(key, `too many keys: at most ${MAX_KEYS} are accepted in one trigger's metadata`);
    if (key.length > MAX_KEY_LENGTH) throw new MetadataError(key, `key longer than ${MAX_KEY_LENGTH} characters (${key.length})`);
    const limit = kedaKeys.has(key) ? MAX_KEDA_VALUE_LENGTH : MAX_VALUE_LENGTH;
    if (value.length > limit) throw new MetadataError(key, `value longer than ${limit} characters (${value.length}): '${value}'`);
    total += key.length + value.length;
    if (total > MAX_METADATA_LENGTH) throw new MetadataError(key, `metadata larger than ${MAX_METADATA_LENGTH} characters in all`);
  }
}
