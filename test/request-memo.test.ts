import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { externalScalerService } from '../src/grpc/proto.js';
import { RequestMemo } from '../src/grpc/request-memo.js';
import type { GetMetricsRequest, ScaledObjectRef } from '../src/grpc/messages.js';

const service = externalScalerService();
const memo = new RequestMemo();
const wrapped = memo.wrap(service);

const encodeRef = (ref: ScaledObjectRef): Buffer => service.IsActive!.requestSerialize(ref);
const encodeGetMetrics = (request: GetMetricsRequest): Buffer => service.GetMetrics!.requestSerialize(request);

const metadataArb = fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }), fc.string({ maxLength: 40 }), { maxKeys: 8 });
const refArb = fc.record({ name: fc.string({ maxLength: 20 }), namespace: fc.string({ maxLength: 20 }), scalerMetadata: metadataArb });

describe('request bodies KEDA repeats are decoded once', () => {
  it('decodes every body to what the plain decoder gives, and a repeated body to the same frozen message', () => {
    fc.assert(
      fc.property(refArb, fc.string({ maxLength: 20 }), (ref, metricName) => {
        const refBody = encodeRef(ref);
        const first = wrapped.IsActive!.requestDeserialize(refBody) as ScaledObjectRef;
        expect(first).toEqual(service.IsActive!.requestDeserialize(refBody));
        // A copy of the bytes (a new call's buffer) finds the message decoded the first time.
        expect(wrapped.IsActive!.requestDeserialize(Buffer.from(refBody))).toBe(first);
        expect(Object.isFrozen(first) && Object.isFrozen(first.scalerMetadata)).toBe(true);

        const request = { scaledObjectRef: ref, metricName };
        const body = encodeGetMetrics(request);
        const decoded = wrapped.GetMetrics!.requestDeserialize(body) as GetMetricsRequest;
        expect(decoded).toEqual(service.GetMetrics!.requestDeserialize(body));
        expect(wrapped.GetMetrics!.requestDeserialize(Buffer.from(body))).toBe(decoded);
      }),
      { numRuns: 300 },
    );
  });

  it('never answers one request type with a message of another, even for the same bytes', () => {
    const body = encodeGetMetrics({ scaledObjectRef: { name: 'so', namespace: 'ns', scalerMetadata: { pool: 'llama' } }, metricName: 'm' });
    const asGetMetrics = wrapped.GetMetrics!.requestDeserialize(body) as GetMetricsRequest;
    // Read as a ScaledObjectRef, field 1 (the nested ref) is the name and field 2 (the metric name) the namespace.
    const asRef = wrapped.IsActive!.requestDeserialize(body) as ScaledObjectRef;
    expect(asGetMetrics.metricName).toBe('m');
    expect(asGetMetrics.scaledObjectRef?.scalerMetadata).toEqual({ pool: 'llama' });
    expect(asRef.namespace).toBe('m');
    expect(asRef.scalerMetadata).toEqual({});
    expect(wrapped.GetMetrics!.requestDeserialize(Buffer.from(body))).toBe(asGetMetrics);
  });

  it('holds at most 10,000 bodies however many distinct ones arrive', () => {
    const bounded = new RequestMemo();
    const decode = bounded.wrap(service).IsActive!.requestDeserialize;
    for (let i = 0; i < 12_000; i++) decode(encodeRef({ name: `so-${i}`, namespace: 'ns', scalerMetadata: { pool: 'llama', metric: 'queue_depth' } }));
    expect(bounded.size).toBe(10_000);
    // The newest are kept, the oldest dropped and decoded anew when they come back.
    const newest = encodeRef({ name: 'so-11999', namespace: 'ns', scalerMetadata: { pool: 'llama', metric: 'queue_depth' } });
    expect(decode(newest)).toBe(decode(Buffer.from(newest)));
  });

  it('decodes a body past 64 KiB every time (never held)', () => {
    const bounded = new RequestMemo();
    const decode = bounded.wrap(service).IsActive!.requestDeserialize;
    const body = encodeRef({ name: 'so', namespace: 'ns', scalerMetadata: { caCert: 'x'.repeat(70 * 1024) } });
    const first = decode(body) as ScaledObjectRef;
    expect(first.scalerMetadata.caCert).toHaveLength(70 * 1024);
    expect(decode(body)).not.toBe(first);
    expect(bounded.size).toBe(0);
  });
});
