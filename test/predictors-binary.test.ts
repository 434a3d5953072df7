import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { freePort } from '../src/cli/demo/net.js';
import { KedaClient, healthCheck } from './support/keda-client.js';
import { FakeWorker } from './support/workers.js';
import { vllmGauges } from './support/vllm-exposition.js';

/**
 * The WebAssembly predictors in the built binary: `keda-llm-scaler serve` from dist/ with a real
 * configuration file, a real HTTP worker whose queue ramps, and KEDA's calls for predictive
 * composites with arima, prophet and ets. Proof that the modules load from the installed packages
 * under Node (not only under the test runner), that their fits land, and that the log stays JSON.
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist', 'cli.js');
const running: ChildProcessWithoutNullStreams[] = [];
const timers: NodeJS.Timeout[] = [];
let worker: FakeWorker | undefined;

beforeAll(() => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first (npm test does)`);
});

afterEach(async () => {
  for (const t of timers.splice(0)) clearInterval(t);
  for (const child of running.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  await worker?.close();
  worker = undefined;
});

const vllm = (waiting: number): string => vllmGauges({ waiting, kv: 0.3 });

interface Decision {
  metadata: Record<string, string>;
  details?: { signals?: { forecast?: { seriesLength: number; forecast?: number; method?: string; note?: string } }[] };
}

describe('WebAssembly predictors in the built binary', () => {
  it('arima, prophet and ets forecast a ramp from the serve command, and the log stays JSON', { timeout: 120_000 }, async () => {
    worker = await FakeWorker.start({ behaviour: { kind: 'text', body: vllm(0) } });
    const started = Date.now();
    const w = worker;
    timers.push(setInterval(() => w.serve(vllm(Math.floor(((Date.now() - started) / 1000) * 3))), 100));
    const [grpcPort, httpPort] = [await freePort(), await freePort()];
    const dir = await mkdtemp(path.join(tmpdir(), 'scaler-predictors-'));
    const config = path.join(dir, 'scaler.yaml');
    await writeFile(
      config,
      [
        `grpc: { host: 127.0.0.1, port: ${grpcPort} }`,
        `http: { host: 127.0.0.1, port: ${httpPort} }`,
        'checkInterval: 200ms',
        'pools:',
        '  - name: llama',
        '    source: vllm',
        `    targets: ["${worker.target}"]`,
        '',
      ].join('\n'),
    );
    const child = spawn(process.execPath, [cli, 'serve', '--config', config], { cwd: dir });
    running.push(child);
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', () => {});
    const address = `127.0.0.1:${grpcPort}`;
    await vi.waitFor(async () => expect(await healthCheck(address, 'readiness')).toBe('SERVING'), { timeout: 15_000, interval: 100 });

    const client = new KedaClient(address);
    const predictors = ['arima', 'prophet', 'ets'];
    const refs = predictors.map((predictor) =>
      KedaClient.ref({
        scalerAddress: 's:9090',
        pool: 'llama',
        metric: 'desired_replicas',
        policy: 'composite',
        metrics: 'queue_depth:10',
        predictor,
        horizon: '10s',
      }),
    );
    const methods = async (): Promise<Map<string, NonNullable<NonNullable<Decision['details']>['signals']>[number]['forecast']>> => {
      const body = (await (await fetch(`http://127.0.0.1:${httpPort}/api/v1/decisions`)).json()) as { decisions: Decision[] };
      return new Map(body.decisions.map((d) => [d.metadata['predictor'] ?? '', d.details?.signals?.[0]?.forecast]));
    };
    // ARIMA needs 11 points (one a second with horizon 10s); Prophet and ETS forecast from 5.
    await vi.waitFor(
      async () => {
        for (const so of refs) await client.getMetrics(so, 'llama-desired_replicas');
        const found = await methods();
        for (const predictor of predictors) expect(found.get(predictor)?.method, JSON.stringify(found.get(predictor))).toBe(predictor);
      },
      { timeout: 60_000, interval: 250 },
    );
    const found = await methods();
    const queueNow = Math.floor(((Date.now() - started) / 1000) * 3);
    for (const predictor of predictors) {
      // Ten seconds ahead of a ramp of 3 a second: well above the queue now (the point lags by up to 2 s).
      expect(found.get(predictor)?.forecast, predictor).toBeGreaterThan(queueNow);
    }
    client.close();
    child.kill('SIGTERM');
    await new Promise((resolve) => child.on('exit', resolve));
    const lines = stdout.trim().split('\n');
    for (const line of lines) expect(() => JSON.parse(line) as unknown, line).not.toThrow();
  });

  it("a failed Prophet fit says so on stderr: the optimiser's own lines never reach stdout, the JSON log", { timeout: 60_000 }, async () => {
    // Series on which Stan's optimiser gives up (found by trying): the fit throws, the component prints.
    const script = [
      `const { prophetPredictor } = await import(${JSON.stringify(path.join(root, 'dist', 'policies', 'predictors', 'prophet.js'))});`,
      'for (const s of [[1e308, 1e308, 1e308, -1e308], Array.from({ length: 30 }, (_, i) => (i % 2) * 1e15)]) {',
      "  await prophetPredictor.forecast(s, 3).then(() => console.error('fitted'), (e) => console.error('fit failed:', e.message.split('\\n')[0]));",
      '}',
    ].join('\n');
    const child = spawn(process.execPath, ['--input-type=module', '-e', script]);
    running.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(code).toBe(0);
    expect(stderr).toMatch(/fit failed: Optimization failed/);
    expect(stderr).toMatch(/optimization failed: 70/);
    expect(stdout).toBe('');
  });
});
