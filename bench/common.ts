/**
 * Shared helpers for the benchmarks: locating the repository and the fixtures from the compiled
 * output, a fixture-serving HTTP server, percentiles and table printing.
 */
import { accessSync, constants, cpSync, existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus as osCpus } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: the nearest ancestor of this file holding the project's package.json. */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'keda-llm-scaler') return dir;
      } catch {
        // not ours; keep walking up
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find the keda-llm-scaler repository root above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

/** The test fixtures (`test/fixtures/`), which the benchmarks read too. */
export function fixturePath(...parts: string[]): string {
  return path.resolve(repoRoot(), 'test', 'fixtures', ...parts);
}

export const VLLM_FIXTURE = ['vllm', 'v1-dp2-generated.prom'] as const;

export function readVllmFixture(): string {
  return readFileSync(fixturePath(...VLLM_FIXTURE), 'utf8');
}

/**
 * `src/grpc/proto.ts` finds `proto/` two directories above its compiled file. Compiled into
 * `dist-bench/src/grpc/`, that is `dist-bench/proto/`: copy the repository's protos there.
 * Call before anything loads the package definition.
 */
export function ensureBenchProto(): void {
  const here = path.dirname(fileURLToPath(import.meta.url));
  // Compiled: <root>/dist-bench/bench/common.js -> out dir is <root>/dist-bench.
  const outDir = path.resolve(here, '..');
  const root = repoRoot();
  if (outDir === root) return; // running from sources (e.g. a TS loader): proto/ is already there
  const target = path.join(outDir, 'proto');
  mkdirSync(target, { recursive: true });
  for (const file of readdirSync(path.join(root, 'proto'))) {
    cpSync(path.join(root, 'proto', file), path.join(target, file));
  }
}

export interface FixtureServer {
  readonly port: number;
  /** Requests answered so far. */
  readonly served: () => number;
  close(): Promise<void>;
}

/** A worker stand-in: serves `text` on every path, keep-alive, as vLLM's /metrics does. */
export async function startFixtureServer(text: string, host = '127.0.0.1'): Promise<FixtureServer> {
  const body = Buffer.from(text, 'utf8');
  let served = 0;
  const server: Server = createServer((_req, res) => {
    served++;
    res.writeHead(200, {
      'content-type': 'text/plain; version=0.0.4; charset=utf-8',
      'content-length': String(body.length),
    });
    res.end(body);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    served: () => served,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Growable list of doubles without per-sample allocation. */
export class Samples {
  private data: Float64Array;
  length = 0;

  constructor(capacity = 1 << 16) {
    this.data = new Float64Array(capacity);
  }

  push(value: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = value;
  }

  clear(): void {
    this.length = 0;
  }

  sorted(): Float64Array {
    return this.data.slice(0, this.length).sort();
  }

  values(): Float64Array {
    return this.data.slice(0, this.length);
  }
}

/** Nearest-rank percentile of an ascending array; NaN when empty. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

export interface Distribution {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export function distribution(samples: Samples | Float64Array): Distribution {
  const sorted = samples instanceof Samples ? samples.sorted() : samples.slice().sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: sorted.length,
    mean: sorted.length ? sum / sorted.length : NaN,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.length ? (sorted[sorted.length - 1] as number) : NaN,
  };
}

/** Right-aligned table with a header row, for terminal output. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function fmt(value: number, digits = 1): string {
  if (!Number.isFinite(value)) return String(value);
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Milliseconds → "0.123 ms" with sensible precision. */
export function ms(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  return `${value < 1 ? value.toFixed(3) : value < 100 ? value.toFixed(2) : value.toFixed(0)} ms`;
}

export function machineInfo(): { node: string; platform: string; cpus: number; cpuModel: string; date: string } {
  return {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpus: osCpus().length,
    cpuModel: osCpus()[0]?.model ?? 'unknown',
    date: new Date().toISOString(),
  };
}

export function isMain(metaUrl: string): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  return path.resolve(fileURLToPath(metaUrl)) === path.resolve(entry);
}

/** Busy CPU-seconds of the whole machine so far (Linux /proc/stat; undefined elsewhere). */
export function machineBusySeconds(): number | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal ...; USER_HZ is 100 on Linux.
    const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
    return line.startsWith('cpu ') ? busy / 100 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * CPU used by everything else on the machine during a window, in cores (busy machine time minus
 * the benchmark's own processes). Other work on a 2-core box skews every number: it is printed
 * next to the results so a disturbed run can be recognised.
 */
export function otherLoadCores(busyBefore: number | undefined, busyAfter: number | undefined, ownCpuSeconds: number, wallSeconds: number): number {
  if (busyBefore === undefined || busyAfter === undefined || wallSeconds <= 0) return NaN;
  return Math.max(0, (busyAfter - busyBefore - ownCpuSeconds) / wallSeconds);
}

/** The executable's path when `name` is on PATH, else undefined. */
export function onPath(name: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** CPU seconds (user + system) a process has used, from /proc (clock ticks of 10 ms); NaN where /proc is not there. */
export function processCpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/** Resident memory of a process in MiB, from /proc; NaN where /proc is not there. */
export function processRssMiB(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
  } catch {
    return NaN;
  }
}
