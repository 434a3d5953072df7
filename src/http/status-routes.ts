/**
 * The status page on the ops server: `/` (every pool and trigger), `/pools/:name` (one pool: its
 * workers, charts and decisions), the page's files under `/ui/<version>/`, its JSON under
 * `/api/v1/status`, and live updates as Server-Sent Events after every tick of the history.
 * Read-only: every route is a GET. Anything else under `/` is 404, never the page.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ServerResponse } from 'node:http';
import type { StatusHistory } from './status-history.js';
import { overviewPayload, poolPayload, type StatusState } from './status-view.js';
import type { UiAssets } from './ui-assets.js';

/** Live streams open at once (each costs one payload per tick); more are refused with 503. */
export const MAX_LIVE_STREAMS = 32;

const PAGE_HEADERS = {
  'cache-control': 'no-cache',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
} as const;

const API_HEADERS = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' } as const;

interface LiveStream {
  readonly raw: ServerResponse;
  /** Rows up to this time have been sent. */
  after?: number;
  blocked: boolean;
  readonly unsubscribe: () => void;
}

/** The open event streams, ended when the server closes so shutdown never waits on a browser. */
class LiveStreams {
  private readonly streams = new Set<LiveStream>();

  constructor(
    private readonly history: StatusHistory,
    private readonly max: number,
  ) {}

  get size(): number {
    return this.streams.size;
  }

  open(request: FastifyRequest, reply: FastifyReply, build: (after?: number) => unknown): void {
    if (this.streams.size >= this.max) {
      void reply
        .code(503)
        .headers({ ...API_HEADERS, 'retry-after': '10' })
        .send({ error: `too many live status streams open (${this.max}); close a status page or poll /api/v1/status` });
      return;
    }
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'x-accel-buffering': 'no',
      // The stream is the whole response: once it ends, so does the connection (shutdown never waits on it).
      connection: 'close',
    });
    const stream: LiveStream = {
      raw,
      blocked: false,
      unsubscribe: this.history.onRecord(() => this.send(stream, build)),
    };
    this.streams.add(stream);
    raw.on('drain', () => {
      stream.blocked = false;
    });
    request.raw.socket.on('close', () => this.close(stream));
    raw.on('close', () => this.close(stream));
    // A reconnecting EventSource waits this long; the first message carries the full history.
    raw.write('retry: 2000\n\n');
    this.send(stream, build);
  }

  private send(stream: LiveStream, build: (after?: number) => unknown): void {
    // A browser that does not read keeps its rows: the next message carries everything since.
    if (stream.blocked || stream.raw.destroyed) return;
    const upTo = this.history.lastAt;
    const payload = build(stream.after);
    stream.after = upTo;
    stream.blocked = !stream.raw.write(`event: status\ndata: ${JSON.stringify(payload)}\n\n`);
  }

  private close(stream: LiveStream): void {
    if (!this.streams.delete(stream)) return;
    stream.unsubscribe();
    if (!stream.raw.writableEnded) stream.raw.end();
  }

  closeAll(): void {
    for (const stream of [...this.streams]) this.close(stream);
  }
}

export function registerStatusPage(app: FastifyInstance, state: StatusState, assets: UiAssets): { liveStreams: () => number } {
  const live = new LiveStreams(state.history, MAX_LIVE_STREAMS);
  app.addHook('preClose', async () => live.closeAll());

  const page = (reply: FastifyReply, pool?: string) => {
    const { html, csp } = assets.page({ pool });
    return reply
      .type('text/html; charset=utf-8')
      .headers({ ...PAGE_HEADERS, 'content-security-policy': csp })
      .send(html);
  };

  app.get('/', async (_request, reply) => page(reply));

  app.get<{ Params: { name: string } }>('/pools/:name', async (request, reply) => {
    if (!state.pools.has(request.params.name)) {
      return reply
        .code(404)
        .type('text/plain; charset=utf-8')
        .headers(PAGE_HEADERS)
        .send(`unknown pool '${request.params.name}'; configured pools are ${[...state.pools.keys()].join(', ')}\n`);
    }
    return page(reply, request.params.name);
  });

  app.get<{ Params: { version: string; '*': string } }>('/ui/:version/*', async (request, reply) => {
    const file = request.params.version === assets.version ? assets.files.get(request.params['*']) : undefined;
    if (!file) return reply.code(404).type('text/plain; charset=utf-8').send('not found\n');
    const headers = {
      etag: file.etag,
      'cache-control': 'public, max-age=31536000, immutable',
      'x-content-type-options': 'nosniff',
      vary: 'accept-encoding',
    };
    if (request.headers['if-none-match'] === file.etag) return reply.code(304).headers(headers).send();
    const gzip = /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''));
    return reply
      .type(file.type)
      .headers(gzip ? { ...headers, 'content-encoding': 'gzip' } : headers)
      .send(gzip ? file.gzip : file.body);
  });

  app.get('/api/v1/status', async (_request, reply) => reply.headers(API_HEADERS).send(overviewPayload(state)));

  app.get<{ Params: { name: string } }>('/api/v1/status/pools/:name', async (request, reply) => {
    const payload = poolPayload(state, request.params.name);
    if (!payload)
      return reply
        .code(404)
        .headers(API_HEADERS)
        .send({ error: `unknown pool '${request.params.name}'`, pools: [...state.pools.keys()] });
    return reply.headers(API_HEADERS).send(payload);
  });

  app.get('/api/v1/status/events', async (request, reply) => {
    live.open(request, reply, () => overviewPayload(state));
    return reply;
  });

  app.get<{ Params: { name: string } }>('/api/v1/status/pools/:name/events', async (request, reply) => {
    const name = request.params.name;
    if (!state.pools.has(name))
      return reply
        .code(404)
        .headers(API_HEADERS)
        .send({ error: `unknown pool '${name}'`, pools: [...state.pools.keys()] });
    live.open(request, reply, (after) => poolPayload(state, name, after));
    return reply;
  });

  return { liveStreams: () => live.size };
}
