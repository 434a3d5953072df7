/**
 * Instant queries against a Prometheus-compatible HTTP API (`POST /api/v1/query`, as documented in
 * prometheus/prometheus `docs/querying/api.md`; Thanos, Mimir and VictoriaMetrics answer the same).
 * Every query is bounded in time (and the engine is asked to give up by then too) and in body size,
 * and every failure is an answer with a cause, never a rejection and never an empty result.
 */
import { readFileSync } from 'node:fs';
import { Agent, type Dispatcher } from 'undici';
import type { PrometheusSourceConfig } from '../../config/schema.js';
import { classifyFetchError, readCappedBody } from '../http/scrape-client.js';

/** One element of an instant vector: a series' labels (with `__name__` unless a function dropped it) and its value. */
export interface VectorSample {
  readonly metric: Readonly<Record<string, string>>;
  /** `[evaluation time in seconds, value as text]`. */
  readonly value: readonly [number, string];
}

export type QueryFailureCause = 'connect' | 'timeout' | 'http_status' | 'body_too_large' | 'query_error' | 'not_vector' | 'error';

export type QueryResult =
  | { readonly ok: true; readonly result: readonly VectorSample[]; readonly warnings: readonly string[]; readonly bytes: number }
  | { readonly ok: false; readonly cause: QueryFailureCause; readonly message: string };

/** An error page is read this far, for its message, and no further. */
const ERROR_BODY_BYTES = 64 * 1024;

export class PrometheusQueryClient {
  private readonly agent: Agent;
  private readonly origin: string;
  private readonly path: string;
  private readonly headers: Record<string, string>;

  /** Reads the TLS files now: a missing or unreadable one fails start-up naming its key. */
  constructor(private readonly config: PrometheusSourceConfig) {
    const url = new URL(`${config.url}/api/v1/query`);
    this.origin = url.origin;
    this.path = `${url.pathname}${url.search}`;
    const tls = config.tls;
    const read = (key: 'ca' | 'cert' | 'key'): Buffer | undefined => {
      const file = tls?.[key];
      if (file === undefined) return undefined;
      try {
        return readFileSync(file);
      } catch (error) {
        throw new Error(`prometheus.tls.${key}: cannot read ${file}: ${(error as Error).message}`);
      }
    };
    this.agent = new Agent({
      connections: 8,
      keepAliveTimeout: 30_000,
      connect: { timeout: config.timeout, ca: read('ca'), cert: read('cert'), key: read('key'), rejectUnauthorized: !(tls?.insecureSkipVerify ?? false) },
      headersTimeout: config.timeout,
      bodyTimeout: config.timeout,
    });
    this.headers = {
      ...config.headers,
      accept: 'application/json',
      'content-type': 'application/x-www-form-urlencoded',
    };
    // Basic auth written into the URL (http://user:pass@host) is sent as a header, never logged.
    if (url.username !== '' || url.password !== '') {
      this.headers['authorization'] ??= `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
    }
  }

  /** The engine's URL without credentials, for logs and `/api/v1/pools`. */
  get displayUrl(): string {
    const url = new URL(this.config.url);
    url.username = '';
    url.password = '';
    return url.toString().replace(/\/$/, '');
  }

  /** Evaluates `query` at `timeSeconds`; never rejects. */
  async query(query: string, timeSeconds: number): Promise<QueryResult> {
    const { timeout, maxBodyBytes } = this.config;
    const signal = AbortSignal.timeout(timeout);
    const form = new URLSearchParams({ query, time: timeSeconds.toFixed(3), timeout: `${timeout}ms`, partial_response: 'false' });
    let response: Dispatcher.ResponseData;
    try {
      response = await this.agent.request({ origin: this.origin, path: this.path, method: 'POST', headers: this.headers, body: form.toString(), signal });
    } catch (error) {
      return asQueryFailure(classifyFetchError(error, signal, this.displayUrl, timeout));
    }
    try {
      if (response.statusCode < 200 || response.statusCode > 299) {
        const page = await readCappedBody(response, ERROR_BODY_BYTES).catch(() => undefined);
        const apiError = page?.ok ? errorOf(page.body.toString('utf8')) : undefined;
        // 400 (bad_data) and 422 (execution) are the query's fault, 503 (timeout, canceled) the engine's load.
        const cause: QueryFailureCause = apiError !== undefined && response.statusCode !== 503 ? 'query_error' : 'http_status';
        return { ok: false, cause, message: `HTTP ${response.statusCode} from ${this.displayUrl}${apiError !== undefined ? `: ${apiError}` : ''}` };
      }
      const read = await readCappedBody(response, maxBodyBytes);
      if (!read.ok) return asQueryFailure(read);
      return parseVectorResponse(read.body.toString('utf8'), read.bytes);
    } catch (error) {
      return asQueryFailure(classifyFetchError(error, signal, this.displayUrl, timeout));
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

function asQueryFailure(result: { ok: false; cause: string; message: string } | { ok: true }): QueryResult {
  if (result.ok) return { ok: false, cause: 'error', message: 'unexpected answer' };
  const cause = (['connect', 'timeout', 'http_status', 'body_too_large'] as const).find((c) => c === result.cause) ?? 'error';
  return { ok: false, cause, message: result.message };
}

/** `errorType: error` of an API error body, if it is one. */
function errorOf(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { status?: unknown; errorType?: unknown; error?: unknown };
    if (parsed.status === 'error') return `${String(parsed.errorType ?? 'error')}: ${String(parsed.error ?? '')}`;
  } catch {
    // not JSON: a proxy's error page
  }
  return undefined;
}

/**
 * Checks an instant-query answer: `status: success` with a `vector` result whose every element has
 * string labels and a `[time, "value"]` pair. Anything else is refused whole, since a half-read
 * answer would silently drop workers.
 */
export function parseVectorResponse(body: string, bytes: number = Buffer.byteLength(body)): QueryResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (error) {
    return { ok: false, cause: 'error', message: `the answer is not JSON: ${(error as Error).message}` };
  }
  if (typeof parsed !== 'object' || parsed === null) return { ok: false, cause: 'error', message: 'the answer is not a JSON object' };
  const answer = parsed as { status?: unknown; data?: unknown; error?: unknown; errorType?: unknown; warnings?: unknown };
  if (answer.status === 'error') return { ok: false, cause: 'query_error', message: `${String(answer.errorType ?? 'error')}: ${String(answer.error ?? '')}` };
  if (answer.status !== 'success') return { ok: false, cause: 'error', message: `the answer's status is ${JSON.stringify(answer.status)}, not "success"` };
  const data = answer.data as { resultType?: unknown; result?: unknown } | undefined;
  if (data?.resultType !== 'vector') {
    return { ok: false, cause: 'not_vector', message: `the query answered a ${JSON.stringify(data?.resultType)} result, not an instant vector` };
  }
  if (!Array.isArray(data.result)) return { ok: false, cause: 'not_vector', message: 'the vector result is not a list' };
  for (const element of data.result as unknown[]) {
    if (!isVectorSample(element))
      return {
        ok: false,
        cause: 'not_vector',
        message: `an element of the vector is not {metric, value: [time, "value"]}: ${JSON.stringify(element).slice(0, 200)}`,
      };
  }
  const warnings = Array.isArray(answer.warnings) ? answer.warnings.map(String) : [];
  return { ok: true, result: data.result as VectorSample[], warnings, bytes };
}

function isVectorSample(element: unknown): element is VectorSample {
  if (typeof element !== 'object' || element === null) return false;
  const { metric, value } = element as { metric?: unknown; value?: unknown };
  if (typeof metric !== 'object' || metric === null || Array.isArray(metric)) return false;
  for (const key in metric) if (typeof (metric as Record<string, unknown>)[key] !== 'string') return false;
  return Array.isArray(value) && value.length === 2 && typeof value[0] === 'number' && typeof value[1] === 'string';
}
