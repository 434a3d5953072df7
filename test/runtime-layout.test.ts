/**
 * The container's runtime layout, without Docker: reads the Dockerfile's runtime stage, builds the
 * same folder (package.json, production node_modules from `npm ci --omit=dev --ignore-scripts`,
 * dist/, proto/ — nothing else), starts the ENTRYPOINT + CMD there as a non-root user (nobody,
 * when the test runs as root) with the folder read-only to it, and checks gRPC health, a `probe`
 * round trip, that nothing was written, and a clean exit on SIGTERM. Proof that the image needs
 * nothing from the dev dependencies, the sources or a writable filesystem.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../src/cli/demo/net.js';
import { healthCheck } from './support/keda-client.js';
import { repoRoot } from './support/k8s.js';
import { FakeWorker } from './support/workers.js';

const execFileAsync = promisify(execFile);

interface RuntimeStage {
  copies: { from?: string; src: string; dest: string }[];
  user: string;
  entrypoint: string[];
  cmd: string[];
  depsInstall: string;
}

/** The last stage of the Dockerfile (the image), and the npm ci line of the stage its node_modules come from. */
function readDockerfile(): RuntimeStage {
  const text = readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages: { name?: string; lines: string[] }[] = [];
  for (const line of lines) {
    const from = /^FROM\s+\S+(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) stages.push({ name: from[1], lines: [] });
    else stages.at(-1)?.lines.push(line);
  }
  const runtime = stages.at(-1)!;
  const copies = runtime.lines
    .filter((l) => /^COPY\s/i.test(l))
    .map((l) => {
      const parts = l.split(/\s+/).slice(1);
      const from = parts[0]?.startsWith('--from=') ? parts.shift()!.slice('--from='.length) : undefined;
      return { from, src: parts[0]!, dest: parts[1]! };
    });
  const json = (keyword: string) => {
    const line = runtime.lines.find((l) => l.toUpperCase().startsWith(`${keyword} `));
    if (!line) throw new Error(`Dockerfile runtime stage has no ${keyword}`);
    return JSON.parse(line.slice(keyword.length).trim()) as string[];
  };
  const nodeModules = copies.find((c) => c.dest.replace(/^\.\//, '') === 'node_modules');
  const depsStage = stages.find((s) => s.name === nodeModules?.from);
  const depsInstall = depsStage?.lines.find((l) => /npm ci/.test(l)) ?? '';
  const user = runtime.lines.find((l) => /^USER\s/i.test(l))?.split(/\s+/)[1] ?? 'root';
  return { copies, user, entrypoint: json('ENTRYPOINT'), cmd: json('CMD'), depsInstall };
}

function listing(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, entry.name);
      const st = statSync(full);
      out.push(`${path.relative(dir, full)} ${st.size} ${st.mtimeMs}`);
      if (entry.isDirectory()) walk(full);
    }
  };
  walk(dir);
  return out.sort();
}

const stage = readDockerfile();
const asRoot = process.getuid?.() === 0;
const NOBODY = 65534;
let base: string;
let app: string;
let worker: FakeWorker;

beforeAll(async () => {
  if (!existsSync(path.join(repoRoot, 'dist', 'cli.js'))) throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
  base = await mkdtemp(path.join(tmpdir(), 'runtime-layout-'));
  chmodSync(base, 0o755);
  // The deps stage: production dependencies only, from the lock file.
  const deps = path.join(base, 'deps');
  mkdirSync(deps);
  for (const file of ['package.json', 'package-lock.json']) cpSync(path.join(repoRoot, file), path.join(deps, file));
  const args = ['ci', '--omit=dev', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'];
  await execFileAsync('npm', args, { cwd: deps, timeout: 120_000, env: { ...process.env, NODE_ENV: 'production' } });
  // The runtime stage: exactly what the Dockerfile copies.
  app = path.join(base, 'app');
  mkdirSync(app);
  for (const { from, src, dest } of stage.copies) {
    // WORKDIR is /app: `./x` is app/x, `./` (or a trailing slash) keeps the source's name.
    const target = dest.endsWith('/') ? path.join(app, path.basename(src)) : path.join(app, dest);
    if (from === 'deps') renameSync(path.join(deps, path.basename(src)), target);
    // The build stage's /app/dist is the repository's dist/ (npm test builds it first).
    else if (from === 'build') cpSync(path.join(repoRoot, path.basename(src)), target, { recursive: true });
    else if (from === undefined) cpSync(path.join(repoRoot, src), target, { recursive: true });
    else throw new Error(`unknown stage ${from}`);
  }
  worker = await FakeWorker.start();
}, 180_000);

afterAll(async () => {
  await worker?.close();
  if (base) await rm(base, { recursive: true, force: true });
});

function start(args: string[]): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, args, {
    cwd: app,
    env: { NODE_ENV: 'production', PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
    ...(asRoot ? { uid: NOBODY, gid: NOBODY } : {}),
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

describe('runtime layout (what the Dockerfile puts in the image)', () => {
  it('the Dockerfile copies only package.json, production node_modules, dist/ and proto/, as a non-root user, in exec form', () => {
    const copied = stage.copies.map((c) => path.basename(c.src)).sort();
    expect(copied).toEqual(['dist', 'node_modules', 'package.json', 'proto']);
    expect(stage.depsInstall).toMatch(/npm ci --omit=dev/);
    expect(stage.user).not.toMatch(/^(root|0)(:|$)/);
    expect(stage.entrypoint.at(-1)).toBe('dist/cli.js');
    expect(path.basename(stage.entrypoint[0]!)).toBe('node');
    expect(stage.cmd).toEqual(['serve', '--config', '/etc/keda-llm-scaler/config.yaml']);
    expect(readdirSync(app).sort()).toEqual(['dist', 'node_modules', 'package.json', 'proto']);
    // No dev dependency made it in.
    for (const dev of ['vitest', 'typescript', 'eslint', 'kubernetes-models', 'fast-check'])
      expect(existsSync(path.join(app, 'node_modules', dev)), dev).toBe(false);
  });

  it('serves gRPC health and a probe round trip as a non-root user on a read-only folder, and stops cleanly on SIGTERM', async () => {
    const [grpcPort, httpPort] = [await freePort(), await freePort()];
    const etc = path.join(base, 'etc');
    mkdirSync(etc);
    const configFile = path.join(etc, 'config.yaml');
    writeFileSync(
      configFile,
      `grpc: { host: 127.0.0.1, port: ${grpcPort} }\nhttp: { host: 127.0.0.1, port: ${httpPort} }\ncheckInterval: 200ms\npools:\n  - name: llama\n    ` +
        `source: vllm\n    targets: ["${worker.target}"]\n`,
    );
    chmodSync(etc, 0o755);
    chmodSync(configFile, 0o644);
    const before = listing(app);
    if (asRoot) {
      // Owned by root and not writable by nobody: any write at runtime would fail.
      expect(statSync(app).uid).toBe(0);
      expect(statSync(app).mode & 0o002).toBe(0);
    }

    const cmd = stage.cmd.map((arg) => (arg === '/etc/keda-llm-scaler/config.yaml' ? configFile : arg));
    const server = start([...stage.entrypoint.slice(1), ...cmd]);
    try {
      const address = `127.0.0.1:${grpcPort}`;
      const deadline = Date.now() + 20_000;
      let ready = '';
      while (Date.now() < deadline) {
        ready = await healthCheck(address, 'readiness').catch(() => '');
        if (ready === 'SERVING') break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(ready, server.output()).toBe('SERVING');
      expect(await healthCheck(address, 'liveness')).toBe('SERVING');

      const probe = start(['dist/cli.js', 'probe', address, 'pool=llama', 'metric=kv_cache_usage', 'target=0.7']);
      expect(await probe.exited, probe.output()).toBe(0);
      const result = JSON.parse(probe.output()) as {
        spec: { metricSpecs: { metricName: string }[] };
        metrics: { metricValues: { metricValueFloat: number }[] };
        errors: unknown[];
      };
      expect(result.errors).toEqual([]);
      expect(result.spec.metricSpecs[0]!.metricName).toBe('llama-kv_cache_usage');
      expect(result.metrics.metricValues[0]!.metricValueFloat).toBeGreaterThan(0);

      // The status page and every file it loads (uPlot from the production node_modules) are in the image.
      const page = await (await fetch(`http://127.0.0.1:${httpPort}/pools/llama`)).text();
      const files = [...page.matchAll(/(?:src|href)="(\/ui\/[^"]+)"/g)].map((m) => m[1]!);
      expect(files.length, page).toBeGreaterThanOrEqual(3);
      expect(page).toContain('"uplot":"/ui/');
      const uplot = /"uplot":"(\/ui\/[^"]+)"/.exec(page)![1]!;
      for (const file of [...files, uplot]) expect((await fetch(`http://127.0.0.1:${httpPort}${file}`)).status, file).toBe(200);

      server.child.kill('SIGTERM');
      expect(await server.exited, server.output()).toBe(0);
      expect(server.output()).toContain('keda-llm-scaler stopped');
    } finally {
      if (server.child.exitCode === null) server.child.kill('SIGKILL');
    }
    expect(listing(app)).toEqual(before);
  }, 45_000);
});
