import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { freePort } from '../src/cli/demo/net.js';
import type { IsActiveResponse } from '../src/grpc/messages.js';
import { KedaClient, healthCheck } from './support/keda-client.js';
import { FakeWorker } from './support/workers.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist', 'cli.js');
const running: ChildProcessWithoutNullStreams[] = [];
const workers: FakeWorker[] = [];

beforeAll(() => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first (npm test does)`);
});

afterEach(async () => {
  for (const child of running.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  await Promise.all(workers.splice(0).map((w) => w.close()));
});

function run(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, ...env }, cwd: root });
  running.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => ({ stdout, stderr }) };
}

describe('keda-llm-scaler serve (the built binary)', () => {
  it('stops at start-up on a configuration error, naming key, value and what is accepted', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'scaler-cli-'));
    const file = path.join(dir, 'scaler.yaml');
    await writeFile(file, 'pools:\n  - name: llama\n    source: tgi\n    targets: ["127.0.0.1:1"]\n');
    const bad = run(['serve', '--config', file]);
    expect(await bad.exited).toBe(2);
    expect(bad.output().stderr).toContain('pools[0].source: must be one of vllm, sglang, trtllm, dynamo-http, dynamo-nats, prometheus (got "tgi")');

    const missingKey = run(['serve', '--targets', '127.0.0.1:1', '--tls-cert', file]);
    expect(await missingKey.exited).toBe(2);
    expect(missingKey.output().stderr).toMatch(/tls\.key: /);

    const unreadable = run([
      'serve',
      '--targets',
      '127.0.0.1:1',
      '--port',
      '0',
      '--http-port',
      '0',
      '--tls-cert',
      '/nonexistent/cert.pem',
      '--tls-key',
      '/nonexistent/key.pem',
    ]);
    expect(await unreadable.exited).toBe(2);
    expect(unreadable.output().stderr).toContain("tls.cert: cannot read '/nonexistent/cert.pem'");

    const none = run(['serve']);
    expect(await none.exited).toBe(2);
    expect(none.output().stderr).toMatch(/no pools configured/);
  });

  it('takes flags over environment, serves KEDA, and on SIGTERM ends streams with OK and exits 0', async () => {
    const worker = await FakeWorker.start();
    workers.push(worker);
    const [envPort, flagPort, httpPort] = [await freePort(), await freePort(), await freePort()];
    const server = run(
      ['serve', '--port', String(flagPort), '--host', '127.0.0.1', '--targets', worker.target, '--check-interval', '100ms', '--threshold', '4'],
      { SCALER_PORT: String(envPort), SCALER_HTTP_PORT: String(httpPort), SCALER_HTTP_HOST: '127.0.0.1', SCALER_METRIC: 'queue_depth' },
    );
    const address = `127.0.0.1:${flagPort}`;
    await vi.waitFor(async () => expect(await healthCheck(address, 'readiness')).toBe('SERVING'), { timeout: 10_000, interval: 100 });
    expect((await fetch(`http://127.0.0.1:${httpPort}/readyz`)).status).toBe(200);
    // The built CLI serves the status page from dist/ (the page and its files).
    const page = await fetch(`http://127.0.0.1:${httpPort}/pools/default`);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const main = /src="(\/ui\/[0-9a-f]{12}\/main\.js)"/.exec(await page.text())?.[1];
    expect((await fetch(`http://127.0.0.1:${httpPort}${main}`)).status).toBe(200);

    // The default pool, default metric (env) and default target (--threshold) make a bare trigger work.
    const client = new KedaClient(address);
    const so = KedaClient.ref({});
    const spec = await client.getMetricSpec(so);
    expect(spec.metricSpecs[0]).toEqual({ metricName: 'default-queue_depth', targetSize: 4, targetSizeFloat: 4 });
    expect((await client.getMetrics(so, 'default-queue_depth')).metricValues[0]!.metricValueFloat).toBe(3);

    const stream = client.raw.StreamIsActive(so);
    const received: boolean[] = [];
    stream.on('data', (m: IsActiveResponse) => received.push(m.result));
    const status = new Promise<grpc.StatusObject>((resolve) => stream.on('status', resolve));
    stream.on('error', () => {});
    await vi.waitFor(() => expect(received).toEqual([true]), { timeout: 3000, interval: 20 });

    server.child.kill('SIGTERM');
    expect((await status).code).toBe(grpc.status.OK);
    expect(await server.exited).toBe(0);
    client.close();
    const logs = server
      .output()
      .stdout.trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { msg: string });
    expect(logs.map((l) => l.msg)).toEqual(expect.arrayContaining(['keda-llm-scaler listening', 'shutting down', 'keda-llm-scaler stopped']));
  });
});
