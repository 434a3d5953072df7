// `npm run screenshot`: runs `keda-llm-scaler demo`, lets the load rise for a while, and takes a
// screenshot of the demo pool's status page with headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core; nothing is downloaded) into docs/status-page.png.
//
//   npm run screenshot                        # docs/status-page.png after 75 s of demo
//   npm run screenshot -- --out /tmp/p.png --wait 30
/* global process, console, setTimeout, clearTimeout */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: { out: { type: 'string', default: path.join(root, 'docs', 'status-page.png') }, wait: { type: 'string', default: '75' } },
});
const waitMs = Number(values.wait) * 1000;

// A 120 s wave, sampled every 500 ms: after ~75 s the load has risen past the saturation thresholds.
const demo = spawn(
  process.execPath,
  ['dist/cli.js', 'demo', '--port', '0', '--http-port', '0', '--period', '120', '--interval', '500ms', '--print-every', '2s'],
  {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  },
);
let stdout = '';
demo.stdout.setEncoding('utf8').on('data', (chunk) => (stdout += chunk));

const url = await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error(`the demo printed no status page address:\n${stdout}`)), 15_000);
  demo.stdout.on('data', () => {
    const match = /^Status page: (http:\/\/\S+)/m.exec(stdout);
    if (match) {
      clearTimeout(timer);
      resolve(match[1]);
    }
  });
});
console.log(`demo running, status page at ${url}; waiting ${waitMs / 1000}s`);
await new Promise((resolve) => setTimeout(resolve, waitMs));

const profile = await mkdtemp(path.join(tmpdir(), 'status-page-screenshot-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-background-networking',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-component-update',
    '--disable-sync',
  ],
  viewport: { width: 1360, height: 900 },
  deviceScaleFactor: 1,
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(url);
  await page.waitForSelector('#workers-table');
  await page.waitForSelector('article.decision');
  // The first decision's timeline open, as someone reading it would have it.
  await page.click('details.changes summary');
  await page.waitForTimeout(1500);
  await page.screenshot({ path: values.out, fullPage: true });
  console.log(`wrote ${values.out}`);
} finally {
  await context.close();
  await rm(profile, { recursive: true, force: true });
  demo.kill('SIGTERM');
}
