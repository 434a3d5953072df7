import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { profileFor } from '../src/sources/http/engine-profiles.js';
import { extractWorkerSample } from '../src/sources/http/extract-sample.js';
import { parsePrometheusText } from '../src/sources/http/prometheus-text.js';
import { readFixture } from './support/fixtures.js';

/** KV capacity in tokens from vLLM's cache_config_info: Σ over engines of num_gpu_blocks × block_size. */
const profile = profileFor('vllm');
function capacity(text: string): number | undefined {
  const r = extractWorkerSample(parsePrometheusText(text, profile.wantedSeries), profile, { at: 1 });
  if (!r.ok) throw new Error(r.message);
  return r.sample.kvCapacityTokens;
}

const exposition = (engines: readonly { blocks: string; size?: string }[]): string =>
  [
    'vllm:num_requests_waiting{engine="0",model_name="m"} 0.0',
    ...engines.map((e, i) => `vllm:cache_config_info{${e.size === undefined ? '' : `block_size="${e.size}",`}engine="${i}",num_gpu_blocks="${e.blocks}"} 1.0`),
  ].join('\n') + '\n';

describe('kvCapacityTokens', () => {
  it('sums num_gpu_blocks × block_size over the data-parallel engines of the captured fixture', () => {
    // Two engines of 59064 blocks × 16 tokens.
    expect(capacity(readFixture('vllm', 'v1-dp2-generated.prom'))).toBe(2 * 59064 * 16);
  });

  it('reads the V0 info gauge without an engine label (AIBrix docs capture: 81767 × 16)', () => {
    expect(capacity(readFixture('vllm', 'v0-aibrix-docs.prom'))).toBe(81767 * 16);
  });

  it('is unknown, not guessed, without cache_config_info or without block_size', () => {
    expect(capacity(exposition([]))).toBeUndefined();
    expect(capacity(exposition([{ blocks: '100' }]))).toBeUndefined();
    expect(
      capacity(
        exposition([
          { blocks: '100', size: '16' },
          { blocks: 'None', size: '16' },
        ]),
      ),
    ).toBeUndefined();
  });

  it('property: equals the sum of the products for any engines', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ blocks: fc.integer({ min: 0, max: 1e6 }), size: fc.integer({ min: 1, max: 4096 }) }), { minLength: 1, maxLength: 8 }),
        (engines) => {
          const text = exposition(engines.map((e) => ({ blocks: String(e.blocks), size: String(e.size) })));
          expect(capacity(text)).toBe(engines.reduce((a, e) => a + e.blocks * e.size, 0));
        },
      ),
    );
  });
});
