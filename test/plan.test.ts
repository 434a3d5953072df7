/**
 * `plan`: the M/M/n model (Erlang C) and the command on seed 000's command line. Expected figures
 * are derived in this file, independently of src/planning: Erlang C by hand for small n, and by
 * its textbook factorial sums (not the Erlang B recursion the code uses) for the seed's sizes.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import fc from 'fast-check';
import { parse as parseYaml } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { erlangC, probabilityWaitAbove, serversFor } from '../src/planning/erlang-c.js';
import { parseServiceTimes, ServiceTimesError, serviceTimesJsonSchema } from '../src/planning/service-times-file.js';
import { parseTriggerMetadata } from '../src/triggers/metadata.js';
import { fixturePath } from './support/fixtures.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist', 'cli.js');
beforeAll(() => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first (npm test does)`);
});

function runCli(args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** ErlangC by its definition: (aⁿ/n! · n/(n−a)) / (Σₖ₌₀ⁿ⁻¹ aᵏ/k! + aⁿ/n! · n/(n−a)), terms built one factor at a time. */
function erlangCBySums(n: number, a: number): number {
  let term = 1; // aᵏ/k! for k = 0
  let sum = 0;
  for (let k = 0; k < n; k++) {
    sum += term;
    term = (term * a) / (k + 1);
  }
  const last = (term * n) / (n - a); // term is now aⁿ/n!
  return last / (sum + last);
}

/** The smallest n > λ/μ with ErlangC · e^(−(nμ−λ)t) ≤ 1 − q, by a plain search. */
function replicasBySums(lambda: number, mu: number, t: number, q: number): number {
  for (let n = Math.floor(lambda / mu) + 1; ; n++) if (erlangCBySums(n, lambda / mu) * Math.exp(-(n * mu - lambda) * t) <= 1 - q) return n;
}

describe('Erlang C, by hand for small n', () => {
  // n = 1: M/M/1, P(wait) = ρ = a.
  // n = 2: (a²/2 · 2/(2−a)) / (1 + a + a²/(2−a)) = a² / ((1 + a)(2 − a) + a²) = a² / (2 + a).
  // n = 3, a = 1.5: a³/3! = 0.5625, × 3/(3 − 1.5) = 1.125; Σ = 1 + 1.5 + 1.125 = 3.625 → 1.125 / 4.75 = 0.2368421.
  it.each([
    { n: 1, a: 0.3, expected: 0.3 },
    { n: 1, a: 0.9, expected: 0.9 },
    { n: 2, a: 1, expected: 1 / 3 },
    { n: 2, a: 1.5, expected: 2.25 / 3.5 },
    { n: 3, a: 1.5, expected: 1.125 / 4.75 },
  ])('ErlangC($n, $a) = $expected', ({ n, a, expected }) => {
    expect(erlangC(n, a)).toBeCloseTo(expected, 12);
  });

  it('P(W > t) and the replica count for λ = 1.5, μ = 1, t = 2 s, q = 0.95', () => {
    // n = 2: 0.642857 · e^(−(2 − 1.5)·2) = 0.642857 · 0.367879 = 0.236494 > 0.05
    // n = 3: 0.236842 · e^(−(3 − 1.5)·2) = 0.236842 · 0.049787 = 0.011792 ≤ 0.05  → 3 replicas
    expect(probabilityWaitAbove(2, 1.5, 1, 2)).toBeCloseTo(0.236494, 6);
    expect(probabilityWaitAbove(3, 1.5, 1, 2)).toBeCloseTo(0.011792, 6);
    expect(serversFor(1.5, 1, 2, 0.95)).toBe(3);
  });

  it('a class without traffic needs no replica; n ≤ a is never enough', () => {
    expect(serversFor(0, 1, 1, 0.95)).toBe(0);
    expect(probabilityWaitAbove(2, 2, 1, 10)).toBe(1);
    expect(erlangC(2, 3)).toBe(1);
  });

  it('equals the factorial-sum definition, and the replica count is the smallest that meets 1 − q (property)', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.01, max: 40, noNaN: true }),
        // μ ≥ 0.5 keeps a = λ/μ ≤ 80, where the factorial sums of the reference stay finite.
        fc.double({ min: 0.5, max: 10, noNaN: true }),
        fc.double({ min: 0.01, max: 5, noNaN: true }),
        fc.double({ min: 0.5, max: 0.999, noNaN: true }),
        (lambda, mu, t, q) => {
          const n = serversFor(lambda, mu, t, q);
          expect(n).toBeGreaterThan(lambda / mu);
          expect(erlangC(n, lambda / mu)).toBeCloseTo(erlangCBySums(n, lambda / mu), 9);
          expect(probabilityWaitAbove(n, lambda, mu, t)).toBeLessThanOrEqual(1 - q);
          if (n - 1 > lambda / mu) expect(probabilityWaitAbove(n - 1, lambda, mu, t)).toBeGreaterThan(1 - q);
        },
      ),
      { numRuns: 300 },
    );
  });
});

const SEED_000 = [
  'plan',
  '--backlog-seconds-slo',
  '1.0,3.0',
  '--observed-service-times-json',
  fixturePath('planning', 'service-times.json'),
  '--target-rps',
  '500',
  '--attach-rate',
  '0.30',
  '--token-mix',
  '0.10',
  '--gpu-throughput-sentence',
  '5.0',
  '--gpu-throughput-token',
  '0.6',
];

describe('keda-llm-scaler plan on seed 000’s command line', () => {
  it('gives the values of the model: rates, allowed queueing, replicas at mean and peak, backlog target, Kafka lag', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'plan-'));
    const files = { json: path.join(dir, 'keda_thresholds.json'), md: path.join(dir, 'keda_thresholds.md'), values: path.join(dir, 'values.yaml') };
    const r = runCli([...SEED_000, '--output-json', files.json, '--output-md', files.md, '--output-values', files.values]);
    expect(r.stderr).toContain('minReplicaCount');
    expect(r.code).toBe(0);
    const plan = JSON.parse(readFileSync(files.json, 'utf8'));

    // λ = 500 × 0.30 = 150; token 15, sentence 135. t = 1.0 − 0.4 = 0.6 s and 3.0 − 2.0 = 1.0 s.
    // Offered loads 135/5 = 27 and 15/0.6 = 25 replicas; at peak (×2) 54 and 50.
    const sentence = { lambda: 135, mu: 5, t: 0.6 };
    const token = { lambda: 15, mu: 0.6, t: 1 };
    const nMean = { sentence: replicasBySums(135, 5, 0.6, 0.95), token: replicasBySums(15, 0.6, 1, 0.95) };
    const nPeak = { sentence: replicasBySums(270, 5, 0.6, 0.95), token: replicasBySums(30, 0.6, 1, 0.95) };
    // The sums give 28 / 29 at the mean and 55 / 54 at the peak: one or a few replicas above the offered load.
    expect(nMean).toEqual({ sentence: 28, token: 29 });
    expect(nPeak).toEqual({ sentence: 55, token: 54 });
    for (const [name, c] of Object.entries({ sentence, token })) {
      const got = plan.classes[name];
      expect(got.lambda).toBeCloseTo(c.lambda, 9);
      expect(got.mu).toBe(c.mu);
      expect(got.t).toBeCloseTo(c.t, 9);
      expect(got.offeredLoad).toBeCloseTo(c.lambda / c.mu, 9);
      expect(got.replicasAtMean).toBe(nMean[name as 'sentence' | 'token']);
      expect(got.replicasAtPeak).toBe(nPeak[name as 'sentence' | 'token']);
      const n = got.replicasAtMean;
      expect(got.pWaitAboveT).toBeCloseTo(erlangCBySums(n, c.lambda / c.mu) * Math.exp(-(n * c.mu - c.lambda) * c.t), 9);
    }
    expect(plan.minReplicaCount).toBe(28 + 29);
    expect(plan.maxReplicaCount).toBe(55 + 54);
    // Σ λ_c t_c / λ = (135 × 0.6 + 15 × 1.0) / 150 = 96 / 150 = 0.64 s.
    expect(plan.backlogSecondsTarget).toBeCloseTo(0.64, 12);
    // ceil(150 / 12 partitions × 0.64) = ceil(8.0) = 8.
    expect(plan.kafka).toEqual({ partitions: 12, lagThresholdPerPartition: 8 });
    expect(plan.helmValues).toEqual({
      explainer: { keda: { enabled: true, backlogSecondsTarget: 0.64, minReplicaCount: 57, maxReplicaCount: 109, lagThresholdPerPartition: 8 } },
    });
    expect(parseYaml(readFileSync(files.values, 'utf8'))).toEqual(plan.helmValues);

    // The trigger is one the scaler accepts as it is.
    const trigger = plan.scaledObjectTrigger;
    expect(trigger.metadata).toMatchObject({ metric: 'backlog_seconds', target: '0.64', pool: 'default' });
    const spec = parseTriggerMetadata(trigger.metadata, { poolNames: () => ['default'], hasPool: (p) => p === 'default', defaultMetric: () => undefined });
    expect(spec.target).toBe(0.64);
    expect(spec.use.signal.name).toBe('backlog_seconds');

    const md = readFileSync(files.md, 'utf8');
    expect(md).toContain('| backlogSecondsTarget | 0.64 s |');
    expect(md).toContain('| sentence | 135 | 5 | 1 | 0.4 | 0.6 | 27 | 28 |');
    expect(md).toContain('| token | 15 | 0.6 | 3 | 2 | 1 | 25 | 29 |');
    expect(md).toContain('M/M/n');
  });

  it('--helm-key, --peak-factor and --slo-quantile change what they say', async () => {
    const r = runCli([...SEED_000, '--helm-key', 'llm.autoscaling', '--peak-factor', '1', '--slo-quantile', '0.99']);
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.stdout);
    expect(Object.keys(plan.helmValues)).toEqual(['llm']);
    expect(plan.helmValues.llm.autoscaling.minReplicaCount).toBe(plan.minReplicaCount);
    // Peak = mean: the bounds agree. A stricter quantile never needs fewer replicas.
    expect(plan.maxReplicaCount).toBe(plan.minReplicaCount);
    expect(plan.classes.sentence.replicasAtMean).toBe(replicasBySums(135, 5, 0.6, 0.99));
    expect(plan.classes.token.replicasAtMean).toBe(replicasBySums(15, 0.6, 1, 0.99));
    expect(plan.minReplicaCount).toBeGreaterThanOrEqual(57);
  });

  it.each([
    { why: 'a missing class', file: { sentence: { p50: 0.2, p95: 0.4, count: 10 } }, args: [], message: 'token: required' },
    {
      why: 'an SLO at or below the p95',
      file: { sentence: { p50: 0.2, p95: 0.4, count: 10 }, token: { p50: 1, p95: 3.5, count: 10 } },
      args: [],
      message: 'class token: the SLO 3 s leaves no time to queue: the observed p95 service time is 3.5 s (token.p95 in',
    },
    { why: 'a negative rate', file: undefined, args: ['--target-rps', '-5'], message: '--target-rps: must be a number ≥ 0, got -5' },
    { why: 'a rate that is not a number', file: undefined, args: ['--attach-rate', 'lots'], message: "--attach-rate: 'lots' is not a number" },
    { why: 'a negative throughput', file: undefined, args: ['--gpu-throughput-token', '-1'], message: '--gpu-throughput-token: must be a number > 0' },
    { why: 'one SLO instead of two', file: undefined, args: ['--backlog-seconds-slo', '1.0'], message: '--backlog-seconds-slo: ' },
    { why: 'malformed JSON', file: '{"sentence": ', args: [], message: 'not valid JSON' },
    {
      why: 'a field of the wrong type',
      file: { sentence: { p50: 0.2, p95: 'slow', count: 10 }, token: { p50: 1, p95: 2, count: 1 } },
      args: [],
      message: 'sentence.p95: p95 must be a number of seconds',
    },
    {
      why: 'Kafka without partitions',
      file: { sentence: { p50: 0.2, p95: 0.4, count: 10 }, token: { p50: 1, p95: 2, count: 1 }, kafka: { enabled: true } },
      args: [],
      message: 'kafka.partitions: partitions is required when enabled is true',
    },
  ])('refuses $why with exit 2, naming it', async ({ file, args, message }) => {
    let serviceTimes = fixturePath('planning', 'service-times.json');
    if (file !== undefined) {
      serviceTimes = path.join(await mkdtemp(path.join(tmpdir(), 'plan-bad-')), 'service_times.json');
      await writeFile(serviceTimes, typeof file === 'string' ? file : JSON.stringify(file));
    }
    const argv = [...SEED_000];
    argv[argv.indexOf('--observed-service-times-json') + 1] = serviceTimes;
    for (let i = 0; i < args.length; i += 2) {
      const at = argv.indexOf(args[i] as string);
      argv[at + 1] = args[i + 1] as string;
    }
    const r = runCli(argv);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    if (file !== undefined && typeof file !== 'string') expect(r.stderr).toContain(serviceTimes);
    expect(r.stdout).toBe('');
  });

  it('an unreadable service-times file is refused naming the flag and the file', () => {
    const r = runCli(SEED_000.map((a) => (a.endsWith('service-times.json') ? '/nonexistent/service_times.json' : a)));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--observed-service-times-json: cannot read /nonexistent/service_times.json');
  });
});

describe('the service-times file', () => {
  it('docs/service-times.schema.json is the schema the parser uses, and accepts the fixture', () => {
    const documented = JSON.parse(readFileSync(path.join(root, 'docs', 'service-times.schema.json'), 'utf8'));
    expect(documented).toEqual(serviceTimesJsonSchema());
    const validate = new Ajv2020({ strict: false }).compile(documented);
    expect(validate(JSON.parse(readFileSync(fixturePath('planning', 'service-times.json'), 'utf8')))).toBe(true);
    expect(validate({ sentence: { p50: 1, p95: 2, count: 1 } })).toBe(false);
  });

  it('any JSON text is either accepted as a valid file or refused with a ServiceTimesError naming the file (property)', () => {
    const times = fc.record({ p50: fc.double({ min: 0, max: 10, noNaN: true }), p95: fc.double({ min: 0, max: 10, noNaN: true }), count: fc.nat() });
    const fileLike = fc.record(
      {
        sentence: times,
        token: times,
        kafka: fc.record({ enabled: fc.boolean(), partitions: fc.integer({ min: 0, max: 64 }) }, { requiredKeys: ['enabled'] }),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fileLike.map((f) => JSON.stringify(f)),
          fc.json(),
          fc.string(),
        ),
        (text) => {
          try {
            const parsed = parseServiceTimes(text, 'st.json');
            for (const c of [parsed.sentence, parsed.token]) expect(c.p50).toBeLessThanOrEqual(c.p95);
            if (parsed.kafka?.enabled) expect(parsed.kafka.partitions).toBeGreaterThanOrEqual(1);
          } catch (error) {
            expect(error).toBeInstanceOf(ServiceTimesError);
            expect((error as Error).message.startsWith('st.json: ')).toBe(true);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
