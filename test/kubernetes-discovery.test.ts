/**
 * Kubernetes EndpointSlice discovery against an API endpoint served by the test over real HTTPS
 * (test/support/kube-api.ts: list, watch events, bookmarks, 410 Gone, 403), feeding a real scaler
 * that scrapes real HTTP workers at the endpoints' addresses (127.0.0.x loopback addresses).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { freePort } from '../src/cli/demo/net.js';
import { KedaClient, statusOf } from './support/keda-client.js';
import { endpointSlice, FakeKubeApi, type EndpointSpec } from './support/kube-api.js';
import { TestScaler } from './support/test-scaler.js';
import { FakeWorker } from './support/workers.js';

const CHECK_INTERVAL_MS = 250;
/**
 * A change is in the pool at the round after the watch event arrives: within one interval, plus
 * the new worker's first scrape and the store's publication (tens of ms; one more interval of
 * allowance for a loaded machine).
 */
const WITHIN_ONE_INTERVAL = { timeout: 2 * CHECK_INTERVAL_MS, interval: 10 };

const harness = new TestScaler();
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  await harness.close();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** An exposition whose queue depth names the worker: 1, 10, 100 … */
const exposition = (waiting: number) =>
  [
    `vllm:num_requests_waiting{engine="0",model_name="m"} ${waiting}`,
    'vllm:num_requests_running{engine="0",model_name="m"} 1',
    'vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.5',
    '',
  ].join('\n');

interface Fixture {
  readonly api: FakeKubeApi;
  readonly pods: Record<string, { ip: string; worker: FakeWorker; waiting: number }>;
  readonly logs: Record<string, unknown>[];
}

async function setUp(initial: readonly string[]): Promise<Fixture> {
  const dir = mkdtempSync(path.join(tmpdir(), 'kls-kube-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const api = await FakeKubeApi.start(dir);
  cleanups.push(() => api.close());
  const port = await freePort();
  const pods: Fixture['pods'] = {};
  for (const [i, name] of ['llama-a', 'llama-b', 'llama-c'].entries()) {
    const ip = `127.0.0.${i + 2}`;
    const waiting = 10 ** i;
    const worker = await FakeWorker.start({ host: ip, port, behaviour: { kind: 'text', body: exposition(waiting) } });
    cleanups.push(() => worker.close());
    pods[name] = { ip, worker, waiting };
  }
  api.apply(
    endpointSlice(
      'llama-x1',
      'llama',
      initial.map((pod) => ({ ip: pods[pod]!.ip, pod })),
      { port },
    ),
  );
  // A slice of another Service in the namespace: never read.
  api.apply(endpointSlice('other-x1', 'other', [{ ip: '127.0.0.9', pod: 'other-0' }], { port }));
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  await harness.start(
    [
      { name: 'llama', source: 'vllm', discovery: { kubernetes: { namespace: 'llm', service: 'llama', port: 'http', kubeconfig: api.kubeconfig } } },
      { name: 'static', source: 'vllm', targets: [pods['llama-a']!.worker.target] },
    ],
    { checkInterval: `${CHECK_INTERVAL_MS}ms` },
    { log: pino({ level: 'info' }, sink) },
  );
  return { api, pods, logs };
}

/** Rewrites the Service's slice with these endpoints (one watch event). */
function setEndpoints(f: Fixture, endpoints: readonly (Omit<EndpointSpec, 'ip'> & { pod: string })[]): void {
  const port = f.pods['llama-a']!.worker.port;
  f.api.apply(
    endpointSlice(
      'llama-x1',
      'llama',
      endpoints.map((e) => ({ ...e, ip: f.pods[e.pod]!.ip })),
      { port },
    ),
  );
}

const ref = (metadata: Record<string, string>) => KedaClient.ref({ pool: 'llama', target: '1', ...metadata });

async function queueDepth(pool = 'llama'): Promise<number> {
  const so = KedaClient.ref({ pool, target: '1', metric: 'queue_depth' });
  return (await harness.client.getMetrics(so, `${pool}-queue_depth`)).metricValues[0]!.metricValueFloat;
}

async function workers(): Promise<{ id: string; name?: string; state: string; reason?: string }[]> {
  const response = await fetch(`${harness.httpUrl}/api/v1/pools/llama`);
  return ((await response.json()) as { workers: { id: string; name?: string; state: string; reason?: string }[] }).workers;
}

describe('Kubernetes EndpointSlice discovery', () => {
  it('pods added, becoming not ready, terminating and deleted are in the pool within one interval', async () => {
    const f = await setUp(['llama-a', 'llama-b']);
    const { api, pods } = f;
    await vi.waitFor(async () => expect(await queueDepth()).toBe(1 + 10), { timeout: 5000, interval: 20 });
    expect(api.requests[0]).toMatchObject({ verb: 'list', labelSelector: 'kubernetes.io/service-name=llama' });
    const watches = api.requests.filter((r) => r.verb === 'watch');
    expect(watches[0]).toMatchObject({ resourceVersion: '102', allowWatchBookmarks: true, labelSelector: 'kubernetes.io/service-name=llama' });
    expect((await workers()).map((w) => [w.id, w.name])).toEqual([
      [pods['llama-a']!.worker.target, 'llama-a'],
      [pods['llama-b']!.worker.target, 'llama-b'],
    ]);

    // Added.
    setEndpoints(f, [{ pod: 'llama-a' }, { pod: 'llama-b' }, { pod: 'llama-c' }]);
    await vi.waitFor(async () => expect(await queueDepth()).toBe(111), WITHIN_ONE_INTERVAL);

    // Not ready (readiness probe failing): not a worker.
    setEndpoints(f, [{ pod: 'llama-a' }, { pod: 'llama-b', ready: false, serving: false }, { pod: 'llama-c' }]);
    await vi.waitFor(async () => expect(await queueDepth()).toBe(101), WITHIN_ONE_INTERVAL);
    expect((await workers()).map((w) => w.name)).toEqual(['llama-a', 'llama-c']);

    // Terminating, still serving: draining, shown with its pod, counted nowhere.
    setEndpoints(f, [{ pod: 'llama-a' }, { pod: 'llama-c', ready: false, serving: true, terminating: true }]);
    await vi.waitFor(async () => expect(await queueDepth()).toBe(1), WITHIN_ONE_INTERVAL);
    const draining = (await workers()).find((w) => w.name === 'llama-c');
    expect(draining).toMatchObject({
      id: pods['llama-c']!.worker.target,
      state: 'draining',
      reason: 'pod llama-c is terminating and still serving its last requests',
    });
    // KV usage under AverageValue: 0.5 × 1 ready worker, not × 2.
    const kv = ref({ metric: 'kv_cache_usage' });
    expect((await harness.client.getMetrics(kv, 'llama-kv_cache_usage')).metricValues[0]!.metricValueFloat).toBe(0.5);
    const explained = (await (await fetch(`${harness.httpUrl}/api/v1/pools/llama`)).json()) as {
      signals: Record<string, { excluded: { worker: string; pod?: string; why: string }[] }>;
    };
    expect(explained.signals['queue_depth']!.excluded).toContainEqual({
      worker: pods['llama-c']!.worker.target,
      pod: 'llama-c',
      why: 'draining: pod llama-c is terminating and still serving its last requests; left out of the fleet and of replica counts',
    });

    // Deleted (the endpoint leaves the slice), then the whole slice deleted.
    setEndpoints(f, [{ pod: 'llama-a' }]);
    await vi.waitFor(async () => expect((await workers()).map((w) => w.name)).toEqual(['llama-a']), WITHIN_ONE_INTERVAL);
    api.delete('llm', 'llama-x1');
    await vi.waitFor(async () => expect(await workers()).toEqual([]), WITHIN_ONE_INTERVAL);
    // No endpoint at all is a real zero workers (scaled to zero), not missing data.
    expect(await queueDepth()).toBe(0);
    expect(await queueDepth('static')).toBe(1);
  });

  it('a broken watch resumes from the last version (bookmarks included); a stale version (410 Gone) lists again', async () => {
    const f = await setUp(['llama-a']);
    const { api } = f;
    await vi.waitFor(async () => expect(await queueDepth()).toBe(1), { timeout: 5000, interval: 20 });
    await vi.waitFor(() => expect(api.openWatches).toBe(1), { timeout: 2000, interval: 10 });

    // A bookmark moves the watch's version without a change; the resumed watch starts there.
    api.apply(endpointSlice('other-x1', 'other', [], { port: 1 })); // a change the watch does not see (another Service)
    api.bookmark();
    const bookmarked = api.resourceVersion;
    await new Promise((resolve) => setTimeout(resolve, 50));
    api.breakWatches();
    await vi.waitFor(() => expect(api.openWatches).toBe(1), { timeout: 2000, interval: 10 });
    expect(api.requests.filter((r) => r.verb === 'watch').at(-1)?.resourceVersion).toBe(bookmarked);
    expect(api.requests.filter((r) => r.verb === 'list')).toHaveLength(1);
    setEndpoints(f, [{ pod: 'llama-a' }, { pod: 'llama-b' }]);
    await vi.waitFor(async () => expect(await queueDepth()).toBe(11), WITHIN_ONE_INTERVAL);

    // History compacted while the watch is down: the resumed watch gets 410 Gone, and a new list
    // brings in what changed meanwhile.
    api.breakWatches();
    setEndpoints(f, [{ pod: 'llama-b' }, { pod: 'llama-c' }]);
    api.compact();
    await vi.waitFor(async () => expect(await queueDepth()).toBe(110), { timeout: 3000, interval: 20 });
    expect(api.requests.filter((r) => r.verb === 'list')).toHaveLength(2);
    await vi.waitFor(() => expect(api.openWatches).toBe(1), { timeout: 2000, interval: 10 });
    setEndpoints(f, [{ pod: 'llama-c' }]);
    await vi.waitFor(async () => expect(await queueDepth()).toBe(100), WITHIN_ONE_INTERVAL);
  });

  it('forbidden (403): a clear error naming the RBAC it needs, logged once; other pools unaffected; recovers when allowed', async () => {
    const f = await setUpForbidden();
    const { api, logs } = f;
    await vi.waitFor(
      async () => {
        const status = await statusOf(harness.client.getMetrics(KedaClient.ref({ pool: 'llama', target: '1', metric: 'queue_depth' }), 'llama-queue_depth'));
        expect(status.code).toBe(grpc.status.UNAVAILABLE);
        expect(status.details).toContain('has not been discovered yet');
      },
      { timeout: 5000, interval: 20 },
    );
    // The static pool answers as soon as its first scrape is in (it may still be under way here).
    await vi.waitFor(async () => expect(await queueDepth('static')).toBe(1), { timeout: 3000, interval: 20 });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const failures = logs.filter((l) => l['subject'] === 'llama/discovery' && l['cause'] === 'discovery');
    expect(failures).toHaveLength(1);
    expect(failures[0]!['error']).toContain('HTTP 403: endpointslices.discovery.k8s.io is forbidden');
    expect(failures[0]!['error']).toContain('needs list and watch on endpointslices.discovery.k8s.io');
    // The list is retried with backoff, not in a tight loop.
    expect(api.requests.length).toBeLessThan(10);

    // List allowed, watch still forbidden: the listed workers serve, the watch failure is reported once.
    api.forbid('watch');
    await vi.waitFor(async () => expect(await queueDepth()).toBe(1), { timeout: 40_000, interval: 50 });
    await vi.waitFor(() => expect(logs.filter((l) => l['subject'] === 'llama/discovery' && l['cause'] === 'discovery_outdated')).toHaveLength(1), {
      timeout: 5000,
    });
    const outdated = logs.find((l) => l['cause'] === 'discovery_outdated');
    expect(outdated?.['error']).toContain('watching kubernetes endpointslices llm/llama port http: HTTP 403');
    expect(outdated?.['error']).toContain('needs list and watch on endpointslices.discovery.k8s.io');
    api.forbid();
    setEndpoints(f, [{ pod: 'llama-a' }, { pod: 'llama-b' }]);
    await vi.waitFor(async () => expect(await queueDepth()).toBe(11), { timeout: 40_000, interval: 50 });
  }, 90_000);
});

async function setUpForbidden(): Promise<Fixture> {
  const dir = mkdtempSync(path.join(tmpdir(), 'kls-kube-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const api = await FakeKubeApi.start(dir);
  cleanups.push(() => api.close());
  api.forbid('list', 'watch');
  const port = await freePort();
  const pods: Fixture['pods'] = {};
  for (const [i, name] of ['llama-a', 'llama-b'].entries()) {
    const ip = `127.0.0.${i + 2}`;
    const worker = await FakeWorker.start({ host: ip, port, behaviour: { kind: 'text', body: exposition(10 ** i) } });
    cleanups.push(() => worker.close());
    pods[name] = { ip, worker, waiting: 10 ** i };
  }
  api.apply(endpointSlice('llama-x1', 'llama', [{ ip: pods['llama-a']!.ip, pod: 'llama-a' }], { port }));
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  await harness.start(
    [
      { name: 'llama', source: 'vllm', discovery: { kubernetes: { namespace: 'llm', service: 'llama', port: 'http', kubeconfig: api.kubeconfig } } },
      { name: 'static', source: 'vllm', targets: [pods['llama-a']!.worker.target] },
    ],
    { checkInterval: `${CHECK_INTERVAL_MS}ms` },
    { log: pino({ level: 'info' }, sink) },
  );
  return { api, pods, logs };
}
