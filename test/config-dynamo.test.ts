/**
 * Dynamo metrics-keda compatible flags: `--component-name` (with `--endpoint-name`, `--namespace`,
 * `--nats-url`, `--mode`) builds a default dynamo-nats pool, every flag is also SCALER_…, and the
 * default signal is a KV-cache fraction so that metrics-keda's 0.7 threshold means 70 %.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { serveCommand } from '../src/cli/serve.js';
import { configFromOptions, type ServeOptions } from '../src/config/from-options.js';
import { ConfigError } from '../src/config/load.js';
import type { ScalerConfig } from '../src/config/schema.js';

/** Parses `serve` arguments (and SCALER_* environment) as the CLI does, without starting anything. */
async function parseServe(args: string[], env: Record<string, string> = {}): Promise<ServeOptions> {
  const saved = new Map(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    let captured: ServeOptions | undefined;
    const command = serveCommand()
      .exitOverride()
      .action((options: ServeOptions) => {
        captured = options;
      });
    await command.parseAsync(args, { from: 'user' });
    if (!captured) throw new Error('serve action did not run');
    return captured;
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

async function configOf(args: string[], env: Record<string, string> = {}): Promise<ScalerConfig> {
  return configFromOptions(await parseServe(args, env));
}

async function rejection(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a configuration error');
}

afterEach(() => {
  for (const key of Object.keys(process.env)) if (key.startsWith('SCALER_')) delete process.env[key];
});

describe('metrics-keda compatible flags', () => {
  it("accept metrics-keda's own command line unchanged", async () => {
    // The README of Dynamo's metrics-keda (seeds/003): seconds as bare numbers, threshold 0.7.
    const config = await configOf([
      '--component-name',
      'llm-worker',
      '--endpoint-name',
      'kv-router',
      '--host',
      '0.0.0.0',
      '--port',
      '9090',
      '--threshold',
      '0.7',
      '--check-interval',
      '5',
      '--cache-ttl',
      '5',
    ]);
    expect(config.grpc).toEqual({ host: '0.0.0.0', port: 9090 });
    expect(config.checkInterval).toBe(5000);
    expect(config.cacheTtl).toBe(5000);
    expect(config.defaultTarget).toBe(0.7);
    expect(config.pools).toEqual([
      expect.objectContaining({
        name: 'default',
        source: 'dynamo-nats',
        component: 'llm-worker',
        endpoint: 'kv-router',
        defaultMetric: 'kv_cache_usage',
        nats: expect.objectContaining({ url: 'nats://127.0.0.1:4222' }) as unknown,
      }),
    ]);
    expect(config.pools[0]?.targets).toBeUndefined();
    expect(config.pools[0]?.discovery).toBeUndefined();
  });

  it('builds the default dynamo-nats pool from every Dynamo flag', async () => {
    const config = await configOf([
      '--component-name',
      'backend',
      '--endpoint-name',
      'generate',
      '--namespace',
      'sglang-agg',
      '--nats-url',
      'nats://nats.dynamo.svc:4222',
      '--mode',
      'event-plane',
      '--pool-name',
      'decode',
      '--model',
      'Qwen/Qwen3-0.6B',
    ]);
    expect(config.pools).toEqual([
      expect.objectContaining({
        name: 'decode',
        source: 'dynamo-nats',
        component: 'backend',
        endpoint: 'generate',
        namespace: 'sglang-agg',
        mode: 'event-plane',
        model: 'Qwen/Qwen3-0.6B',
        nats: expect.objectContaining({ url: 'nats://nats.dynamo.svc:4222' }) as unknown,
        defaultMetric: 'kv_cache_usage',
      }),
    ]);
  });

  it('defaults to kv_cache_usage with target 0.7, never load_avg with 0.7', async () => {
    const bare = await configOf(['--component-name', 'backend']);
    expect(bare.pools[0]?.defaultMetric).toBe('kv_cache_usage');
    expect(bare.defaultTarget).toBe(0.7);
    // An explicit --threshold wins.
    expect((await configOf(['--component-name', 'backend', '--threshold', '0.85'])).defaultTarget).toBe(0.85);
    // A signal in other units gets no implied 0.7: the trigger (or --threshold) must say.
    const blocks = await configOf(['--component-name', 'backend', '--metric', 'load_avg']);
    expect(blocks.pools[0]?.defaultMetric).toBe('load_avg');
    expect(blocks.defaultTarget).toBeUndefined();
  });

  it('reads every flag from SCALER_* environment variables, flags winning', async () => {
    const env = {
      SCALER_COMPONENT_NAME: 'backend',
      SCALER_ENDPOINT_NAME: 'load_metrics',
      SCALER_NAMESPACE: 'dynamo',
      SCALER_NATS_URL: 'nats://10.0.0.5:4222',
      SCALER_MODE: 'stats',
      SCALER_THRESHOLD: '0.6',
      SCALER_CHECK_INTERVAL: '5',
      SCALER_CACHE_TTL: '10',
    };
    const fromEnv = await configOf([], env);
    expect(fromEnv.pools[0]).toMatchObject({
      component: 'backend',
      endpoint: 'load_metrics',
      namespace: 'dynamo',
      mode: 'stats',
      nats: { url: 'nats://10.0.0.5:4222' },
    });
    expect(fromEnv.defaultTarget).toBe(0.6);
    expect(fromEnv.checkInterval).toBe(5000);
    expect(fromEnv.cacheTtl).toBe(10_000);

    const flagsWin = await configOf(['--component-name', 'prefill', '--mode', 'kv-metrics', '--nats-url', 'nats://127.0.0.1:4333'], env);
    expect(flagsWin.pools[0]).toMatchObject({ component: 'prefill', endpoint: 'load_metrics', mode: 'kv-metrics', nats: { url: 'nats://127.0.0.1:4333' } });
  });

  it('rejects combinations that would silently ignore a flag, naming the flags', async () => {
    expect(await rejection(configOf(['--component-name', 'backend', '--targets', '127.0.0.1:9090']))).toMatch(
      /--component-name .* cannot be combined with --targets\/--dns/,
    );
    expect(await rejection(configOf(['--component-name', 'backend', '--source', 'vllm']))).toMatch(/--source is 'vllm'/);
    const dir = await mkdtemp(join(tmpdir(), 'scaler-dynamo-'));
    const file = join(dir, 'scaler.yaml');
    await writeFile(file, 'pools:\n  - { name: a, source: vllm, targets: ["127.0.0.1:1"] }\n');
    expect(await rejection(configOf(['--config', file, '--component-name', 'backend']))).toMatch(
      /--component-name builds a default pool and cannot be combined with --config/,
    );
    expect(await rejection(configOf(['--config', file, '--endpoint-name', 'generate', '--mode', 'stats']))).toMatch(
      /--endpoint-name, --mode describe the default Dynamo pool and need --component-name/,
    );
    expect(await rejection(configOf(['--targets', '127.0.0.1:1', '--nats-url', 'nats://x:4222']))).toMatch(/--nats-url .* need --component-name/);
    // --source dynamo-nats alone says how to name the component.
    expect(await rejection(configOf(['--source', 'dynamo-nats']))).toMatch(/--component-name <name> for a default Dynamo \(NATS\) pool/);
    expect(await rejection(configOf(['--component-name', 'backend', '--source', 'dynamo-nats', '--mode', 'push']))).toMatch(
      /pools\[0\]\.mode: must be one of auto, stats, kv-metrics, event-plane \(got "push"\)/,
    );
    expect(await rejection(configOf(['--component-name', 'backend', '--nats-url', 'localhost:4222']))).toMatch(/pools\[0\]\.nats\.url: must be a NATS URL/);
  });
});
