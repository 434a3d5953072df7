/**
 * The engine profiles an HTTP pool's `source` names. Each engine's series names are in
 * `profiles/` (one module per engine), and extract-sample.ts turns a parsed body into a sample.
 */
import type { HttpSourceKind } from '../../config/schema.js';
import { DYNAMO_HTTP } from './profiles/dynamo-http.js';
import type { EngineProfile } from './profiles/profile.js';
import { SGLANG } from './profiles/sglang.js';
import { TRTLLM } from './profiles/trtllm.js';
import { VLLM } from './profiles/vllm.js';

export type { EngineProfile } from './profiles/profile.js';

const PROFILES: Readonly<Record<HttpSourceKind, EngineProfile>> = {
  vllm: VLLM,
  sglang: SGLANG,
  trtllm: TRTLLM,
  'dynamo-http': DYNAMO_HTTP,
};

export function profileFor(kind: HttpSourceKind): EngineProfile {
  return PROFILES[kind];
}
