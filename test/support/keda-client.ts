import * as grpc from '@grpc/grpc-js';
import { externalScalerClientConstructor, packageDefinition } from '../../src/grpc/proto.js';
import type { GetMetricSpecResponse, GetMetricsResponse, IsActiveResponse, ScaledObjectRef } from '../../src/grpc/messages.js';

type Callback<Res> = (error: grpc.ServiceError | null, response?: Res) => void;

interface RawClient extends grpc.Client {
  GetMetricSpec(request: ScaledObjectRef, callback: Callback<GetMetricSpecResponse>): void;
  GetMetrics(request: { scaledObjectRef: ScaledObjectRef; metricName: string }, callback: Callback<GetMetricsResponse>): void;
  IsActive(request: ScaledObjectRef, callback: Callback<IsActiveResponse>): void;
  StreamIsActive(request: ScaledObjectRef): grpc.ClientReadableStream<IsActiveResponse>;
  StreamMetricSpec(request: ScaledObjectRef): grpc.ClientReadableStream<GetMetricSpecResponse>;
}

/** A KEDA-like client: the real grpc-js client over the project's proto, promisified. */
export class KedaClient {
  readonly raw: RawClient;

  constructor(address: string, credentials = grpc.credentials.createInsecure()) {
    const Client = externalScalerClientConstructor();
    this.raw = new Client(address, credentials) as unknown as RawClient;
  }

  static ref(scalerMetadata: Record<string, string>, name = 'so'): ScaledObjectRef {
    return { name, namespace: 'default', scalerMetadata };
  }

  getMetricSpec(ref: ScaledObjectRef): Promise<GetMetricSpecResponse> {
    return new Promise((resolve, reject) => this.raw.GetMetricSpec(ref, (e, r) => (e ? reject(e) : resolve(r as GetMetricSpecResponse))));
  }

  getMetrics(ref: ScaledObjectRef, metricName: string): Promise<GetMetricsResponse> {
    return new Promise((resolve, reject) =>
      this.raw.GetMetrics({ scaledObjectRef: ref, metricName }, (e, r) => (e ? reject(e) : resolve(r as GetMetricsResponse))),
    );
  }

  isActive(ref: ScaledObjectRef): Promise<boolean> {
    return new Promise((resolve, reject) => this.raw.IsActive(ref, (e, r) => (e ? reject(e) : resolve((r as IsActiveResponse).result))));
  }

  close(): void {
    this.raw.close();
  }
}

/** Resolves with the gRPC status code of a rejected call (fails the test if it resolved). */
export async function statusOf(promise: Promise<unknown>): Promise<{ code: grpc.status; details: string }> {
  try {
    await promise;
  } catch (error) {
    const e = error as grpc.ServiceError;
    return { code: e.code, details: e.details };
  }
  throw new Error('expected the call to fail');
}

/** A grpc.health.v1 client over the same package definition. */
export function healthCheck(address: string, service: string): Promise<string> {
  const loaded = grpc.loadPackageDefinition(packageDefinition()) as unknown as {
    grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
  };
  const client = new loaded.grpc.health.v1.Health(address, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    Check(request: { service: string }, callback: Callback<{ status: string }>): void;
  };
  return new Promise((resolve, reject) =>
    client.Check({ service }, (e, r) => {
      client.close();
      if (e) reject(e);
      else resolve(String(r?.status));
    }),
  );
}
