/**
 * Real headless Chromium (Debian's `chromium`, never a downloaded build) driven by playwright-core,
 * with a fresh profile per browser and the browser's own background traffic switched off, so the
 * request log holds only what the page asks for.
 *
 *   const browser = await Browser.launch();
 *   const page = await browser.page();
 *   await page.goto(url);
 *   browser.requests       // every URL the page requested
 *   await browser.close();
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

const ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-extensions',
];

export class Browser {
  /** Every request any page of this browser made, in order. */
  readonly requests: string[] = [];
  /** Console errors and uncaught page errors. */
  readonly errors: string[] = [];

  private constructor(
    private readonly context: BrowserContext,
    private readonly profile: string,
  ) {
    context.on('request', (request) => this.requests.push(request.url()));
  }

  static async launch(viewport = { width: 1280, height: 900 }): Promise<Browser> {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium package (.ci/run does)`);
    const profile = await mkdtemp(path.join(tmpdir(), 'keda-llm-scaler-chromium-'));
    const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport });
    return new Browser(context, profile);
  }

  async page(): Promise<Page> {
    const page = this.context.pages()[0] ?? (await this.context.newPage());
    page.on('console', (message) => {
      if (message.type() === 'error') this.errors.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => this.errors.push(`page: ${error.message}`));
    return page;
  }

  async close(): Promise<void> {
    await this.context.close();
    await rm(this.profile, { recursive: true, force: true });
  }
}
