/**
 * The status page in real headless Chromium (Debian's chromium via playwright-core) against a
 * real scaler collecting real HTTP workers: what an operator sees, and that the page never asks
 * anything of anyone but the scaler that served it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Browser } from './support/browser.js';
import { KedaClient } from './support/keda-client.js';
import { INTERVAL, TestScaler } from './support/test-scaler.js';
import { FakeWorker } from './support/workers.js';
import { vllmGauges } from './support/vllm-exposition.js';

const harness = new TestScaler();
let browser: Browser | undefined;
afterEach(async () => {
  await browser?.close();
  browser = undefined;
  await harness.close();
});

const vllm = vllmGauges;

async function worker(load: { kv: number; waiting: number; running?: number }): Promise<FakeWorker> {
  return harness.track(await FakeWorker.start({ behaviour: { kind: 'text', body: vllm(load) } }));
}

const ref = (metadata: Record<string, string>) => KedaClient.ref({ scalerAddress: 'scaler:9090', ...metadata });

type Page = Awaited<ReturnType<Browser['page']>>;

/**
 * Pixels of the canvas under `selector` within a few levels of `rgb`: the line of that colour was
 * drawn. Runs in the page (as source text: the tests are type-checked without the DOM's types).
 */
async function pixelsOfColour(page: Page, selector: string, rgb: readonly [number, number, number]): Promise<number> {
  return page.evaluate<number>(`(() => {
    const canvas = document.querySelector(${JSON.stringify(selector)});
    const context = canvas && canvas.getContext('2d');
    if (!context || canvas.width === 0) return 0;
    const { data } = context.getImageData(0, 0, canvas.width, canvas.height);
    const rgb = ${JSON.stringify(rgb)};
    let count = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (Math.abs(data[i] - rgb[0]) < 24 && Math.abs(data[i + 1] - rgb[1]) < 24 && Math.abs(data[i + 2] - rgb[2]) < 24 && data[i + 3] > 200) count++;
    }
    return count;
  })()`);
}

/** The `attribute` of every element `selector` matches, in document order. */
async function attributes(page: Page, selector: string, attribute: string): Promise<(string | null)[]> {
  return Promise.all((await page.locator(selector).all()).map((el) => el.getAttribute(attribute)));
}

describe('status page in headless Chromium', () => {
  it('lists the pools, then a pool: every worker, a 500 failing with its cause, charts, live values, decisions; nothing leaves 127.0.0.1', async () => {
    const a = await worker({ kv: 0.4, waiting: 1 });
    const b = await worker({ kv: 0.5, waiting: 2 });
    const broken = harness.track(await FakeWorker.start());
    broken.status(500);
    const other = await worker({ kv: 0.2, waiting: 0 });
    await harness.start([
      { name: 'llama', source: 'vllm', targets: [a.target, b.target, broken.target] },
      { name: 'qwen', source: 'vllm', targets: [other.target] },
    ]);
    await harness.waitReady();
    // KEDA asks about two triggers of llama: they become the page's decisions.
    await harness.client.getMetricSpec(ref({ pool: 'llama', metric: 'kv_cache_usage', target: '0.7' }));
    await harness.client.getMetricSpec(ref({ pool: 'llama', metric: 'queue_depth', target: '5' }));

    browser = await Browser.launch();
    const page = await browser.page();
    await page.goto(`${harness.httpUrl}/`);

    // The overview: both pools, with their workers and signals.
    await expect.poll(() => attributes(page, '#pools tbody tr', 'data-pool')).toEqual(['llama', 'qwen']);
    await expect.poll(() => page.locator('tr[data-pool="llama"]').textContent()).toContain('2 fresh');
    await expect.poll(() => page.locator('tr[data-pool="llama"]').textContent()).toContain('1 failing');
    await expect.poll(() => page.locator('tr[data-pool="qwen"] td[data-signal="kv_cache_usage"]').textContent()).toBe('20 %');
    await expect.poll(() => page.locator('#decisions tbody tr').count()).toBe(2);
    expect(await page.locator('#decisions tr[data-trigger="llama-queue_depth"] td.why').textContent()).toBe(
      'HPA wants 1 replica because queue_depth is 3 requests: ceil(3 / target 5) = 1',
    );

    // The pool page, reached by its link.
    await page.click('a[href="/pools/llama"]');
    await page.waitForURL(/\/pools\/llama$/);
    await expect
      .poll(async () => (await attributes(page, '#workers-table tbody tr', 'data-worker')).sort())
      .toEqual([a.target, b.target, broken.target].sort());
    const brokenRow = page.locator(`tr[data-worker="${broken.target}"]`);
    await expect.poll(() => brokenRow.getAttribute('data-state')).toBe('failing');
    expect(await brokenRow.locator('[data-field="reason"]').textContent()).toMatch(/^http_status: HTTP 500 from http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect(await page.locator(`tr[data-worker="${a.target}"] [data-field="kv"]`).textContent()).toBe('40 %');

    // A chart is drawn: the KV-cache line (#7c3aed) is on the canvas, and the trigger charts exist.
    await expect.poll(() => pixelsOfColour(page, 'figure[data-chart^="KV-cache usage"] canvas', [0x7c, 0x3a, 0xed])).toBeGreaterThan(50);
    await expect.poll(() => page.locator('article.decision').count()).toBe(2);
    await expect.poll(() => pixelsOfColour(page, 'article.decision figure canvas', [0x25, 0x63, 0xeb])).toBeGreaterThan(50);

    // The load changes: the page shows it without a reload, within a few seconds.
    await page.evaluate('window.notReloaded = true');
    a.serve(vllm({ kv: 0.9, waiting: 17 }));
    const changed = Date.now();
    await expect.poll(() => page.locator(`tr[data-worker="${a.target}"] [data-field="waiting"]`).textContent(), { timeout: 5000, interval: 100 }).toBe('17');
    expect(Date.now() - changed).toBeLessThan(5000);
    expect(await page.locator(`tr[data-worker="${a.target}"] [data-field="kv"]`).textContent()).toBe('90 %');
    await expect.poll(() => page.locator('.card[data-signal="queue_depth"] .card-value').textContent()).toBe('19 requests');
    expect(await page.evaluate('window.notReloaded')).toBe(true);
    const queueCard = page.locator('article.decision', { has: page.locator('code', { hasText: 'llama-queue_depth' }) });
    await expect.poll(() => queueCard.locator('[data-field="desired"]').textContent()).toBe('4 replicas');
    expect(await queueCard.locator('.headline').textContent()).toBe('HPA wants 4 replicas because queue_depth is 19 requests: ceil(19 / target 5) = 4');

    // The timeline of a decision, once opened, stays open across live updates.
    await queueCard.locator('details.changes summary').click();
    expect(await queueCard.locator('details.changes li').count()).toBeGreaterThanOrEqual(2);
    const cardsBefore = await queueCard.elementHandle();
    await page.waitForTimeout(10 * INTERVAL); // ten ticks, ten messages
    expect(await queueCard.elementHandle().then((el) => el?.evaluate((node, before) => node === before, cardsBefore))).toBe(true);
    expect(await queueCard.locator('details.changes[open]').count()).toBe(1);

    // Every request went to the scaler that served the page, and the page logged no error.
    const origin = new URL(harness.httpUrl).origin;
    expect(browser.requests.length).toBeGreaterThan(5);
    expect(browser.requests.filter((url) => !url.startsWith(`${origin}/`))).toEqual([]);
    expect(browser.errors).toEqual([]);
  });

  it('reconnects by itself after the scaler restarts on the same port', async () => {
    const a = await worker({ kv: 0.4, waiting: 1 });
    await harness.start([{ name: 'llama', source: 'vllm', targets: [a.target] }]);
    const port = harness.scaler.httpPort;
    browser = await Browser.launch();
    const page = await browser.page();
    await page.goto(`${harness.httpUrl}/pools/llama`);
    await expect.poll(() => page.locator(`tr[data-worker="${a.target}"] [data-field="waiting"]`).textContent()).toBe('1');

    await harness.stopScaler();
    await expect.poll(() => page.locator('#live').textContent()).toMatch(/reconnecting/);
    a.serve(vllm({ kv: 0.4, waiting: 6 }));
    await harness.start([{ name: 'llama', source: 'vllm', targets: [a.target] }], { http: { host: '127.0.0.1', port } });
    await expect.poll(() => page.locator(`tr[data-worker="${a.target}"] [data-field="waiting"]`).textContent(), { timeout: 10_000 }).toBe('6');
    await expect.poll(() => page.locator('#live').textContent()).toMatch(/^live/);
  });
});
