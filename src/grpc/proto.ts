import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';

/** proto/ sits at the package root, next to src/ and dist/. */
export const EXTERNAL_SCALER_PROTO = fileURLToPath(new URL('../../proto/externalscaler.proto', import.meta.url));

const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true };

let cached: protoLoader.PackageDefinition | undefined;

/** KEDA's service plus grpc.health.v1, in one definition so reflection lists both. */
export function packageDefinition(): protoLoader.PackageDefinition {
  cached ??= protoLoader.loadSync([EXTERNAL_SCALER_PROTO, healthProtoPath], LOADER_OPTIONS);
  return cached;
}

export function externalScalerService(): grpc.ServiceDefinition {
  const loaded = grpc.loadPackageDefinition(packageDefinition()) as unknown as {
    externalscaler: { ExternalScaler: grpc.ServiceClientConstructor };
  };
  return loaded.externalscaler.ExternalScaler.service;
}

/** A typed constructor for clients (used by `probe`, tests and benchmarks). */
export function externalScalerClientConstructor(): grpc.ServiceClientConstructor {
  const loaded = grpc.loadPackageDefinition(packageDefinition()) as unknown as {
    externalscaler: { ExternalScaler: grpc.ServiceClientConstructor };
  };
  return loaded.externalscaler.ExternalScaler;
}
