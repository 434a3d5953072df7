import * as grpc from '@grpc/grpc-js';
import { Command } from 'commander';
import { externalScalerClientConstructor } from '../grpc/proto.js';
import type { GetMetricSpecResponse, GetMetricsResponse, IsActiveResponse, ScaledObjectRef } from '../grpc/messages.js';

export interface ProbeResult {
  address: string;
  metadata: Record<string, string>;
  spec?: GetMetricSpecResponse;
  metrics?: GetMetricsResponse;
  active?: boolean;
  errors: { call: string; code: string; message: string }[];
}

type Unary<Req, Res> = (request: Req, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, response?: Res) => void) => void;

interface ScalerClient extends grpc.Client {
  GetMetricSpec: Unary<ScaledObjectRef, GetMetricSpecResponse>;
  GetMetrics: Unary<{ scaledObjectRef: ScaledObjectRef; metricName: string }, GetMetricsResponse>;
  IsActive: Unary<ScaledObjectRef, IsActiveResponse>;
}

/**
 * Calls the rpcs in KEDA's order — GetMetricSpec, then GetMetrics with the returned name, then
 * IsActive — and reports each answer or error.
 */
export async function probe(address: string, metadata: Record<string, string>, timeoutMs = 5000): Promise<ProbeResult> {
  const Client = externalScalerClientConstructor();
  const client = new Client(address, grpc.credentials.createInsecure()) as unknown as ScalerClient;
  const ref: ScaledObjectRef = { name: 'probe', namespace: 'default', scalerMetadata: metadata };
  const result: ProbeResult = { address, metadata, errors: [] };
  const call = <Req, Res>(name: string, method: Unary<Req, Res>, request: Req): Promise<Res | undefined> =>
    new Promise((resolve) => {
      method.call(client, request, { deadline: Date.now() + timeoutMs }, (error, response) => {
        if (error) {
          result.errors.push({ call: name, code: grpc.status[error.code] ?? String(error.code), message: error.details });
          resolve(undefined);
        } else resolve(response);
      });
    });
  try {
    result.spec = await call('GetMetricSpec', client.GetMetricSpec, ref);
    const metricName = result.spec?.metricSpecs[0]?.metricName ?? '';
    result.metrics = await call('GetMetrics', client.GetMetrics, { scaledObjectRef: ref, metricName });
    result.active = (await call('IsActive', client.IsActive, ref))?.result;
  } finally {
    client.close();
  }
  return result;
}

export function parseMetadataPairs(pairs: readonly string[]): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new Error(`'${pair}' is not key=value`);
    metadata[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return metadata;
}

export function probeCommand(): Command {
  return new Command('probe')
    .description('call GetMetricSpec, GetMetrics and IsActive on a scaler as KEDA would, and print JSON')
    .argument('<address>', 'scaler gRPC address, host:port')
    .argument('[metadata...]', 'trigger metadata as key=value pairs, e.g. pool=llama metric=kv_cache_usage target=0.7')
    .option('--timeout <ms>', 'deadline per call in milliseconds', '5000')
    .action(async (address: string, pairs: string[], options: { timeout: string }) => {
      let metadata: Record<string, string>;
      try {
        metadata = parseMetadataPairs(pairs);
      } catch (error) {
        process.stderr.write(`keda-llm-scaler probe: ${(error as Error).message}\n`);
        process.exit(2);
      }
      const result = await probe(address, metadata, Number(options.timeout));
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      process.exitCode = result.errors.length > 0 ? 1 : 0;
    });
}
