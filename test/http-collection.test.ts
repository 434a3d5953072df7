import { Writable } from 'node:stream';
import dns2 from 'dns2';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createDiscovery } from '../src/discovery/create-discovery.js';
import type { Discovery } from '../src/discovery/discovery.js';
import { DnsDiscovery } from '../src/discovery/dns-discovery.js';
import { StaticDiscovery } from '../src/discovery/static-discovery.js';
import { ScalerMetrics } from '../src/telemetry.js';
import { FailureLog, type Logger } from '../src/log.js';
import { HttpSource } from '../src/sources/http/http-source.js';
import { ScrapeClient } from '../src/sources/http/scrape-client.js';
import { PoolStore, type WorkerView } from '../src/store/pool-store.js';
import { readFixture } from './support/fixtures.js';
import { FakeWorker } from './support/workers.js';

const POOL = 'llama';
const INTERVAL_MS = 100;
const TIMEOUT_MS = 300;
const MAX_BODY = 1024 * 1024;
const FIXTURE = readFixture('vllm', 'v1-dp2-generated.prom');

// ---------------------------------------------------------------- harness

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  // Sources first (they wait for in-flight scrapes), then clients, then servers.
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function worker(options?: Parameters<typeof FakeWorker.start>[0]): Promise<FakeWorker> {
  const w = await FakeWorker.start(options);
  cleanups.push(() => w.close());
  return w;
}

interface Harness {
  readonly store: PoolStore;
  readonly metrics: ScalerMetrics;
  readonly source: HttpSource;
  /** Every JSON log line written, parsed. */
  readonly logs: Record<string, unknown>[];
  view(id: string): WorkerView | undefined;
}

function harness(discovery: Discovery, options: { model?: string; intervalMs?: number; concurrency?: number; timeoutMs?: number } = {}): Harness {
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const log: Logger = pino({ level: 'info' }, sink);
  const store = new PoolStore(POOL, { cacheTtlMs: 5000, intervalMs: 1000, historyWindowMs: 600_000 });
  const metrics = new ScalerMetrics();
  const client = new ScrapeClient({ timeoutMs: options.timeoutMs ?? TIMEOUT_MS, concurrency: options.concurrency ?? 16, maxBodyBytes: MAX_BODY });
  const source = new HttpSource({
    pool: POOL,
    kind: 'vllm',
    model: options.model,
    store,
    discovery,
    intervalMs: options.intervalMs ?? INTERVAL_MS,
    client,
    metrics,
    log,
    failures: new FailureLog(log),
  });
  cleanups.push(() => client.close());
  cleanups.push(() => source.stop());
  return { store, metrics, source, logs, view: (id) => store.snapshot().workers.find((w) => w.id === id) };
}

function staticPool(...workers: FakeWorker[]): StaticDiscovery {
  return new StaticDiscovery(workers.map((w) => w.target));
}

/** A counter's value for the labels given (other labels ignored); 0 when never incremented. */
async function counter(metrics: ScalerMetrics, name: string, labels: Record<string, string>): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const data = await metric.get();
  return data.values.filter((v) => Object.entries(labels).every(([k, value]) => v.labels[k] === value)).reduce((sum, v) => sum + v.value, 0);
}

/** Observations in the scrape-duration histogram (one per scrape outcome). */
async function durationCount(metrics: ScalerMetrics): Promise<number> {
  const data = await metrics.scrapeDuration.get();
  return data.values.find((v) => v.metricName === 'keda_llm_scaler_scrape_duration_seconds_count' && v.labels['pool'] === POOL)?.value ?? 0;
}

/** DNS response codes (RFC 1035 §4.1.1); dns2's typings do not declare its Packet.RCODE table. */
const RCODE = { SERVFAIL: 2, NXDOMAIN: 3 } as const;

// ---------------------------------------------------------------- healthy workers

describe('HTTP collection from vLLM workers', () => {
  it('gives every healthy worker a fresh sample with the exposition values', async () => {
    const a = await worker();
    const b = await worker();
    const h = harness(staticPool(a, b));
    const before = Date.now();

    await h.source.collectOnce();

    const snapshot = h.store.snapshot();
    expect(snapshot.collected).toBe(true);
    expect(snapshot.fresh.map((f) => f.id).sort()).toEqual([a.target, b.target].sort());
    for (const { sample } of snapshot.fresh) {
      expect(sample.waiting).toBe(3);
      expect(sample.running).toBe(21);
      expect(sample.kvUsage).toBeCloseTo((0.41 + 0.27) / 2, 10);
      expect(sample.models).toEqual(['Qwen/Qwen3-0.6B']);
      expect(sample.counters.promptTokens).toBe(381860 + 368274);
      expect(sample.at).toBeGreaterThanOrEqual(before);
    }
    expect(await counter(h.metrics, 'keda_llm_scaler_scrapes_total', { pool: POOL, result: 'ok' })).toBe(2);
    expect(await durationCount(h.metrics)).toBe(2);
    // The client asked once per worker: one round is one request each.
    expect([a.requests, b.requests]).toEqual([1, 1]);
  });

  it('keeps collecting on its own every interval once started', async () => {
    const a = await worker();
    const h = harness(staticPool(a));
    h.source.start();
    // Samples recorded, round after round (the store keeps no history unless a window needs it).
    await vi.waitFor(async () => expect(await counter(h.metrics, 'keda_llm_scaler_scrapes_total', { result: 'ok' })).toBeGreaterThanOrEqual(3), {
      timeout: 2000,
      interval: 20,
    });
    await h.source.stop();
    const requests = a.requests;
    await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS * 2));
    expect(a.requests).toBe(requests); // stop() really ends the loop
  });

  // ---------------------------------------------------------------- faults

  type Fault = {
    readonly name: string;
    readonly cause: string;
    readonly arrange: (w: FakeWorker) => void | Promise<void>;
  };

  const faults: readonly Fault[] = [
    { name: 'down (nothing listening)', cause: 'connect', arrange: (w) => w.down() },
    { name: 'HTTP 500', cause: 'http_status', arrange: (w) => void w.status(500) },
    { name: 'garbage body', cause: 'no_metrics', arrange: (w) => void w.garbage() },
    { name: 'hung (never answers)', cause: 'timeout', arrange: (w) => void w.hang() },
    { name: 'slower than the timeout', cause: 'timeout', arrange: (w) => void w.serve(FIXTURE, TIMEOUT_MS + 200) },
    { name: 'trickling its body past the timeout', cause: 'timeout', arrange: (w) => void w.trickle(50) },
    { name: 'connection closed without an answer', cause: 'connect', arrange: (w) => void w.closeConnection() },
    { name: '50 MB body, no Content-Length', cause: 'body_too_large', arrange: (w) => void w.huge(50 * 2 ** 20) },
    { name: '50 MB body, declared Content-Length', cause: 'body_too_large', arrange: (w) => void w.huge(50 * 2 ** 20, true) },
  ];

  it.each(faults)('a worker that is $name fails with $cause while a healthy one stays fresh', async ({ cause, arrange }) => {
    const healthy = await worker();
    const faulty = await worker();
    await arrange(faulty);
    const h = harness(staticPool(healthy, faulty));

    await h.source.collectOnce();

    expect(h.view(healthy.target)?.state).toBe('fresh');
    const failing = h.view(faulty.target);
    expect(failing?.state).toBe('failing');
    expect(failing?.failure?.cause).toBe(cause);
    expect(h.store.snapshot().fresh.map((f) => f.id)).toEqual([healthy.target]);
    expect(await counter(h.metrics, 'keda_llm_scaler_scrape_errors_total', { pool: POOL, cause })).toBe(1);
    expect(await counter(h.metrics, 'keda_llm_scaler_scrapes_total', { pool: POOL, result: 'error' })).toBe(1);
    expect(await counter(h.metrics, 'keda_llm_scaler_scrapes_total', { pool: POOL, result: 'ok' })).toBe(1);
    expect(await durationCount(h.metrics)).toBe(2);
    if (cause === 'body_too_large') {
      // Aborted near the 1 MiB cap: the 50 MB body was never read (kernel buffers allow a few MB).
      expect(faulty.bytesSent).toBeLessThan(10 * 2 ** 20);
    }
  });

  it('reuses one keep-alive connection per worker and asks for Prometheus text, not OpenMetrics', async () => {
    const a = await worker();
    const h = harness(staticPool(a));
    for (let i = 0; i < 3; i++) {
      await h.source.collectOnce();
      // Rounds are an interval apart in service; back-to-back in the same tick the pool may not
      // have released the socket yet and would open a second one.
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(a.requests).toBe(3);
    expect(a.connections).toBe(1);
    expect(a.lastHeaders.accept).toBe('text/plain;version=0.0.4;q=1,*/*;q=0.1');
  });

  it('bounds concurrency globally, and a request waiting for a slot is not timed out by the wait', async () => {
    const slow = await Promise.all([worker(), worker(), worker()]);
    for (const w of slow) w.serve(FIXTURE, 120);
    const h = harness(staticPool(...slow), { concurrency: 1 });
    const started = Date.now();
    await h.source.collectOnce();
    // One at a time: 3 × 120 ms > the 300 ms timeout, yet every worker is fresh.
    expect(Date.now() - started).toBeGreaterThanOrEqual(3 * 120 - 5);
    expect(h.store.snapshot().fresh).toHaveLength(3);
  });

  it('accepts a worker that is slow but within the timeout', async () => {
    const slow = await worker();
    slow.serve(FIXTURE, TIMEOUT_MS / 3);
    const h = harness(staticPool(slow));
    await h.source.collectOnce();
    expect(h.view(slow.target)?.state).toBe('fresh');
    expect(h.view(slow.target)?.sample?.waiting).toBe(3);
  });

  it('reports a worker serving another model as model_mismatch', async () => {
    const a = await worker();
    const h = harness(staticPool(a), { model: 'meta-llama/Llama-3.1-8B-Instruct' });
    await h.source.collectOnce();
    expect(h.view(a.target)?.failure?.cause).toBe('model_mismatch');
    expect(await counter(h.metrics, 'keda_llm_scaler_scrape_errors_total', { cause: 'model_mismatch' })).toBe(1);
  });

  it('keeps its pace while a worker hangs: the hung worker is skipped, not re-asked, and delays no one', async () => {
    const healthy = await worker();
    const hung = await worker();
    hung.hang();
    const h = harness(staticPool(healthy, hung), { intervalMs: 50, timeoutMs: 600 });
    h.source.start();
    // Several rounds of the healthy worker land while the hung request is still open.
    await vi.waitFor(async () => expect(await counter(h.metrics, 'keda_llm_scaler_scrapes_total', { result: 'ok' })).toBeGreaterThanOrEqual(4), {
      timeout: 550,
      interval: 10,
    });
    expect(hung.requests).toBe(1);
    expect(h.view(hung.target)?.state).toBe('pending');
    await vi.waitFor(() => expect(h.view(hung.target)?.failure?.cause).toBe('timeout'), { timeout: 3000, interval: 10 });
    expect(h.view(healthy.target)?.state).toBe('fresh');
  });

  it('has no fresh worker when every worker is down, and each is counted', async () => {
    const a = await worker();
    const b = await worker();
    await a.down();
    await b.down();
    const h = harness(staticPool(a, b));
    await h.source.collectOnce();
    const snapshot = h.store.snapshot();
    expect(snapshot.fresh).toEqual([]);
    expect(snapshot.workers.map((w) => w.state)).toEqual(['failing', 'failing']);
    expect(await counter(h.metrics, 'keda_llm_scaler_scrape_errors_total', { pool: POOL, cause: 'connect' })).toBe(2);
  });

  it('makes a worker that comes back fresh again within one interval', async () => {
    const a = await worker();
    const h = harness(staticPool(a));
    await a.down();
    h.source.start();
    await vi.waitFor(() => expect(h.view(a.target)?.state).toBe('failing'), { timeout: 1000, interval: 10 });
    await a.up();
    const back = Date.now();
    await vi.waitFor(() => expect(h.view(a.target)?.state).toBe('fresh'), { timeout: 1000, interval: 5 });
    // One interval plus scheduling slack.
    expect(Date.now() - back).toBeLessThanOrEqual(INTERVAL_MS + 80);
  });

  it('counts a worker whose counters went backwards as a counter reset', async () => {
    const a = await worker();
    const h = harness(staticPool(a));
    await h.source.collectOnce();
    // A restarted worker: same gauges, prompt-token counters back near zero.
    a.serve(FIXTURE.replace(/^(vllm:prompt_tokens_total\{[^}]*\}) \S+$/gm, '$1 5.0'));
    await h.source.collectOnce();
    expect(h.view(a.target)?.state).toBe('fresh');
    expect(h.view(a.target)?.counterResets).toBe(1);
    expect(await counter(h.metrics, 'keda_llm_scaler_counter_resets_total', { pool: POOL })).toBe(1);
    await h.source.collectOnce(); // same values again: no further reset
    expect(await counter(h.metrics, 'keda_llm_scaler_counter_resets_total', { pool: POOL })).toBe(1);
  });

  it('logs a failing worker once per distinct cause and once on recovery, not once per scrape', async () => {
    const a = await worker();
    const h = harness(staticPool(a));
    const failuresLogged = () => h.logs.filter((l) => l['worker'] === a.target && l['cause'] !== undefined);

    a.status(500);
    for (let i = 0; i < 4; i++) await h.source.collectOnce();
    a.garbage();
    for (let i = 0; i < 4; i++) await h.source.collectOnce();
    a.serveFixture('vllm', 'v1-dp2-generated.prom');
    for (let i = 0; i < 3; i++) await h.source.collectOnce();

    expect(await counter(h.metrics, 'keda_llm_scaler_scrape_errors_total', { pool: POOL })).toBe(8);
    expect(failuresLogged().map((l) => l['cause'])).toEqual(['http_status', 'no_metrics']);
    expect(failuresLogged().every((l) => l['level'] === 40)).toBe(true); // warn
    const recovered = h.logs.filter((l) => l['subject'] === `${POOL}/${a.target}` && l['msg'] === 'recovered');
    expect(recovered).toHaveLength(1);
    expect(recovered[0]?.['previousCause']).toBe('no_metrics');
  });
});

// ---------------------------------------------------------------- discovery

describe('worker discovery', () => {
  it('static: a target dropped from the list leaves the store at the next round', async () => {
    const a = await worker();
    const b = await worker();
    const discovery = staticPool(a, b);
    const h = harness(discovery);
    await h.source.collectOnce();
    expect(h.store.snapshot().fresh).toHaveLength(2);

    discovery.replace([a.target]);
    await h.source.collectOnce();
    expect(h.store.snapshot().workers.map((w) => w.id)).toEqual([a.target]);
    expect(b.requests).toBe(1);
  });

  it('static: a failing worker that leaves and comes back is reported again (its log state was forgotten)', async () => {
    const a = await worker();
    a.status(503);
    const discovery = staticPool(a);
    const h = harness(discovery);
    const warnings = () => h.logs.filter((l) => l['worker'] === a.target && l['cause'] === 'http_status');
    await h.source.collectOnce();
    await h.source.collectOnce();
    expect(warnings()).toHaveLength(1);
    discovery.replace([]);
    await h.source.collectOnce();
    expect(h.store.size).toBe(0);
    discovery.replace([a.target]);
    await h.source.collectOnce();
    expect(warnings()).toHaveLength(2);
    expect(h.logs.filter((l) => l['msg'] === 'pool workers changed')).toHaveLength(3);
  });

  it('static: parses host:port, host:port/path and bracketed IPv6', async () => {
    const d = createDiscovery({ scheme: 'https', targets: ['10.0.0.7:8000', 'w1:9000/stats/prom', '[fd00::1]:8000'] });
    expect(await d.resolve()).toEqual([
      { id: '10.0.0.7:8000', url: 'https://10.0.0.7:8000/metrics' },
      { id: 'w1:9000', url: 'https://w1:9000/stats/prom' },
      { id: '[fd00::1]:8000', url: 'https://[fd00::1]:8000/metrics' },
    ]);
    expect(() => new StaticDiscovery(['no-port'])).toThrow(/host:port/);
  });

  it('dns (system resolver): resolves names through /etc/hosts', async () => {
    const d = new DnsDiscovery({ name: 'localhost', port: 8000 });
    const ids = (await d.resolve()).map((t) => t.id);
    expect(ids).toContain('127.0.0.1:8000');
  });

  describe('against a real DNS server', () => {
    const NAME = 'llama-headless.ns.svc.cluster.local';
    const records = new Map<string, { a: string[]; aaaa: string[] }>();
    let failWith: number | undefined;

    async function dnsServer(): Promise<string> {
      const { Packet } = dns2;
      const server = dns2.createServer({
        udp: true,
        handle: (request, send) => {
          const response = Packet.createResponseFromRequest(request);
          const [question] = request.questions;
          const entry = question ? records.get(question.name) : undefined;
          if (failWith !== undefined) {
            response.header.rcode = failWith;
          } else if (!question || !entry) {
            response.header.rcode = RCODE.NXDOMAIN;
          } else {
            const isV6 = question.type === Packet.TYPE.AAAA;
            for (const address of isV6 ? entry.aaaa : question.type === Packet.TYPE.A ? entry.a : []) {
              response.answers.push(Packet.createResourceFromQuestion(question, { address, ttl: 0 }));
            }
          }
          void send(response);
        },
      });
      const addresses = await server.listen({ udp: { port: 0, address: '127.0.0.1' } });
      cleanups.push(() => server.close());
      records.clear();
      failWith = undefined;
      return `127.0.0.1:${addresses.udp?.port ?? 0}`;
    }

    it('returns every A and AAAA record, IPv6 bracketed; an unknown name is zero workers', async () => {
      const server = await dnsServer();
      records.set(NAME, { a: ['10.0.0.8', '10.0.0.7'], aaaa: ['fd00::5'] });
      const d = createDiscovery({ discovery: { dns: NAME, port: 8000, path: '/metrics', server } });
      expect(await d.resolve()).toEqual([
        { id: '10.0.0.7:8000', url: 'http://10.0.0.7:8000/metrics' },
        { id: '10.0.0.8:8000', url: 'http://10.0.0.8:8000/metrics' },
        { id: '[fd00::5]:8000', url: 'http://[fd00::5]:8000/metrics' },
      ]);
      records.set(NAME, { a: ['10.0.0.7'], aaaa: [] }); // no AAAA: NODATA is not an error
      expect((await d.resolve()).map((t) => t.id)).toEqual(['10.0.0.7:8000']);
      records.delete(NAME); // NXDOMAIN
      expect(await d.resolve()).toEqual([]);
      failWith = RCODE.SERVFAIL;
      await expect(d.resolve()).rejects.toThrow();
    });

    it('a worker whose record disappears leaves the store; a DNS failure keeps the workers and is reported once', async () => {
      const server = await dnsServer();
      const first = await worker({ host: '127.0.0.1' });
      // Same port on a second loopback address: DNS discovery gives every worker one port.
      const second = await worker({ host: '127.0.0.2', port: first.port });
      records.set(NAME, { a: ['127.0.0.1', '127.0.0.2'], aaaa: [] });
      const h = harness(createDiscovery({ discovery: { dns: NAME, port: first.port, server } }));

      await h.source.collectOnce();
      expect(h.store.snapshot().fresh.map((f) => f.id)).toEqual([first.target, second.target]);

      records.set(NAME, { a: ['127.0.0.1'], aaaa: [] });
      await h.source.collectOnce();
      expect(h.store.snapshot().workers.map((w) => w.id)).toEqual([first.target]);

      failWith = RCODE.SERVFAIL;
      await h.source.collectOnce();
      await h.source.collectOnce();
      expect(h.source.lastDiscoveryError).toBeDefined();
      expect(h.store.snapshot().fresh.map((f) => f.id)).toEqual([first.target]); // kept and still scraped
      expect(first.requests).toBe(4);
      expect(await counter(h.metrics, 'keda_llm_scaler_scrape_errors_total', { pool: POOL, cause: 'discovery' })).toBe(2);
      expect(h.logs.filter((l) => l['msg'] === 'worker discovery failed; keeping the previous workers')).toHaveLength(1);

      failWith = undefined;
      records.set(NAME, { a: ['127.0.0.1', '127.0.0.2'], aaaa: [] });
      await h.source.collectOnce();
      expect(h.source.lastDiscoveryError).toBeUndefined();
      expect(h.store.snapshot().fresh.map((f) => f.id)).toEqual([first.target, second.target]);
    });
  });
});
