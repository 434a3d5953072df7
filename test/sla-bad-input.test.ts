import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config/load.js';
import { validateConfig } from '../src/config/load.js';
import { loadProfile } from '../src/config/profiles.js';
import { Scaler } from '../src/scaler.js';
import { KedaClient } from './support/keda-client.js';
import { fixturePath } from './support/fixtures.js';
import { TestScaler } from './support/test-scaler.js';
import { FakeWorker } from './support/workers.js';

/** Bad `policy: sla` input: every problem names the metadata key or the profile file, and changes nothing else. */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist', 'cli.js');
const harness = new TestScaler();
afterEach(() => harness.close());

const poly = fixturePath('profiles', 'poly');

describe('profiles in the configuration', () => {
  it('reads the JSON equivalent to the same profile as the npz', () => {
    const npz = loadProfile('a', { dir: poly });
    const json = loadProfile('b', {
      prefill: fixturePath('profiles', 'poly-json', 'prefill.json'),
      decode: fixturePath('profiles', 'poly-json', 'decode.json'),
    });
    expect(json.prefill).toEqual(npz.prefill);
    expect(json.decode).toEqual(npz.decode);
    expect(npz.decode.maxKvTokens).toBe(100_000);
    expect(npz.prefill.ttftSeconds[0]).toBeCloseTo(0.015125, 12); // ms in the file, seconds here
  });

  it.each([
    [
      'a NaN inside a profile',
      async () => ({ prefill: fixturePath('profiles', 'nan', 'prefill.npz') }),
      /profiles\.p: .*nan\/prefill\.npz: 'prefill_ttft'\[3\] is NaN/,
    ],
    [
      'a corrupt npz',
      async (dir: string) => {
        const bytes = await readFile(path.join(poly, 'selected_prefill_interpolation', 'raw_data.npz'));
        const file = path.join(dir, 'cut.npz');
        await writeFile(file, bytes.subarray(0, 300));
        return { prefill: file };
      },
      /profiles\.p: .*cut\.npz: not a readable npz archive/,
    ],
    [
      'a missing array',
      async (dir: string) => {
        const file = path.join(dir, 'decode-as-prefill.npz');
        await copyFile(path.join(poly, 'selected_decode_interpolation', 'raw_data.npz'), file);
        return { prefill: file };
      },
      /has no array 'prefill_isl'/,
    ],
    [
      'a missing directory',
      async (dir: string) => ({ dir: path.join(dir, 'nowhere') }),
      /profiles\.p: .*nowhere\/selected_prefill_interpolation\/raw_data\.npz: cannot read it/,
    ],
    [
      'JSON that is not arrays',
      async (dir: string) => {
        const file = path.join(dir, 'p.json');
        await writeFile(file, '{"prefill_isl": "many"}');
        return { prefill: file };
      },
      /'prefill_isl' must be an array of numbers/,
    ],
  ])('%s stops start-up naming profiles.NAME and the problem', async (_name, make, message) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sla-profile-'));
    await mkdir(dir, { recursive: true });
    const made = await make(dir);
    const ref = 'dir' in made ? made : { prefill: made.prefill, decode: path.join(poly, 'selected_decode_interpolation', 'raw_data.npz') };
    const config = validateConfig({
      pools: [{ name: 'llama', source: 'vllm', targets: ['127.0.0.1:1'] }],
      grpc: { port: 0 },
      http: { port: 0 },
      profiles: { p: ref },
    });
    await expect(Scaler.start(config)).rejects.toThrow(message);
  });

  it('any bytes (random, or a valid npz with bytes flipped) load or fail with a ConfigError naming the profile (property)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sla-fuzz-'));
    const good = new Uint8Array(await readFile(path.join(poly, 'selected_prefill_interpolation', 'raw_data.npz')));
    const decodeFile = path.join(poly, 'selected_decode_interpolation', 'raw_data.npz');
    const file = path.join(dir, 'p.npz');
    const flipped = fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 8 }).map((flips) => {
      const bytes = good.slice();
      for (const [at, x] of flips) bytes[at] = (bytes[at] as number) ^ x;
      return bytes;
    });
    const { writeFileSync } = await import('node:fs');
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 2000 }), flipped), (bytes) => {
        writeFileSync(file, bytes);
        try {
          const p = loadProfile('fz', { prefill: file, decode: decodeFile });
          expect(p.prefill.isl.length).toBeGreaterThanOrEqual(4);
          expect(p.prefill.ttftSeconds.every((v) => Number.isFinite(v) && v > 0)).toBe(true);
        } catch (error) {
          expect(error).toBeInstanceOf(ConfigError);
          expect((error as Error).message).toContain('profiles.fz: ');
        }
      }),
      { numRuns: 200 },
    );
  });

  it('the built binary exits 2 on a bad profile, naming it', async () => {
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first`);
    const dir = await mkdtemp(path.join(tmpdir(), 'sla-cli-'));
    const file = path.join(dir, 'scaler.yaml');
    await writeFile(
      file,
      [
        'pools:',
        '  - name: llama',
        '    source: vllm',
        '    targets: ["127.0.0.1:1"]',
        'grpc: { port: 0 }',
        'http: { port: 0 }',
        'profiles:',
        '  h200:',
        `    prefill: ${fixturePath('profiles', 'nan', 'prefill.npz')}`,
        `    decode: ${path.join(poly, 'selected_decode_interpolation', 'raw_data.npz')}`,
        '',
      ].join('\n'),
    );
    const child = spawn(process.execPath, [cli, 'serve', '--config', file], { cwd: root });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(2);
    expect(stderr).toMatch(/profiles\.h200: .*prefill\.npz: 'prefill_ttft'\[3\] is NaN; expected a finite TTFT in ms > 0/);
  });
});

describe('policy sla trigger metadata: INVALID_ARGUMENT naming the key, other triggers unaffected', () => {
  const base = { scalerAddress: 'scaler:9090', pool: 'llama', metric: 'desired_replicas', policy: 'sla', profile: 'poly', role: 'decode' };
  it.each([
    [{ profile: 'nope' }, "metadata 'profile': unknown profile 'nope'; configured profiles are poly"],
    [{ profile: '/etc/passwd' }, "metadata 'profile': '/etc/passwd' is not a profile name: profiles are named in the scaler configuration, never by path"],
    [{ role: 'router' }, "metadata 'role': 'router' is not accepted; expected prefill or decode"],
    [{ role: '' }, "metadata 'role': required with policy sla"],
    [{ ttftTarget: '0' }, "metadata 'ttftTarget': '0' is out of range"],
    [{ itlTarget: '-5ms' }, "metadata 'itlTarget': '-5ms' is not a duration"],
    [{ adjustmentInterval: '100ms' }, "metadata 'adjustmentInterval': '100ms' is out of range"],
    [{ predictor: 'oracle' }, "metadata 'predictor': 'oracle' is not accepted; expected constant, holt, kalman, arima, prophet, ets"],
    [{ predictionWindow: '0' }, "metadata 'predictionWindow': '0' is out of range"],
    [{ correction: 'maybe' }, "metadata 'correction': 'maybe' is not accepted; expected true or false"],
    [{ gpuBudget: '1' }, "metadata 'gpuBudget': 1 cannot hold minReplicas (1) of both roles: they need 2 GPUs"],
    [{ prefillGpus: '0.5' }, "metadata 'prefillGpus': '0.5' is out of range"],
    [{ minReplicas: '0' }, "metadata 'minReplicas': '0' is out of range"],
    [{ minReplicas: '3', maxReplicas: '2' }, "metadata 'maxReplicas': '2' is out of range; expected an integer ≥ minReplicas (3)"],
    [{ decodePool: 'other' }, "metadata 'decodePool': unknown pool 'other'; configured pools are llama"],
    [{ isl: '-1' }, "metadata 'isl': '-1' is out of range"],
    [{ strategy: 'max' }, "metadata 'strategy': not used by desired_replicas with policy 'sla'"],
  ])('%o', { timeout: 30_000 }, async (metadata, message) => {
    const worker = harness.track(await FakeWorker.start());
    await harness.start([{ name: 'llama', source: 'vllm', targets: [worker.target] }], { profiles: { poly: { dir: poly } } });
    await harness.waitReady();
    await harness.expectInvalidArgument(KedaClient.ref({ ...base, ...metadata }), message);
    // Nothing else changed: a plain trigger still answers.
    const so = KedaClient.ref({ scalerAddress: 'scaler:9090', pool: 'llama', metric: 'queue_depth', target: '5' });
    const spec = (await harness.client.getMetricSpec(so)).metricSpecs[0]!;
    expect((await harness.client.getMetrics(so, spec.metricName)).metricValues[0]!.metricValueFloat).toBe(3);
  });
});
