import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { IsActiveResponse } from '../src/grpc/messages.js';
import { readFixture } from './support/fixtures.js';
import { KedaClient, healthCheck, statusOf } from './support/keda-client.js';
import { INTERVAL, TestScaler } from './support/test-scaler.js';
import { emptyDiscovery, emptyDnsServer } from './support/empty-dns.js';
import { FakeWorker } from './support/workers.js';

const DP2 = readFixture('vllm', 'v1-dp2-generated.prom');

/** The dp2 fixture with chosen per-engine waiting counts and KV usage. */
function dp2With(values: { waiting?: [number, number]; kv?: [number, number] }): string {
  let text = DP2;
  values.waiting?.forEach((v, engine) => {
    text = text.replace(new RegExp(`^(vllm:num_requests_waiting\\{engine="${engine}"[^}]*\\}) .*$`, 'm'), `$1 ${v.toFixed(1)}`);
  });
  values.kv?.forEach((v, engine) => {
    text = text.replace(new RegExp(`^(vllm:kv_cache_usage_perc\\{engine="${engine}"[^}]*\\}) .*$`, 'm'), `$1 ${v}`);
  });
  return text;
}

const harness = new TestScaler();
afterEach(() => harness.close());

/** A pool of these workers; none is a pool discovered through DNS that has no workers (a legitimate zero). */
async function startScaler(targets: string[]) {
  if (targets.length > 0) return harness.start([{ name: 'llama', source: 'vllm', targets }]);
  const dns = await emptyDnsServer();
  harness.track(dns);
  return harness.start([{ name: 'llama', source: 'vllm', discovery: emptyDiscovery(dns.server) }]);
}

async function startWorkers(count: number): Promise<FakeWorker[]> {
  return Promise.all(Array.from({ length: count }, async () => harness.track(await FakeWorker.start())));
}

const ref = (metadata: Record<string, string>) => KedaClient.ref({ scalerAddress: 'scaler:9090', ...metadata });

/** KEDA's sequence for one trigger: GetMetricSpec, GetMetrics with the returned name, IsActive. */
async function kedaPoll(metadata: Record<string, string>) {
  const so = ref(metadata);
  const spec = await harness.client.getMetricSpec(so);
  expect(spec.metricSpecs).toHaveLength(1);
  const metricName = spec.metricSpecs[0]!.metricName;
  const metrics = await harness.client.getMetrics(so, metricName);
  const active = await harness.client.isActive(so);
  return { spec: spec.metricSpecs[0]!, metrics, active };
}

describe('KEDA end to end against real vLLM workers', () => {
  it('answers GetMetricSpec → GetMetrics → IsActive with values computed from the fixture', async () => {
    const [a, b] = await startWorkers(2);
    await startScaler([a!.target, b!.target]);
    await harness.waitReady();

    // Each worker: engine 0 waiting 3 running 12 kv 0.41; engine 1 waiting 0 running 9 kv 0.27.
    const queue = await kedaPoll({ pool: 'llama', metric: 'queue_depth', target: '5' });
    expect(queue.spec).toEqual({ metricName: 'llama-queue_depth', targetSize: 5, targetSizeFloat: 5 });
    expect(queue.metrics.metricValues).toEqual([{ metricName: 'llama-queue_depth', metricValue: 6, metricValueFloat: 6 }]);
    expect(queue.active).toBe(true);

    const running = await kedaPoll({ pool: 'llama', metric: 'running_requests', target: '20' });
    expect(running.metrics.metricValues[0]!.metricValueFloat).toBe(42);

    // Intensive: the mean KV usage (0.41 + 0.27) / 2 = 0.34 per worker, × 2 ready workers.
    const kv = await kedaPoll({ pool: 'llama', metric: 'kv_cache_usage', target: '0.7', activationThreshold: '0.5' });
    expect(kv.spec).toEqual({ metricName: 'llama-kv_cache_usage', targetSize: 1, targetSizeFloat: 0.7 });
    expect(kv.metrics.metricValues[0]!.metricValueFloat).toBeCloseTo(0.68, 10);
    expect(kv.metrics.metricValues[0]!.metricValue).toBe(1);
    expect(kv.active).toBe(false); // 0.34 does not exceed 0.5

    // 100 × Σ(kv_e × 59064) / Σ 59064 over both workers = 34 %, × 2 ready workers.
    const blocks = await kedaPoll({ pool: 'llama', metric: 'kv_blocks_usage_percent', target: '80' });
    expect(blocks.metrics.metricValues[0]!.metricValueFloat).toBeCloseTo(68, 8);

    const raw = await kedaPoll({ pool: 'llama', metric: 'kv_cache_usage', target: '0.7', valueMode: 'raw' });
    expect(raw.metrics.metricValues[0]!.metricValueFloat).toBeCloseTo(0.34, 10);
  });

  it('matches metric names case-insensitively and answers NOT_FOUND for another name', async () => {
    const [a] = await startWorkers(1);
    await startScaler([a!.target]);
    await harness.waitReady();
    const so = ref({ pool: 'llama', metric: 'queue_depth', target: '5' });
    expect((await harness.client.getMetrics(so, 'LLAMA-Queue_Depth')).metricValues[0]!.metricValueFloat).toBe(3);
    const notFound = await statusOf(harness.client.getMetrics(so, 'llama-kv_cache_usage'));
    expect(notFound.code).toBe(grpc.status.NOT_FOUND);
    expect(notFound.details).toContain("its metric is 'llama-queue_depth'");
  });

  it('refuses bad metadata with INVALID_ARGUMENT naming the key, on every rpc', async () => {
    const [a] = await startWorkers(1);
    await startScaler([a!.target]);
    const cases: [Record<string, string>, string][] = [
      [{ pool: 'mistral', metric: 'queue_depth', target: '5' }, "metadata 'pool': unknown pool 'mistral'"],
      [{ pool: 'llama', metric: 'gpu_util', target: '5' }, "metadata 'metric': unknown signal 'gpu_util'"],
      [{ pool: 'llama', metric: 'queue_depth', target: 'lots' }, "metadata 'target': 'lots' is not a number"],
      [{ pool: 'llama', metric: 'queue_depth', target: '0' }, "metadata 'target'"],
      [{ pool: 'llama', metric: 'queue_depth', target: '-1' }, "metadata 'target'"],
    ];
    for (const [metadata, message] of cases) {
      await harness.expectInvalidArgument(ref(metadata), message);
    }
  });

  it('says UNAVAILABLE when every worker is down, keeps GetMetricSpec working, and recovers within an interval', async () => {
    const [a, b] = await startWorkers(2);
    await startScaler([a!.target, b!.target]);
    const address = harness.grpcAddress;
    await harness.waitReady();
    const so = ref({ pool: 'llama', metric: 'queue_depth', target: '5' });

    // A worker that is down counts with its last good value until that is the cache TTL (2 s) old.
    await a!.down();
    await vi.waitFor(async () => expect((await harness.client.getMetrics(so, 'llama-queue_depth')).metricValues[0]!.metricValueFloat).toBe(3), {
      timeout: 8000,
      interval: 20,
    });

    await b!.down();
    await vi.waitFor(async () => expect((await statusOf(harness.client.getMetrics(so, 'llama-queue_depth'))).code).toBe(grpc.status.UNAVAILABLE), {
      timeout: 8000,
      interval: 20,
    });
    const unavailable = await statusOf(harness.client.getMetrics(so, 'llama-queue_depth'));
    expect(unavailable.details).toMatch(/no fresh data in pool 'llama': 2 of 2 workers are not fresh/);
    expect((await statusOf(harness.client.isActive(so))).code).toBe(grpc.status.UNAVAILABLE);
    expect((await harness.client.getMetricSpec(so)).metricSpecs[0]!.targetSizeFloat).toBe(5);
    await vi.waitFor(async () => expect(await healthCheck(address, 'readiness')).toBe('NOT_SERVING'), { timeout: 3000, interval: 50 });
    expect(await healthCheck(address, 'liveness')).toBe('SERVING');

    await a!.up();
    const back = Date.now();
    await vi.waitFor(async () => expect((await harness.client.getMetrics(so, 'llama-queue_depth')).metricValues[0]!.metricValueFloat).toBe(3), {
      timeout: 3000,
      interval: 10,
    });
    // One check interval, plus scheduling slack for a loaded 2-core machine.
    expect(Date.now() - back).toBeLessThan(INTERVAL + 400);
  });

  it('answers 0, not UNAVAILABLE, for a pool that legitimately has no workers', async () => {
    await startScaler([]);
    const polled = await kedaPoll({ pool: 'llama', metric: 'kv_cache_usage', target: '0.7' });
    expect(polled.metrics.metricValues[0]).toEqual({ metricName: 'llama-kv_cache_usage', metricValue: 0, metricValueFloat: 0 });
    expect(polled.active).toBe(false);
  });

  it('pushes true on StreamIsActive within an interval + 100 ms of a crossing, exactly once per transition', async () => {
    const [a] = await startWorkers(1);
    a!.serve(dp2With({ waiting: [0, 0] }));
    await startScaler([a!.target]);
    await harness.waitReady();

    const received: { at: number; result: boolean }[] = [];
    const stream = harness.client.raw.StreamIsActive(ref({ pool: 'llama', metric: 'queue_depth', target: '5', activationThreshold: '4' }));
    stream.on('data', (message: IsActiveResponse) => received.push({ at: Date.now(), result: message.result }));
    const ended = new Promise<grpc.StatusObject>((resolve) => stream.on('status', resolve));
    stream.on('error', () => {});

    await sleep(4 * INTERVAL);
    expect(received).toEqual([]); // inactive: nothing is sent

    a!.serve(dp2With({ waiting: [3, 4] }));
    const crossed = Date.now();
    await vi.waitFor(() => expect(received).toHaveLength(1), { timeout: 2000, interval: 5 });
    expect(received[0]!.result).toBe(true);
    expect(received[0]!.at - crossed).toBeLessThanOrEqual(INTERVAL + 100);

    a!.serve(dp2With({ waiting: [5, 5] })); // still active: no repeat
    await sleep(5 * INTERVAL);
    expect(received).toHaveLength(1);

    a!.serve(dp2With({ waiting: [1, 0] })); // inactive again: KEDA ignores false, so nothing is sent
    await sleep(5 * INTERVAL);
    expect(received).toHaveLength(1);

    a!.serve(dp2With({ waiting: [9, 0] })); // a second transition
    await vi.waitFor(() => expect(received).toHaveLength(2), { timeout: 2000, interval: 5 });
    await sleep(5 * INTERVAL);
    expect(received).toHaveLength(2);

    await harness.stopScaler();
    expect((await ended).code).toBe(grpc.status.OK);
  });

  it('sends true once when a stream opens on an already active trigger', async () => {
    const [a] = await startWorkers(1);
    await startScaler([a!.target]);
    await harness.waitReady();
    const received: boolean[] = [];
    const stream = harness.client.raw.StreamIsActive(ref({ pool: 'llama', metric: 'queue_depth', target: '5' }));
    stream.on('data', (m: IsActiveResponse) => received.push(m.result));
    stream.on('error', () => {});
    await vi.waitFor(() => expect(received).toEqual([true]), { timeout: 2000, interval: 10 });
    await sleep(5 * INTERVAL);
    expect(received).toEqual([true]);
    stream.cancel();
  });

  it('drops streams whose clients vanish', async () => {
    const [a] = await startWorkers(1);
    await startScaler([a!.target]);
    const streams = Array.from({ length: 20 }, () => {
      const s = harness.client.raw.StreamIsActive(ref({ pool: 'llama', metric: 'queue_depth', target: '5' }));
      s.on('error', () => {});
      return s;
    });
    const openStreams = async () => {
      const text = await (await fetch(`${harness.httpUrl}/metrics`)).text();
      return Number(/^keda_llm_scaler_active_streams (\d+)/m.exec(text)?.[1]);
    };
    await vi.waitFor(async () => expect(await openStreams()).toBe(20), { timeout: 3000, interval: 20 });
    for (const s of streams) s.cancel();
    await vi.waitFor(async () => expect(await openStreams()).toBe(0), { timeout: 3000, interval: 20 });
  });

  it('ends StreamIsActive with INVALID_ARGUMENT on bad metadata', async () => {
    await startScaler([]);
    const stream = harness.client.raw.StreamIsActive(ref({ pool: 'nope', metric: 'queue_depth', target: '5' }));
    const error = await new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error.details).toContain("metadata 'pool'");
  });

  it('serves StreamMetricSpec with the current spec on open', async () => {
    await startScaler([]);
    const stream = harness.client.raw.StreamMetricSpec(ref({ pool: 'llama', metric: 'kv_cache_usage', target: '0.75' }));
    const first = await new Promise((resolve) => stream.on('data', resolve));
    expect(first).toEqual({ metricSpecs: [{ metricName: 'llama-kv_cache_usage', targetSize: 1, targetSizeFloat: 0.75 }] });
    stream.on('error', () => {});
    stream.cancel();
  });

  it('lists its services through server reflection, as grpcurl does', async () => {
    await startScaler([]);
    const reflectionProto = path.join(path.dirname(createRequire(import.meta.url).resolve('@grpc/reflection')), '../proto/grpc/reflection/v1/reflection.proto');
    const loaded = grpc.loadPackageDefinition(protoLoader.loadSync(reflectionProto, { keepCase: true })) as unknown as {
      grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } };
    };
    const reflection = new loaded.grpc.reflection.v1.ServerReflection(harness.grpcAddress, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
      ServerReflectionInfo(): grpc.ClientDuplexStream<{ list_services: string }, { list_services_response: { service: { name: string }[] } }>;
    };
    const call = reflection.ServerReflectionInfo();
    const response = new Promise<{ list_services_response: { service: { name: string }[] } }>((resolve) => call.on('data', resolve));
    call.write({ list_services: '' });
    const names = (await response).list_services_response.service.map((s) => s.name);
    call.end();
    reflection.close();
    expect(names).toEqual(expect.arrayContaining(['externalscaler.ExternalScaler', 'grpc.health.v1.Health']));
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
