import Fastify, { type FastifyInstance } from 'fastify';
import type { ScalerMetrics } from '../telemetry.js';
import type { PoolRuntime, Trigger } from '../triggers/trigger.js';
import { decisionsPage, type DecisionsQuery } from './decisions-page.js';
import { poolReport, poolSummary } from './pool-report.js';
import type { StatusHistory } from './status-history.js';
import { registerStatusPage } from './status-routes.js';
import type { UiAssets } from './ui-assets.js';
import { serviceTimesAnswer } from './service-times.js';

export interface OpsState {
  readonly pools: ReadonlyMap<string, { runtime: PoolRuntime; source: string }>;
  readonly metrics: ScalerMetrics;
  live(): boolean;
  /** Undefined when ready; otherwise why not. */
  notReadyReason(): string | undefined;
  triggers(): readonly Trigger[];
  /** The status page (`http.ui`): its history and files; absent when it is off. */
  readonly statusPage?: { readonly history: StatusHistory; readonly assets: UiAssets };
}

/** How long requests in flight may take to finish once the server closes. */
const CLOSE_GRACE_MS = 500;

/** The HTTP side for operators: probes, Prometheus metrics and the "why this value" API. */
export function createOpsServer(state: OpsState): FastifyInstance {
  const app = Fastify({ logger: false });
  // On close, requests in flight get CLOSE_GRACE_MS to finish; then every connection left is
  // dropped, so an idle browser socket (pre-connected, never used) cannot hold shutdown for seconds.
  app.addHook('preClose', async () => {
    const timer = setTimeout(() => app.server.closeAllConnections(), CLOSE_GRACE_MS);
    timer.unref();
    app.server.once('close', () => clearTimeout(timer));
  });

  app.get('/healthz', async (_request, reply) => {
    if (state.live()) return { status: 'ok' };
    return reply.code(503).send({ status: 'not live' });
  });

  app.get('/readyz', async (_request, reply) => {
    const reason = state.notReadyReason();
    if (reason === undefined) return { status: 'ready' };
    return reply.code(503).send({ status: 'not ready', reason });
  });

  app.get('/metrics', async (_request, reply) => {
    const body = await state.metrics.registry.metrics();
    return reply.type(state.metrics.registry.contentType).send(body);
  });

  app.get('/api/v1/pools', async () => ({
    pools: [...state.pools.values()].map(({ runtime, source }) => poolSummary(runtime, source)),
  }));

  app.get<{ Params: { name: string } }>('/api/v1/pools/:name', async (request, reply) => {
    const pool = state.pools.get(request.params.name);
    if (!pool) {
      return reply.code(404).send({ error: `unknown pool '${request.params.name}'`, pools: [...state.pools.keys()] });
    }
    return poolReport(pool.runtime, pool.source, state.triggers());
  });

  app.get<{ Querystring: DecisionsQuery }>('/api/v1/decisions', async (request, reply) => {
    const answer = decisionsPage(state.triggers(), request.query);
    return reply.code(answer.status).send(answer.body);
  });

  if (state.statusPage) {
    registerStatusPage(app, { pools: state.pools, triggers: () => state.triggers(), history: state.statusPage.history }, state.statusPage.assets);
  }
  app.get<{ Querystring: { pool?: string; window?: string; model?: string } }>('/api/v1/service-times', async (request, reply) => {
    const names = [...state.pools.keys()];
    const name = request.query.pool ?? (names.length === 1 ? names[0] : undefined);
    if (name === undefined) return reply.code(400).send({ error: `'pool' is required; pools are ${names.join(', ')}`, pools: names });
    const pool = state.pools.get(name);
    if (!pool) return reply.code(404).send({ error: `unknown pool '${name}'`, pools: names });
    const answer = serviceTimesAnswer(pool.runtime, request.query);
    return reply.code(answer.status).send(answer.body);
  });

  return app;
}
