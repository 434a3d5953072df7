/**
 * Bounds against a hostile or careless client and an oversized worker, end to end: the real
 * scaler, a real grpc-js client (KEDA's calls), real HTTP workers, the ops HTTP API.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_LIMIT } from '../src/http/decisions-page.js';
import { MAX_VALUE_LENGTH } from '../src/triggers/metadata-bounds.js';
import { metadataKey } from '../src/triggers/metadata.js';
import { MAX_CACHED_BYTES } from '../src/triggers/trigger-registry.js';
import { KedaClient, statusOf } from './support/keda-client.js';
import { TestScaler } from './support/test-scaler.js';
import { FakeWorker } from './support/workers.js';

const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');
const harness = new TestScaler();
afterEach(() => harness.close());

const QUEUE = { pool: 'llama', metric: 'queue_depth', target: '5' };

async function startPool(config: Record<string, unknown> = {}): Promise<FakeWorker> {
  const worker = harness.track(await FakeWorker.start());
  await harness.start([{ name: 'llama', source: 'vllm', targets: [worker.target] }], config);
  await harness.waitReady();
  return worker;
}

async function json(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('trigger metadata bounds', () => {
  it('refuses a 100 KB model value with INVALID_ARGUMENT naming the key, echoing at most ~100 characters, and keeps answering others', async () => {
    await startPool();
    const huge = KedaClient.ref({ ...QUEUE, model: 'x'.repeat(100 * 1024) });
    for (const call of [() => harness.client.getMetricSpec(huge), () => harness.client.getMetrics(huge, ''), () => harness.client.isActive(huge)]) {
      const status = await statusOf(call());
      expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(status.details).toContain(`metadata 'model': value longer than ${MAX_VALUE_LENGTH} characters (102400)`);
      // The key, the bound, a 100-character excerpt and its length: nothing near the 100 KB sent.
      expect(status.details.length).toBeLessThan(300);
      expect(status.details).toContain(`${'x'.repeat(100)}… (102400 characters)`);
    }
    const ok = await harness.client.getMetrics(KedaClient.ref(QUEUE), 'llama-queue_depth');
    expect(ok.metricValues[0]?.metricValueFloat).toBe(3);
  });

  it('cuts a long unknown key to 100 characters + … in the error, and a grpc-js client gets the answer instead of hanging', async () => {
    await startPool();
    const key = `k${'y'.repeat(120)}`;
    const client = new KedaClient(harness.grpcAddress);
    try {
      // With a deadline: a hang would end as DEADLINE_EXCEEDED instead of the answer.
      type WithOptions = (request: unknown, options: grpc.CallOptions, callback: (e: grpc.ServiceError | null, r?: unknown) => void) => void;
      const getMetricSpec = client.raw.GetMetricSpec.bind(client.raw) as unknown as WithOptions;
      const ref = KedaClient.ref({ ...QUEUE, [key]: 'v'.repeat(1500) });
      const status = await statusOf(
        new Promise((resolve, reject) => getMetricSpec(ref, { deadline: Date.now() + 5000 }, (e, r) => (e ? reject(e) : resolve(r)))),
      );
      expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(status.details).toContain(`metadata '${key.slice(0, 100)}… (121 characters)': unknown key for metric 'queue_depth'`);
      expect(status.details).not.toContain(key);
    } finally {
      client.close();
    }
  });

  it("the project's own probe (the built binary) gets the refusal of a 100 KB key and exits, instead of hanging", async () => {
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first`);
    await startPool();
    const key = 'k'.repeat(100_000);
    const child = spawn(process.execPath, [
      cli,
      'probe',
      harness.grpcAddress,
      'pool=llama',
      'metric=queue_depth',
      'target=5',
      `${key}=v`,
      '--no-explain',
      '--timeout',
      '5000',
    ]);
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    clearTimeout(killer);
    // Exit 1 (the trigger is refused), not a kill after the deadline: every call got its answer.
    expect(code).toBe(1);
    const result = JSON.parse(stdout) as { errors: { call: string; code: string; message: string }[] };
    expect(result.errors.map((e) => e.call).sort()).toEqual(['GetMetricSpec', 'GetMetrics', 'IsActive']);
    for (const e of result.errors) {
      expect(e.code).toBe('INVALID_ARGUMENT');
      expect(e.message).toBe(`metadata '${'k'.repeat(100)}… (100000 characters)': key longer than 128 characters (100000)`);
    }
  });

  it('refuses metadata larger than the total bound, naming the key that crossed it', async () => {
    await startPool();
    const metadata: Record<string, string> = { ...QUEUE };
    // KEDA's own TLS keys may be long (PEM), but not without end.
    for (const k of ['caCert', 'tlsClientCert', 'tlsClientKey']) metadata[k] = 'c'.repeat(30 * 1024);
    const status = await statusOf(harness.client.getMetricSpec(KedaClient.ref(metadata)));
    expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(status.details).toMatch(/^metadata '(caCert|tlsClientCert|tlsClientKey)': metadata larger than 65536 characters in all$/);
  });
});

describe('the trigger cache', () => {
  it('is bounded in bytes: past its budget the oldest triggers are dropped, the newest kept', async () => {
    await startPool();
    const model = (i: number) => `${String(i).padStart(6, '0')}-${'m'.repeat(MAX_VALUE_LENGTH - 7)}`;
    const metadata = (i: number) => ({ ...QUEUE, model: model(i), metricName: `q-${String(i).padStart(6, '0')}` });
    // Every entry the same size: the cache holds exactly this many (registry's estimate: 4 bytes a character + 1 KiB).
    const entryBytes = metadataKey(metadata(0)).length * 4 + 1024;
    const fits = Math.floor(MAX_CACHED_BYTES / entryBytes);
    const sent = fits + 200;
    for (let i = 0; i < sent; i++) await harness.client.getMetricSpec(KedaClient.ref(metadata(i)));
    const page = await json(`${harness.httpUrl}/api/v1/decisions?limit=1`);
    expect(page.body['total']).toBe(fits);
    const has = async (i: number) =>
      ((await json(`${harness.httpUrl}/api/v1/decisions?metricName=q-${String(i).padStart(6, '0')}`)).body['total'] as number) === 1;
    expect(await has(0)).toBe(false);
    expect(await has(199)).toBe(false);
    expect(await has(200)).toBe(true);
    expect(await has(sent - 1)).toBe(true);
    // A dropped trigger is parsed again when asked for, and answers as before.
    const again = await harness.client.getMetricSpec(KedaClient.ref(metadata(0)));
    expect(again.metricSpecs[0]).toMatchObject({ metricName: 'q-000000', targetSizeFloat: 5 });
    expect(await has(0)).toBe(true);
  }, 60_000);
});

describe('the explain API pages', () => {
  it(`answers /api/v1/decisions ${DEFAULT_LIMIT} triggers at a time, with the total and the next page`, async () => {
    await startPool();
    const count = DEFAULT_LIMIT + 20;
    for (let i = 0; i < count; i++) await harness.client.getMetricSpec(KedaClient.ref({ ...QUEUE, metricName: `q-${i}` }));
    const first = await json(`${harness.httpUrl}/api/v1/decisions`);
    expect(first.status).toBe(200);
    expect(first.body['total']).toBe(count);
    expect((first.body['decisions'] as unknown[]).length).toBe(DEFAULT_LIMIT);
    expect(first.body['next']).toBe(`/api/v1/decisions?limit=${DEFAULT_LIMIT}&offset=${DEFAULT_LIMIT}`);
    const second = await json(`${harness.httpUrl}${String(first.body['next'])}`);
    expect((second.body['decisions'] as unknown[]).length).toBe(20);
    expect(second.body['next']).toBeUndefined();
    const names = [...(first.body['decisions'] as { metricName: string }[]), ...(second.body['decisions'] as { metricName: string }[])].map(
      (d) => d.metricName,
    );
    expect(new Set(names).size).toBe(count);

    const bad = await json(`${harness.httpUrl}/api/v1/decisions?limit=100000`);
    expect(bad.status).toBe(400);
    expect(bad.body['error']).toBe("'limit' must be a whole number from 1 to 500 (got 100000)");
  });
});

describe('series per scrape', () => {
  it('refuses a worker exposing more than scrape.maxSeries series, with the cause in /api/v1/pools/:name and on /metrics', async () => {
    const normal = harness.track(await FakeWorker.start());
    const wide = harness.track(await FakeWorker.start());
    const lines = ['vllm:num_requests_waiting{engine="0",model_name="m"} 1'];
    for (let i = 0; i < 5000; i++) lines.push(`vllm:num_requests_running{engine="${i}",model_name="m"} 1`);
    wide.serve(lines.join('\n') + '\n');
    await harness.start([{ name: 'llama', source: 'vllm', targets: [normal.target, wide.target] }], { scrape: { timeout: '1s', maxSeries: 1000 } });
    await vi.waitFor(
      async () => {
        const pool = await json(`${harness.httpUrl}/api/v1/pools/llama`);
        const workers = pool.body['workers'] as { id: string; state: string; reason?: string }[];
        const refused = workers.find((w) => w.id === wide.target || w.id.includes(String(wide.port)));
        expect(refused?.state).toBe('failing');
        expect(refused?.reason).toBe('too_many_series: more than 1000 series in one scrape (scrape.maxSeries); the worker is not read');
      },
      { timeout: 5000, interval: 50 },
    );
    // The ordinary worker alone answers: the refused one adds nothing (and is not read as 0).
    const answer = await harness.client.getMetrics(KedaClient.ref({ ...QUEUE, valueMode: 'raw' }), '');
    expect(answer.metricValues[0]?.metricValueFloat).toBe(3);
    const text = await (await fetch(`${harness.httpUrl}/metrics`)).text();
    expect(text).toMatch(/^keda_llm_scaler_scrape_errors_total\{pool="llama",cause="too_many_series"\} [1-9]/m);
  });

  it('exports the event-loop delay p99 on /metrics', async () => {
    await startPool();
    // A 300 ms block of the loop must show up as a delay of at least 100 ms in the next scrape.
    await fetch(`${harness.httpUrl}/metrics`);
    // The block runs in a timer of its own, and the sampler's next tick (10 ms later) records it.
    await new Promise<void>((resolve) =>
      setTimeout(() => {
        const until = Date.now() + 300;
        while (Date.now() < until) {
          // busy: the event loop cannot run
        }
        resolve();
      }, 30),
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    const text = await (await fetch(`${harness.httpUrl}/metrics`)).text();
    const p99 = Number(/^keda_llm_scaler_event_loop_delay_p99_seconds (\S+)$/m.exec(text)?.[1]);
    expect(p99).toBeGreaterThanOrEqual(0.1);
    expect(p99).toBeLessThan(5);
  });
});

describe('stream accounting', () => {
  it('counts a StreamIsActive stream the client cancels as CANCELLED, not OK', async () => {
    await startPool();
    const stream = harness.client.raw.StreamIsActive(KedaClient.ref(QUEUE));
    stream.on('error', () => undefined);
    await vi.waitFor(async () => expect(await (await fetch(`${harness.httpUrl}/metrics`)).text()).toMatch(/^keda_llm_scaler_active_streams 1$/m), {
      timeout: 5000,
      interval: 50,
    });
    stream.cancel();
    await vi.waitFor(
      async () => {
        const text = await (await fetch(`${harness.httpUrl}/metrics`)).text();
        expect(text).toMatch(/^keda_llm_scaler_grpc_requests_total\{method="StreamIsActive",code="CANCELLED"\} 1$/m);
        expect(text).not.toMatch(/method="StreamIsActive",code="OK"/);
      },
      { timeout: 5000, interval: 50 },
    );
  });
});
