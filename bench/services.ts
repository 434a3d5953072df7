/**
 * The outside programs the benchmarks measure against, each started on a free port and stopped
 * at the end: Prometheus (the baseline for collection and reaction) and nats-server.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, waitForPort } from '../src/cli/demo/net.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Prometheus scraping the given workers every `intervalS` seconds, in its own data folder, until stopped. */
export class PrometheusRun {
  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    readonly port: number,
    private readonly intervalS: number,
  ) {}

  static async start(binary: string, ports: readonly number[], intervalS = 1, job = 'workers'): Promise<PrometheusRun> {
    const dir = mkdtempSync(path.join(tmpdir(), 'bench-prometheus-'));
    const config = [
      `global: { scrape_interval: ${intervalS}s, scrape_timeout: ${Math.round(intervalS * 900)}ms }`,
      'scrape_configs:',
      `  - job_name: ${job}`,
      '    static_configs:',
      `      - targets: [${ports.map((p) => `"127.0.0.1:${p}"`).join(', ')}]`,
      '',
    ].join('\n');
    writeFileSync(path.join(dir, 'prometheus.yml'), config);
    const port = await freePort();
    const args = [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1h',
      '--log.level=error',
    ];
    const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    const run = new PrometheusRun(child, dir, port, intervalS);
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`prometheus exited with code ${child.exitCode}`);
      try {
        if ((await fetch(`http://127.0.0.1:${port}/-/ready`)).ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error('prometheus not ready within 30 s');
      await sleep(200);
    }
    return run;
  }

  get pid(): number {
    return this.child.pid as number;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Waits until every one of `count` targets was scraped successfully once (so a first query sees the whole fleet). */
  async waitAllUp(count: number, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((await this.queryValue('count(up == 1)').catch(() => undefined)) !== count) {
      if (Date.now() > deadline || this.child.exitCode !== null) throw new Error(`prometheus did not scrape all ${count} targets within ${timeoutMs} ms`);
      await sleep(250);
    }
  }

  /** Scrapes done so far: the count of Prometheus's own scrape-interval summary. */
  async scrapes(): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${this.port}/metrics`)).text();
    const pattern = new RegExp(`^prometheus_target_interval_length_seconds_count\\{interval="${this.intervalS}s"\\} (\\S+)$`, 'm');
    return Number(pattern.exec(text)?.[1] ?? NaN);
  }

  /** An instant query's single value (what KEDA's Prometheus scaler reads); undefined when the answer is empty. */
  async queryValue(promql: string): Promise<number | undefined> {
    const response = await fetch(`http://127.0.0.1:${this.port}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await response.json()) as { data?: { result?: { value?: [number, string] }[] } };
    const value = body.data?.result?.[0]?.value?.[1];
    return value === undefined ? undefined : Number(value);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function prometheusVersion(binary: string): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(binary, ['--version'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', () => resolve(/version (\S+)/.exec(out)?.[1] ?? 'unknown'));
  });
}

/** A nats-server of our own on a free loopback port (`nats-server` must be on PATH). */
export async function startNatsServer(): Promise<{ url: string; stop(): void }> {
  const port = await freePort();
  const child = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  const failed = new Promise<never>((_, reject) => child.once('error', (e) => reject(new Error(`cannot run nats-server: ${e.message}`))));
  await Promise.race([waitForPort(port, 10_000, 'nats-server'), failed]);
  return { url: `nats://127.0.0.1:${port}`, stop: () => child.kill('SIGTERM') };
}
