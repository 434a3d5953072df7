/**
 * ExpositionReader's duplicate-series check: the same wanted series (name and every label, as
 * written) twice in one body is reported, on a first read and on a read over the previous body's
 * shape; series that differ in any label — even one the scaler does not read — are not.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ExpositionReader, type BodyShape } from '../src/sources/http/prometheus-text.js';

const WANTED = new Set(['vllm:num_requests_waiting', 'vllm:request_success_total']);
const LABELS = new Set(['engine', 'model_name']);

function readTwice(body: string): [string | undefined, string | undefined] {
  const reader = new ExpositionReader(WANTED, LABELS);
  const first = reader.read(Buffer.from(body));
  const second = reader.read(Buffer.from(body), first.shape);
  return [first.parsed.duplicate, second.parsed.duplicate];
}

describe('duplicate series', () => {
  it('the same series twice is reported, on the first read and over the shape', () => {
    const body = 'vllm:num_requests_waiting{engine="0",model_name="m"} 1\nvllm:num_requests_waiting{engine="0",model_name="m"} 100\n';
    expect(readTwice(body)).toEqual(['vllm:num_requests_waiting{engine="0",model_name="m"}', 'vllm:num_requests_waiting{engine="0",model_name="m"}']);
  });

  it('series that differ in a label the scaler does not read are distinct, not duplicates', () => {
    const body = 'vllm:request_success_total{finished_reason="stop",model_name="m"} 5\nvllm:request_success_total{finished_reason="length",model_name="m"} 2\n';
    expect(readTwice(body)).toEqual([undefined, undefined]);
  });

  it('an unwanted series repeated is not this check’s business (never read)', () => {
    expect(readTwice('process_open_fds 3\nprocess_open_fds 3\nvllm:num_requests_waiting 1\n')).toEqual([undefined, undefined]);
  });

  it('a worker whose next body repeats a line is caught over the previous body’s shape', () => {
    const reader = new ExpositionReader(WANTED, LABELS);
    const clean = 'vllm:num_requests_waiting{engine="0"} 1\nvllm:num_requests_waiting{engine="1"} 2\n';
    const first = reader.read(Buffer.from(clean));
    expect(first.parsed.duplicate).toBeUndefined();
    const repeated = reader.read(Buffer.from('vllm:num_requests_waiting{engine="0"} 1\nvllm:num_requests_waiting{engine="0"} 2\n'), first.shape);
    expect(repeated.parsed.duplicate).toBe('vllm:num_requests_waiting{engine="0"}');
  });

  it('property: reported exactly when some wanted line prefix repeats, whatever the order and the shape carried', () => {
    const line = fc.record({
      name: fc.constantFrom('vllm:num_requests_waiting', 'vllm:request_success_total', 'other_series'),
      engine: fc.constantFrom('0', '1'),
      reason: fc.constantFrom('stop', 'length'),
      value: fc.integer({ min: 0, max: 100 }),
    });
    fc.assert(
      fc.property(fc.array(line, { maxLength: 8 }), fc.array(line, { maxLength: 8 }), (before, lines) => {
        const text = (ls: typeof lines) => ls.map((l) => `${l.name}{engine="${l.engine}",finished_reason="${l.reason}"} ${l.value}\n`).join('');
        const reader = new ExpositionReader(WANTED, LABELS);
        const shape: BodyShape = reader.read(Buffer.from(text(before))).shape;
        const { parsed } = reader.read(Buffer.from(text(lines)), shape);
        const keys = lines.filter((l) => WANTED.has(l.name)).map((l) => `${l.name}{engine="${l.engine}",finished_reason="${l.reason}"}`);
        const repeats = keys.filter((k, i) => keys.indexOf(k) !== i);
        expect(parsed.duplicate).toBe(repeats[0]);
      }),
      { numRuns: 500 },
    );
  });
});
