/**
 * The Dynamo NATS decoders against every captured sample in test/fixtures/dynamo/ (expected
 * values read off the files by hand), exact 64-bit worker ids, the merging rules (dp ranks, worker
 * vs router publishers, event-plane sequences), and property tests: hostile bytes and mutated
 * fixtures never throw and never yield a negative, NaN or infinite value.
 */
import { readFileSync, readdirSync } from 'node:fs';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import {
  decodeActiveLoadMsgpack,
  decodeEnvelope,
  decodeForwardPassMetrics,
  decodeForwardPassMetricsV1,
  decodeKvMetricsJson,
  decodeStatsReply,
  looksLikeJson,
  workerIdFromSubject,
  type Decoded,
  type LoadReading,
} from '../src/sources/dynamo/decode.js';
import { dynamoServiceName, slugify } from '../src/sources/dynamo/service-name.js';
import { WorkerLedger } from '../src/sources/dynamo/worker-ledger.js';
import { fixturePath, readFixture } from './support/fixtures.js';

const WORKER = '7587888657184927289'; // 0x694d988806b92e39 > 2^53: a JS number would round it
const bytesOf = (name: string) => new Uint8Array(readFileSync(fixturePath('dynamo', name)));
const ok = <T>(decoded: Decoded<T>): T => {
  if (!decoded.ok) throw new Error(`expected a decode, got ${decoded.kind}: ${decoded.error}`);
  return decoded.value;
};
const packr = new Packr({ useRecords: false });

/** Every value a reading carries is a usable number: finite, ≥ 0, usage ≤ 1, used ≤ total. */
function assertSane(load: LoadReading): void {
  for (const [key, value] of Object.entries(load)) {
    expect(typeof value, key).toBe('number');
    expect(Number.isFinite(value), `${key}=${value}`).toBe(true);
    expect(value, key).toBeGreaterThanOrEqual(0);
  }
  if (load.kvUsage !== undefined) expect(load.kvUsage).toBeLessThanOrEqual(1);
  if (load.kvBlocksUsed !== undefined && load.kvBlocksTotal !== undefined) expect(load.kvBlocksUsed).toBeLessThanOrEqual(load.kvBlocksTotal);
}

describe('every fixture in test/fixtures/dynamo decodes to the values written in it', () => {
  it('covers all the files (a new fixture needs a test here)', () => {
    expect(readdirSync(fixturePath('dynamo')).sort()).toEqual([
      'event-plane-forward-pass-metrics.msgpack',
      'event-plane-kv-metrics.msgpack',
      'forward-pass-metrics-flat.json',
      'kv-metrics-active-load.json',
      'kv-metrics-load-event.json',
      'srv-stats-reply.json',
    ]);
  });

  it('srv-stats-reply.json: only the load_metrics endpoint, id from the subject hex, nested FPM', () => {
    const reply = ok(decodeStatsReply(readFixture('dynamo', 'srv-stats-reply.json'), 'dynamo_backend', 'load_metrics'));
    expect(reply.instance).toBe('bdu7nA8tbhy9mEkxIWlkBA');
    expect(reply.problems).toEqual([]);
    // The `generate` endpoint (data null, other subject) is not a load report.
    expect(reply.readings).toEqual([
      {
        workerId: WORKER,
        dpRank: 0,
        load: { waiting: 1, running: 3, activeSlots: 3, totalSlots: 256, kvBlocksUsed: 120, kvBlocksTotal: 59064, kvUsage: 0.0020316 },
      },
    ]);
    // Another component's service name or endpoint filters everything out.
    expect(ok(decodeStatsReply(readFixture('dynamo', 'srv-stats-reply.json'), 'dynamo_prefill', 'load_metrics')).readings).toEqual([]);
  });

  it('forward-pass-metrics-flat.json: the flat 2025-03..07 shape', () => {
    const fpm = ok(decodeForwardPassMetrics(JSON.parse(readFixture('dynamo', 'forward-pass-metrics-flat.json'))));
    expect(fpm).toEqual({
      dpRank: 0,
      load: { waiting: 2, running: 5, activeSlots: 5, totalSlots: 256, kvBlocksUsed: 2048, kvBlocksTotal: 59064, kvUsage: 0.0346742 },
    });
  });

  it('the oldest 4-field shape: usage derived from blocks, waiting unknown (never 0)', () => {
    const fpm = ok(decodeForwardPassMetrics({ request_active_slots: 2, request_total_slots: 8, kv_active_blocks: 25, kv_total_blocks: 100 }));
    expect(fpm).toEqual({ dpRank: 0, load: { running: 2, activeSlots: 2, totalSlots: 8, kvBlocksUsed: 25, kvBlocksTotal: 100, kvUsage: 0.25 } });
    expect(fpm.load.waiting).toBeUndefined();
  });

  it('kv-metrics-load-event.json: LoadEvent {worker_id, data: nested FPM}, id exact from the JSON text', () => {
    const event = ok(decodeKvMetricsJson(bytesOf('kv-metrics-load-event.json')));
    expect(event).toEqual({
      kind: 'load_event',
      reading: {
        workerId: WORKER,
        dpRank: 0,
        load: { waiting: 1, running: 3, activeSlots: 3, totalSlots: 256, kvBlocksUsed: 120, kvBlocksTotal: 59064, kvUsage: 0.0020316 },
      },
    });
    // What JSON.parse would have made of the id: the reason it never touches worker ids.
    expect(String((JSON.parse(readFixture('dynamo', 'kv-metrics-load-event.json')) as { worker_id: number }).worker_id)).not.toBe(WORKER);
  });

  it('kv-metrics-active-load.json: ActiveLoad; active_prefill_tokens null; no kv_used_blocks', () => {
    expect(ok(decodeKvMetricsJson(bytesOf('kv-metrics-active-load.json')))).toEqual({
      kind: 'active_load',
      reading: { workerId: WORKER, dpRank: 0, load: { kvBlocksUsed: 120 } },
      hasKvUsedBlocks: false,
    });
  });

  it('event-plane-kv-metrics.msgpack: envelope u64s exact; ActiveLoad kv_used_blocks (130) preferred over active_decode_blocks (120)', () => {
    const bytes = bytesOf('event-plane-kv-metrics.msgpack');
    expect(looksLikeJson(bytes)).toBe(false);
    const envelope = ok(decodeEnvelope(bytes));
    expect(envelope).toMatchObject({ publisherId: '1234567890123', sequence: 42n, publishedAt: 1769300000123n, topic: 'kv_metrics' });
    expect(ok(decodeActiveLoadMsgpack(envelope.payload))).toEqual({
      reading: { workerId: WORKER, dpRank: 0, load: { kvBlocksUsed: 130 } },
      hasKvUsedBlocks: true,
    });
  });

  it('event-plane-forward-pass-metrics.msgpack: FPM v1 → running 2+30, waiting 4+0, queued prompt tokens 9000', () => {
    const envelope = ok(decodeEnvelope(bytesOf('event-plane-forward-pass-metrics.msgpack')));
    expect(envelope).toMatchObject({ publisherId: '1234567890123', sequence: 43n, publishedAt: 1769300000200n, topic: 'forward-pass-metrics' });
    expect(ok(decodeForwardPassMetricsV1(envelope.payload))).toEqual({
      reading: { workerId: WORKER, dpRank: 0, load: { running: 32, waiting: 4, queuedPrefillTokens: 9000 } },
      heartbeat: false, // wall_time 0.0213 s: a real forward pass
    });
  });

  it('JSON kv_metrics is told from MessagePack by its first byte', () => {
    expect(looksLikeJson(bytesOf('kv-metrics-load-event.json'))).toBe(true);
    expect(looksLikeJson(new TextEncoder().encode('  \n{}'))).toBe(true);
    expect(looksLikeJson(bytesOf('event-plane-forward-pass-metrics.msgpack'))).toBe(false);
    expect(looksLikeJson(new Uint8Array())).toBe(false);
  });
});

describe('worker ids and names', () => {
  it('the hex after the last - of the subject, as the exact decimal u64', () => {
    expect(workerIdFromSubject('dynamo_backend.load_metrics-694d988806b92e39')).toBe(WORKER);
    expect(workerIdFromSubject('dynamo_backend.load_metrics-ffffffffffffffff')).toBe('18446744073709551615');
    expect(workerIdFromSubject('dynamo_backend.load_metrics-1')).toBe('1');
    expect(workerIdFromSubject('dynamo_backend.load_metrics')).toBeUndefined(); // static endpoint
    expect(workerIdFromSubject('dynamo_backend.load_metrics-xyz')).toBeUndefined();
  });

  it('property: any u64 survives hex subjects, JSON numbers, MessagePack and FPM strings exactly', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (id) => {
        const decimal = id.toString();
        expect(workerIdFromSubject(`svc.load_metrics-${id.toString(16)}`)).toBe(decimal);
        const json = ok(decodeKvMetricsJson(`{"worker_id":${decimal},"dp_rank":0,"active_decode_blocks":1}`));
        expect(json.reading.workerId).toBe(decimal);
        expect(ok(decodeActiveLoadMsgpack(packr.pack({ worker_id: id, dp_rank: 0, active_decode_blocks: 1 }))).reading.workerId).toBe(decimal);
        const fpm = fpmV1({ worker_id: decimal });
        expect(ok(decodeForwardPassMetricsV1(fpm)).reading.workerId).toBe(decimal);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects ids that are negative, fractional, too large or not numbers', () => {
    for (const id of ['-1', '1.5', '18446744073709551616', '"abc"', 'null', 'true']) {
      const decoded = decodeKvMetricsJson(`{"worker_id":${id},"dp_rank":0,"active_decode_blocks":1}`);
      expect(decoded.ok, id).toBe(false);
    }
    expect(decodeActiveLoadMsgpack(packr.pack({ worker_id: -5, dp_rank: 0 })).ok).toBe(false);
  });

  it('service name: Dynamo slugify of "<namespace>_<component>"', () => {
    expect(dynamoServiceName('dynamo', 'backend')).toBe('dynamo_backend');
    expect(dynamoServiceName('dynamo', 'VllmWorker')).toBe('dynamo_vllmworker');
    expect(dynamoServiceName('default-sglang-agg', 'decode')).toBe('default-sglang-agg_decode');
    expect(dynamoServiceName('my ns', 'comp.v2')).toBe('my_ns_comp_v2');
    expect(slugify('__Lead')).toBe('lead'); // leading '_' trimmed, as Slug::new does
    expect(slugify('é😀x')).toBe('x'); // one '_' per code point, then trimmed
    expect(slugify('aé😀x')).toBe('a__x');
  });
});

/** A ForwardPassMetrics v1 payload with the fixture's numbers, overridable. */
function fpmV1(overrides: Record<string, unknown> = {}): Uint8Array {
  return packr.pack({
    version: 1,
    worker_id: WORKER,
    dp_rank: 0,
    counter_id: 1,
    wall_time: 0.02,
    scheduled_requests: {
      num_prefill_requests: 2,
      sum_prefill_tokens: 5120,
      var_prefill_length: 0,
      sum_prefill_kv_tokens: 5120,
      num_decode_requests: 30,
      sum_decode_kv_tokens: 61000,
      var_decode_kv_tokens: 0,
    },
    queued_requests: {
      num_prefill_requests: 4,
      sum_prefill_tokens: 9000,
      var_prefill_length: 0,
      num_decode_requests: 1,
      sum_decode_kv_tokens: 0,
      var_decode_kv_tokens: 0,
    },
    ...overrides,
  });
}

describe('rejections: a bad value rejects the whole message', () => {
  const nested = () =>
    JSON.parse(readFixture('dynamo', 'kv-metrics-load-event.json')) as { data: { worker_stats: Record<string, unknown>; kv_stats: Record<string, unknown> } };
  // Rebuilt as text so the big id stays exact.
  const asText = (event: ReturnType<typeof nested>) => JSON.stringify(event).replace(/"worker_id":[^,]+/, `"worker_id":${WORKER}`);

  it.each([
    ['negative waiting', (e: ReturnType<typeof nested>) => (e.data.worker_stats['num_requests_waiting'] = -1), /negative/],
    ['fractional blocks', (e: ReturnType<typeof nested>) => (e.data.kv_stats['kv_active_blocks'] = 1.5), /whole number/],
    ['string count', (e: ReturnType<typeof nested>) => (e.data.worker_stats['request_active_slots'] = '3'), /not a number/],
    ['NaN usage (serde writes null)', (e: ReturnType<typeof nested>) => (e.data.kv_stats['gpu_cache_usage_perc'] = null), /null/],
    ['usage above 1', (e: ReturnType<typeof nested>) => (e.data.kv_stats['gpu_cache_usage_perc'] = 1.5), /outside 0\.\.1/],
    ['absurd count', (e: ReturnType<typeof nested>) => (e.data.worker_stats['num_requests_waiting'] = 1e15), /absurd/],
    ['used above total', (e: ReturnType<typeof nested>) => (e.data.kv_stats['kv_active_blocks'] = 60000), /exceed/],
    ['missing required field', (e: ReturnType<typeof nested>) => delete e.data.kv_stats['kv_total_blocks'], /missing/],
    ['kv_stats not an object', (e: ReturnType<typeof nested>) => (e.data.kv_stats = [] as unknown as Record<string, unknown>), /expected an object/],
  ])('%s', (_name, mutate, message) => {
    const event = nested();
    mutate(event);
    const decoded = decodeKvMetricsJson(asText(event));
    expect(decoded.ok).toBe(false);
    if (!decoded.ok) expect(decoded.error).toMatch(message);
  });

  it('a null hit rate (0/0 at the worker) is normal, not an error', () => {
    const event = nested();
    event.data.kv_stats['gpu_prefix_cache_hit_rate'] = null;
    expect(decodeKvMetricsJson(asText(event)).ok).toBe(true);
  });

  it('FPM v1: unknown version, negative queue, NaN wall time are rejected; wall_time 0 is the idle heartbeat', () => {
    expect(decodeForwardPassMetricsV1(fpmV1({ version: 2 }))).toMatchObject({ ok: false, kind: 'version' });
    expect(decodeForwardPassMetricsV1(fpmV1({ queued_requests: { num_prefill_requests: -1, sum_prefill_tokens: 0, num_decode_requests: 0 } })).ok).toBe(false);
    expect(decodeForwardPassMetricsV1(fpmV1({ wall_time: Number.NaN })).ok).toBe(false);
    expect(ok(decodeForwardPassMetricsV1(fpmV1({ wall_time: 0 }))).heartbeat).toBe(true);
    // Preempted (queued decode) requests wait too, as in vLLM's num_requests_waiting.
    expect(ok(decodeForwardPassMetricsV1(fpmV1())).reading.load.waiting).toBe(5);
  });

  it('envelopes: wrong types and non-u64 fields are rejected; a Vec<u8> payload as an int array is accepted', () => {
    const payload = packr.pack({ worker_id: 1n, dp_rank: 0, kv_used_blocks: 3 });
    const envelope = (fields: Record<string, unknown>) =>
      packr.pack({ publisher_id: 7n, sequence: 1n, published_at: 2n, topic: 'kv_metrics', payload, ...fields });
    expect(decodeEnvelope(envelope({})).ok).toBe(true);
    expect(decodeEnvelope(envelope({ sequence: -1 })).ok).toBe(false);
    expect(decodeEnvelope(envelope({ publisher_id: 'x' })).ok).toBe(false);
    expect(decodeEnvelope(envelope({ topic: 5 })).ok).toBe(false);
    expect(decodeEnvelope(envelope({ payload: 'not bytes' })).ok).toBe(false);
    expect(ok(decodeEnvelope(envelope({ payload: [...payload] }))).payload).toEqual(new Uint8Array(payload));
    expect(decodeEnvelope(packr.pack([1, 2, 3])).ok).toBe(false);
  });

  it('stats replies: a bad endpoint is reported and the others still count; garbage is rejected', () => {
    const reply = {
      type: 'io.nats.micro.v1.stats_response',
      endpoints: [
        { subject: 'dynamo_backend.load_metrics-a', data: { request_active_slots: 1, request_total_slots: 2, kv_active_blocks: 3, kv_total_blocks: 4 } },
        { subject: 'dynamo_backend.load_metrics-b', data: { request_active_slots: -1, request_total_slots: 2, kv_active_blocks: 3, kv_total_blocks: 4 } },
        { subject: 'dynamo_backend.load_metrics', data: { request_active_slots: 1, request_total_slots: 2, kv_active_blocks: 3, kv_total_blocks: 4 } },
      ],
    };
    const decoded = ok(decodeStatsReply(JSON.stringify(reply), 'dynamo_backend', 'load_metrics'));
    expect(decoded.readings.map((r) => r.workerId)).toEqual(['10']);
    expect(decoded.problems.map((p) => p.kind)).toEqual(['value', 'worker_id']);
    expect(ok(decodeStatsReply('', 'dynamo_backend', 'load_metrics')).readings).toEqual([]); // Dynamo skips empty payloads
    for (const garbage of ['{', '[]', '{"endpoints":5}', '{"type":"io.nats.micro.v1.info_response","endpoints":[]}', '\u0000\u00ff']) {
      expect(decodeStatsReply(garbage, 'dynamo_backend', 'load_metrics').ok, garbage).toBe(false);
    }
    expect(decodeStatsReply(new Uint8Array([0xff, 0xfe, 0x7b]), 'dynamo_backend', 'load_metrics').ok).toBe(false);
  });
});

describe('property tests: hostile input never throws and never yields an unusable value', () => {
  const fixtureReadings = (decoded: Decoded<unknown>): LoadReading[] => {
    if (!decoded.ok) return [];
    const value = decoded.value as { reading?: { load: LoadReading }; readings?: { load: LoadReading }[]; load?: LoadReading };
    if (value.readings) return value.readings.map((r) => r.load);
    if (value.reading) return [value.reading.load];
    return value.load ? [value.load] : [];
  };
  const everyDecoder = (bytes: Uint8Array): Decoded<unknown>[] => {
    const results: Decoded<unknown>[] = [
      decodeStatsReply(bytes, 'dynamo_backend', 'load_metrics'),
      decodeKvMetricsJson(bytes),
      decodeEnvelope(bytes),
      decodeActiveLoadMsgpack(bytes),
      decodeForwardPassMetricsV1(bytes),
    ];
    const envelope = results[2]!;
    if (envelope.ok) {
      const payload = (envelope.value as { payload: Uint8Array }).payload;
      results.push(decodeActiveLoadMsgpack(payload), decodeForwardPassMetricsV1(payload));
    }
    return results;
  };

  it('arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        for (const decoded of everyDecoder(bytes)) for (const load of fixtureReadings(decoded)) assertSane(load);
      }),
      { numRuns: 2000 },
    );
  });

  it('byte-level mutations of every fixture (flip, truncate, splice)', () => {
    const fixtures = readdirSync(fixturePath('dynamo')).map(bytesOf);
    // Edits biased towards numbers (a digit's position, a digit, sign, point or exponent), so that
    // many mutated messages still decode and their values are checked, not only rejected.
    const numberish = [...'0123456789-.eE'].map((c) => c.charCodeAt(0));
    const digitsAt = (bytes: Uint8Array) => [...bytes.keys()].filter((i) => bytes[i]! >= 0x30 && bytes[i]! <= 0x39);
    const byte = fc.oneof(fc.constantFrom(...numberish), fc.integer({ min: 0, max: 255 }));
    const edit = fc.tuple(fc.boolean(), fc.nat(), byte);
    const mutated = fc
      .tuple(fc.constantFrom(...fixtures), fc.array(edit, { minLength: 1, maxLength: 4 }), fc.oneof({ arbitrary: fc.constant(null), weight: 3 }, fc.nat()))
      .map(([original, edits, cut]) => {
        const digits = digitsAt(original);
        return [original, edits.map(([onDigit, at, value]) => [onDigit && digits.length > 0 ? digits[at % digits.length]! : at, value] as const), cut] as const;
      })
      .map(([original, edits, cut]) => {
        const bytes = Uint8Array.from(original);
        for (const [at, value] of edits) bytes[at % bytes.length] = value;
        return cut === null ? bytes : bytes.subarray(0, cut % (bytes.length + 1));
      });
    let decodedLoads = 0;
    const runs = 3000;
    fc.assert(
      fc.property(mutated, (bytes) => {
        for (const decoded of everyDecoder(bytes)) {
          for (const load of fixtureReadings(decoded)) {
            assertSane(load);
            decodedLoads += 1;
          }
        }
      }),
      { numRuns: runs },
    );
    // The mutations must leave many messages decodable, or the checks above would never run.
    expect(decodedLoads).toBeGreaterThan(runs / 10);
  });

  it('arbitrary JSON text and JSON values', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc.jsonValue().map((v) => JSON.stringify({ worker_id: 1, data: v })),
        ),
        (text) => {
          for (const decoded of [decodeStatsReply(text, 'dynamo_backend', 'load_metrics'), decodeKvMetricsJson(text)]) {
            for (const load of fixtureReadings(decoded)) assertSane(load);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  /** A replacement for one numeric field: anything a broken or hostile publisher could send. */
  const badOrGood = fc.oneof(
    fc.integer({ min: -1000, max: 100_000 }),
    fc.double(),
    fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -0, 1e300, -1, 0.5, 2 ** 53 + 2),
    fc.string({ maxLength: 5 }),
    fc.boolean(),
    fc.constant(null),
    fc.array(fc.nat(), { maxLength: 2 }),
  );

  it('JSON fixtures with one load field replaced: rejected, or sane; negative/non-numeric always rejected', () => {
    const loadEvent = JSON.parse(readFixture('dynamo', 'kv-metrics-load-event.json')) as { data: Record<string, Record<string, unknown>> };
    const fields = [
      ...Object.keys(loadEvent.data['worker_stats']!).map((k) => ['worker_stats', k] as const),
      ...Object.keys(loadEvent.data['kv_stats']!).map((k) => ['kv_stats', k] as const),
    ];
    fc.assert(
      fc.property(fc.constantFrom(...fields), badOrGood, ([group, key], value) => {
        const event = JSON.parse(readFixture('dynamo', 'kv-metrics-load-event.json')) as typeof loadEvent;
        event.data[group]![key] = value;
        // Through JSON text (NaN and Infinity become null, as serde_json writes them).
        const text = JSON.stringify(event).replace(/"worker_id":[^,]+/, `"worker_id":${WORKER}`);
        const decoded = decodeKvMetricsJson(text);
        for (const load of fixtureReadings(decoded)) assertSane(load);
        const roundTripped = JSON.parse(JSON.stringify(value)) as unknown;
        // Option<_> fields (rank) and the hit rate (0/0 at the worker) may legitimately be null.
        const nullable = (key === 'gpu_prefix_cache_hit_rate' || key === 'data_parallel_rank') && roundTripped === null;
        if (!nullable && (typeof roundTripped !== 'number' || roundTripped < 0)) expect(decoded.ok, `${key}=${String(value)}`).toBe(false);
      }),
      { numRuns: 1500 },
    );
  });

  it('MessagePack ActiveLoad and FPM v1 with one field replaced: rejected, or sane', () => {
    const activeKeys = ['dp_rank', 'active_decode_blocks', 'active_prefill_tokens', 'kv_used_blocks'];
    const fpmKeys = ['num_prefill_requests', 'sum_prefill_tokens', 'num_decode_requests'];
    const anyValue = fc.oneof(badOrGood, fc.bigInt({ min: -(1n << 63n), max: (1n << 64n) - 1n }));
    fc.assert(
      fc.property(fc.constantFrom(...activeKeys), anyValue, (key, value) => {
        const decoded = decodeActiveLoadMsgpack(
          packr.pack({ worker_id: 5n, dp_rank: 0, active_decode_blocks: 10, active_prefill_tokens: 0, kv_used_blocks: 12, [key]: value }),
        );
        for (const load of fixtureReadings(decoded)) assertSane(load);
        if ((typeof value === 'number' || typeof value === 'bigint') && value < 0) expect(decoded.ok).toBe(false);
      }),
      { numRuns: 1500 },
    );
    fc.assert(
      fc.property(fc.constantFrom('scheduled_requests', 'queued_requests'), fc.constantFrom(...fpmKeys), anyValue, (group, key, value) => {
        const base = { num_prefill_requests: 1, sum_prefill_tokens: 10, num_decode_requests: 2 };
        const decoded = decodeForwardPassMetricsV1(fpmV1({ [group]: { ...base, [key]: value } }));
        for (const load of fixtureReadings(decoded)) assertSane(load);
        if (typeof value !== 'number' && typeof value !== 'bigint') {
          if (value !== null || group === 'queued_requests' || key !== 'sum_prefill_tokens') expect(decoded.ok).toBe(false);
        } else if (value < 0) expect(decoded.ok).toBe(false);
      }),
      { numRuns: 1500 },
    );
  });
});

describe('merging what several messages say about one worker', () => {
  const ledger = () => new WorkerLedger({ statsTtlMs: 5000, heartbeatTtlMs: 5000, pushTtlMs: 600_000 });
  const reading = (workerId: string, dpRank: number, load: LoadReading) => ({ workerId, dpRank, load });

  it('dp ranks: counts and blocks summed, usage averaged; a field only some ranks report is unknown', () => {
    const l = ledger();
    l.observe({ generation: 'kv-metrics', reading: reading('w', 0, { waiting: 1, running: 3, kvBlocksUsed: 100, kvBlocksTotal: 1000, kvUsage: 0.1 }) }, 0);
    l.observe({ generation: 'kv-metrics', reading: reading('w', 1, { waiting: 2, running: 5, kvBlocksUsed: 300, kvBlocksTotal: 1000, kvUsage: 0.3 }) }, 1);
    expect(l.aggregate('w', 2)!.load).toEqual({ waiting: 3, running: 8, kvBlocksUsed: 400, kvBlocksTotal: 2000, kvUsage: 0.2 });
    // Rank 1 updates only its blocks: its other fields keep their last values.
    l.observe({ generation: 'kv-metrics', reading: reading('w', 1, { kvBlocksUsed: 500 }) }, 3);
    expect(l.aggregate('w', 4)!.load).toMatchObject({ waiting: 3, kvBlocksUsed: 600 });
    // A third rank that reports only blocks: waiting is now unknown rather than undercounted.
    l.observe({ generation: 'kv-metrics', reading: reading('w', 2, { kvBlocksUsed: 10 }) }, 5);
    const merged = l.aggregate('w', 6)!.load;
    expect(merged.kvBlocksUsed).toBe(610);
    expect(merged.waiting).toBeUndefined();
  });

  it("worker-published data wins over the router's; the router's is used only for workers nobody else reports", () => {
    const l = ledger();
    // The router (publisher R) reports two workers from its bookkeeping, without kv_used_blocks.
    l.observe({ generation: 'event-plane', publisherId: 'R', reading: reading('a', 0, { kvBlocksUsed: 50 }) }, 0);
    l.observe({ generation: 'event-plane', publisherId: 'R', reading: reading('b', 0, { kvBlocksUsed: 70 }) }, 0);
    expect(l.aggregate('a', 1)).toEqual({ load: { kvBlocksUsed: 50 }, grade: 'router' });
    // Worker a publishes its own load (engine data): it wins, even though the router speaks later.
    l.observe({ generation: 'event-plane', publisherId: 'A', engine: true, reading: reading('a', 0, { kvBlocksUsed: 42 }) }, 2);
    l.observe({ generation: 'event-plane', publisherId: 'R', reading: reading('a', 0, { kvBlocksUsed: 55 }) }, 3);
    expect(l.aggregate('a', 4)).toEqual({ load: { kvBlocksUsed: 42 }, grade: 'worker' });
    expect(l.aggregate('b', 4)).toEqual({ load: { kvBlocksUsed: 70 }, grade: 'router' });
    expect(l.publishers.counts()).toEqual({ workers: 1, routers: 1, unclassified: 0 });
  });

  it('a worker whose FPM and ActiveLoad come from different publishers gets both', () => {
    const l = ledger();
    l.observe({ generation: 'event-plane', publisherId: 'P1', engine: true, reading: reading('a', 0, { kvBlocksUsed: 130 }) }, 0);
    l.observe(
      {
        generation: 'event-plane',
        publisherId: 'P2',
        engine: true,
        heartbeats: true,
        ownComponent: true,
        reading: reading('a', 0, { running: 32, waiting: 4 }),
      },
      1,
    );
    expect(l.aggregate('a', 2)!.load).toEqual({ kvBlocksUsed: 130, running: 32, waiting: 4 });
    expect(l.lifetime('a')).toBe('heartbeat');
  });

  it('event-plane sequences: duplicates and older messages are dropped per publisher and topic; a restarted publisher is accepted', () => {
    const { publishers } = ledger();
    expect(publishers.accept('p', 'kv_metrics', 5n, 1000n, 0)).toBe('ok');
    expect(publishers.accept('p', 'kv_metrics', 5n, 1000n, 0)).toBe('duplicate');
    expect(publishers.accept('p', 'kv_metrics', 4n, 999n, 0)).toBe('older');
    expect(publishers.accept('p', 'forward-pass-metrics', 1n, 1001n, 0)).toBe('ok'); // its own counter per topic
    expect(publishers.accept('p', 'kv_metrics', 6n, 1002n, 0)).toBe('ok');
    expect(publishers.accept('p', 'kv_metrics', 0n, 9000n, 0)).toBe('ok'); // sequence reset, clock moved on: a restart
    expect(publishers.accept('p', 'kv_metrics', 1n, 9001n, 0)).toBe('ok');
  });

  it('lifetimes: stats workers end at the cache TTL, heartbeat workers soon after silence, push workers at workerTtl', () => {
    const l = ledger();
    l.observe({ generation: 'stats', reading: reading('s', 0, { kvBlocksUsed: 1 }) }, 0);
    l.observe({ generation: 'event-plane', publisherId: 'h', engine: true, heartbeats: true, ownComponent: true, reading: reading('h', 0, { running: 1 }) }, 0);
    l.observe({ generation: 'kv-metrics', reading: reading('p', 0, { kvBlocksUsed: 1 }) }, 0);
    expect(l.sweep(5000)).toMatchObject({ removed: [], alive: ['h', 'p'] });
    const first = l.sweep(5001);
    expect(first).toMatchObject({ removed: ['s', 'h'], alive: ['p'] });
    expect(first.why.get('s')).toBe('stopped answering $SRV.STATS for longer than the cache TTL (5s; last heard 1970-01-01T00:00:00.000Z)');
    expect(first.why.get('h')).toBe('silent for longer than workerTtl (5s; last heard 1970-01-01T00:00:00.000Z)');
    l.shift(1000); // NATS was down for a second: not silence
    expect(l.sweep(600_500)).toMatchObject({ removed: [], alive: ['p'] });
    expect(l.sweep(601_001)).toMatchObject({ removed: ['p'], alive: [] });
  });

  it("another component's workers (seen on its forward-pass-metrics) are dropped from the namespace-wide kv_metrics", () => {
    const l = ledger();
    l.observe({ generation: 'event-plane', publisherId: 'x', engine: true, reading: reading('prefill-1', 0, { kvBlocksUsed: 9 }) }, 0);
    expect(l.markForeign('prefill-1', 1)).toBe(true);
    expect(l.observe({ generation: 'event-plane', publisherId: 'x', engine: true, reading: reading('prefill-1', 0, { kvBlocksUsed: 9 }) }, 2)).toBe('foreign');
    expect(l.size).toBe(0);
  });
});
