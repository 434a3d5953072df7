/**
 * A real Prometheus for tests (Debian's `prometheus` package; .ci/run installs it): started with a
 * generated configuration, its own temporary data folder and a free loopback port, and stoppable to
 * test faults.
 *
 *   const prom = await PrometheusServer.start({ jobs: { vllm: ['127.0.0.1:8001'] }, scrapeInterval: '250ms' });
 *   prom.url        // http://127.0.0.1:<port>
 *   await prom.stop(); await prom.close();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { freePort } from '../../src/cli/demo/net.js';

export interface PrometheusServerOptions {
  /** Scrape jobs: job name → `host:port` targets. */
  readonly jobs: Readonly<Record<string, readonly string[]>>;
  /** How often every target is scraped; default 250ms. */
  readonly scrapeInterval?: string;
  /** Extra labels for every target of a job (e.g. a `pod` label). */
  readonly targetLabels?: Readonly<Record<string, Readonly<Record<string, Readonly<Record<string, string>>>>>>;
}

export const PROMETHEUS_BINARY = process.env['PROMETHEUS_BINARY'] ?? 'prometheus';

export class PrometheusServer {
  private child: ChildProcess | undefined;
  private output = '';

  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  static async start(options: PrometheusServerOptions): Promise<PrometheusServer> {
    const dir = mkdtempSync(path.join(tmpdir(), 'kls-prometheus-'));
    const interval = options.scrapeInterval ?? '250ms';
    const config = {
      global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: '10s' },
      scrape_configs: Object.entries(options.jobs).map(([job, targets]) => ({
        job_name: job,
        static_configs: targets.map((target) => ({ targets: [target], labels: options.targetLabels?.[job]?.[target] ?? {} })),
      })),
    };
    writeFileSync(path.join(dir, 'prometheus.yml'), stringify(config));
    const server = new PrometheusServer(await freePort(), dir);
    await server.launch();
    return server;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts the process (again, on the same port and data) and waits until it is ready. */
  async launch(): Promise<void> {
    if (this.child) return;
    const child = spawn(
      PROMETHEUS_BINARY,
      [
        `--config.file=${path.join(this.dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${path.join(this.dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${this.port}`,
        '--storage.tsdb.retention.time=1h',
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    const keep = (chunk: Buffer): void => {
      this.output = (this.output + chunk.toString()).slice(-4000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const exited = new Promise<never>((_, reject) => {
      child.once('error', (error) => reject(new Error(`cannot start ${PROMETHEUS_BINARY}: ${error.message}`)));
      child.once('exit', (code) => reject(new Error(`prometheus exited with ${code} before it was ready:\n${this.output}`)));
    });
    exited.catch(() => undefined);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const ready = await Promise.race([
        fetch(`${this.url}/-/ready`).then(
          (r) => r.ok,
          () => false,
        ),
        exited,
      ]);
      if (ready) return;
      if (Date.now() > deadline) throw new Error(`prometheus was not ready within 20 s:\n${this.output}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Resolves once `query` (an instant query) answers `count` series; rejects after 20 s. */
  async waitForSeries(query: string, count: number): Promise<void> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const response = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(query)}`).catch(() => undefined);
      const body = response?.ok ? ((await response.json()) as { data?: { result?: unknown[] } }) : undefined;
      if ((body?.data?.result?.length ?? 0) >= count) return;
      if (Date.now() > deadline) throw new Error(`${query} did not answer ${count} series within 20 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Kills the process (SIGKILL: the test wants it gone at once) and waits for its exit. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
