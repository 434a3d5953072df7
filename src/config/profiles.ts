/**
 * Pre-deployment profiles for `policy: sla`, named in the scaler configuration (trigger metadata
 * names a profile, never a path). A profile is Dynamo's profiler output — a directory with
 * `selected_prefill_interpolation/raw_data.npz` and `selected_decode_interpolation/raw_data.npz`
 * (ai-dynamo/dynamo `docs/architecture/pre_deployment_profiling.md`, "Output Format of
 * Interpolation Data") — or two files, npz or the JSON equivalent with the same keys.
 *
 * Units as Dynamo's `perf_interpolation.py` reads them: TTFT and ITL in ms in the file, seconds
 * here; throughput in tokens/s per GPU; KV usage 0..1; `max_kv_tokens` a token count.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { unzipSync } from 'fflate';
import { parse as parseNpy } from 'npyjs';
import { ConfigError } from './load.js';
import type { ProfileRef } from './profile-schema.js';

export interface PrefillProfile {
  /** Input sequence lengths (tokens), ascending. */
  readonly isl: readonly number[];
  readonly ttftSeconds: readonly number[];
  readonly thptPerGpu: readonly number[];
}

export interface DecodeProfile {
  readonly kvUsage: readonly number[];
  readonly contextLength: readonly number[];
  readonly itlSeconds: readonly number[];
  readonly thptPerGpu: readonly number[];
  readonly maxKvTokens: number;
}

export interface Profile {
  readonly name: string;
  readonly prefill: PrefillProfile;
  readonly decode: DecodeProfile;
  /** The files it was read from, for the explanation. */
  readonly files: { readonly prefill: string; readonly decode: string };
}

export const PREFILL_KEYS = ['prefill_isl', 'prefill_ttft', 'prefill_thpt_per_gpu'] as const;
export const DECODE_KEYS = ['x_kv_usage', 'y_context_length', 'z_itl', 'z_thpt_per_gpu', 'max_kv_tokens'] as const;

class ProfileProblem extends Error {}

/** Reads and validates every configured profile; a bad one stops start-up naming `profiles.NAME`. */
export function loadProfiles(refs: Readonly<Record<string, ProfileRef>> | undefined): Map<string, Profile> {
  const out = new Map<string, Profile>();
  for (const [name, ref] of Object.entries(refs ?? {})) out.set(name, loadProfile(name, ref));
  return out;
}

export function loadProfile(name: string, ref: ProfileRef): Profile {
  const files =
    'dir' in ref
      ? { prefill: join(ref.dir, 'selected_prefill_interpolation', 'raw_data.npz'), decode: join(ref.dir, 'selected_decode_interpolation', 'raw_data.npz') }
      : { prefill: ref.prefill, decode: ref.decode };
  let file = files.prefill;
  try {
    const prefill = prefillFrom(readArrays(file, PREFILL_KEYS));
    file = files.decode;
    const decode = decodeFrom(readArrays(file, DECODE_KEYS));
    return { name, prefill, decode, files };
  } catch (error) {
    const why = error instanceof ProfileProblem ? error.message : `cannot read it: ${(error as Error).message}`;
    throw new ConfigError(`invalid configuration:\n  - profiles.${name}: ${file}: ${why}`);
  }
}

/** The named arrays of an npz (a zip of .npy files) or of a JSON object holding number arrays. */
function readArrays(file: string, keys: readonly string[]): Map<string, number[]> {
  const bytes = readFileSync(file);
  const out = new Map<string, number[]>();
  const isZip = bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b;
  if (isZip) {
    let entries: Record<string, Uint8Array>;
    try {
      entries = unzipSync(new Uint8Array(bytes));
    } catch (error) {
      throw new ProfileProblem(`not a readable npz archive (${(error as Error).message})`);
    }
    for (const key of keys) {
      const entry = entries[`${key}.npy`];
      if (!entry) throw new ProfileProblem(`has no array '${key}' (found ${Object.keys(entries).join(', ') || 'none'})`);
      let data: ArrayLike<number | bigint>;
      try {
        data = parseNpy(entry.buffer.slice(entry.byteOffset, entry.byteOffset + entry.byteLength) as ArrayBuffer).data as unknown as ArrayLike<number | bigint>;
      } catch (error) {
        throw new ProfileProblem(`array '${key}' is not a readable .npy (${(error as Error).message})`);
      }
      out.set(key, Array.from(data, Number));
    }
    return out;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new ProfileProblem('neither an npz archive nor JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ProfileProblem('JSON must be an object of arrays');
  const record = parsed as Record<string, unknown>;
  for (const key of keys) {
    const value = key === 'max_kv_tokens' && typeof record[key] === 'number' ? [record[key]] : record[key];
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'number' && v !== null)) throw new ProfileProblem(`'${key}' must be an array of numbers`);
    out.set(
      key,
      value.map((v) => (v === null ? Number.NaN : (v as number))),
    );
  }
  return out;
}

function checked(arrays: Map<string, number[]>, key: string, ok: (v: number) => boolean, expected: string, length?: number): number[] {
  const values = arrays.get(key) ?? [];
  if (length !== undefined && values.length !== length)
    throw new ProfileProblem(`'${key}' has ${values.length} values, '${[...arrays.keys()][0]}' has ${length}`);
  const bad = values.findIndex((v) => !Number.isFinite(v) || !ok(v));
  if (bad >= 0) throw new ProfileProblem(`'${key}'[${bad}] is ${values[bad]}; expected ${expected}`);
  return values;
}

function prefillFrom(arrays: Map<string, number[]>): PrefillProfile {
  const isl = checked(arrays, 'prefill_isl', (v) => v > 0, 'a finite token count > 0');
  // scipy's interp1d(kind="cubic") needs at least 4 points.
  if (isl.length < 4) throw new ProfileProblem(`'prefill_isl' has ${isl.length} values; a cubic spline needs at least 4`);
  const ttft = checked(arrays, 'prefill_ttft', (v) => v > 0, 'a finite TTFT in ms > 0', isl.length);
  const thpt = checked(arrays, 'prefill_thpt_per_gpu', (v) => v > 0, 'a finite throughput > 0', isl.length);
  const order = isl.map((_, i) => i).sort((a, b) => (isl[a] as number) - (isl[b] as number));
  for (let k = 1; k < order.length; k++) {
    if (isl[order[k] as number] === isl[order[k - 1] as number]) throw new ProfileProblem(`'prefill_isl' holds ${isl[order[k] as number]} twice`);
  }
  const pick = (a: number[]) => order.map((i) => a[i] as number);
  return { isl: pick(isl), ttftSeconds: pick(ttft).map((ms) => ms / 1000), thptPerGpu: pick(thpt) };
}

function decodeFrom(arrays: Map<string, number[]>): DecodeProfile {
  const kv = checked(arrays, 'x_kv_usage', (v) => v >= 0 && v <= 1, 'a KV usage from 0 to 1');
  if (kv.length < 3) throw new ProfileProblem(`'x_kv_usage' has ${kv.length} values; interpolating over (KV usage, context length) needs at least 3`);
  const ctx = checked(arrays, 'y_context_length', (v) => v >= 0, 'a finite context length ≥ 0', kv.length);
  const itl = checked(arrays, 'z_itl', (v) => v > 0, 'a finite ITL in ms > 0', kv.length);
  const thpt = checked(arrays, 'z_thpt_per_gpu', (v) => v >= 0, 'a finite throughput ≥ 0', kv.length);
  const maxKv = checked(arrays, 'max_kv_tokens', (v) => v > 0, 'a token count > 0');
  if (maxKv.length < 1) throw new ProfileProblem("'max_kv_tokens' is empty; expected one token count");
  return { kvUsage: kv, contextLength: ctx, itlSeconds: itl.map((ms) => ms / 1000), thptPerGpu: thpt, maxKvTokens: maxKv[0] as number };
}
