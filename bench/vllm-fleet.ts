/**
 * A fleet of simulated vLLM workers for the collection benchmarks, each its own HTTP/1.1 server
 * with keep-alive (as vLLM's uvicorn serves `/metrics`), whose exposition is the format Python's
 * prometheus_client writes (the library vLLM uses: `12.0` for whole numbers, `_created` gauges,
 * `# HELP`/`# TYPE` lines), taken from the two-engine fixture. Every tick each worker's gauges
 * move, its counters grow and its histograms gain observations, so no two scrapes of a worker a
 * tick apart return the same body: a parser or store that only works on a static body would show.
 *
 * Bodies are rendered lazily, at most once per tick per worker, from a template in which only the
 * numbers change, so the fleet's own CPU stays small next to the scrapers'.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mulberry32 } from '../src/simulation/random.js';

interface Slot {
  /** Everything on the line before the value, e.g. `vllm:num_requests_running{engine="0",...} `. */
  readonly prefix: string;
  value: number;
}

type Role =
  | { readonly kind: 'static' }
  | { readonly kind: 'gauge'; readonly min: number; readonly max: number; readonly whole: boolean }
  | { readonly kind: 'counter'; readonly perTick: number }
  /** One histogram of one engine: its bucket slots (by ascending bound), `_sum` and `_count` slots. */
  | { readonly kind: 'histogram'; readonly buckets: readonly number[]; readonly bounds: readonly number[]; readonly sum: number; readonly count: number };

interface Template {
  /** Text between value slots: comments, HELP/TYPE lines. `pieces[i]` precedes slot i. */
  readonly pieces: readonly string[];
  readonly slots: readonly Slot[];
  readonly roles: readonly Role[];
}

const GAUGES: Readonly<Record<string, { min: number; max: number; whole: boolean }>> = {
  'vllm:num_requests_running': { min: 0, max: 64, whole: true },
  'vllm:num_requests_waiting': { min: 0, max: 12, whole: true },
  'vllm:kv_cache_usage_perc': { min: 0.05, max: 0.95, whole: false },
};

/** Python's repr of a float as prometheus_client prints it: whole numbers keep a `.0`. */
export function pythonFloat(v: number): string {
  if (Number.isInteger(v) && Math.abs(v) < 1e16) return `${v}.0`;
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? '+Inf' : '-Inf';
  return String(v);
}

function parseTemplate(text: string): Template {
  const pieces: string[] = [];
  const slots: Slot[] = [];
  let piece = '';
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) {
      if (line !== '') piece += `${line}\n`;
      continue;
    }
    const space = line.lastIndexOf(' ');
    pieces.push(piece);
    piece = '\n';
    slots.push({ prefix: line.slice(0, space + 1), value: Number(line.slice(space + 1)) });
  }
  pieces.push(piece);
  return { pieces, slots, roles: assignRoles(slots) };
}

function nameOf(prefix: string): string {
  const brace = prefix.indexOf('{');
  return (brace < 0 ? prefix.trimEnd() : prefix.slice(0, brace)).trim();
}

function label(prefix: string, key: string): string | undefined {
  return new RegExp(`[{,]${key}="([^"]*)"`).exec(prefix)?.[1];
}

function assignRoles(slots: readonly Slot[]): Role[] {
  const roles: Role[] = slots.map(() => ({ kind: 'static' }));
  const histograms = new Map<string, { buckets: { at: number; le: number }[]; sum?: number; count?: number }>();
  slots.forEach((slot, at) => {
    const name = nameOf(slot.prefix);
    const gauge = GAUGES[name];
    if (gauge) roles[at] = { kind: 'gauge', ...gauge };
    else if (name.endsWith('_total') && !name.includes('_created')) roles[at] = { kind: 'counter', perTick: name.includes('tokens') ? 400 : 2 };
    for (const suffix of ['_bucket', '_sum', '_count'] as const) {
      if (!name.endsWith(suffix)) continue;
      const key = `${name.slice(0, -suffix.length)}|${label(slot.prefix, 'engine') ?? ''}`;
      const h = histograms.get(key) ?? { buckets: [] };
      histograms.set(key, h);
      if (suffix === '_bucket') h.buckets.push({ at, le: Number(label(slot.prefix, 'le')?.replace('+Inf', 'Infinity')) });
      else if (suffix === '_sum') h.sum = at;
      else h.count = at;
    }
  });
  for (const h of histograms.values()) {
    if (h.sum === undefined || h.count === undefined || h.buckets.length === 0) continue;
    h.buckets.sort((a, b) => a.le - b.le);
    const role: Role = { kind: 'histogram', buckets: h.buckets.map((b) => b.at), bounds: h.buckets.map((b) => b.le), sum: h.sum, count: h.count };
    roles[h.count] = role; // the histogram moves when its `_count` slot is visited
  }
  return roles;
}

class FleetWorker {
  private readonly values: Float64Array;
  private readonly random: () => number;
  private tick = 0;
  private body: Buffer = Buffer.alloc(0);
  private renderedTick = -1;
  /** Gauge slots held at a value (the reaction benchmark's controlled load), by slot index. */
  private readonly pins = new Map<number, number>();
  private pinsChanged = false;

  constructor(
    private readonly template: Template,
    seed: number,
  ) {
    this.values = Float64Array.from(template.slots, (s) => s.value);
    this.random = mulberry32(seed);
  }

  /** Moves the worker's numbers forward to tick `t`, one tick at a time. */
  advanceTo(t: number): void {
    for (; this.tick < t; this.tick++) this.step();
  }

  /** Holds every engine's `metric` gauge at `value` from now on (the next body shows it). */
  pin(metric: string, value: number): void {
    this.template.slots.forEach((slot, at) => {
      if (this.template.roles[at]?.kind === 'gauge' && nameOf(slot.prefix) === metric) {
        this.pins.set(at, value);
        this.values[at] = value;
      }
    });
    this.pinsChanged = true;
  }

  bodyAt(t: number): Buffer {
    this.advanceTo(t);
    if (this.renderedTick !== this.tick || this.pinsChanged) {
      this.pinsChanged = false;
      const { pieces, slots } = this.template;
      let text = '';
      for (let i = 0; i < slots.length; i++) text += `${pieces[i]}${(slots[i] as Slot).prefix}${pythonFloat(this.values[i] as number)}`;
      text += pieces[slots.length];
      this.body = Buffer.from(text, 'utf8');
      this.renderedTick = this.tick;
    }
    return this.body;
  }

  private step(): void {
    const { roles } = this.template;
    const v = this.values;
    for (let i = 0; i < roles.length; i++) {
      const role = roles[i] as Role;
      switch (role.kind) {
        case 'gauge': {
          const x = role.min + (role.max - role.min) * this.random();
          v[i] = role.whole ? Math.round(x) : Math.round(x * 1000) / 1000;
          break;
        }
        case 'counter':
          v[i] = (v[i] as number) + Math.round(role.perTick * this.random());
          break;
        case 'histogram': {
          // A few observations, each in a bucket drawn towards the low bounds (most requests are fast).
          const n = 1 + Math.floor(this.random() * 4);
          for (let k = 0; k < n; k++) {
            const bucket = Math.min(role.buckets.length - 1, Math.floor(role.buckets.length * this.random() ** 2));
            const finite = role.bounds.filter(Number.isFinite);
            const observed = finite[Math.min(bucket, finite.length - 1)] ?? 1;
            for (let b = bucket; b < role.buckets.length; b++) v[role.buckets[b] as number] = (v[role.buckets[b] as number] as number) + 1;
            v[role.sum] = (v[role.sum] as number) + observed * 0.9;
            v[role.count] = (v[role.count] as number) + 1;
          }
          break;
        }
        case 'static':
          break;
      }
    }
    for (const [at, value] of this.pins) v[at] = value;
  }
}

export interface VllmFleet {
  readonly ports: readonly number[];
  /** Holds worker `index`'s `metric` gauge (every engine) at `value`; its next scrape sees it. */
  pin(index: number, metric: string, value: number): void;
  /** Requests answered so far. */
  served(): number;
  close(): Promise<void>;
}

/** Starts `size` workers on loopback, each on its own port; bodies change every `tickMs`. */
export async function startVllmFleet(fixtureText: string, size: number, tickMs: number, host = '127.0.0.1'): Promise<VllmFleet> {
  const template = parseTemplate(fixtureText);
  const started = Date.now();
  let served = 0;
  const servers: Server[] = [];
  const ports: number[] = [];
  const workers: FleetWorker[] = [];
  for (let i = 0; i < size; i++) {
    const worker = new FleetWorker(template, i + 1);
    workers.push(worker);
    const server = createServer({ keepAliveTimeout: 60_000 }, (request: IncomingMessage, response: ServerResponse) => {
      request.resume();
      const body = worker.bodyAt(Math.floor((Date.now() - started) / tickMs));
      served += 1;
      response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': body.length });
      response.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, host, resolve));
    servers.push(server);
    ports.push((server.address() as AddressInfo).port);
  }
  return {
    ports,
    pin: (index, metric, value) => workers[index]?.pin(metric, value),
    served: () => served,
    close: async () => {
      await Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((resolve) => {
              s.closeAllConnections();
              s.close(() => resolve());
            }),
        ),
      );
    },
  };
}
