import * as grpc from '@grpc/grpc-js';
import { MetadataError } from '../signals/metadata-error.js';
import type { ScalerMetrics } from '../telemetry.js';
import type { Trigger } from '../triggers/trigger.js';
import type { TriggerRegistry } from '../triggers/trigger-registry.js';
import type { ActivityStreams } from './activity-streams.js';
import type { GetMetricSpecResponse, GetMetricsRequest, GetMetricsResponse, IsActiveResponse, ScaledObjectRef } from './messages.js';
import { onStreamEnd } from './stream-end.js';

type Status = grpc.status;

class RpcError extends Error {
  constructor(
    readonly code: Status,
    message: string,
  ) {
    super(message);
  }
}

/** Both the float target (KEDA ≥ 2.17) and its ceiling as the int field older KEDA reads. */
function specResponse({ spec }: Trigger): GetMetricSpecResponse {
  return { metricSpecs: [{ metricName: spec.metricName, targetSize: Math.ceil(spec.target), targetSizeFloat: spec.target }] };
}

/**
 * KEDA's ExternalScaler service. Handlers only read: the trigger registry (parsed metadata,
 * cached) and the pools' snapshots. Nothing here waits on a worker.
 */
export function externalScalerHandlers(deps: { registry: TriggerRegistry; streams: ActivityStreams; metrics: ScalerMetrics; shuttingDown: () => boolean }): {
  implementation: grpc.UntypedServiceImplementation;
  endStreams: () => void;
} {
  const { registry, streams, metrics } = deps;

  const resolve = (ref: ScaledObjectRef | null | undefined): Trigger => {
    if (deps.shuttingDown()) throw new RpcError(grpc.status.UNAVAILABLE, 'scaler is shutting down');
    try {
      return registry.resolve(ref?.scalerMetadata ?? {});
    } catch (error) {
      if (error instanceof MetadataError) throw new RpcError(grpc.status.INVALID_ARGUMENT, error.message);
      throw error;
    }
  };

  function unary<Req, Res>(method: string, handle: (request: Req) => Res): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      const started = process.hrtime.bigint();
      let code: Status = grpc.status.OK;
      try {
        callback(null, handle(call.request));
      } catch (error) {
        code = error instanceof RpcError ? error.code : grpc.status.INTERNAL;
        const message = error instanceof Error ? error.message : String(error);
        callback({ code, details: message, message });
      } finally {
        metrics.rpcs.inc({ method, code: grpc.status[code] });
        metrics.rpcDuration.observe({ method }, Number(process.hrtime.bigint() - started) / 1e9);
      }
    };
  }

  const isActive = (ref: ScaledObjectRef): IsActiveResponse => {
    const result = resolve(ref).evaluate();
    if (!result.ok && !result.active) throw new RpcError(grpc.status.UNAVAILABLE, result.reason);
    return { result: result.active };
  };

  const getMetricSpec = (ref: ScaledObjectRef): GetMetricSpecResponse => {
    // Answered from the metadata alone, so KEDA's fallback keeps working while workers are down.
    return specResponse(resolve(ref));
  };

  const getMetrics = (request: GetMetricsRequest): GetMetricsResponse => {
    const trigger = resolve(request.scaledObjectRef);
    const { metricName } = trigger.spec;
    if (request.metricName !== '' && request.metricName.toLowerCase() !== metricName) {
      throw new RpcError(grpc.status.NOT_FOUND, `metric '${request.metricName}' is not served by this trigger; its metric is '${metricName}'`);
    }
    const result = trigger.evaluate();
    if (!result.ok) throw new RpcError(grpc.status.UNAVAILABLE, result.reason);
    return { metricValues: [{ metricName, metricValue: Math.ceil(result.value), metricValueFloat: result.value }] };
  };

  /** Resolves a stream's trigger, or ends the stream with the error's status. */
  function openStream<Res>(method: string, call: grpc.ServerWritableStream<ScaledObjectRef, Res>): Trigger | undefined {
    try {
      const trigger = resolve(call.request);
      // Counted when the stream ends: CANCELLED when KEDA (or anyone) cancels it, OK when the
      // scaler ends it (shutdown). grpc-js emits 'cancelled' before the other end events.
      let cancelled = false;
      call.once('cancelled', () => (cancelled = true));
      onStreamEnd(call, () => metrics.rpcs.inc({ method, code: cancelled || call.cancelled ? 'CANCELLED' : 'OK' }));
      return trigger;
    } catch (error) {
      const code = error instanceof RpcError ? error.code : grpc.status.INTERNAL;
      metrics.rpcs.inc({ method, code: grpc.status[code] });
      call.emit('error', { code, details: (error as Error).message });
      return undefined;
    }
  }

  const streamIsActive: grpc.handleServerStreamingCall<ScaledObjectRef, IsActiveResponse> = (call) => {
    const trigger = openStream('StreamIsActive', call);
    if (trigger) streams.open(call, trigger);
  };

  const openSpecStreams = new Set<grpc.ServerWritableStream<ScaledObjectRef, GetMetricSpecResponse>>();
  const streamMetricSpec: grpc.handleServerStreamingCall<ScaledObjectRef, GetMetricSpecResponse> = (call) => {
    const trigger = openStream('StreamMetricSpec', call);
    if (!trigger) return;
    // Targets come from the trigger's own metadata and cannot change while the stream is open,
    // so the current spec is sent once and the stream stays open until KEDA or shutdown ends it.
    call.write(specResponse(trigger));
    openSpecStreams.add(call);
    metrics.activeStreams.inc();
    onStreamEnd(call, () => {
      openSpecStreams.delete(call);
      metrics.activeStreams.dec();
    });
  };

  return {
    implementation: {
      IsActive: unary('IsActive', isActive),
      GetMetricSpec: unary('GetMetricSpec', getMetricSpec),
      GetMetrics: unary('GetMetrics', getMetrics),
      StreamIsActive: streamIsActive,
      StreamMetricSpec: streamMetricSpec,
    },
    endStreams: () => {
      streams.endAll();
      for (const call of openSpecStreams) if (!call.cancelled && !call.writableEnded) call.end();
    },
  };
}
