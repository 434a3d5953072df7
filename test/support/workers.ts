/**
 * A fake inference worker: a real HTTP server on 127.0.0.1 (or another loopback address) whose
 * `/metrics` answer can be switched at run time between healthy and every fault the collector
 * must survive. Start with `FakeWorker.start()`, always `close()` it (e.g. in afterEach).
 *
 *   const w = await FakeWorker.start();              // serves vllm/v1-dp2-generated.prom
 *   w.serve(text)            // 200 with this exposition text (optionally after `delayMs`)
 *   w.status(500)            // an error status
 *   w.garbage()              // 200 with a body that is not an exposition
 *   w.hang()                 // accept the request, never answer
 *   w.huge(50 * 2 ** 20)     // 200 streaming a generated body of that size (backpressure-aware)
 *   w.trickle(50)            // 200, then one comment line every 50 ms, never ending (slowloris)
 *   w.closeConnection()      // drop the socket without answering
 *   await w.down(); await w.up();   // stop listening / listen again on the same address
 *
 * `requests`, `connections`, `lastHeaders` and `bytesSent` let a test check what the client
 * actually did: how often it asked, whether it reused keep-alive sockets, what it sent, and how
 * much of a body it let through.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { closeServer, listen } from '../../src/cli/demo/net.js';
import { readFixture } from './fixtures.js';

export type WorkerBehaviour =
  | { readonly kind: 'text'; readonly body: string; readonly status?: number; readonly delayMs?: number }
  /** 200 with a body made at each request (e.g. counters that grow with the time asked). */
  | { readonly kind: 'dynamic'; readonly body: () => string }
  | { readonly kind: 'hang' }
  | { readonly kind: 'huge'; readonly bytes: number; readonly declareLength?: boolean }
  | { readonly kind: 'trickle'; readonly everyMs: number }
  | { readonly kind: 'close' };

export const DEFAULT_FIXTURE = ['vllm', 'v1-dp2-generated.prom'] as const;

/** One valid-looking exposition line, repeated to build oversized bodies without storing them. */
const FILLER = Buffer.from('vllm:num_requests_waiting{engine="0",model_name="filler"} 1.0\n'.repeat(1024));

export interface FakeWorkerOptions {
  /** Loopback address to listen on; default 127.0.0.1. */
  readonly host?: string;
  /** Port; default 0 (ephemeral). */
  readonly port?: number;
  /** Initial behaviour; default: serve DEFAULT_FIXTURE. */
  readonly behaviour?: WorkerBehaviour;
}

export class FakeWorker {
  /** Requests received since start. */
  requests = 0;
  /** TCP connections accepted since start (keep-alive reuse keeps this low). */
  connections = 0;
  /** Headers of the most recent request. */
  lastHeaders: IncomingMessage['headers'] = {};
  /** Body bytes handed to the socket since start (for oversized bodies: what the client let through). */
  bytesSent = 0;
  private behaviour: WorkerBehaviour;
  private readonly timers = new Set<NodeJS.Timeout>();
  private listening = false;

  private constructor(
    private readonly server: Server,
    readonly host: string,
    public port: number,
    behaviour: WorkerBehaviour,
  ) {
    this.behaviour = behaviour;
    server.on('request', (req, res) => this.handle(req, res));
    server.on('connection', () => {
      this.connections += 1;
    });
  }

  static async start(options: FakeWorkerOptions = {}): Promise<FakeWorker> {
    const behaviour = options.behaviour ?? { kind: 'text', body: readFixture(...DEFAULT_FIXTURE) };
    const worker = new FakeWorker(createServer(), options.host ?? '127.0.0.1', options.port ?? 0, behaviour);
    await worker.up();
    return worker;
  }

  /** `host:port`, as written in a pool's `targets`. */
  get target(): string {
    return `${this.host}:${this.port}`;
  }

  get url(): string {
    return `http://${this.target}/metrics`;
  }

  set(behaviour: WorkerBehaviour): this {
    this.behaviour = behaviour;
    return this;
  }

  serve(body: string, delayMs?: number): this {
    return this.set({ kind: 'text', body, delayMs });
  }

  serveFixture(...parts: string[]): this {
    return this.serve(readFixture(...parts));
  }

  /** Answers each request with `body()`, made at that moment. */
  serveWith(body: () => string): this {
    return this.set({ kind: 'dynamic', body });
  }

  status(status: number, body = 'error\n'): this {
    return this.set({ kind: 'text', body, status });
  }

  garbage(): this {
    return this.serve('<html><body>\u0000\u00ff not metrics {{{ 42 "\n</body></html>');
  }

  hang(): this {
    return this.set({ kind: 'hang' });
  }

  huge(bytes: number, declareLength = false): this {
    return this.set({ kind: 'huge', bytes, declareLength });
  }

  trickle(everyMs: number): this {
    return this.set({ kind: 'trickle', everyMs });
  }

  closeConnection(): this {
    return this.set({ kind: 'close' });
  }

  /** Stops listening and drops every connection: the worker is "down" (connection refused). */
  async down(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    await closeServer(this.server);
  }

  /** Listens (again) on the same address; the first call picks the port when it was 0. */
  async up(): Promise<void> {
    if (this.listening) return;
    this.port = await listen(this.server, this.port, this.host);
    this.listening = true;
  }

  close(): Promise<void> {
    return this.down();
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.requests += 1;
    this.lastHeaders = req.headers;
    req.resume();
    const behaviour = this.behaviour;
    switch (behaviour.kind) {
      case 'hang':
        return; // closeAllConnections() in down() ends it
      case 'close':
        req.socket.destroy();
        return;
      case 'trickle': {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
        const timer = setInterval(() => {
          if (res.destroyed) return void clearInterval(timer);
          this.bytesSent += 4;
          res.write('# .\n');
        }, behaviour.everyMs);
        res.on('close', () => clearInterval(timer));
        return;
      }
      case 'dynamic': {
        const body = Buffer.from(behaviour.body(), 'utf8');
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': body.length });
        this.bytesSent += body.length;
        res.end(body);
        return;
      }
      case 'huge':
        this.stream(res, behaviour.bytes, behaviour.declareLength ?? false);
        return;
      case 'text': {
        const send = (): void => {
          if (res.destroyed) return;
          const body = Buffer.from(behaviour.body, 'utf8');
          res.writeHead(behaviour.status ?? 200, {
            'content-type': 'text/plain; version=0.0.4; charset=utf-8',
            'content-length': body.length,
          });
          this.bytesSent += body.length;
          res.end(body);
        };
        if (!behaviour.delayMs) return send();
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          send();
        }, behaviour.delayMs);
        this.timers.add(timer);
        return;
      }
    }
  }

  /** Writes `total` bytes, waiting for drain, and stops as soon as the client goes away. */
  private stream(res: ServerResponse, total: number, declareLength: boolean): void {
    res.writeHead(200, {
      'content-type': 'text/plain; version=0.0.4',
      ...(declareLength ? { 'content-length': total } : {}),
    });
    let left = total;
    const pump = (): void => {
      while (left > 0 && !res.destroyed) {
        const chunk = left >= FILLER.length ? FILLER : FILLER.subarray(0, left);
        left -= chunk.length;
        this.bytesSent += chunk.length;
        if (!res.write(chunk)) {
          res.once('drain', pump);
          return;
        }
      }
      if (!res.destroyed) res.end();
    };
    res.on('close', () => {
      left = 0;
    });
    pump();
  }
}

/**
 * A worker whose exposition is rendered afresh for every request, for tests whose counters grow
 * with time at set rates. A subclass writes `body()`; `listen()` starts it on 127.0.0.1.
 */
export abstract class RenderingWorker {
  /** Requests answered since start. */
  requests = 0;
  private readonly server: Server = createServer((req, res) => {
    this.requests += 1;
    req.resume();
    const body = this.body();
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });

  /** The exposition `/metrics` serves now. */
  protected abstract body(): string;

  /** Listens on a free port of 127.0.0.1; resolves with the worker. */
  async listen(): Promise<this> {
    await listen(this.server, 0, '127.0.0.1');
    return this;
  }

  /** `host:port`, as written in a pool's `targets`. */
  get target(): string {
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }
}
