/**
 * Prometheus metrics of the Dynamo NATS ingest, registered once per scaler registry (several
 * dynamo-nats pools share them, labelled by pool). Malformed messages are also counted in the
 * scaler's `keda_llm_scaler_scrape_errors_total{cause="parse"}`, so one alert covers every source.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ScalerMetrics } from '../../telemetry.js';

/** Which message: a `$SRV.STATS` reply, JSON or MessagePack kv_metrics, or forward-pass-metrics. */
export type NatsMessageKind = 'stats_reply' | 'kv_metrics_json' | 'kv_metrics_msgpack' | 'forward_pass_metrics';

/**
 * What became of it: used (`ok`); rejected (`malformed`); an event-plane `duplicate` or `older`
 * sequence; another generation than the pool's mode (`ignored`); another component's worker (`foreign`).
 */
export type NatsMessageResult = 'ok' | 'malformed' | 'duplicate' | 'older' | 'ignored' | 'foreign';

export interface NatsMetrics {
  readonly messages: Counter<'pool' | 'kind' | 'result'>;
  readonly connected: Gauge<'pool'>;
}

const byRegistry = new WeakMap<Registry, NatsMetrics>();

export function natsMetrics(metrics: ScalerMetrics): NatsMetrics {
  const existing = byRegistry.get(metrics.registry);
  if (existing) return existing;
  const registers = [metrics.registry];
  const created: NatsMetrics = {
    messages: new Counter({
      name: 'keda_llm_scaler_nats_messages_total',
      help:
        'Dynamo NATS messages by pool, kind (stats_reply, kv_metrics_json, kv_metrics_msgpack, forward_pass_metrics) and result (ok, malformed, ' +
        'duplicate, older, ignored, foreign).',
      labelNames: ['pool', 'kind', 'result'],
      registers,
    }),
    connected: new Gauge({
      name: 'keda_llm_scaler_nats_connected',
      help: "1 while the pool's NATS connection is up, else 0.",
      labelNames: ['pool'],
      registers,
    }),
  };
  byRegistry.set(metrics.registry, created);
  return created;
}
