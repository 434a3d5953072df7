/**
 * Decoders for every wire format Dynamo has used to publish worker load over NATS: `$SRV.STATS`
 * replies, ForwardPassMetrics (nested and flat), JSON `kv_metrics` (LoadEvent, ActiveLoad), and
 * event-plane MessagePack envelopes carrying ActiveLoad or ForwardPassMetrics v1 (ai-dynamo/dynamo
 * `lib/llm/src/kv_router/protocols.rs`, `lib/kv-router/src/protocols.rs`,
 * `lib/runtime/src/transports/event_plane/codec.rs`, `components/src/dynamo/common/forward_pass_metrics.py`).
 *
 * Pure and total: every function returns a result or an error string and never throws. A message
 * with a negative, NaN, non-numeric or absurd value is rejected whole — a scaling decision must
 * never rest on a value we had to guess.
 *
 * Worker ids are u64/i64 and exceed 2^53, so they never pass through a JS number: JSON is parsed
 * with lossless-json keeping each number's source text, MessagePack 64-bit integers come back as
 * bigint, and ids leave this module as canonical decimal strings.
 */
import { parse as parseLosslessJson } from 'lossless-json';
import { Unpackr } from 'msgpackr';

/** What one message says about one data-parallel rank of a worker; absent = not reported. */
export interface LoadReading {
  readonly waiting?: number;
  readonly running?: number;
  readonly activeSlots?: number;
  readonly totalSlots?: number;
  readonly kvBlocksUsed?: number;
  readonly kvBlocksTotal?: number;
  readonly kvUsage?: number;
  readonly queuedPrefillTokens?: number;
}

export interface RankReading {
  /** Decimal string of the worker's u64 id, exact. */
  readonly workerId: string;
  readonly dpRank: number;
  readonly load: LoadReading;
}

/** Stable categories: they label metrics and key the once-per-cause log. */
export type DecodeErrorKind = 'json' | 'msgpack' | 'shape' | 'value' | 'worker_id' | 'version';

export type Decoded<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly kind: DecodeErrorKind; readonly error: string };

/** Counts above this are not load, they are corruption (a trillion blocks, requests or tokens). */
export const ABSURD_COUNT = 1e12;
/** Data-parallel ranks are small; a huge rank is garbage (and would grow per-rank state). */
export const MAX_DP_RANK = 4095;
const U64_MAX = (1n << 64n) - 1n;
/** gpu_cache_usage_perc is an f32 in 0..1; allow its rounding, nothing more. */
const FRACTION_SLACK = 1e-6;

/** A JSON number kept as its source text (see the module comment). */
class JsonNumber {
  constructor(readonly text: string) {}
}

class DecodeFailure {
  constructor(
    readonly kind: DecodeErrorKind,
    readonly error: string,
  ) {}
}

function fail(kind: DecodeErrorKind, error: string): never {
  // Thrown only inside this module and caught by `guard`: the public functions never throw.
  throw new DecodeFailure(kind, error);
}

function guard<T>(body: () => T): Decoded<T> {
  try {
    return { ok: true, value: body() };
  } catch (error) {
    if (error instanceof DecodeFailure) return { ok: false, kind: error.kind, error: error.error };
    // A bug or a library surprise on hostile input: still a rejected message, never a crash.
    return { ok: false, kind: 'shape', error: `cannot decode: ${error instanceof Error ? error.message : String(error)}` };
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function parseJson(payload: Uint8Array | string): unknown {
  let text: string;
  try {
    text = typeof payload === 'string' ? payload : utf8.decode(payload);
  } catch {
    fail('json', 'payload is not UTF-8');
  }
  try {
    return parseLosslessJson(text, null, (numberText) => new JsonNumber(numberText));
  } catch (error) {
    fail('json', `not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
}

// 64-bit integers as bigint (exact); maps as plain objects; no records, so no state between messages.
const unpackr = new Unpackr({ int64AsType: 'bigint', mapsAsObjects: true, useRecords: false });

function parseMsgpack(payload: Uint8Array, what: string): unknown {
  try {
    return unpackr.unpack(payload);
  } catch (error) {
    fail('msgpack', `${what} is not MessagePack: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** True when a kv_metrics payload is JSON (the 2025 generation) rather than a MessagePack envelope. */
export function looksLikeJson(payload: Uint8Array): boolean {
  for (const byte of payload) {
    if (byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d) continue;
    return byte === 0x7b; // '{' — in MessagePack 0x7b is the integer 123, never an envelope
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Field readers. `where` names the field in error messages, e.g. "kv_stats.kv_active_blocks".

type Obj = Record<string, unknown>;

function isObject(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

function objectAt(parent: Obj, key: string, where: string): Obj {
  const value = own(parent, key);
  if (!isObject(value)) fail('shape', `${where}${key}: expected an object, got ${describe(value)}`);
  return value;
}

/** Own properties only: a key like `__proto__` or `constructor` in a payload is just data. */
function own(obj: Obj, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined;
}

function has(obj: Obj, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(obj, key);
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (value instanceof JsonNumber) return value.text;
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') return String(value);
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : typeof value;
}

/** The numeric value of a JSON or MessagePack number; undefined for anything else. */
function numeric(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (value instanceof JsonNumber) return Number(value.text);
  return undefined;
}

/**
 * A non-negative integer count (u64 on the wire). `null` (Rust's None) and a missing key are
 * "not reported" unless the field is required.
 */
function count(obj: Obj, key: string, where: string, required: boolean, max = ABSURD_COUNT): number | undefined {
  const raw = own(obj, key);
  if (raw === undefined || raw === null) {
    if (required) fail('shape', `${where}${key} is missing`);
    return undefined;
  }
  const value = numeric(raw);
  if (value === undefined) fail('value', `${where}${key}: ${describe(raw)} is not a number`);
  if (Number.isNaN(value)) fail('value', `${where}${key} is NaN`);
  if (value < 0) fail('value', `${where}${key}: ${describe(raw)} is negative`);
  if (!Number.isInteger(value)) fail('value', `${where}${key}: ${describe(raw)} is not a whole number`);
  if (value > max) fail('value', `${where}${key}: ${describe(raw)} is absurd (more than ${max})`);
  return value;
}

/** A fraction 0..1 (f32 on the wire). */
function fraction(obj: Obj, key: string, where: string, required: boolean): number | undefined {
  const raw = own(obj, key);
  if (raw === undefined || (raw === null && !required)) {
    if (required) fail('shape', `${where}${key} is missing`);
    return undefined;
  }
  // serde_json writes a NaN f32 as null: for a required usage that is "NaN", not "unknown".
  if (raw === null) fail('value', `${where}${key} is null (NaN at the worker)`);
  const value = numeric(raw);
  if (value === undefined) fail('value', `${where}${key}: ${describe(raw)} is not a number`);
  if (!Number.isFinite(value)) fail('value', `${where}${key}: ${describe(raw)} is not finite`);
  if (value < 0 || value > 1 + FRACTION_SLACK) fail('value', `${where}${key}: ${describe(raw)} is outside 0..1`);
  return Math.min(value, 1);
}

/** A non-negative duration in seconds (FPM wall_time). */
function seconds(obj: Obj, key: string, where: string): number {
  const raw = own(obj, key);
  const value = numeric(raw);
  if (value === undefined) fail(raw === undefined ? 'shape' : 'value', `${where}${key}: ${describe(raw)} is not a number`);
  if (!Number.isFinite(value) || value < 0 || value > 86_400) fail('value', `${where}${key}: ${describe(raw)} is not a plausible duration in seconds`);
  return value;
}

function dpRank(obj: Obj, key: string, where: string): number {
  return count(obj, key, where, false, MAX_DP_RANK) ?? 0;
}

/** A worker id as the canonical decimal string of its u64 value. */
function workerId(value: unknown, where: string): string {
  let id: bigint | undefined;
  if (typeof value === 'bigint') id = value;
  else if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) fail('worker_id', `${where}: ${describe(value)} is not an exact integer`);
    id = BigInt(value);
  } else if (value instanceof JsonNumber || typeof value === 'string') {
    // FPM v1 sends the id as a string; JSON numbers come as their source text.
    const text = value instanceof JsonNumber ? value.text : value;
    if (!/^\d{1,20}$/.test(text)) fail('worker_id', `${where}: ${describe(value)} is not a non-negative integer`);
    id = BigInt(text);
  }
  if (id === undefined) fail('worker_id', `${where}: ${describe(value)} is not an integer`);
  if (id < 0n || id > U64_MAX) fail('worker_id', `${where}: ${id.toString()} is outside the u64 range`);
  return id.toString();
}

/** Fills kvUsage from the block counts when the worker did not send it, and checks they agree. */
function kvFields(used: number | undefined, total: number | undefined, usage: number | undefined, where: string): LoadReading {
  if (used !== undefined && total !== undefined && used > total) {
    fail('value', `${where}kv active blocks (${used}) exceed kv total blocks (${total})`);
  }
  const derived = usage ?? (used !== undefined && total !== undefined && total > 0 ? used / total : undefined);
  return defined({ kvBlocksUsed: used, kvBlocksTotal: total, kvUsage: derived });
}

/** Drops undefined fields, so merging readings never overwrites a known value with "unknown". */
function defined(reading: { [K in keyof LoadReading]: number | undefined }): LoadReading {
  const out: { -readonly [K in keyof LoadReading]?: number } = {};
  for (const key in reading) {
    const value = reading[key as keyof LoadReading];
    if (value !== undefined) out[key as keyof LoadReading] = value;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// ForwardPassMetrics (2025): nested worker_stats/kv_stats, or flat (incl. the 4-field oldest).

export interface ForwardPassReading {
  readonly dpRank: number;
  readonly load: LoadReading;
}

/** Decodes a ForwardPassMetrics value (already parsed from JSON). */
export function decodeForwardPassMetrics(data: unknown): Decoded<ForwardPassReading> {
  return guard(() => forwardPassMetrics(data, ''));
}

function forwardPassMetrics(data: unknown, where: string): ForwardPassReading {
  if (!isObject(data)) fail('shape', `${where || 'ForwardPassMetrics'}: expected an object, got ${describe(data)}`);
  // LoadMetrics is an externally tagged enum; unwrap it where Dynamo serialised the enum itself.
  if (has(data, 'engine_load_metrics') && !has(data, 'worker_stats') && !has(data, 'kv_active_blocks')) {
    return forwardPassMetrics(own(data, 'engine_load_metrics'), `${where}engine_load_metrics.`);
  }
  if (has(data, 'worker_stats') || has(data, 'kv_stats')) {
    // Nested shape (2025-07 → 2026-01): every field of WorkerStats/KvStats is required in Rust.
    const ws = objectAt(data, 'worker_stats', where);
    const kv = objectAt(data, 'kv_stats', where);
    const w = `${where}worker_stats.`;
    const k = `${where}kv_stats.`;
    const active = count(ws, 'request_active_slots', w, true);
    const total = count(ws, 'request_total_slots', w, true);
    const waiting = count(ws, 'num_requests_waiting', w, true);
    const rank = dpRank(ws, 'data_parallel_rank', w);
    const used = count(kv, 'kv_active_blocks', k, true);
    const blocks = count(kv, 'kv_total_blocks', k, true);
    const usage = fraction(kv, 'gpu_cache_usage_perc', k, true);
    fractionOrNaN(kv, 'gpu_prefix_cache_hit_rate', k);
    return { dpRank: rank, load: { ...defined({ waiting, running: active, activeSlots: active, totalSlots: total }), ...kvFields(used, blocks, usage, k) } };
  }
  // Flat shape: the 4 original fields are required, the 2025-03 additions optional.
  const active = count(data, 'request_active_slots', where, true);
  const total = count(data, 'request_total_slots', where, true);
  const used = count(data, 'kv_active_blocks', where, true);
  const blocks = count(data, 'kv_total_blocks', where, true);
  const waiting = count(data, 'num_requests_waiting', where, false);
  const usage = fraction(data, 'gpu_cache_usage_perc', where, false);
  fractionOrNaN(data, 'gpu_prefix_cache_hit_rate', where);
  const rank = dpRank(data, 'data_parallel_rank', where);
  return { dpRank: rank, load: { ...defined({ waiting, running: active, activeSlots: active, totalSlots: total }), ...kvFields(used, blocks, usage, where) } };
}

/** Hit rate is unused, but a value outside 0..1 marks a corrupt message; null (0/0 → NaN) is normal. */
function fractionOrNaN(obj: Obj, key: string, where: string): void {
  if (own(obj, key) !== null) fraction(obj, key, where, false);
}

// ---------------------------------------------------------------------------------------------
// $SRV.STATS replies (pull generation, ≤ 2025-10).

export interface StatsEndpointProblem {
  readonly subject: string;
  readonly kind: DecodeErrorKind;
  readonly error: string;
}

export interface StatsReply {
  /** The NATS service instance id (one per worker process). */
  readonly instance?: string;
  readonly readings: readonly RankReading[];
  /** Endpoints of ours that were rejected; the reply's other endpoints still count. */
  readonly problems: readonly StatsEndpointProblem[];
}

/**
 * The worker id of an endpoint subject `<service>.<endpoint>-<lease hex>`: the hex after the last
 * `-`, as the decimal string of its u64 value (Dynamo's `EndpointInfo::id()`).
 */
export function workerIdFromSubject(subject: string): string | undefined {
  const match = /-([0-9a-fA-F]{1,16})$/.exec(subject);
  return match ? BigInt(`0x${match[1]}`).toString() : undefined;
}

/**
 * One `$SRV.STATS` reply: keeps the endpoints whose subject starts with `<service>.<endpoint>`
 * (Dynamo's own client-side filter) and decodes their `data` as ForwardPassMetrics. An empty
 * payload decodes to no readings (Dynamo skips those too).
 */
export function decodeStatsReply(payload: Uint8Array | string, service: string, endpoint: string): Decoded<StatsReply> {
  return guard(() => {
    if (payload.length === 0) return { readings: [], problems: [] };
    const reply = parseJson(payload);
    if (!isObject(reply)) fail('shape', `stats reply: expected an object, got ${describe(reply)}`);
    const type = own(reply, 'type');
    if (type !== undefined && type !== 'io.nats.micro.v1.stats_response')
      fail('shape', `stats reply: type is ${describe(type)}, not io.nats.micro.v1.stats_response`);
    const endpoints = own(reply, 'endpoints');
    if (!Array.isArray(endpoints)) fail('shape', `stats reply: endpoints is ${describe(endpoints)}, not an array`);
    const prefix = `${service}.${endpoint}`;
    const readings: RankReading[] = [];
    const problems: StatsEndpointProblem[] = [];
    for (const entry of endpoints as unknown[]) {
      const subject = isObject(entry) ? own(entry, 'subject') : undefined;
      if (!isObject(entry) || typeof subject !== 'string') {
        problems.push({ subject: '?', kind: 'shape', error: 'stats reply: an endpoint has no subject' });
        continue;
      }
      if (!subject.startsWith(prefix)) continue; // e.g. the worker's `generate` endpoint
      const data = own(entry, 'data');
      if (data === null || data === undefined) continue; // no stats handler output yet
      const id = workerIdFromSubject(subject);
      if (id === undefined) {
        problems.push({ subject, kind: 'worker_id', error: `endpoint subject ${subject} has no -<hex> worker id suffix` });
        continue;
      }
      const fpm = decodeForwardPassMetrics(data);
      if (fpm.ok) readings.push({ workerId: id, dpRank: fpm.value.dpRank, load: fpm.value.load });
      else problems.push({ subject, kind: fpm.kind, error: `${subject} data.${fpm.error}` });
    }
    const instance = own(reply, 'id');
    return { instance: typeof instance === 'string' ? instance : undefined, readings, problems };
  });
}

// ---------------------------------------------------------------------------------------------
// ActiveLoad (JSON ~2026-01 and MessagePack 2026+) and LoadEvent (JSON 2025-08 → 2025-12).

export interface ActiveLoadEvent {
  readonly reading: RankReading;
  /** Engines report kv_used_blocks; the KV router's own bookkeeping does not. */
  readonly hasKvUsedBlocks: boolean;
}

function activeLoad(obj: Obj): ActiveLoadEvent {
  const id = workerId(own(obj, 'worker_id'), 'worker_id');
  const rank = dpRank(obj, 'dp_rank', '');
  const decode = count(obj, 'active_decode_blocks', '', false);
  count(obj, 'active_prefill_tokens', '', false);
  const used = count(obj, 'kv_used_blocks', '', false);
  // kv_used_blocks is the engine's own count (vLLM: num_gpu_blocks × usage, the successor of
  // kv_active_blocks); active_decode_blocks is the scheduler's/router's estimate, used without it.
  return { reading: { workerId: id, dpRank: rank, load: defined({ kvBlocksUsed: used ?? decode }) }, hasKvUsedBlocks: used !== undefined };
}

export type KvMetricsJson = { readonly kind: 'load_event'; readonly reading: RankReading } | ({ readonly kind: 'active_load' } & ActiveLoadEvent);

/** A JSON message on `namespace.<ns>.kv_metrics`: LoadEvent `{worker_id, data}` or ActiveLoad. */
export function decodeKvMetricsJson(payload: Uint8Array | string): Decoded<KvMetricsJson> {
  return guard((): KvMetricsJson => {
    const message = parseJson(payload);
    if (!isObject(message)) fail('shape', `kv_metrics: expected an object, got ${describe(message)}`);
    if (!has(message, 'worker_id')) fail('shape', 'kv_metrics: worker_id is missing');
    if (has(message, 'data')) {
      const id = workerId(own(message, 'worker_id'), 'worker_id');
      const fpm = forwardPassMetrics(own(message, 'data'), 'data.');
      return { kind: 'load_event', reading: { workerId: id, dpRank: fpm.dpRank, load: fpm.load } };
    }
    if (has(message, 'dp_rank') || has(message, 'active_decode_blocks') || has(message, 'kv_used_blocks')) {
      return { kind: 'active_load', ...activeLoad(message) };
    }
    fail('shape', 'kv_metrics: neither a LoadEvent (data) nor an ActiveLoad (dp_rank, active_decode_blocks)');
  });
}

// ---------------------------------------------------------------------------------------------
// Event plane (2026): MessagePack envelope with a MessagePack payload.

export interface Envelope {
  /** Decimal string of the u64 publisher id. */
  readonly publisherId: string;
  readonly sequence: bigint;
  /** Unix milliseconds at the publisher. */
  readonly publishedAt: bigint;
  readonly topic: string;
  readonly payload: Uint8Array;
}

function u64(obj: Obj, key: string): bigint {
  const raw = own(obj, key);
  if (typeof raw === 'bigint') {
    if (raw < 0n || raw > U64_MAX) fail('value', `envelope ${key}: ${raw.toString()} is outside the u64 range`);
    return raw;
  }
  if (typeof raw === 'number' && Number.isSafeInteger(raw) && raw >= 0) return BigInt(raw);
  fail(raw === undefined ? 'shape' : 'value', `envelope ${key}: ${describe(raw)} is not a u64`);
}

/** `EventEnvelope {publisher_id, sequence, published_at, topic, payload}` (rmp_serde, named). */
export function decodeEnvelope(message: Uint8Array): Decoded<Envelope> {
  return guard(() => {
    const envelope = parseMsgpack(message, 'envelope');
    if (!isObject(envelope)) fail('shape', `envelope: expected a map, got ${describe(envelope)}`);
    const topic = own(envelope, 'topic');
    if (typeof topic !== 'string') fail('shape', `envelope topic: ${describe(topic)} is not a string`);
    return {
      publisherId: u64(envelope, 'publisher_id').toString(),
      sequence: u64(envelope, 'sequence'),
      publishedAt: u64(envelope, 'published_at'),
      topic,
      payload: bytes(own(envelope, 'payload')),
    };
  });
}

/** The payload is `bin`; a Vec<u8> serialised without serde_bytes arrives as an array of ints. */
function bytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (Array.isArray(value) && value.every((b) => typeof b === 'number' && Number.isInteger(b) && b >= 0 && b <= 255)) {
    return Uint8Array.from(value as number[]);
  }
  fail('shape', `envelope payload: ${describe(value)} is not bytes`);
}

/** Event-plane `kv_metrics` payload: ActiveLoad `{worker_id, dp_rank, active_decode_blocks, active_prefill_tokens, kv_used_blocks}`. */
export function decodeActiveLoadMsgpack(payload: Uint8Array): Decoded<ActiveLoadEvent> {
  return guard(() => {
    const message = parseMsgpack(payload, 'ActiveLoad');
    if (!isObject(message)) fail('shape', `ActiveLoad: expected a map, got ${describe(message)}`);
    if (!has(message, 'worker_id')) fail('shape', 'ActiveLoad: worker_id is missing');
    return activeLoad(message);
  });
}

export interface ForwardPassEvent {
  readonly reading: RankReading;
  /** wall_time 0: the engine is idle and this is the 1 s heartbeat. */
  readonly heartbeat: boolean;
}

/**
 * Event-plane `forward-pass-metrics` payload, ForwardPassMetrics v1. Mapping: scheduled prefill +
 * decode requests → running; queued prefill + queued (preempted) decode requests → waiting, as
 * vLLM's own num_requests_waiting counts preempted requests; queued sum_prefill_tokens →
 * queuedPrefillTokens. FPM carries no KV block counts.
 */
export function decodeForwardPassMetricsV1(payload: Uint8Array): Decoded<ForwardPassEvent> {
  return guard(() => {
    const message = parseMsgpack(payload, 'ForwardPassMetrics');
    if (!isObject(message)) fail('shape', `ForwardPassMetrics: expected a map, got ${describe(message)}`);
    const version = own(message, 'version');
    if (numeric(version) !== 1) fail('version', `ForwardPassMetrics version ${describe(version)} is not supported (expected 1)`);
    const id = workerId(own(message, 'worker_id'), 'worker_id');
    const rank = dpRank(message, 'dp_rank', '');
    const wallTime = seconds(message, 'wall_time', '');
    const scheduled = objectAt(message, 'scheduled_requests', '');
    const queued = objectAt(message, 'queued_requests', '');
    const s = 'scheduled_requests.';
    const q = 'queued_requests.';
    const running = count(scheduled, 'num_prefill_requests', s, true)! + count(scheduled, 'num_decode_requests', s, true)!;
    count(scheduled, 'sum_prefill_tokens', s, false);
    count(scheduled, 'sum_decode_kv_tokens', s, false);
    const waiting = count(queued, 'num_prefill_requests', q, true)! + count(queued, 'num_decode_requests', q, true)!;
    const queuedTokens = count(queued, 'sum_prefill_tokens', q, true);
    count(queued, 'sum_decode_kv_tokens', q, false);
    return {
      reading: { workerId: id, dpRank: rank, load: defined({ waiting, running, queuedPrefillTokens: queuedTokens }) },
      heartbeat: wallTime === 0,
    };
  });
}
