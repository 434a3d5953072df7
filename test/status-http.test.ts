/**
 * The status page over plain HTTP, against a real scaler and real workers: content types and
 * caching of the page and its files, 404 for anything else, `http.ui: false`, the live stream
 * (first message full, then only new rows; bounded; ended on shutdown), no secrets, and the
 * decisions in words that the page shows.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MAX_LIVE_STREAMS } from '../src/http/status-routes.js';
import type { PoolPayload } from '../src/http/ui/contract.js';
import { makeCa, makeLeaf } from './support/certs.js';
import { KedaClient } from './support/keda-client.js';
import { INTERVAL, TestScaler } from './support/test-scaler.js';
import { FakeWorker } from './support/workers.js';
import { vllmGauges } from './support/vllm-exposition.js';

const harness = new TestScaler();
afterEach(() => harness.close());

const vllm = vllmGauges;

async function workers(...loads: { kv: number; waiting: number; running?: number }[]): Promise<FakeWorker[]> {
  return Promise.all(loads.map(async (load) => harness.track(await FakeWorker.start({ behaviour: { kind: 'text', body: vllm(load) } }))));
}

const ref = (metadata: Record<string, string>) => KedaClient.ref({ scalerAddress: 'scaler:9090', pool: 'llama', ...metadata });

async function poolPayload(base: string): Promise<PoolPayload> {
  const response = await fetch(`${base}/api/v1/status/pools/llama`);
  expect(response.status).toBe(200);
  return (await response.json()) as PoolPayload;
}

/** Reads Server-Sent Events from `url` until `count` `status` messages arrived (or the stream ends). */
async function readEvents(url: string, count: number, signal?: AbortSignal): Promise<{ headers: Headers; messages: unknown[] }> {
  const response = await fetch(url, { signal });
  const messages: unknown[] = [];
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  while (messages.length < count) {
    const { done, value } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = /^event: status\ndata: (.*)$/s.exec(block)?.[1];
      if (data !== undefined) messages.push(JSON.parse(data));
    }
  }
  await reader.cancel();
  return { headers: response.headers, messages };
}

describe('status page over HTTP', () => {
  it('serves the page with no-cache and a strict CSP, its files immutable under a versioned path (gzip, ETag), and 404 for anything else', async () => {
    const [a] = await workers({ kv: 0.4, waiting: 1 });
    await harness.start([{ name: 'llama', source: 'vllm', targets: [a!.target] }]);
    const base = harness.httpUrl;

    for (const pathname of ['/', '/pools/llama']) {
      const page = await fetch(`${base}${pathname}`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(page.headers.get('cache-control')).toBe('no-cache');
      expect(page.headers.get('x-content-type-options')).toBe('nosniff');
      expect(page.headers.get('content-security-policy')).toMatch(/^default-src 'none'; script-src 'self' 'sha256-[A-Za-z0-9+/=]+'; style-src 'self';/);
      expect(page.headers.get('content-security-policy')).toContain("connect-src 'self'");
    }
    const html = await (await fetch(`${base}/pools/llama`)).text();
    expect(html).toContain('data-pool="llama"');
    // Nothing on the page points anywhere but the scaler itself.
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    const version = /\/ui\/([0-9a-f]{12})\/main\.js/.exec(html)?.[1];
    expect(version).toBeDefined();

    const expected: Record<string, string> = {
      'main.js': 'text/javascript; charset=utf-8',
      'pool-page.js': 'text/javascript; charset=utf-8',
      'charts.js': 'text/javascript; charset=utf-8',
      'style.css': 'text/css; charset=utf-8',
      'vendor/uPlot.esm.js': 'text/javascript; charset=utf-8',
      'vendor/uPlot.min.css': 'text/css; charset=utf-8',
    };
    for (const [file, type] of Object.entries(expected)) {
      const url = `${base}/ui/${version}/${file}`;
      const plain = await fetch(url, { headers: { 'accept-encoding': 'identity' } });
      expect(plain.status, file).toBe(200);
      expect(plain.headers.get('content-type'), file).toBe(type);
      expect(plain.headers.get('cache-control'), file).toBe('public, max-age=31536000, immutable');
      expect(plain.headers.get('content-encoding'), file).toBeNull();
      const etag = plain.headers.get('etag');
      expect(etag, file).toMatch(/^"[A-Za-z0-9_-]{22}"$/);
      const body = Buffer.from(await plain.arrayBuffer());
      expect(body.length, file).toBeGreaterThan(100);

      // fetch() decompresses by itself: ask with node:http semantics through undici's raw body instead.
      const { request } = await import('undici');
      const zipped = await request(url, { headers: { 'accept-encoding': 'gzip' } });
      expect(zipped.headers['content-encoding'], file).toBe('gzip');
      expect(zipped.headers['vary'], file).toBe('accept-encoding');
      const compressed = Buffer.from(await zipped.body.arrayBuffer());
      expect(compressed.length, file).toBeLessThan(body.length);
      expect(gunzipSync(compressed).equals(body), file).toBe(true);

      const again = await fetch(url, { headers: { 'if-none-match': etag! } });
      expect(again.status, file).toBe(304);
      expect(await again.text()).toBe('');
    }

    const api = await fetch(`${base}/api/v1/status`);
    expect(api.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(api.headers.get('cache-control')).toBe('no-store');

    for (const pathname of [
      '/nope',
      '/index.html',
      '/pools/nope',
      '/pools/llama/extra',
      `/ui/${version}/nope.js`,
      `/ui/${version}/contract.js`,
      `/ui/000000000000/main.js`,
      `/ui/${version}/../package.json`,
      '/api/v1/status/pools/nope',
      '/api/v1/status/pools/nope/events',
    ]) {
      const response = await fetch(`${base}${pathname}`);
      expect(response.status, pathname).toBe(404);
      expect(await response.text(), pathname).not.toContain('<!doctype html>');
    }
    // Read-only: nothing but GET (and HEAD) is answered.
    for (const method of ['POST', 'PUT', 'DELETE']) expect((await fetch(`${base}/`, { method })).status, method).toBe(404);
  });

  it('is off with http.ui false: no page, no status API, no history; the rest of the ops server is unchanged', async () => {
    const [a] = await workers({ kv: 0.4, waiting: 1 });
    await harness.start([{ name: 'llama', source: 'vllm', targets: [a!.target] }], { http: { host: '127.0.0.1', port: 0, ui: false } });
    const base = harness.httpUrl;
    expect(harness.scaler.statusHistory).toBeUndefined();
    for (const pathname of ['/', '/pools/llama', '/api/v1/status', '/api/v1/status/pools/llama', '/api/v1/status/events']) {
      expect((await fetch(`${base}${pathname}`)).status, pathname).toBe(404);
    }
    expect((await fetch(`${base}/metrics`)).status).toBe(200);
    expect((await fetch(`${base}/api/v1/pools/llama`)).status).toBe(200);
  });

  it('streams the pool live: the first message holds the whole history, the next ones only newer rows', async () => {
    const [a] = await workers({ kv: 0.4, waiting: 1 });
    await harness.start([{ name: 'llama', source: 'vllm', targets: [a!.target] }]);
    await harness.waitReady();
    await harness.client.getMetricSpec(ref({ metric: 'queue_depth', target: '5' }));
    // Let the history take a few rows first.
    await vi.waitFor(() => expect(harness.scaler.statusHistory!.pool('llama').t.length).toBeGreaterThanOrEqual(5), { timeout: 3000, interval: 20 });

    const { headers, messages } = await readEvents(`${harness.httpUrl}/api/v1/status/pools/llama/events`, 4);
    expect(headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(headers.get('cache-control')).toBe('no-store');
    const [first, ...rest] = messages as PoolPayload[];
    expect(first!.full).toBe(true);
    expect(first!.history.t.length).toBeGreaterThanOrEqual(5);
    expect(first!.decisions[0]!.history!.t.length).toBeGreaterThanOrEqual(1);
    // Each message carries exactly the rows after the previous one: none twice, none missing (a
    // browser too slow to read gets the rows it missed in its next message).
    const received = [...first!.history.t];
    for (const message of rest) {
      expect(message.full).toBe(false);
      expect(message.history.t.length).toBeGreaterThanOrEqual(1);
      expect(message.history.t[0]!).toBeGreaterThan(received.at(-1)!);
      expect(message.history.series['queue_depth']).toEqual(message.history.t.map(() => 1));
      expect(message.decisions[0]!.history!.t).toEqual(message.history.t);
      received.push(...message.history.t);
    }
    const kept = harness.scaler.statusHistory!.pool('llama').t;
    expect(received).toEqual(kept.slice(kept.indexOf(received[0]!), kept.indexOf(received.at(-1)!) + 1));
  });

  it(`refuses live stream number ${MAX_LIVE_STREAMS + 1} with 503, and shutdown ends open streams at once`, async () => {
    const [a] = await workers({ kv: 0.4, waiting: 1 });
    await harness.start([{ name: 'llama', source: 'vllm', targets: [a!.target] }]);
    const url = `${harness.httpUrl}/api/v1/status/events`;
    const open = await Promise.all(Array.from({ length: MAX_LIVE_STREAMS }, () => fetch(url)));
    for (const response of open) expect(response.status).toBe(200);
    const refused = await fetch(url);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('10');
    expect(await refused.json()).toEqual({ error: `too many live status streams open (${MAX_LIVE_STREAMS}); close a status page or poll /api/v1/status` });

    // A stream closed by its browser frees its place.
    await open.pop()!.body!.cancel();
    await vi.waitFor(async () => {
      const next = await fetch(url);
      expect(next.status).toBe(200);
      open.push(next);
    });

    const started = Date.now();
    await harness.stopScaler();
    // The streams do not hold the server open: stop takes about as long as without them.
    expect(Date.now() - started).toBeLessThan(1000);
    for (const response of open) {
      const reader = response.body!.getReader();
      for (;;) if ((await reader.read()).done) break;
    }
  });

  it('shows no secrets: no TLS file paths, no KEDA TLS metadata, credentials in URLs masked', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'status-secrets-'));
    harness.onClose(() => rm(dir, { recursive: true, force: true }));
    const ca = await makeCa(dir, 'ca');
    const server = await makeLeaf(dir, 'server', ca, 'server');
    const [a] = await workers({ kv: 0.4, waiting: 1 });
    await harness.start([{ name: 'llama', source: 'vllm', targets: [a!.target] }], { tls: { cert: server.cert, key: server.key, clientCa: ca.cert } });
    const base = harness.httpUrl;
    const everything = [
      await (await fetch(`${base}/`)).text(),
      await (await fetch(`${base}/pools/llama`)).text(),
      await (await fetch(`${base}/api/v1/status`)).text(),
      JSON.stringify(await poolPayload(base)),
    ].join('\n');
    expect(everything).not.toContain(dir);
    expect(everything).not.toContain('.key');
    expect(everything).not.toContain('BEGIN');

    const { redact } = await import('../src/http/status-view.js');
    expect(redact('NATS is not connected (nats://scaler:s3cret@nats.dynamo.svc:4222 refused)')).toBe(
      'NATS is not connected (nats://***@nats.dynamo.svc:4222 refused)',
    );
    expect(redact('tls://token@10.0.0.1:4222 and http://10.0.0.7:8000/metrics')).toBe('tls://***@10.0.0.1:4222 and http://10.0.0.7:8000/metrics');
  });

  it("leaves out the metadata keys KEDA reads itself (TLS material) from the page's decisions", async () => {
    const [a] = await workers({ kv: 0.4, waiting: 1 });
    await harness.start([{ name: 'llama', source: 'vllm', targets: [a!.target] }]);
    await harness.waitReady();
    await harness.client.getMetricSpec(
      ref({ metric: 'queue_depth', target: '5', caCert: 'CA-PEM-SECRET', tlsClientCert: 'CERT-SECRET', tlsClientKey: 'KEY-SECRET', enableTLS: 'true' }),
    );
    const payload = await poolPayload(harness.httpUrl);
    expect(payload.decisions[0]!.metadata).toEqual({ pool: 'llama', metric: 'queue_depth', target: '5' });
    const text = JSON.stringify(payload) + (await (await fetch(`${harness.httpUrl}/api/v1/status`)).text());
    for (const secret of ['CA-PEM-SECRET', 'CERT-SECRET', 'KEY-SECRET', 'tlsClientKey', 'scalerAddress']) expect(text).not.toContain(secret);
  });
});

describe("the page's decisions in words", () => {
  async function headline(metadata: Record<string, string>): Promise<{ headline: string; reasons: readonly string[] }> {
    await harness.client.getMetricSpec(ref(metadata));
    const payload = await poolPayload(harness.httpUrl);
    const decision = payload.decisions.find((d) => d.signal === (metadata['metric'] ?? ''));
    return { headline: decision!.headline, reasons: decision!.reasons };
  }

  it('WVA holds because one replica is saturated', async () => {
    const [hot, b, c] = await workers({ kv: 0.91, waiting: 0 }, { kv: 0.5, waiting: 0 }, { kv: 0.5, waiting: 0 });
    await harness.start([{ name: 'llama', source: 'vllm', targets: [hot!.target, b!.target, c!.target] }]);
    await harness.waitReady();
    const { headline: text, reasons } = await headline({ metric: 'desired_replicas', policy: 'saturation' });
    expect(text).toBe(`held at 3 because replica ${hot!.target} is saturated (KV 0.91 ≥ 0.8)`);
    expect(reasons[0]).toBe('The other 2 replicas have enough spare capacity (average spare KV 0.3 ≥ 0.1, queue 5 ≥ 3), so no replica is added.');
    expect(reasons[1]).toMatch(/^Scale-down is unsafe: load of 2 non-saturated replicas spread over 1: spare KV -0\.2 < kvSpareTrigger 0\.1/);
  });

  it('WVA scales up when the spare capacity runs out, naming the saturated replica', async () => {
    const [hot, b, c] = await workers({ kv: 0.91, waiting: 0 }, { kv: 0.75, waiting: 0 }, { kv: 0.75, waiting: 0 });
    await harness.start([{ name: 'llama', source: 'vllm', targets: [hot!.target, b!.target, c!.target] }]);
    await harness.waitReady();
    expect((await headline({ metric: 'desired_replicas', policy: 'saturation' })).headline).toBe(
      `scale up to 4 (from 3) because average spare KV 0.05 < kvSpareTrigger 0.1; replica ${hot!.target} is saturated (KV 0.91 ≥ 0.8)`,
    );
  });

  it('WVA holds while a replica fails, saying which and why', async () => {
    const [a, b] = await workers({ kv: 0.3, waiting: 0 }, { kv: 0.3, waiting: 0 });
    const broken = harness.track(await FakeWorker.start());
    broken.status(500);
    await harness.start([{ name: 'llama', source: 'vllm', targets: [a!.target, b!.target, broken.target] }]);
    await vi.waitFor(async () => expect((await poolPayload(harness.httpUrl)).pool.counts).toMatchObject({ fresh: 2, failing: 1 }), { timeout: 3000 });
    expect((await headline({ metric: 'desired_replicas', policy: 'saturation' })).headline).toBe(
      `held at 3 because replica ${broken.target} is failing (http_status: HTTP 500 from http://${broken.target}/metrics): WVA decides nothing until every ` +
        'replica reports fresh metrics',
    );
  });

  it('a composite names the signal that decides, and stabilization when it holds the count', async () => {
    const [a, b] = await workers({ kv: 0.3, waiting: 9, running: 4 }, { kv: 0.3, waiting: 3, running: 4 });
    await harness.start([{ name: 'llama', source: 'vllm', targets: [a!.target, b!.target] }]);
    await harness.waitReady();
    const { headline: text, reasons } = await headline({ metric: 'desired_replicas', policy: 'composite', metrics: 'queue_depth:4,running_requests:10' });
    expect(text).toBe('scale up to 3 (from 2) because queue_depth asks for 3 (ceil(12 / 4) = 3); max(3, 1) = 3');
    expect(reasons).toEqual(['queue_depth asks for 3: ceil(12 / 4) = 3.', 'running_requests asks for 1: ceil(8 / 10) = 1.']);
  });

  it('a plain signal says what KEDA gets and what HPA makes of it, and who was left out', async () => {
    const [a] = await workers({ kv: 0.4, waiting: 6 });
    const broken = harness.track(await FakeWorker.start());
    broken.status(503);
    await harness.start([{ name: 'llama', source: 'vllm', targets: [a!.target, broken.target] }]);
    await vi.waitFor(async () => expect((await poolPayload(harness.httpUrl)).pool.counts).toMatchObject({ fresh: 1, failing: 1 }), { timeout: 3000 });
    const kv = await headline({ metric: 'kv_cache_usage', target: '0.3', activationThreshold: '0.5' });
    expect(kv.headline).toBe('HPA wants 2 replicas because kv_cache_usage is 0.4 per worker over 1 ready worker: KEDA gets 0.4, ceil(0.4 / 0.3) = 2');
    expect(kv.reasons).toEqual([
      'Inactive: 0.4 ≤ activationThreshold 0.5, so KEDA may scale to its minReplicaCount.',
      `Left out: ${broken.target} (failing: http_status: HTTP 503 from http://${broken.target}/metrics).`,
    ]);
    // Unavailable is said as such, never as 0.
    await a!.down();
    await vi.waitFor(async () => expect((await poolPayload(harness.httpUrl)).pool.counts.fresh).toBe(0), { timeout: 3000, interval: INTERVAL });
    const none = (await poolPayload(harness.httpUrl)).decisions[0]!;
    expect(none).toMatchObject({ ok: false, value: null, desired: null });
    expect(none.headline).toBe("no value: no fresh data in pool 'llama': 2 of 2 workers are not fresh; KEDA gets UNAVAILABLE and its fallback applies");
  });
});
