/**
 * Configuration that used to coerce or overflow: each case is a real config file (or flag, or
 * environment variable) given to the built binary or to the loader the binary uses, and is
 * refused naming the key and showing what was written; exit code 2 for configuration, 1 for a
 * runtime failure such as a port in use.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../src/cli/demo/net.js';
import { configFromOptions } from '../src/config/from-options.js';
import { ConfigError, validateConfig } from '../src/config/load.js';
import { DURATION_BOUNDS } from '../src/config/schema.js';
import { statusOf } from './support/keda-client.js';
import { TestScaler } from './support/test-scaler.js';
import { FakeWorker } from './support/workers.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist', 'cli.js');

beforeAll(() => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first (npm test does)`);
});

async function configFile(text: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'scaler-hardening-'));
  const file = path.join(dir, 'scaler.yaml');
  await writeFile(file, text);
  return file;
}

const POOL = 'pools:\n  - { name: llama, source: vllm, targets: ["127.0.0.1:1"] }\n';

/** Runs the built binary to its exit (or kills it after `ms`). */
function runCli(args: string[], env: Record<string, string> = {}, ms = 10_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, ...env }, cwd: root });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function refusal(options: Parameters<typeof configFromOptions>[0]): Promise<string> {
  const error = await configFromOptions(options).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigError);
  return (error as ConfigError).message;
}

describe('configuration is refused, not coerced, naming the key and what was written', () => {
  it.each([
    ['an empty targets list', `pools:\n  - { name: llama, source: vllm, targets: [] }\n`, /pools\[0\]\.targets: lists no worker/],
    ['a check interval Node timers would overflow', `checkInterval: 600h\n${POOL}`, /checkInterval: must be from 100ms to 600s \(got "600h"\)/],
    ['a check interval that would spin', `checkInterval: 0.001ms\n${POOL}`, /checkInterval: must be from 100ms to 600s \(got "0.001ms"\)/],
    [
      'a stats window of 900 hours',
      `pools:\n  - { name: d, source: dynamo-nats, component: backend, statsWindow: 900h }\n`,
      /pools\[0\]\.statsWindow: must be from 10ms to 60s/,
    ],
    [
      'a worker TTL beyond a day',
      `pools:\n  - { name: d, source: dynamo-nats, component: backend, workerTtl: 9999h }\n`,
      /pools\[0\]\.workerTtl: must be from 1s to 24h/,
    ],
    ['a port written as an empty string', `grpc: { port: "" }\n${POOL}`, /grpc\.port: must be a port number written in decimal digits \(got ""\)/],
    ['a port written as null', `grpc: { port: null }\n${POOL}`, /grpc\.port: must be a port number \(got null\)/],
    ['a port written as true', `http: { port: true }\n${POOL}`, /http\.port: must be a port number \(got true\)/],
    ['a port written in hexadecimal', `grpc: { port: 0x4e21 }\n${POOL}`, /grpc\.port: must be a port number written in decimal digits \(got "0x4e21"\)/],
    ['an infinite number', `defaultTarget: .inf\n${POOL}`, /defaultTarget: must be a finite number written in decimal digits \(got "\.inf"\)/],
    ['a number too large for a double', `defaultTarget: 1e400\n${POOL}`, /defaultTarget: must be a finite number written in decimal digits \(got "1e400"\)/],
    ['a cache TTL shorter than the check interval', `checkInterval: 5s\ncacheTtl: 1s\n${POOL}`, /cacheTtl: \(1s\) is shorter than checkInterval \(5s\)/],
    [
      'one worker listed with two paths',
      `pools:\n  - { name: llama, source: vllm, targets: ["10.0.0.7:8000/metrics", "10.0.0.7:8000/other"] }\n`,
      /'10\.0\.0\.7:8000\/metrics' and '10\.0\.0\.7:8000\/other' are the same worker/,
    ],
    [
      'a Dynamo component that cannot be a NATS subject token',
      `pools:\n  - { name: d, source: dynamo-nats, component: "a.b" }\n`,
      /pools\[0\]\.component: cannot be part of a NATS subject/,
    ],
  ])('%s', async (_what, yaml, message) => {
    expect(await refusal({ config: await configFile(yaml) })).toMatch(message);
  });

  it('refuses flags and environment that would be coerced or ignored', async () => {
    expect(await refusal({ targets: ',,,' })).toMatch(/--targets \(",,,"\) lists no worker/);
    expect(await refusal({ targets: '' })).toMatch(/--targets \(""\) lists no worker/);
    expect(await refusal({ targets: '127.0.0.1:1', port: '' })).toMatch(/grpc\.port: must be a port number/);
    expect(await refusal({ targets: '127.0.0.1:1', httpPort: '0x4e21' })).toMatch(/http\.port: must be a port number/);
    expect(await refusal({ dnsPort: '8000', targets: '127.0.0.1:1' })).toMatch(/--dns-port .* give --dns <name> too/);
  });

  it('accepts the plain forms it always did', async () => {
    const file = await configFile(`grpc: { port: 9091 }\nhttp: { port: "8081" }\ncheckInterval: 2\ncacheTtl: 10s\ndefaultTarget: 1.5e1\n${POOL}`);
    const config = await configFromOptions({ config: file, port: ' 7000 ' });
    expect(config.grpc.port).toBe(7000);
    expect(config.http.port).toBe(8081);
    expect(config.checkInterval).toBe(2000);
    expect(config.defaultTarget).toBe(15);
  });
});

describe('numbers and durations (properties)', () => {
  const pools = [{ name: 'a', source: 'vllm', targets: ['h:1'] }];
  const outcome = (raw: Record<string, unknown>): 'ok' | string => {
    try {
      validateConfig({ pools, ...raw });
      return 'ok';
    } catch (error) {
      return (error as Error).message;
    }
  };

  it('a number written in decimal digits (as text or as a number) reads as that number', () => {
    fc.assert(
      fc.property(fc.double({ min: 0.001, max: 1e12, noNaN: true }), fc.boolean(), (n, asText) => {
        const config = validateConfig({ pools, defaultTarget: asText ? String(n) : n });
        expect(config.defaultTarget).toBe(n);
      }),
    );
  });

  it('text that is not plainly a decimal number is refused, never coerced', () => {
    const notDecimal = fc.string().filter((t) => !/^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/.test(t));
    fc.assert(
      fc.property(notDecimal, (text) => {
        expect(outcome({ grpc: { port: text } })).toMatch(/grpc\.port: must be a port number/);
      }),
    );
  });

  it('every duration is accepted inside its bounds and refused outside them, naming the key', () => {
    const keys = Object.keys(DURATION_BOUNDS) as (keyof typeof DURATION_BOUNDS)[];
    fc.assert(
      fc.property(fc.constantFrom(...keys), fc.double({ min: 0.0001, max: 1e9, noNaN: true }), (key, ms) => {
        const [min, max] = DURATION_BOUNDS[key];
        const raw: Record<string, unknown> = { cacheTtl: '1h' };
        const written = `${ms}ms`;
        if (key === 'scrape.timeout') raw['scrape'] = { timeout: written };
        else if (key === 'prometheus.timeout')
          raw['pools'] = [{ name: 'p', source: 'prometheus', prometheus: { url: 'http://p:9090', selector: '{job="v"}', engine: 'vllm', timeout: written } }];
        else if (key === 'statsWindow' || key === 'workerTtl') raw['pools'] = [{ name: 'd', source: 'dynamo-nats', component: 'backend', [key]: written }];
        else raw[key] = written;
        if (key === 'cacheTtl') raw['checkInterval'] = '100ms';
        const result = outcome(raw);
        if (ms >= min && ms <= max) expect(result).toBe('ok');
        else expect(result).toMatch(new RegExp(`${key.split('.').at(-1)}: must be from`));
      }),
      { numRuns: 300 },
    );
  });
});

describe('exit codes of the built binary: 2 for configuration, 1 for a runtime failure', () => {
  let busy: Server;
  let busyPort = 0;
  beforeAll(async () => {
    busy = createServer();
    busyPort = await new Promise<number>((resolve) => busy.listen(0, '127.0.0.1', () => resolve((busy.address() as { port: number }).port)));
  });
  afterAll(() => new Promise<void>((resolve) => busy.close(() => resolve())));

  it.each([
    ['an empty targets file', `pools:\n  - { name: llama, source: vllm, targets: [] }\n`, [], /pools\[0\]\.targets/],
    [
      'an unknown defaultMetric',
      `pools:\n  - { name: llama, source: vllm, targets: ["127.0.0.1:1"], defaultMetric: kv_usage }\n`,
      [],
      /pools\[llama\]\.defaultMetric: unknown signal 'kv_usage'/,
    ],
    [
      'a bad Dynamo namespace',
      `pools:\n  - { name: d, source: dynamo-nats, component: backend, namespace: "n s" }\n`,
      [],
      /pools\[0\]\.namespace: cannot be part of a NATS subject/,
    ],
  ])('%s exits 2 naming the key', async (_what, yaml, extra, message) => {
    const result = await runCli(['serve', '--config', await configFile(yaml), '--port', '0', '--http-port', '0', ...extra]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  it('SCALER_PORT="" is refused (exit 2), not a random port', async () => {
    const result = await runCli(['serve', '--targets', '127.0.0.1:1', '--http-port', '0'], { SCALER_PORT: '' });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/grpc\.port: must be a port number written in decimal digits \(got ""\)/);
  });

  it('a Dynamo component given by flag that cannot be a NATS subject exits 2', async () => {
    const result = await runCli(['serve', '--component-name', 'bad name', '--port', '0', '--http-port', '0']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/pools\[0\]\.component: cannot be part of a NATS subject/);
  });

  it('a port in use exits 1 with only our own message (no grpc-js line before it)', async () => {
    const result = await runCli(['serve', '--targets', '127.0.0.1:1', '--host', '127.0.0.1', '--port', String(busyPort), '--http-port', '0']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`^keda-llm-scaler: cannot listen for gRPC on 127\\.0\\.0\\.1:${busyPort}: .*EADDRINUSE`));
    expect(result.stderr).not.toMatch(/^E /m);
  });
});

describe('shutdown', () => {
  const workers: FakeWorker[] = [];
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.close()));
  });

  it('exits promptly on SIGTERM when its stdout reader has gone away (serve | head -1)', async () => {
    const worker = await FakeWorker.start();
    workers.push(worker);
    const [grpcPort, httpPort] = [await freePort(), await freePort()];
    const child = spawn(
      process.execPath,
      [
        cli,
        'serve',
        '--targets',
        worker.target,
        '--host',
        '127.0.0.1',
        '--port',
        String(grpcPort),
        '--http-host',
        '127.0.0.1',
        '--http-port',
        String(httpPort),
        '--log-level',
        'debug',
        '--check-interval',
        '100ms',
      ],
      {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    try {
      // Read the first line, then close the pipe as `head -1` does.
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      child.stdout.destroy();
      // Logging continues into the closed pipe for a while (debug level, 10 scrapes a second).
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      const sent = Date.now();
      child.kill('SIGTERM');
      const code = await Promise.race([exited, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 10_000))]);
      expect(code).not.toBe('hung');
      expect(Date.now() - sent).toBeLessThan(9000);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});

describe('a metadata key together with its …FromEnv twin', () => {
  const harness = new TestScaler();
  const workers: FakeWorker[] = [];
  afterAll(async () => {
    await harness.close();
    await Promise.all(workers.map((w) => w.close()));
  });

  it('is INVALID_ARGUMENT naming both when they differ, whatever their order; the same value is accepted', async () => {
    const worker = await FakeWorker.start();
    workers.push(worker);
    await harness.start([{ name: 'llama', source: 'vllm', targets: [worker.target] }]);
    const ref = (scalerMetadata: Record<string, string>) => ({ name: 'so', namespace: 'default', scalerMetadata });
    for (const metadata of [
      { pool: 'llama', metric: 'queue_depth', target: '5', targetFromEnv: '50' },
      { pool: 'llama', metric: 'queue_depth', targetFromEnv: '50', target: '5' },
    ]) {
      const error = await statusOf(harness.client.getMetricSpec(ref(metadata)));
      expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(error.details).toContain("metadata 'target/targetFromEnv': both are given, with different values");
    }
    const spec = await harness.client.getMetricSpec(ref({ pool: 'llama', metric: 'queue_depth', target: '5', targetFromEnv: '5' }));
    expect(spec.metricSpecs[0]?.targetSizeFloat).toBe(5);
  });
});
