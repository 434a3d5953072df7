/**
 * `simulate`: invariants of the simulated fleet (conservation, bounds, the HPA's behaviour,
 * overload, Little's law), determinism, the report files, and bad scenarios — through the library
 * and through the built command.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { stringify as toYaml } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { simulateScenario } from '../src/simulation/run.js';
import { ScenarioError, validateScenario } from '../src/simulation/scenario.js';
import { parseTrace, phasedRequests } from '../src/simulation/workload.js';
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

/** Seed 002's engine and behaviour, with a 10-minute workload (2 then 6 req/s) and a one-minute start-up. */
function scenario(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    workload: {
      rates: [2, 6],
      durationPerRate: '5m',
      promptTokens: { mean: 4096, stdev: 2048, min: 10, max: 8192 },
      outputTokens: { mean: 1024, stdev: 512, min: 10, max: 2048 },
      seed: 1234,
    },
    fleet: {
      engine: {
        kvCacheTokens: 150000,
        maxNumSeqs: 128,
        maxBatchedTokens: 8192,
        step: { base: 0.006, prefillToken: 0.000002, decodeSeq: 0.00004, kvToken: 0.00000001 },
      },
      startupSeconds: 60,
      initialReplicas: 1,
    },
    keda: { pollingInterval: 15 },
    hpa: {
      minReplicas: 1,
      maxReplicas: 4,
      behavior: {
        scaleUp: { stabilizationWindowSeconds: 60, policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] },
        scaleDown: { stabilizationWindowSeconds: 240, policies: [{ type: 'Percent', value: 10, periodSeconds: 60 }] },
      },
    },
    slo: { ttft: '2s', itl: '100ms' },
    strategies: [
      {
        name: 'hpa-average',
        triggers: [
          { metric: 'queue_depth', target: '3' },
          { metric: 'kv_cache_usage', target: '0.6' },
        ],
      },
      {
        name: 'wva',
        triggers: [
          {
            metric: 'desired_replicas',
            policy: 'saturation',
            kvCacheThreshold: '0.8',
            queueLengthThreshold: '5',
            kvSpareTrigger: '0.3',
            queueSpareTrigger: '3',
          },
        ],
      },
      { name: 'ttft-window', triggers: [{ metric: 'ttft', window: '1m', quantile: '0.95', target: '1' }] },
      { name: 'composite', triggers: [{ metric: 'desired_replicas', policy: 'composite', metrics: 'queue_depth:3,kv_cache_usage:0.6,ttft:1', window: '1m' }] },
      { name: 'fixed-1', fixedReplicas: 1 },
    ],
    ...over,
  };
}

function simulate(raw: Record<string, unknown>) {
  const s = validateScenario(raw, 'test.yaml');
  return simulateScenario(s, phasedRequests(s.workload as Parameters<typeof phasedRequests>[0]));
}

describe('the simulated fleet', () => {
  const run = simulate(scenario());

  it('conserves requests in every strategy: arrived = completed + unfinished + rejected', () => {
    expect(run.report.strategies).toHaveLength(5);
    for (const s of run.report.strategies) {
      // 5 min at 2 req/s + 5 min at 6 req/s, evenly spaced.
      expect(s.requests.arrived).toBe(600 + 1800);
      expect(s.requests.completed + s.requests.unfinished + s.requests.rejected).toBe(s.requests.arrived);
      expect(s.requests.rejected).toBe(s.requests.rejectedBy.tooLong + s.requests.rejectedBy.noReadyReplica + s.requests.rejectedBy.abortedOnScaleDown);
    }
  });

  it('keeps every strategy within its replica bounds, and the scaled ones scale', () => {
    for (const s of run.report.strategies) {
      for (const p of s.timeline) {
        expect(p.replicas).toBeGreaterThanOrEqual(1);
        expect(p.replicas).toBeLessThanOrEqual(s.name === 'fixed-1' ? 1 : 4);
        expect(p.ready + p.starting).toBe(p.replicas);
      }
      if (s.name !== 'fixed-1') expect(s.peakReplicas).toBeGreaterThan(1);
      expect(s.peakReplicas).toBe(Math.max(...s.timeline.map((p) => p.replicas)));
    }
  });

  it('never adds more pods per period than the behaviour allows (Pods 1 per 60 s), nor removes more than 10 % per 60 s', () => {
    for (const s of run.report.strategies) {
      for (const e of s.scaleHistory) {
        const added = s.scaleHistory.filter((x) => x.t > e.t - 60 && x.t <= e.t && x.to > x.from).reduce((n, x) => n + x.to - x.from, 0);
        expect(added).toBeLessThanOrEqual(1);
        if (e.to < e.from) expect(e.from - e.to).toBeLessThanOrEqual(Math.max(1, e.from - Math.trunc(e.from * 0.9)));
      }
    }
  });

  it('gives every trigger’s value to the timeline: what KEDA got, from the real signals', () => {
    const hpa = run.report.strategies.find((s) => s.name === 'hpa-average')!;
    expect(Object.keys(hpa.timeline[1]!.triggers)).toEqual(['queue_depth', 'kv_cache_usage']);
    // kv_cache_usage under AverageValue is the mean usage × ready replicas: Σ usage, here ≥ 0.6 × ready when it scaled.
    expect(hpa.timeline.some((p) => (p.triggers['kv_cache_usage'] ?? 0) > 0.6 * p.ready)).toBe(true);
    const ttft = run.report.strategies.find((s) => s.name === 'ttft-window')!;
    expect(ttft.timeline.filter((p) => p.triggers['ttft'] !== null).length).toBeGreaterThan(ttft.timeline.length / 2);
    const wva = run.report.strategies.find((s) => s.name === 'wva')!;
    for (const p of wva.timeline.slice(1)) expect(Number.isInteger(p.triggers['desired_replicas'])).toBe(true);
  });

  it('a single fixed replica above its capacity queues, and its TTFT grows', () => {
    const fixed = run.report.strategies.find((s) => s.name === 'fixed-1')!;
    const overloaded = fixed.timeline.filter((p) => p.t > 330); // the 6 req/s phase, after its first half-minute
    const minute = (k: number) => overloaded.slice(k * 4, k * 4 + 4);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const queues = [0, 1, 2, 3].map((k) => mean(minute(k).map((p) => p.queue)));
    const ttfts = [0, 1, 2, 3].map((k) => mean(minute(k).map((p) => p.ttftP95 ?? 0)));
    for (let k = 1; k < 4; k++) {
      expect(queues[k]).toBeGreaterThan(queues[k - 1]!);
      expect(ttfts[k]).toBeGreaterThan(ttfts[k - 1]!);
    }
    expect(fixed.timeline.at(-1)!.queue).toBeGreaterThan(300);
    expect(fixed.ttftP99).toBeGreaterThan(60);
    // Scaling strategies under the same load keep most requests fast (their replicas arrive one a minute, so their tail waits too).
    for (const name of ['hpa-average', 'wva']) {
      const scaled = run.report.strategies.find((s) => s.name === name)!;
      expect(scaled.ttftP50).toBeLessThan(fixed.ttftP50! / 10);
      expect(scaled.sloAttainment).toBeGreaterThan(fixed.sloAttainment);
    }
  });

  it('GPU-hours: at least replicas × time, wasted hours at least the start-ups', () => {
    for (const s of run.report.strategies) {
      expect(s.gpuHours).toBeGreaterThanOrEqual((s.avgReplicas * 600) / 3600 - 1e-3);
      const startUps = s.scaleHistory.filter((e) => e.to > e.from).reduce((n, e) => n + e.to - e.from, 0);
      expect(s.wastedGpuHours).toBeGreaterThanOrEqual((startUps * 60) / 3600 - 1e-3);
    }
  });
});

describe("Little's law for the simulated fleet", () => {
  it('L (mean requests in the system, from the gauges every 5 s) = λ × W (mean time in the system, from the requests) within 5 %', () => {
    const raw = scenario({
      workload: {
        rates: [3],
        durationPerRate: '60m',
        arrival: 'poisson',
        promptTokens: { mean: 2048, stdev: 1024, min: 10, max: 8192 },
        outputTokens: { mean: 512, stdev: 256, min: 10, max: 2048 },
        seed: 7,
      },
      keda: { pollingInterval: 5 },
      strategies: [{ name: 'fixed-2', fixedReplicas: 2 }],
    });
    const { littlesLaw, requests } = simulate(raw).report.strategies[0]!;
    expect(requests.completed).toBeGreaterThan(10_000);
    expect(littlesLaw.L).toBeGreaterThan(5);
    expect(littlesLaw.lOverLambdaW).toBeGreaterThan(0.95);
    expect(littlesLaw.lOverLambdaW).toBeLessThan(1.05);
  });
});

describe('workloads', () => {
  it('constant phases are evenly spaced, lengths clamped to [min, max], the same seed gives the same requests', () => {
    const w = validateScenario(scenario(), 't').workload as Parameters<typeof phasedRequests>[0];
    const a = phasedRequests(w);
    expect(a.duration).toBe(600);
    expect(a.requests[1]!.arrival - a.requests[0]!.arrival).toBeCloseTo(0.5, 12);
    expect(a.requests[601]!.arrival - a.requests[600]!.arrival).toBeCloseTo(1 / 6, 12);
    for (const r of a.requests) {
      expect(r.promptTokens).toBeGreaterThanOrEqual(10);
      expect(r.promptTokens).toBeLessThanOrEqual(8192);
      expect(r.outputTokens).toBeLessThanOrEqual(2048);
    }
    const mean = a.requests.reduce((s, r) => s + r.promptTokens, 0) / a.requests.length;
    expect(Math.abs(mean - 4096)).toBeLessThan(150);
    expect(phasedRequests(w)).toEqual(a);
    expect(phasedRequests({ ...w, seed: 99 }).requests.map((r) => r.promptTokens)).not.toEqual(a.requests.map((r) => r.promptTokens));
  });

  it('reads a trace in the Azure LLM inference layout, arrivals relative to the first row', () => {
    const file = fixturePath('traces', 'azure-llm-inference-sample.csv');
    const w = parseTrace(readFileSync(file, 'utf8'), file);
    expect(w.requests).toHaveLength(240);
    expect(w.requests[0]).toEqual({ id: 0, arrival: 0, promptTokens: 551, outputTokens: 157 });
    // 18:15:47.3751240 − 18:15:47.2444840 = 0.13064 s
    expect(w.requests[1]!.arrival).toBeCloseTo(0.13064, 9);
    expect(() => parseTrace('TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:47.1,x,3\n', 'bad.csv')).toThrow(
      "trace bad.csv line 2: ContextTokens 'x' must be a whole number ≥ 1",
    );
  });

  it('any text is a trace or a ScenarioError naming the file (property)', () => {
    const row = fc
      .tuple(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: -5, max: 9000 }), fc.integer({ min: -5, max: 3000 }))
      .map(([t, c, g]) => `${t},${c},${g}`);
    const text = fc.oneof(
      fc.array(row, { maxLength: 20 }).map((rows) => ['TIMESTAMP,ContextTokens,GeneratedTokens', ...rows].join('\n')),
      fc.string(),
    );
    fc.assert(
      fc.property(text, (t) => {
        try {
          const w = parseTrace(t, 'p.csv');
          expect(w.requests.length).toBeGreaterThan(0);
          for (let i = 1; i < w.requests.length; i++) expect(w.requests[i]!.arrival).toBeGreaterThanOrEqual(w.requests[i - 1]!.arrival);
        } catch (error) {
          expect(error).toBeInstanceOf(ScenarioError);
          expect((error as Error).message.startsWith('trace p.csv')).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });
});

async function scenarioFile(raw: Record<string, unknown> | string): Promise<{ dir: string; file: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'simulate-'));
  const file = path.join(dir, 'scenario.yaml');
  await writeFile(file, typeof raw === 'string' ? raw : toYaml(raw));
  return { dir, file };
}

describe('keda-llm-scaler simulate (the built command)', () => {
  it('writes report.json, report.md, a self-contained report.html and report.png; the same seed gives the same report', async () => {
    const short = scenario({ strategies: [(scenario()['strategies'] as unknown[])[1], (scenario()['strategies'] as unknown[])[4]] });
    const { dir, file } = await scenarioFile(short);
    const first = runCli(['simulate', file, '--output-dir', path.join(dir, 'a')]);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/\| wva \| \d+ \|/);
    expect(first.stdout).toMatch(/simulated 4800 requests \(2 strategies × 2400\) in [\d.]+ s: \d+ requests\/s, \d+ events\/s/);
    expect(runCli(['simulate', file, '--output-dir', path.join(dir, 'b')]).code).toBe(0);
    const a = readFileSync(path.join(dir, 'a', 'report.json'), 'utf8');
    expect(readFileSync(path.join(dir, 'b', 'report.json'), 'utf8')).toBe(a);

    const report = JSON.parse(a);
    const keys = [
      'name',
      'requests',
      'peakReplicas',
      'avgReplicas',
      'gpuHours',
      'wastedGpuHours',
      'ttftP50',
      'ttftP95',
      'ttftP99',
      'itlP95',
      'sloAttainment',
      'scaleEvents',
      'timeline',
    ];
    for (const s of report.strategies) {
      for (const k of keys) expect(s).toHaveProperty(k);
      expect(Object.keys(s.requests)).toEqual(['arrived', 'completed', 'unfinished', 'rejected', 'rejectedBy']);
      expect(Object.keys(s.timeline[0])).toEqual(expect.arrayContaining(['t', 'replicas', 'ready', 'triggers', 'queue', 'kvUsage', 'ttftP95']));
    }
    expect(readFileSync(path.join(dir, 'a', 'report.md'), 'utf8')).toContain('| strategy | peak replicas | avg replicas | GPU-hours |');

    const html = readFileSync(path.join(dir, 'a', 'report.html'), 'utf8');
    expect(html).toContain('<svg');
    expect(html).not.toMatch(/<script|<link|src=|url\(|@import|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    for (const title of ['Replicas', 'Waiting requests', 'KV-cache usage', 'TTFT p95']) expect(html).toContain(title);

    const png = readFileSync(path.join(dir, 'a', 'report.png'));
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([1200, 820]); // IHDR width, height

    const reseeded = await scenarioFile({ ...short, workload: { ...(short['workload'] as object), seed: 4321 } });
    expect(runCli(['simulate', reseeded.file, '--output-dir', path.join(dir, 'c')]).code).toBe(0);
    expect(readFileSync(path.join(dir, 'c', 'report.json'), 'utf8')).not.toBe(a);
  });

  it('replays a trace', async () => {
    const raw = scenario({ workload: { trace: fixturePath('traces', 'azure-llm-inference-sample.csv') }, strategies: [{ name: 'fixed-1', fixedReplicas: 1 }] });
    const { dir, file } = await scenarioFile(raw);
    expect(runCli(['simulate', file, '--output-dir', dir]).code).toBe(0);
    const report = JSON.parse(readFileSync(path.join(dir, 'report.json'), 'utf8'));
    expect(report.scenario.workload).toBe('trace azure-llm-inference-sample.csv (240 requests)');
    expect(report.strategies[0].requests.arrived).toBe(240);
  });

  it.each([
    { why: 'an unknown key', raw: scenario({ fleet: { ...(scenario()['fleet'] as object), replicas: 3 } }), message: "fleet: unknown key(s) 'replicas'" },
    { why: 'a bad number', raw: scenario({ hpa: { minReplicas: 0, maxReplicas: 4 } }), message: 'hpa.minReplicas: minReplicas must be ≥ 1' },
    { why: 'a bad duration', raw: scenario({ slo: { ttft: 'soon', itl: '100ms' } }), message: "slo.ttft: 'soon' is not a positive duration" },
    {
      why: 'a trigger the scaler refuses',
      raw: scenario({ strategies: [{ name: 'x', triggers: [{ metric: 'kv_cache_usage', target: '0.6', window: '1m' }] }] }),
      message: "strategies[0] (x).triggers[0]: metadata 'window': unknown key for metric 'kv_cache_usage'",
    },
    {
      why: 'an unknown policy',
      raw: scenario({ strategies: [{ name: 'x', triggers: [{ metric: 'desired_replicas', policy: 'magic' }] }] }),
      message: "metadata 'policy': unknown policy 'magic'",
    },
    {
      why: 'a strategy with neither triggers nor fixedReplicas',
      raw: scenario({ strategies: [{ name: 'x' }] }),
      message: "strategies[0].triggers: strategy 'x' needs either triggers or fixedReplicas",
    },
    {
      why: 'a Dynamo profile (not available yet)',
      raw: scenario({
        fleet: { ...(scenario()['fleet'] as Record<string, object>), engine: { ...(scenario()['fleet'] as { engine: object }).engine, profile: 'h100' } },
      }),
      message: 'fleet.engine.profile: engine.profile (speed from a Dynamo profile) is not available yet',
    },
    { why: 'YAML that does not parse', raw: 'workload: [1, 2\n', message: 'is not valid YAML' },
  ])('refuses $why with exit 2, naming it', async ({ raw, message }) => {
    const { dir, file } = await scenarioFile(raw);
    const r = runCli(['simulate', file, '--output-dir', path.join(dir, 'out')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(existsSync(path.join(dir, 'out'))).toBe(false);
  });

  it('any scenario-like value is either valid or refused with a ScenarioError listing keys (property)', () => {
    const base = scenario();
    const mutated = fc.record({
      key: fc.constantFrom('workload', 'fleet', 'keda', 'hpa', 'slo', 'strategies', 'scaler'),
      value: fc.oneof(fc.jsonValue(), fc.constant(undefined)),
    });
    fc.assert(
      fc.property(mutated, ({ key, value }) => {
        try {
          validateScenario({ ...base, [key]: value }, 'p.yaml');
        } catch (error) {
          expect(error).toBeInstanceOf(ScenarioError);
          expect((error as Error).message).toMatch(/^invalid scenario p\.yaml:\n {2}- /);
        }
      }),
      { numRuns: 300 },
    );
  });
});
