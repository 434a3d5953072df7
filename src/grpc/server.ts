import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, type ServingStatus } from 'grpc-health-check';
import type { ScalerMetrics } from '../telemetry.js';
import type { Logger } from '../log.js';
import type { TriggerRegistry } from '../triggers/trigger-registry.js';
import { ActivityStreams } from './activity-streams.js';
import { externalScalerHandlers } from './external-scaler.js';
import { externalScalerService, packageDefinition } from './proto.js';
import { RequestMemo } from './request-memo.js';

export const EXTERNAL_SCALER_SERVICE = 'externalscaler.ExternalScaler';

/**
 * The gRPC endpoint KEDA talks to: ExternalScaler, grpc.health.v1 (overall, `liveness`,
 * `readiness`, and the scaler service itself) and server reflection for grpcurl.
 */
export class GrpcServer {
  private readonly server: grpc.Server;
  private readonly health: HealthImplementation;
  private readonly endStreams: () => void;
  readonly streams: ActivityStreams;
  private shuttingDown = false;

  constructor(
    registry: TriggerRegistry,
    metrics: ScalerMetrics,
    private readonly log: Logger,
  ) {
    // grpc-js writes its own errors to stderr ("E No address added …" before our own message on a
    // port clash): they go to our log instead, at debug, since every failure they describe is
    // reported by us as well (grpc/grpc-node packages/grpc-js/src/logging.ts, setLogger).
    grpc.setLogger({
      error: (...args: unknown[]) => log.debug({ grpc: args.join(' ') }, 'grpc-js'),
      info: (...args: unknown[]) => log.debug({ grpc: args.join(' ') }, 'grpc-js'),
      debug: (...args: unknown[]) => log.trace({ grpc: args.join(' ') }, 'grpc-js'),
    });
    // KEDA sends no keepalives; ours keep idle connections alive through proxies and meshes.
    this.server = new grpc.Server({ 'grpc.keepalive_time_ms': 60_000, 'grpc.keepalive_timeout_ms': 20_000, 'grpc.keepalive_permit_without_calls': 1 });
    this.streams = new ActivityStreams((delta) => metrics.activeStreams.inc(delta));
    const handlers = externalScalerHandlers({ registry, streams: this.streams, metrics, shuttingDown: () => this.shuttingDown });
    this.endStreams = handlers.endStreams;
    // Request bodies KEDA repeats every poll are decoded once.
    this.server.addService(new RequestMemo().wrap(externalScalerService()), handlers.implementation);
    this.health = new HealthImplementation({ '': 'SERVING', liveness: 'SERVING', readiness: 'NOT_SERVING', [EXTERNAL_SCALER_SERVICE]: 'NOT_SERVING' });
    this.health.addToServer(this.server);
    new ReflectionService(packageDefinition()).addToServer(this.server);
  }

  /** Binds and starts serving; returns the bound port (useful with port 0). */
  listen(host: string, port: number, credentials: grpc.ServerCredentials = grpc.ServerCredentials.createInsecure()): Promise<number> {
    const address = host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
    return new Promise((resolve, reject) => {
      this.server.bindAsync(address, credentials, (error, boundPort) => {
        if (error) reject(new Error(`cannot listen for gRPC on ${address}: ${error.message}`));
        else resolve(boundPort);
      });
    });
  }

  setReady(ready: boolean): void {
    const status: ServingStatus = ready ? 'SERVING' : 'NOT_SERVING';
    this.health.setStatus('readiness', status);
    this.health.setStatus(EXTERNAL_SCALER_SERVICE, status);
  }

  /**
   * Ends open streams with status OK (KEDA then reconnects after 2 s instead of backing off),
   * lets in-flight calls finish, and forces the rest closed after `graceMs`.
   */
  async shutdown(graceMs = 5000): Promise<void> {
    this.shuttingDown = true;
    this.setReady(false);
    this.health.setStatus('', 'NOT_SERVING');
    this.endStreams();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.log.warn('gRPC calls still open after the grace period; closing them');
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
