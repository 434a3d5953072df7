/**
 * The parts of `source: prometheus` that are pure functions, by property: the selector grammar, the
 * query API's answers, and the grouping of query answers into per-worker expositions — which must
 * give the very sample a direct scrape of the same worker gives.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatPromMatchers, parsePromSelector, quotePromString, type PromMatcher } from '../src/config/prom-selector.js';
import { SimulatedVllmWorker } from '../src/cli/demo/simulated-worker.js';
import { profileFor } from '../src/sources/http/engine-profiles.js';
import { extractWorkerSample } from '../src/sources/http/extract-sample.js';
import { parsePrometheusText } from '../src/sources/http/prometheus-text.js';
import { parseVectorResponse, type VectorSample } from '../src/sources/prometheus/query-client.js';
import { expositionsByWorker, profileNameGroups, roundQueries, targetsOf, type NameGroups } from '../src/sources/prometheus/queries.js';
import { parseSeriesQuery } from '../src/store/series-query.js';
import { readFixture, VLLM_FIXTURES } from './support/fixtures.js';

const label = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,12}$/).filter((l) => l !== '__name__');
const anyValue = fc.string({ unit: 'grapheme', maxLength: 20 });
const matcher: fc.Arbitrary<PromMatcher> = fc.record({ label, op: fc.constantFrom('=', '!=', '=~', '!~' as const), value: anyValue });
/** The first matcher names targets (`=` with a non-empty value), as PromQL requires of a selector. */
const matchers = fc.tuple(fc.record({ label, op: fc.constant('=' as const), value: anyValue.filter((v) => v !== '') }), fc.array(matcher, { maxLength: 4 }));

describe('prometheus.selector', () => {
  it('reads back what it writes, braced or not, whatever the values hold', () => {
    fc.assert(
      fc.property(matchers, fc.boolean(), fc.constantFrom('', ' ', '  '), ([first, rest], braced, space) => {
        const all = [first, ...rest];
        const text = all.map((m) => `${m.label}${space}${m.op}${space}${quotePromString(m.value)}`).join(`,${space}`);
        const parsed = parsePromSelector(braced ? `{${space}${text}${space}}` : text);
        expect(parsed).toEqual({ ok: true, matchers: all });
        expect(parsePromSelector(formatPromMatchers(all))).toEqual(parsed);
      }),
    );
  });

  it('reads single-quoted, backticked and escaped values as PromQL does', () => {
    expect(parsePromSelector(`job='vllm', ns=\`a\\b\`, x="\\u00e9\\t\\x41"`)).toEqual({
      ok: true,
      matchers: [
        { label: 'job', op: '=', value: 'vllm' },
        { label: 'ns', op: '=', value: 'a\\b' },
        { label: 'x', op: '=', value: 'é\tA' },
      ],
    });
  });

  it('refuses what PromQL refuses or what selects every target, with the reason, and never throws', () => {
    const cases: [string, string][] = [
      ['', 'no matcher'],
      ['{}', 'no matcher'],
      ['job=""', 'every matcher also matches an empty label'],
      ['job!="x"', 'every matcher also matches an empty label'],
      ['job!=""', ''],
      ['job=~".*"', 'every matcher also matches an empty label'],
      ['__name__="up"', "'__name__' cannot be matched"],
      ['job="vllm"', ''],
      ['job=vllm', "the value of label 'job' must be a quoted string"],
      ['job="vllm" ns="x"', "expected ',' between matchers"],
      ['{job="vllm"', "missing the closing '}'"],
      ['job="a\\qb"', "unknown escape '\\q'"],
      ['job~"x"', "expected =, !=, =~ or !~ after label 'job'"],
    ];
    for (const [text, message] of cases) {
      const parsed = parsePromSelector(text);
      if (message === '') expect(parsed.ok, text).toBe(true);
      else expect(parsed, text).toMatchObject({ ok: false, message: expect.stringContaining(message) as string });
    }
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (text) => typeof parsePromSelector(text).ok === 'boolean'));
  });
});

const sampleValue = fc.oneof(fc.double(), fc.integer().map(String)).map((v) => (typeof v === 'number' ? promNumber(v) : v));
const vectorSample: fc.Arbitrary<VectorSample> = fc.record({
  metric: fc.dictionary(label, anyValue, { maxKeys: 5 }),
  value: fc.tuple(fc.double({ min: 0, max: 4e9, noNaN: true }), sampleValue),
});

describe('the query API answer', () => {
  it('a success with a vector reads back whole; any other shape is refused with the reason', () => {
    fc.assert(
      fc.property(fc.array(vectorSample, { maxLength: 8 }), fc.array(fc.string(), { maxLength: 2 }), (result, warnings) => {
        const body = JSON.stringify({ status: 'success', data: { resultType: 'vector', result }, ...(warnings.length ? { warnings } : {}) });
        expect(parseVectorResponse(body)).toEqual({ ok: true, result, warnings, bytes: Buffer.byteLength(body) });
      }),
    );
    fc.assert(
      fc.property(fc.constantFrom('matrix', 'scalar', 'string', 'streams'), fc.jsonValue(), (resultType, result) => {
        expect(parseVectorResponse(JSON.stringify({ status: 'success', data: { resultType, result } }))).toMatchObject({
          ok: false,
          cause: 'not_vector',
          message: `the query answered a "${resultType}" result, not an instant vector`,
        });
      }),
    );
    expect(parseVectorResponse('{"status":"error","errorType":"bad_data","error":"parse error at char 4"}')).toEqual({
      ok: false,
      cause: 'query_error',
      message: 'bad_data: parse error at char 4',
    });
    expect(parseVectorResponse('{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":1},"value":[1,"2"]}]}}')).toMatchObject({
      ok: false,
      cause: 'not_vector',
    });
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.jsonValue().map((v) => JSON.stringify(v)),
        ),
        (body) => parseVectorResponse(body).ok === false || body.includes('vector'),
      ),
    );
  });
});

/** A number as Prometheus writes it in JSON answers (Go's strconv.FormatFloat, 'f', -1 for finite values). */
function promNumber(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** What Prometheus stores for a target's exposition: every series with the target's labels added, as an instant vector. */
function asVector(text: string, instance: string): VectorSample[] {
  const parsed = parsePrometheusText(text);
  const out: VectorSample[] = [];
  for (const [name, series] of parsed.series) {
    for (const s of series) out.push({ metric: { ...s.labels, __name__: name, instance, job: 'vllm' }, value: [1700000000, promNumber(s.value)] });
  }
  return out;
}

/** `sum by (labels)` as PromQL evaluates it: one series per distinct value tuple of `labels`, the values added. */
function sumBy(samples: readonly VectorSample[], labels: readonly string[]): VectorSample[] {
  const groups = new Map<string, { metric: Record<string, string>; sum: number }>();
  for (const s of samples) {
    const metric: Record<string, string> = {};
    for (const l of labels) if (s.metric[l] !== undefined && s.metric[l] !== '') metric[l] = s.metric[l];
    const key = JSON.stringify(labels.map((l) => metric[l] ?? ''));
    const value = Number(s.value[1] === '+Inf' ? Infinity : s.value[1] === '-Inf' ? -Infinity : s.value[1]);
    const group = groups.get(key);
    if (group) group.sum += value;
    else groups.set(key, { metric, sum: value });
  }
  return [...groups.values()].map((g) => ({ metric: g.metric, value: [1700000000, promNumber(g.sum)] }));
}

/** The answers of a round, in an arbitrary order: the load group raw, each histogram summed as the round's query sums it. */
function answersFor(all: readonly VectorSample[], groups: NameGroups, order: readonly number[]): VectorSample[][] {
  const shuffled = order.map((i) => all[i % all.length] as VectorSample);
  const unique = [...new Set(shuffled), ...all.filter((s) => !shuffled.includes(s))];
  const named = (names: readonly string[]) => unique.filter((s) => names.includes(s.metric['__name__'] ?? ''));
  return [named(groups.load), ...groups.histograms.map((names) => sumBy(named(names), ['__name__', 'instance', 'le', 'model_name']))];
}

describe('answers grouped into workers', () => {
  const vllm = profileFor('vllm');
  const groups = profileNameGroups(vllm);

  it('the round asks for every series the profile reads, in a number of queries that does not depend on the workers', () => {
    expect(new Set([...groups.load, ...groups.histograms.flat()])).toEqual(vllm.wantedSeries);
    const selector = [{ label: 'job', op: '=' as const, value: 'vllm' }];
    const keep = { workerLabel: 'pod', modelLabels: vllm.modelLabels };
    const round = roundQueries(groups, selector, keep);
    expect(round.up).toBe('up{job="vllm"}');
    expect(round.scrapedAt).toBe('timestamp(up{job="vllm"})');
    expect(round.series).toHaveLength(1 + groups.histograms.length);
    expect(round.series[0]).toMatch(/^\{__name__=~"[a-z_:|]+",job="vllm"\}$/);
    expect(round.series[1]).toMatch(/^sum by \(__name__, pod, le, model_name\) \(\{__name__=~"[a-z_:|]+",job="vllm"\}\)$/);
    expect(round.custom).toBeUndefined();
    // Custom series are one more query, raw, whatever the profile reads already.
    const custom = parseSeriesQuery('agent_tool_calls_total{tool="search"}');
    const known = parseSeriesQuery('vllm:time_to_first_token_seconds_count{engine="0"}');
    if (!custom.ok || !known.ok) throw new Error('bad test query');
    const withCustom = roundQueries(groups, selector, keep, [custom.query, known.query]);
    expect(withCustom.series).toEqual(round.series);
    expect(withCustom.custom).toBe('{__name__=~"agent_tool_calls_total|vllm:time_to_first_token_seconds_count",job="vllm"}');
  });

  it('each worker gets the sample a direct scrape of it gives, whatever the answers mix and order', async () => {
    const simulated = await Promise.all(
      [1, 2, 3].map(async (seed) => {
        const w = new SimulatedVllmWorker({ engines: seed, seed, load: seed * 0.45 });
        w.tick(0.5 * seed);
        return w.metrics();
      }),
    );
    const texts = [...VLLM_FIXTURES.map((f) => readFixture('vllm', f)), ...simulated];
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.nat({ max: texts.length - 1 }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 200 }),
        fc.option(fc.constantFrom('meta-llama/Llama-3.1-8B-Instruct', 'Qwen/Qwen3-0.6B'), { nil: undefined }),
        async (picked, order, model) => {
          const workers = picked.map((t, i) => ({ id: `10.0.0.${i + 1}:8000`, text: texts[t] as string }));
          const all = workers.flatMap((w) => asVector(w.text, w.id));
          const byWorker = expositionsByWorker(answersFor(all, groups, order), 'instance', new Set(workers.map((w) => w.id)));
          for (const w of workers) {
            const direct = extractWorkerSample(parsePrometheusText(w.text, vllm.wantedSeries), vllm, { model, at: 1 });
            const viaPrometheus = extractWorkerSample(byWorker.get(w.id) ?? { series: new Map(), sampleLines: 0, invalidLines: 0 }, vllm, { model, at: 1 });
            // Engines' histogram sums are added in the answers' order: equal up to float rounding.
            expect(roundedNumbers(viaPrometheus)).toEqual(roundedNumbers(direct));
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('up: a worker is up only when every target with its label value is, and takes its newest scrape time', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c', undefined), fc.constantFrom('0', '1', 'NaN'), fc.integer({ min: 1, max: 2e9 })), { maxLength: 12 }),
        (targets) => {
          const up: VectorSample[] = targets.map(([id, v]) => ({
            metric: id === undefined ? { job: 'x' } : ({ instance: id, job: 'x' } as Record<string, string>),
            value: [0, v],
          }));
          const times: VectorSample[] = targets.map(([id, , t]) => ({
            metric: id === undefined ? {} : ({ instance: id } as Record<string, string>),
            value: [0, String(t / 1000)],
          }));
          const result = targetsOf(up, times, 'instance');
          expect(result.unlabelled).toBe(targets.filter(([id]) => id === undefined).length);
          for (const id of ['a', 'b', 'c']) {
            const mine = targets.filter(([t]) => t === id);
            if (mine.length === 0) expect(result.workers.has(id)).toBe(false);
            else
              expect(result.workers.get(id)).toEqual({
                up: mine.every(([, v]) => v === '1'),
                targets: mine.length,
                scrapedAtMs: Math.max(...mine.map(([, , t]) => Math.round(t))),
              });
          }
        },
      ),
    );
  });
});

/** Every number rounded to 12 significant digits, so sums taken in another order compare equal. */
function roundedNumbers(value: unknown): unknown {
  if (typeof value === 'number') return Number.isFinite(value) ? Number(value.toPrecision(12)) : value;
  if (Array.isArray(value)) return value.map(roundedNumbers);
  if (value instanceof Map) return new Map([...value].map(([k, v]) => [k, roundedNumbers(v)]));
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, roundedNumbers(v)]));
  return value;
}
