import * as grpc from '@grpc/grpc-js';
import { Command } from 'commander';
import { externalScalerClientConstructor } from '../grpc/proto.js';
import type { GetMetricSpecResponse, GetMetricsResponse, IsActiveResponse, ScaledObjectRef } from '../grpc/messages.js';
import { KEDA_KEYS } from '../triggers/metadata.js';

export interface ProbeResult {
  address: string;
  metadata: Record<string, string>;
  spec?: GetMetricSpecResponse;
  metrics?: GetMetricsResponse;
  active?: boolean;
  errors: { call: string; code: string; message: string }[];
  /** The scaler's explanation of this trigger, from its HTTP `/api/v1/decisions`. */
  decision?: unknown;
  /** Why there is no `decision` (HTTP side unreachable, trigger not found …); never fails the probe. */
  decisionError?: string;
}

/** The HTTP address next to a gRPC one: same host, port 8080 (the scaler's default `http.port`). */
export function defaultHttpAddress(grpcAddress: string): string {
  let host = grpcAddress.replace(/^[a-z]+:\/\/\/?/i, '');
  const slash = host.indexOf('/');
  if (slash >= 0) host = host.slice(0, slash);
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    host = end > 0 ? host.slice(0, end + 1) : host;
  } else if (host.split(':').length === 2) {
    host = host.slice(0, host.indexOf(':'));
  } else if (host.split(':').length > 2) {
    host = `[${host}]`; // a bare IPv6 address
  }
  return `${host || 'localhost'}:8080`;
}

function sameMetadata(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = (m: Readonly<Record<string, string>>) =>
    Object.keys(m)
      .filter((k) => !KEDA_KEYS.has(k))
      .sort();
  const ka = keys(a);
  const kb = keys(b);
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a[k] === b[k]);
}

interface Decision {
  readonly metricName?: string;
  readonly metadata?: Record<string, string>;
}

/**
 * Fetches the scaler's decisions and picks this trigger's: the one built from the same metadata,
 * else the only one with the metric name GetMetricSpec returned.
 */
export async function fetchDecision(
  httpAddress: string,
  metadata: Record<string, string>,
  metricName: string | undefined,
  timeoutMs: number,
): Promise<{ decision?: unknown; error?: string }> {
  const base = `${/^https?:\/\//.test(httpAddress) ? httpAddress.replace(/\/+$/, '') : `http://${httpAddress}`}/api/v1/decisions`;
  // The API answers in pages: asking by metric name keeps this trigger on the first one.
  const url = metricName === undefined ? base : `${base}?metricName=${encodeURIComponent(metricName)}&limit=500`;
  let body: { decisions?: Decision[] };
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) return { error: `${base} answered HTTP ${response.status}` };
    body = (await response.json()) as { decisions?: Decision[] };
  } catch (error) {
    const cause = (error as { cause?: { message?: string } }).cause?.message;
    return { error: `${base} is unreachable: ${(error as Error).message}${cause ? ` (${cause})` : ''}; pass --http <host:port> for the scaler's HTTP address` };
  }
  const decisions = body.decisions ?? [];
  const exact = decisions.find((d) => d.metadata !== undefined && sameMetadata(d.metadata, metadata));
  if (exact) return { decision: exact };
  const byName = decisions.filter((d) => metricName !== undefined && d.metricName === metricName);
  if (byName.length === 1) return { decision: byName[0] };
  return { error: `${base} has no decision for this trigger${byName.length > 1 ? ` (${byName.length} triggers share metric name '${metricName}')` : ''}` };
}

type Unary<Req, Res> = (request: Req, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, response?: Res) => void) => void;

interface ScalerClient extends grpc.Client {
  GetMetricSpec: Unary<ScaledObjectRef, GetMetricSpecResponse>;
  GetMetrics: Unary<{ scaledObjectRef: ScaledObjectRef; metricName: string }, GetMetricsResponse>;
  IsActive: Unary<ScaledObjectRef, IsActiveResponse>;
}

/**
 * Calls the rpcs in KEDA's order — GetMetricSpec, then GetMetrics with the returned name, then
 * IsActive — and reports each answer or error, then adds the scaler's explanation of the trigger
 * from its HTTP side (`decision`), or why it could not (`decisionError`, which never fails the probe).
 */
export async function probe(
  address: string,
  metadata: Record<string, string>,
  timeoutMs = 5000,
  /** `httpAddress`: where to fetch the explanation from; none (the default for callers) skips it. */
  options: { httpAddress?: string } = {},
): Promise<ProbeResult> {
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
  if (options.httpAddress !== undefined) {
    const explained = await fetchDecision(options.httpAddress, metadata, result.spec?.metricSpecs[0]?.metricName, timeoutMs);
    if (explained.decision !== undefined) result.decision = explained.decision;
    if (explained.error !== undefined) result.decisionError = explained.error;
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
    .description("call GetMetricSpec, GetMetrics and IsActive on a scaler as KEDA would, add the scaler's explanation of the trigger, and print JSON")
    .argument('<address>', 'scaler gRPC address, host:port')
    .argument('[metadata...]', 'trigger metadata as key=value pairs, e.g. pool=llama metric=kv_cache_usage target=0.7')
    .option('--timeout <ms>', 'deadline per call in milliseconds', '5000')
    .option('--http <address>', "the scaler's HTTP address for the explanation (/api/v1/decisions); default: the gRPC host, port 8080")
    .option('--no-explain', 'skip the explanation from the HTTP side')
    .action(async (address: string, pairs: string[], options: { timeout: string; http?: string; explain: boolean }) => {
      let metadata: Record<string, string>;
      try {
        metadata = parseMetadataPairs(pairs);
      } catch (error) {
        process.stderr.write(`keda-llm-scaler probe: ${(error as Error).message}\n`);
        process.exit(2);
      }
      const httpAddress = options.explain ? (options.http ?? defaultHttpAddress(address)) : undefined;
      const result = await probe(address, metadata, Number(options.timeout), { httpAddress });
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      process.exitCode = result.errors.length > 0 ? 1 : 0;
    });
}
