/**
 * The bounds' pure parts as properties: the series counter over any chunking, the echo cut, the
 * metadata size check, and the bounded cache behind the trigger registry and the request memo.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BoundedCache, ECHO_LIMIT, clipEcho } from '../src/config/bounds.js';
import { MetadataError } from '../src/signals/metadata-error.js';
import { SeriesCounter } from '../src/sources/http/series-count.js';
import { MAX_KEDA_VALUE_LENGTH, MAX_KEY_LENGTH, MAX_METADATA_LENGTH, MAX_VALUE_LENGTH, checkMetadataBounds } from '../src/triggers/metadata-bounds.js';
import { KEDA_KEYS } from '../src/triggers/metadata.js';

const line = fc.oneof(
  fc.constant('# HELP x y'),
  fc.constant('# TYPE x gauge'),
  fc.constant(''),
  fc.constant('\r'),
  fc.stringMatching(/^[a-z_:][a-z0-9_:]{0,10}(\{[a-z]{1,3}="[a-z0-9]{0,4}"\})? [0-9.e+-]{1,6}$/),
);

describe('SeriesCounter', () => {
  it('counts the sample lines of an exposition, however its bytes are split into chunks', () => {
    fc.assert(
      fc.property(fc.array(line, { maxLength: 60 }), fc.boolean(), fc.array(fc.nat(), { maxLength: 10 }), (lines, trailingNewline, cuts) => {
        const text = lines.join('\n') + (trailingNewline ? '\n' : '');
        const bytes = Buffer.from(text);
        const expected = text.split('\n').filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('\r')).length;
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const counter = new SeriesCounter();
        let from = 0;
        for (const p of [...points, bytes.length]) {
          counter.add(bytes.subarray(from, p));
          from = p;
        }
        expect(counter.count).toBe(expected);
      }),
    );
  });
});

describe('clipEcho and MetadataError', () => {
  it('keeps short text as it is and cuts long text to the limit plus a marker naming its length', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (text) => {
        const clipped = clipEcho(text);
        if (text.length <= ECHO_LIMIT) expect(clipped).toBe(text);
        else expect(clipped).toBe(`${text.slice(0, ECHO_LIMIT)}… (${text.length} characters)`);
      }),
    );
  });

  it('an error message never carries more than ~100 characters of any quoted input, nor more than 2,000 in all', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 3000 }),
        fc.string({ maxLength: 3000 }).filter((v) => !v.includes("'")),
        (key, value) => {
          const error = new MetadataError(key, `'${value}' is not accepted`);
          expect(error.message.length).toBeLessThanOrEqual(2000 + 30);
          expect(error.key.length).toBeLessThanOrEqual(ECHO_LIMIT + 30);
          if (value.length > ECHO_LIMIT) expect(error.message).not.toContain(value);
          expect(error.message.startsWith(`metadata '${clipEcho(key)}': `)).toBe(true);
        },
      ),
    );
  });
});

describe('checkMetadataBounds', () => {
  it('accepts exactly the maps within every bound, and a refusal names a key of the map', () => {
    const key = fc.oneof(fc.constantFrom('pool', 'model', 'query', 'caCert'), fc.string({ minLength: 1, maxLength: MAX_KEY_LENGTH + 20 }));
    const value = fc.oneof(
      fc.string({ maxLength: 50 }),
      fc.integer({ min: 0, max: MAX_KEDA_VALUE_LENGTH + 100 }).map((n) => 'v'.repeat(n)),
    );
    fc.assert(
      fc.property(fc.dictionary(key, value, { maxKeys: 8 }), (metadata) => {
        const entries = Object.entries(metadata);
        const total = entries.reduce((n, [k, v]) => n + k.length + v.length, 0);
        const within =
          total <= MAX_METADATA_LENGTH &&
          entries.every(([k, v]) => k.length <= MAX_KEY_LENGTH && v.length <= (KEDA_KEYS.has(k) ? MAX_KEDA_VALUE_LENGTH : MAX_VALUE_LENGTH));
        let error: unknown;
        try {
          checkMetadataBounds(metadata, KEDA_KEYS);
        } catch (e) {
          error = e;
        }
        expect(error === undefined).toBe(within);
        if (error !== undefined) {
          expect(error).toBeInstanceOf(MetadataError);
          expect(entries.some(([k]) => clipEcho(k) === (error as MetadataError).key)).toBe(true);
        }
      }),
    );
  });
});

describe('BoundedCache', () => {
  it('never holds more entries or bytes than its bounds, keeps the newest, and answers the last value set', () => {
    const op = fc.record({ key: fc.integer({ min: 0, max: 30 }).map(String), value: fc.integer(), bytes: fc.integer({ min: 1, max: 100 }) });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 100, max: 400 }),
        fc.array(op, { minLength: 1, maxLength: 200 }),
        (maxEntries, maxBytes, ops) => {
          const cache = new BoundedCache<number>(maxEntries, maxBytes);
          const heldBytes = new Map<string, number>();
          for (const { key, value, bytes } of ops) {
            cache.set(key, value, bytes);
            heldBytes.set(key, bytes);
            expect(cache.get(key)).toBe(value);
            expect(cache.size).toBeLessThanOrEqual(maxEntries);
            expect(cache.bytes).toBeLessThanOrEqual(maxBytes);
          }
          // What it reports holding is what its entries add up to.
          const kept = [...Array(31).keys()].map(String).filter((k) => cache.get(k) !== undefined);
          expect(kept).toHaveLength(cache.size);
          expect(kept.reduce((sum, k) => sum + heldBytes.get(k)!, 0)).toBe(cache.bytes);
          expect([...cache.values()]).toHaveLength(cache.size);
        },
      ),
      { numRuns: 500 },
    );
  });
});
