/**
 * Property: whatever a mix of valid and broken workers expose, the fleet values never are NaN,
 * infinite, negative or above 1e12, and never exceed what the valid workers alone produce. Run
 * through the collection path itself: the pool's ExpositionReader (with each worker's body shape
 * carried between scrapes, as HttpSource does), extractWorkerSample, the PoolStore, evaluateSignal.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { evaluateSignal, useOf } from '../src/signals/evaluate.js';
import { GAUGE_SIGNALS } from '../src/signals/gauge-signals.js';
import { profileFor } from '../src/sources/http/engine-profiles.js';
import { extractWorkerSample } from '../src/sources/http/extract-sample.js';
import { ExpositionReader, type BodyShape } from '../src/sources/http/prometheus-text.js';
import { PoolStore } from '../src/store/pool-store.js';
import { MAX_PLAUSIBLE_VALUE } from '../src/store/sample.js';

const MODEL = 'meta-llama/Llama-3.1-8B-Instruct';
const PROFILE = profileFor('vllm');

interface Valid {
  readonly waiting: number;
  readonly running: number;
  readonly kv: number;
  readonly blocks: number;
}

const valid: fc.Arbitrary<Valid> = fc.record({
  waiting: fc.integer({ min: 0, max: 1_000_000 }),
  running: fc.integer({ min: 0, max: 10_000 }),
  kv: fc.double({ min: 0, max: 1, noNaN: true }),
  blocks: fc.integer({ min: 1, max: 1_000_000 }),
});

/** Lines every body may carry that change no value: comments, other series, garbage. */
const noise = fc.array(
  fc.oneof(
    fc.constant('# HELP vllm:num_requests_waiting Number of requests waiting.'),
    fc.constant('# TYPE vllm:num_requests_waiting gauge'),
    fc.integer({ min: 0, max: 1000 }).map((n) => `process_open_fds ${n}`),
    fc.string({ maxLength: 30 }).map((s) => `# ${s.replace(/[\r\n]/g, ' ')}`),
    fc.constant('...'),
  ),
  { maxLength: 4 },
);

function lines(v: Valid, engine = '0'): string[] {
  const l = `engine="${engine}",model_name="${MODEL}"`;
  return [
    `vllm:num_requests_waiting{${l}} ${v.waiting}`,
    `vllm:num_requests_running{${l}} ${v.running}`,
    `vllm:kv_cache_usage_perc{${l}} ${v.kv}`,
    `vllm:cache_config_info{${l},num_gpu_blocks="${v.blocks}"} 1.0`,
  ];
}

const badNumber = fc.constantFrom('NaN', '+Inf', '-Inf', '1e308', '1e13', '-3', '-0.5');
const badUsage = fc.constantFrom('NaN', '+Inf', '-Inf', '-0.5', '-1e-9');

/** A worker body with one thing that cannot be true, over otherwise valid values. */
const broken: fc.Arbitrary<string[]> = fc.tuple(valid, fc.integer({ min: 0, max: 5 }), badNumber, badUsage).map(([v, how, number, usage]) => {
  const good = lines(v);
  const l = `engine="0",model_name="${MODEL}"`;
  switch (how) {
    case 0:
      return [`vllm:num_requests_waiting{${l}} ${number}`, ...good.slice(1)];
    case 1:
      return [good[0]!, `vllm:num_requests_running{${l}} ${number}`, ...good.slice(2)];
    case 2:
      return [...good.slice(0, 2), `vllm:kv_cache_usage_perc{${l}} ${usage}`, good[3]!];
    case 3:
      // The same series twice: Prometheus refuses the scrape; summing would count it twice.
      return [...good, good[0]!];
    case 4:
      // A second engine with a broken count: the worker is refused, not summed over its good engine.
      return [...good, ...lines(v, '1').map((line, i) => (i === 0 ? line.replace(/ \d+$/, ` ${number}`) : line))];
    default:
      return [...good, `vllm:generation_tokens_total{${l}} ${number === '-0.5' ? '-1' : '1e300'}`];
  }
});

type Worker =
  | { readonly kind: 'valid'; readonly values: Valid; readonly noise: string[] }
  | { readonly kind: 'broken'; readonly lines: string[]; readonly noise: string[] };

const worker: fc.Arbitrary<Worker> = fc.oneof(
  fc.record({ kind: fc.constant('valid' as const), values: valid, noise }),
  fc.record({ kind: fc.constant('broken' as const), lines: broken, noise }),
);

function body(w: Worker): string {
  const sample = w.kind === 'valid' ? lines(w.values) : w.lines;
  return [...w.noise, ...sample, ''].join('\n');
}

/** Two scrapes of every worker (the second over the first's shape), then every gauge signal. */
function collect(workers: readonly Worker[]): PoolStore {
  const store = new PoolStore('p', { cacheTtlMs: 60_000, intervalMs: 1000, historyWindowMs: 60_000 }, () => 1_000_000);
  const ids = workers.map((_, i) => `w${i}`);
  store.setWorkers(ids);
  const reader = new ExpositionReader(PROFILE.wantedSeries, new Set(PROFILE.readLabels));
  const shapes = new Map<string, BodyShape>();
  for (let round = 0; round < 2; round++) {
    workers.forEach((w, i) => {
      const id = ids[i]!;
      const { parsed, shape } = reader.read(Buffer.from(body(w)), shapes.get(id));
      shapes.set(id, shape);
      const r = extractWorkerSample(parsed, PROFILE, { at: 1_000_000 });
      if (r.ok) store.recordSample(id, r.sample);
      else store.recordFailure(id, r.cause, r.message);
    });
  }
  return store;
}

describe('bad workers never change the answer (property)', () => {
  it('values are finite, ≥ 0, ≤ 1e12, and exactly what the valid workers alone give', () => {
    fc.assert(
      fc.property(fc.array(worker, { minLength: 1, maxLength: 6 }), (workers) => {
        const snapshot = collect(workers).snapshot();
        const goods = workers.flatMap((w) => (w.kind === 'valid' ? [w.values] : []));
        // Every broken worker is left out, every valid one counted.
        expect(snapshot.fresh.length).toBe(goods.length);
        const expected: Record<string, number> = {
          queue_depth: goods.reduce((a, v) => a + v.waiting, 0),
          running_requests: goods.reduce((a, v) => a + v.running, 0),
        };
        for (const signal of GAUGE_SIGNALS) {
          const evaluation = evaluateSignal(snapshot, useOf(signal, new Map()));
          if (goods.length === 0) {
            // Workers exist but none has a valid sample: no value at all, never 0.
            expect(evaluation.ok, signal.name).toBe(false);
            continue;
          }
          expect(evaluation.ok, signal.name).toBe(true);
          if (!evaluation.ok) continue;
          const v = evaluation.value;
          expect(Number.isFinite(v) && v >= 0 && v <= MAX_PLAUSIBLE_VALUE, `${signal.name} = ${v}`).toBe(true);
          expect(evaluation.readyWorkers, signal.name).toBe(goods.length);
          if (signal.name in expected) expect(v, signal.name).toBe(expected[signal.name]);
          if (signal.name === 'kv_cache_usage') expect(v).toBeLessThanOrEqual(Math.max(...goods.map((g) => g.kv)) + 1e-12);
          if (signal.name === 'kv_blocks_usage_percent') expect(v).toBeLessThanOrEqual(100 + 1e-9);
          if (signal.name === 'load_avg') expect(v).toBeLessThanOrEqual(Math.max(...goods.map((g) => g.kv * g.blocks)) + 1e-6);
        }
      }),
      { numRuns: 300 },
    );
  });
});
