import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDuration } from '../src/config/duration.js';
import { configFromOptions } from '../src/config/from-options.js';
import { ConfigError, validateConfig } from '../src/config/load.js';

async function tempFile(name: string, text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'scaler-config-'));
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

const POOLS_YAML = `
grpc: { port: 9191 }
checkInterval: 2s
cacheTtl: 10
pools:
  - name: llama
    source: vllm
    targets: ["10.0.0.7:8000", "10.0.0.8:8000/custom-metrics"]
    model: meta-llama/Llama-3.1-8B-Instruct
  - name: qwen
    source: sglang
    discovery: { dns: qwen-headless.ns.svc.cluster.local, port: 30000 }
`;

describe('configuration', () => {
  it('reads durations as text or as a number of seconds (metrics-keda flags)', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('5')).toBe(5000);
    expect(parseDuration(5)).toBe(5000);
    expect(parseDuration('soon')).toBeUndefined();
    expect(parseDuration('-1s')).toBeUndefined();
  });

  it('loads a YAML file with defaults filled in', async () => {
    const config = await configFromOptions({ config: await tempFile('scaler.yaml', POOLS_YAML) });
    expect(config.grpc).toEqual({ host: '0.0.0.0', port: 9191 });
    expect(config.http).toEqual({ host: '0.0.0.0', port: 8080, ui: true });
    expect(config.checkInterval).toBe(2000);
    expect(config.cacheTtl).toBe(10_000);
    expect(config.pools.map((p) => p.name)).toEqual(['llama', 'qwen']);
    expect(config.pools[1]?.discovery).toEqual({ dns: 'qwen-headless.ns.svc.cluster.local', port: 30000, path: '/metrics' });
  });

  it('lets flags override the file', async () => {
    const config = await configFromOptions({ config: await tempFile('scaler.yaml', POOLS_YAML), port: '7000', checkInterval: '250ms' });
    expect(config.grpc.port).toBe(7000);
    expect(config.checkInterval).toBe(250);
    expect(config.pools).toHaveLength(2);
  });

  it('turns the status page off with http.ui false, from the file or --http-ui / SCALER_HTTP_UI, and refuses anything but a boolean', async () => {
    const file = await tempFile('scaler.yaml', `http:\n  ui: false\n${POOLS_YAML}`);
    expect((await configFromOptions({ config: file })).http).toEqual({ host: '0.0.0.0', port: 8080, ui: false });
    expect((await configFromOptions({ config: file, httpUi: 'true' })).http.ui).toBe(true);
    expect((await configFromOptions({ targets: '10.0.0.7:8000', httpUi: 'false' })).http.ui).toBe(false);
    await expect(configFromOptions({ targets: '10.0.0.7:8000', httpUi: 'maybe' })).rejects.toThrow('http.ui: must be true or false (got "maybe")');
  });

  it('builds a single default pool from flags when no file is given', async () => {
    const config = await configFromOptions({ targets: '127.0.0.1:8000, 127.0.0.1:8001', threshold: '0.7', checkInterval: '5' });
    expect(config.pools).toEqual([expect.objectContaining({ name: 'default', source: 'vllm', targets: ['127.0.0.1:8000', '127.0.0.1:8001'] })]);
    expect(config.defaultTarget).toBe(0.7);
    expect(config.checkInterval).toBe(5000);
  });

  it('refuses to start without pools, saying how to give them', async () => {
    await expect(configFromOptions({})).rejects.toThrow(/--config <file>, or --targets/);
  });

  it('names the key, the value and what is accepted', () => {
    const error = (raw: unknown) => {
      try {
        validateConfig(raw);
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as Error).message;
      }
      throw new Error('expected a configuration error');
    };
    expect(error({ pools: [{ name: 'a', source: 'vlm', targets: ['h:1'] }] })).toMatch(
      /pools\[0\]\.source: must be one of vllm, sglang, trtllm, dynamo-http, dynamo-nats, prometheus \(got "vlm"\)/,
    );
    expect(error({ grpc: { port: 'ninety' }, pools: [{ name: 'a', source: 'vllm', targets: ['h:1'] }] })).toMatch(/grpc\.port: .*port/);
    expect(error({ checkInterval: 'often', pools: [{ name: 'a', source: 'vllm', targets: ['h:1'] }] })).toMatch(
      /checkInterval: 'often' is not a positive duration/,
    );
    expect(error({ pools: [{ name: 'a', source: 'vllm' }] })).toMatch(/pools\[0\]: needs exactly one of targets or discovery/);
    expect(error({ pools: [{ name: 'a', source: 'vllm', targets: ['no-port'] }] })).toMatch(/pools\[0\]\.targets\[0\]: must be host:port/);
    expect(error({ pools: [{ name: 'Bad Name', source: 'vllm', targets: ['h:1'] }] })).toMatch(/pools\[0\]\.name: must be lowercase/);
    expect(
      error({
        pools: [
          { name: 'a', source: 'vllm', targets: ['h:1'] },
          { name: 'a', source: 'vllm', targets: ['h:2'] },
        ],
      }),
    ).toMatch(/declared twice/);
    expect(error({ pool: [], pools: [{ name: 'a', source: 'vllm', targets: ['h:1'] }] })).toMatch(/unknown key\(s\) 'pool'/);
  });

  it('reports unreadable and malformed files clearly', async () => {
    await expect(configFromOptions({ config: '/nonexistent/scaler.yaml' })).rejects.toThrow(/cannot read configuration file \/nonexistent\/scaler.yaml/);
    await expect(configFromOptions({ config: await tempFile('bad.yaml', 'pools: [unclosed') })).rejects.toThrow(/not valid YAML/);
    await expect(configFromOptions({ config: await tempFile('list.yaml', '- a\n- b\n') })).rejects.toThrow(/must hold a mapping/);
  });
});
