import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { profileFor } from '../src/sources/http/engine-profiles.js';
import { ExpositionReader, parsePrometheusText, parseSampleValue, type BodyShape, type ParsedExposition } from '../src/sources/http/prometheus-text.js';
import { mutatedExposition } from './support/exposition-fuzz.js';
import { readFixture, VLLM_FIXTURES } from './support/fixtures.js';

// The reference parser is CommonJS without types; describe only the part compared here.
interface ReferenceFamily {
  readonly name: string;
  readonly type: string;
  readonly metrics: readonly { readonly labels?: Record<string, string>; readonly value?: string }[];
}
const requireCjs = createRequire(import.meta.url);
const parseReference = requireCjs('parse-prometheus-text-format') as (text: string) => ReferenceFamily[];

function values(p: ParsedExposition, name: string): number[] | undefined {
  return p.series.get(name)?.map((s) => s.value);
}

/** Series as plain objects, so they compare with `toEqual` regardless of prototype. */
function plain(p: ParsedExposition, name: string): { labels: Record<string, string>; value: number }[] {
  return (p.series.get(name) ?? []).map((s) => ({ labels: { ...s.labels }, value: s.value }));
}

describe('parsePrometheusText on the vLLM fixtures', () => {
  it('v1-dp2-generated: every line a sample, engine labels, _created kept as its own series', () => {
    const p = parsePrometheusText(readFixture('vllm', 'v1-dp2-generated.prom'));
    expect(p.invalidLines).toBe(0);
    expect(p.sampleLines).toBe(344); // the 404 lines minus 60 HELP/TYPE lines
    expect(plain(p, 'vllm:num_requests_running')).toEqual([
      { labels: { engine: '0', model_name: 'Qwen/Qwen3-0.6B' }, value: 12 },
      { labels: { engine: '1', model_name: 'Qwen/Qwen3-0.6B' }, value: 9 },
    ]);
    expect(values(p, 'vllm:kv_cache_usage_perc')).toEqual([0.41, 0.27]);
    expect(values(p, 'vllm:prompt_tokens_created')).toEqual([1.7953527787025075e9, 1.7953527787029822e9]);
    // 22 finite bounds + +Inf, for each of the two engines
    expect(p.series.get('vllm:time_to_first_token_seconds_bucket')).toHaveLength(46);
    expect(p.series.get('vllm:time_to_first_token_seconds_bucket')?.[22]?.labels).toMatchObject({
      engine: '0',
      le: '+Inf',
    });
    expect(values(p, 'vllm:time_to_first_token_seconds_sum')).toEqual([77.79345978383459, 72.833413380334]);
    expect(plain(p, 'vllm:cache_config_info')[1]).toEqual({
      labels: {
        block_size: '16',
        cache_dtype: 'auto',
        enable_prefix_caching: 'True',
        engine: '1',
        gpu_memory_utilization: '0.9',
        num_gpu_blocks: '59064',
        num_gpu_blocks_override: 'None',
      },
      value: 1,
    });
  });

  it('v1-0.10-engine-created: exponent values', () => {
    const p = parsePrometheusText(readFixture('vllm', 'v1-0.10-engine-created.prom'));
    expect(p).toMatchObject({ sampleLines: 5, invalidLines: 0 });
    expect(plain(p, 'vllm:kv_cache_usage_perc')).toEqual([{ labels: { engine: '0', model_name: 'zai-org/GLM-4.5' }, value: 9.75010481363281e-6 }]);
    expect(values(p, 'vllm:gpu_prefix_cache_queries_created')).toEqual([1.7537953269352946e9]);
    expect(values(p, 'vllm:prefix_cache_queries_total')).toEqual([32]);
  });

  it('design-doc-example: the three `...` lines are invalid, the rest parses', () => {
    const p = parsePrometheusText(readFixture('vllm', 'design-doc-example.prom'));
    expect(p.invalidLines).toBe(3);
    expect(p.sampleLines).toBe(14);
    expect(values(p, 'vllm:num_requests_running')).toEqual([8]);
    expect(values(p, 'vllm:generation_tokens_total')).toEqual([27453]);
    expect(plain(p, 'vllm:request_success_total').map((s) => [s.labels['finished_reason'], s.value])).toEqual([
      ['stop', 1],
      ['length', 131],
      ['abort', 0],
    ]);
    expect(p.series.get('vllm:time_to_first_token_seconds_bucket')?.map((s) => s.labels['le'])).toEqual([
      '0.001',
      '0.005',
      '0.01',
      '0.02',
      '0.04',
      '0.06',
      '0.08',
      '0.1',
    ]);
    expect(values(p, 'vllm:time_to_first_token_seconds_count')).toEqual([140]);
  });

  it('v0-aibrix-docs: info labels, -1 hit rates, timestamp-valued lora info, _sum first', () => {
    const p = parsePrometheusText(readFixture('vllm', 'v0-aibrix-docs.prom'));
    expect(p).toMatchObject({ sampleLines: 22, invalidLines: 0 });
    expect(plain(p, 'vllm:cache_config_info')).toEqual([
      {
        labels: {
          block_size: '16',
          cache_dtype: 'auto',
          calculate_kv_scales: 'False',
          cpu_offload_gb: '0',
          enable_prefix_caching: 'False',
          gpu_memory_utilization: '0.9',
          is_attention_free: 'False',
          num_cpu_blocks: '9362',
          num_gpu_blocks: '81767',
          num_gpu_blocks_override: 'None',
          sliding_window: 'None',
          swap_space_bytes: '4294967296',
        },
        value: 1,
      },
    ]);
    expect(values(p, 'vllm:gpu_prefix_cache_hit_rate')).toEqual([-1]);
    expect(values(p, 'vllm:cpu_prefix_cache_hit_rate')).toEqual([-1]);
    expect(plain(p, 'vllm:lora_requests_info')).toEqual([
      {
        labels: { max_lora: '0', running_lora_adapters: '', waiting_lora_adapters: '' },
        value: 1.7382173358407154e9,
      },
    ]);
    expect(values(p, 'vllm:iteration_tokens_total_sum')).toEqual([1103]);
    expect(values(p, 'vllm:iteration_tokens_total_bucket')).toEqual([994, 994, 994, 994, 994, 994, 994, 998]);
    expect(p.series.has('vllm:iteration_tokens_total_count')).toBe(false);
  });
});

describe('parsePrometheusText syntax', () => {
  it('unescapes label values and keeps , } = and blanks inside them', () => {
    const text = String.raw`m{path="C:\\DIR\\FILE.TXT",msg="say \"hi\"",nl="a\nb",odd="x,y}z=w v",keep="\t\q"} 1`;
    expect(plain(parsePrometheusText(text), 'm')).toEqual([
      {
        labels: {
          path: 'C:\\DIR\\FILE.TXT',
          msg: 'say "hi"',
          nl: 'a\nb',
          odd: 'x,y}z=w v',
          keep: '\\t\\q',
        },
        value: 1,
      },
    ]);
  });

  it('reads empty label sets, missing braces, trailing commas, blanks and empty values', () => {
    const p = parsePrometheusText(['a 1', 'b{} 2', 'c{x="1",} 3', '  d { x = "1" , y="" } 4  ', 'e\t{x="2"}\t5', 'f{x="1"}6'].join('\n'));
    expect(p.invalidLines).toBe(0);
    expect(plain(p, 'a')).toEqual([{ labels: {}, value: 1 }]);
    expect(plain(p, 'b')).toEqual([{ labels: {}, value: 2 }]);
    expect(plain(p, 'c')).toEqual([{ labels: { x: '1' }, value: 3 }]);
    expect(plain(p, 'd')).toEqual([{ labels: { x: '1', y: '' }, value: 4 }]);
    expect(plain(p, 'e')).toEqual([{ labels: { x: '2' }, value: 5 }]);
    expect(plain(p, 'f')).toEqual([{ labels: { x: '1' }, value: 6 }]);
  });

  it('reads NaN, infinities, exponents, signs and an optional timestamp', () => {
    const p = parsePrometheusText(
      [
        'v{k="nan"} NaN',
        'v{k="pinf"} +Inf',
        'v{k="inf"} Inf',
        'v{k="ninf"} -Inf',
        'v{k="exp"} 1.7537953269352946e+09',
        'v{k="small"} 9.75010481363281e-06',
        'v{k="upper"} -2E-3',
        'v{k="ts"} 42 1395066363000',
        'v{k="negts"} 7 -3982045',
        'v{k="dot"} .5',
        'v{k="int"} 12',
      ].join('\n'),
    );
    expect(p.invalidLines).toBe(0);
    expect(values(p, 'v')).toEqual([NaN, Infinity, Infinity, -Infinity, 1753795326.9352946, 0.00000975010481363281, -0.002, 42, 7, 0.5, 12]);
  });

  it('accepts CRLF, comments, blank lines, metric names with colons, and stops at # EOF', () => {
    const text =
      '# HELP x:y:z A help with "quotes", {braces} and \\n escapes\r\n' +
      '# TYPE x:y:z gauge\r\n' +
      '#\r\n' +
      '\r\n' +
      '   \t\r\n' +
      'x:y:z{a="b"} 3\r\n' +
      '# EOF\r\n' +
      'after_eof 1\r\n';
    const p = parsePrometheusText(text);
    expect(plain(p, 'x:y:z')).toEqual([{ labels: { a: 'b' }, value: 3 }]);
    expect(p.series.has('after_eof')).toBe(false);
    expect(p).toMatchObject({ sampleLines: 1, invalidLines: 0 });
  });

  it('ignores OpenMetrics exemplars', () => {
    const p = parsePrometheusText('h_bucket{le="0.5"} 3 # {trace_id="abc"} 0.42 1.6e9\n');
    expect(plain(p, 'h_bucket')).toEqual([{ labels: { le: '0.5' }, value: 3 }]);
  });

  it('reads names that extend, shorten or equal the previous line’s names', () => {
    const p = parsePrometheusText(
      [
        'foo{le="1",x="a"} 1',
        'foo_bar{len="2",x="a"} 2',
        'foo{l="3"} 3',
        'fo{le="4",y="b"} 4',
        'foo{le="5",x="a",z="c"} 5',
        'foo{le="6"x="a"} 6', // invalid: no comma
        'foo 7',
      ].join('\n'),
    );
    expect(plain(p, 'foo')).toEqual([
      { labels: { le: '1', x: 'a' }, value: 1 },
      { labels: { l: '3' }, value: 3 },
      { labels: { le: '5', x: 'a', z: 'c' }, value: 5 },
      { labels: {}, value: 7 },
    ]);
    expect(plain(p, 'foo_bar')).toEqual([{ labels: { len: '2', x: 'a' }, value: 2 }]);
    expect(plain(p, 'fo')).toEqual([{ labels: { le: '4', y: 'b' }, value: 4 }]);
    expect(p.invalidLines).toBe(1);
  });

  it('keeps duplicate series', () => {
    const p = parsePrometheusText('m{a="1"} 1\nm{a="1"} 2\n');
    expect(values(p, 'm')).toEqual([1, 2]);
  });

  it('keeps a label named __proto__ as plain data', () => {
    const p = parsePrometheusText('m{__proto__="x",constructor="y"} 1');
    expect(p.series.get('m')?.[0]?.labels['__proto__']).toBe('x');
    expect(p.series.get('m')?.[0]?.labels['constructor']).toBe('y');
  });

  it('counts malformed lines as invalid and keeps the good ones around them', () => {
    const bad = [
      '...',
      'm{a="unterminated} 1',
      'm{a="x"',
      'm{a=x} 1',
      'm{="x"} 1',
      'm{1a="x"} 1',
      'm{a="x" b="y"} 1',
      'm',
      'm ',
      'm abc',
      'm 1x',
      'm 0x10',
      'm 1 2 3',
      'm 1 ts',
      'm-1 2',
      '{a="b"} 1',
      '9m 1',
      'm{a="x\\"} 1',
      'm 1e',
      'm .',
      'm +',
    ];
    const p = parsePrometheusText(['ok 1', ...bad, 'ok 2'].join('\n'));
    expect(p.invalidLines).toBe(bad.length);
    expect(p.sampleLines).toBe(2);
    expect(values(p, 'ok')).toEqual([1, 2]);
    expect([...p.series.keys()]).toEqual(['ok']);
  });

  it('handles empty and comment-only bodies', () => {
    expect(parsePrometheusText('')).toMatchObject({ sampleLines: 0, invalidLines: 0 });
    expect(parsePrometheusText('# HELP a b\n# TYPE a gauge\n').series.size).toBe(0);
  });
});

describe('parseSampleValue', () => {
  it.each([
    ['0', 0],
    ['-0.0', -0],
    ['148.0', 148],
    ['1.234567e+06', 1234567],
    ['1E3', 1000],
    ['+5', 5],
    ['5.', 5],
    ['NaN', NaN],
    ['nan', NaN],
    ['+Inf', Infinity],
    ['-inf', -Infinity],
    ['Infinity', Infinity],
  ])('%s → %d', (token, expected) => {
    expect(parseSampleValue(token)).toBe(expected);
  });

  it.each(['', '+', '-', '.', 'e5', '1e', '1e+', '0x10', '1_000', ' 1', '1 ', 'abc', '--1', 'Inf1'])('rejects %j', (token) => {
    expect(parseSampleValue(token)).toBeUndefined();
  });
});

describe('wanted filtering', () => {
  const wanted = profileFor('vllm').wantedSeries;

  it.each(VLLM_FIXTURES)('%s: keeps only wanted series, with the same values', (file) => {
    const text = readFixture('vllm', file);
    const all = parsePrometheusText(text);
    const some = parsePrometheusText(text, wanted);
    expect(some.series.size).toBeGreaterThan(0);
    for (const [name, list] of some.series) {
      expect(wanted.has(name)).toBe(true);
      expect(list).toEqual(all.series.get(name));
    }
    for (const name of all.series.keys()) {
      expect(some.series.has(name)).toBe(wanted.has(name));
    }
    expect(some.sampleLines).toBe(all.sampleLines);
    expect(some.invalidLines).toBe(all.invalidLines);
  });

  it('any subset of names gives exactly those series', () => {
    const texts = VLLM_FIXTURES.map((f) => readFixture('vllm', f));
    fc.assert(
      fc.property(
        fc.constantFrom(...texts).chain((text) => {
          const names = [...parsePrometheusText(text).series.keys()];
          return fc.tuple(fc.constant(text), fc.subarray(names));
        }),
        ([text, names]) => {
          const all = parsePrometheusText(text);
          const some = parsePrometheusText(text, new Set(names));
          expect([...some.series.keys()].sort()).toEqual([...names].sort());
          for (const name of names) expect(some.series.get(name)).toEqual(all.series.get(name));
        },
      ),
    );
  });
});

describe('robustness', () => {
  const expositionChars = fc.constantFrom(
    ...'ab_:{}="\\,# \t\n\r.0123456789eE+-InfNa'.split(''),
    'NaN',
    '+Inf',
    '# EOF',
    'le="',
    'vllm:num_requests_waiting',
    '🙂',
    '\u2028',
    '\0',
  );

  it('never throws on arbitrary strings, and counts at most one result per line', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 400 }), fc.string({ unit: expositionChars, maxLength: 200 })), (text) => {
        for (const p of [parsePrometheusText(text), parsePrometheusText(text, profileFor('vllm').wantedSeries)]) {
          expect(p.sampleLines + p.invalidLines).toBeLessThanOrEqual(text.split('\n').length);
          for (const list of p.series.values()) expect(list.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('differential against parse-prometheus-text-format', () => {
  const metricName = fc.stringMatching(/^[a-zA-Z_:][a-zA-Z0-9_:]{0,15}$/);
  const labelName = fc
    .stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,8}$/)
    // The reference stores labels in a plain object, where `__proto__` is not an own key.
    .filter((n) => n !== '__proto__');
  const labelValue = fc.string({
    unit: fc.constantFrom('a', 'Z', '0', ' ', '\t', ',', '=', '{', '}', '"', '\\', '\n', '/', '#', 'é', '日', '🙂'),
    maxLength: 12,
  });
  const valueText = fc.oneof(
    fc
      .tuple(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom('plain', 'exp', 'EXP'))
      .map(([v, style]) => (style === 'plain' ? String(v) : style === 'exp' ? v.toExponential() : v.toExponential().toUpperCase())),
    fc.integer().map(String),
    fc.constantFrom('NaN', '+Inf', '-Inf', '0.0', '-0.0', '1.7537953269352946e+09', '9.75010481363281e-06'),
  );
  const labelSet = fc.uniqueArray(fc.tuple(labelName, labelValue), {
    selector: ([name]) => name,
    maxLength: 4,
  });
  const sample = fc.record({
    labels: labelSet,
    value: valueText,
    timestamp: fc.option(fc.integer({ min: -1e12, max: 4e12 }), { nil: undefined }),
    emptyBraces: fc.boolean(),
    trailingComma: fc.boolean(),
  });
  const family = fc.record({
    name: metricName,
    // The reference merges consecutive samples with equal labels; valid expositions have none.
    samples: fc.uniqueArray(sample, {
      selector: (s) => JSON.stringify([...s.labels].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
      minLength: 1,
      maxLength: 5,
    }),
  });
  const exposition = fc.uniqueArray(family, { selector: (f) => f.name, maxLength: 6 });

  type Family = typeof exposition extends fc.Arbitrary<(infer F)[]> ? F : never;

  const escape = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

  function render(families: readonly Family[]): string {
    let out = '';
    for (const f of families) {
      out += `# HELP ${f.name} Generated family.\n# TYPE ${f.name} gauge\n`;
      for (const s of f.samples) {
        let labels = '';
        if (s.labels.length > 0) {
          labels = `{${s.labels.map(([k, v]) => `${k}="${escape(v)}"`).join(',')}${s.trailingComma ? ',' : ''}}`;
        } else if (s.emptyBraces) {
          labels = '{}';
        }
        out += `${f.name}${labels} ${s.value}${s.timestamp === undefined ? '' : ` ${s.timestamp}`}\n`;
      }
    }
    return out;
  }

  const referenceNumber = (v: string | undefined): number => (v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : v === 'NaN' ? NaN : Number(v));

  it('returns the same samples for any valid exposition', () => {
    fc.assert(
      fc.property(exposition, (families) => {
        const text = render(families);
        const ours = parsePrometheusText(text);
        const reference = parseReference(text);
        expect(ours.invalidLines).toBe(0);
        expect(reference.map((f) => f.name)).toEqual(families.map((f) => f.name));
        expect([...ours.series.keys()].sort()).toEqual(families.map((f) => f.name).sort());
        let total = 0;
        for (const ref of reference) {
          const got = ours.series.get(ref.name) ?? [];
          expect(got).toHaveLength(ref.metrics.length);
          ref.metrics.forEach((m, i) => {
            expect({ ...got[i]?.labels }).toEqual(m.labels ?? {});
            expect(got[i]?.value).toBe(referenceNumber(m.value));
          });
          total += got.length;
        }
        expect(ours.sampleLines).toBe(total);
      }),
      { numRuns: 300 },
    );
  });
});

describe('ExpositionReader (the collector path): the same series as parsePrometheusText, with only the labels read', () => {
  const profile = profileFor('vllm');
  const restricted = (p: ParsedExposition) =>
    new Map(
      [...p.series].map(([name, list]) => [
        name,
        list.map((s) => ({ value: s.value, labels: Object.fromEntries(Object.entries(s.labels).filter(([k]) => profile.readLabels.has(k))) })),
      ]),
    );
  const plainOf = (p: ParsedExposition) => ({ series: restricted(p), sampleLines: p.sampleLines, invalidLines: p.invalidLines });
  const texts = VLLM_FIXTURES.map((f) => readFixture('vllm', f));
  const garbage = fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.constantFrom('vllm:num_requests_waiting{engine="0",model_name="m"} 5 1700000000', 'vllm:num_requests_waiting{engine="0"} NaN', '# EOF', '...'),
  );
  const bodies = mutatedExposition(texts, garbage, { truncateAfterInsert: true });

  it('property: reading a body after any other body (its shape reused) gives what a fresh parse gives', () => {
    let reused = 0;
    fc.assert(
      fc.property(fc.array(bodies, { minLength: 2, maxLength: 4 }), (sequence) => {
        const reader = new ExpositionReader(profile.wantedSeries, profile.readLabels);
        let shape: BodyShape | undefined;
        for (const body of sequence) {
          const bytes = Buffer.from(body, 'utf8');
          const read = reader.read(bytes, shape);
          expect(plainOf(read.parsed)).toEqual(plainOf(parsePrometheusText(body, profile.wantedSeries)));
          if (shape !== undefined) reused += 1;
          shape = read.shape;
        }
      }),
      { numRuns: 300 },
    );
    expect(reused).toBeGreaterThanOrEqual(300);
  });

  it('a body whose numbers changed is read through the shape of the one before, with the new numbers', () => {
    const reader = new ExpositionReader(profile.wantedSeries, profile.readLabels);
    const first = readFixture('vllm', 'v1-dp2-generated.prom');
    const second = first.replace(
      'vllm:num_requests_waiting{engine="0",model_name="Qwen/Qwen3-0.6B"} 3.0',
      'vllm:num_requests_waiting{engine="0",model_name="Qwen/Qwen3-0.6B"} 7.5',
    );
    const { shape } = reader.read(Buffer.from(first));
    const again = reader.read(Buffer.from(second), shape);
    expect(again.parsed.series.get('vllm:num_requests_waiting')?.map((s) => s.value)).toEqual([7.5, 0]);
    // Read through a shape, a line's labels are the same object every time: nothing is built for them.
    const third = reader.read(Buffer.from(second), again.shape);
    expect(third.parsed.series.get('vllm:num_requests_waiting')?.[0]?.labels).toBe(again.parsed.series.get('vllm:num_requests_waiting')?.[0]?.labels);
  });
});
