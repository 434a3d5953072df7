import pLimit, { type LimitFunction } from 'p-limit';
import { Agent, errors as undiciErrors, type Dispatcher } from 'undici';

export type FetchFailureCause = 'connect' | 'timeout' | 'http_status' | 'body_too_large' | 'error';

export type FetchResult = { ok: true; body: string; bytes: number } | { ok: false; cause: FetchFailureCause; message: string };

export interface ScrapeClientOptions {
  /** Total time for one request: waiting for a connection, connect, headers and the whole body. */
  readonly timeoutMs: number;
  /** Requests in flight at once across every pool sharing this client. */
  readonly concurrency: number;
  /** Largest body accepted; a larger one is aborted as soon as the cap is passed. */
  readonly maxBodyBytes: number;
  /** Sockets per worker. One scrape per worker is in flight at a time, so a small number suffices. */
  readonly connectionsPerOrigin?: number;
  /** How long an idle keep-alive socket is kept; collection intervals are usually ~1 s. */
  readonly keepAliveMs?: number;
}

/**
 * Prometheus text only: OpenMetrics would change counter naming (`_total` suffix handling) and
 * add `# EOF`/exemplars the parser then has to tolerate for no benefit.
 */
const ACCEPT = 'text/plain;version=0.0.4;q=1,*/*;q=0.1';

/** Error codes that mean the worker could not be reached or hung up before answering. */
const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

class BodyTooLarge extends Error {}

/**
 * The HTTP client every HTTP pool shares: one keep-alive connection pool, one concurrency bound,
 * and hard limits on time and size per request, so that no worker — slow, hung, or sending an
 * endless body — can hold the collector's memory or time hostage. `fetchText` never rejects.
 */
export class ScrapeClient {
  private readonly agent: Agent;
  private readonly limit: LimitFunction;

  constructor(private readonly options: ScrapeClientOptions) {
    const { timeoutMs } = options;
    this.agent = new Agent({
      connections: options.connectionsPerOrigin ?? 2,
      keepAliveTimeout: options.keepAliveMs ?? 30_000,
      // Backstops only: the per-request signal below bounds the total time.
      connect: { timeout: timeoutMs },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    this.limit = pLimit(options.concurrency);
  }

  fetchText(url: string): Promise<FetchResult> {
    // The timeout starts when the request does, not while it waits for a concurrency slot.
    return this.limit(() => this.fetchNow(url));
  }

  /** Closes idle sockets and waits for in-flight requests (bounded by their timeout). */
  async close(): Promise<void> {
    this.limit.clearQueue();
    await this.agent.close();
  }

  private async fetchNow(url: string): Promise<FetchResult> {
    const { timeoutMs, maxBodyBytes } = this.options;
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const response = await this.agent.request({
        origin: new URL(url).origin,
        path: pathOf(url),
        method: 'GET',
        headers: { accept: ACCEPT },
        signal,
      });
      const { statusCode, body } = response;
      if (statusCode < 200 || statusCode > 299) {
        // Reads a little and then drops the socket, so an error page cannot be big either.
        await body.dump({ limit: 64 * 1024 }).catch(() => undefined);
        return { ok: false, cause: 'http_status', message: `HTTP ${statusCode} from ${url}` };
      }
      return await readCappedBody(response, maxBodyBytes);
    } catch (error) {
      return classifyFetchError(error, signal, url, timeoutMs);
    }
  }
}

/**
 * Reads a response body as text, refusing it (and closing the socket, so the sender stops too) as
 * soon as it passes `maxBodyBytes`, or at once when its Content-Length says it will.
 */
export async function readCappedBody(response: Dispatcher.ResponseData, maxBodyBytes: number): Promise<FetchResult> {
  const { body } = response;
  const declared = Number(headerValue(response.headers['content-length']));
  if (Number.isFinite(declared) && declared > maxBodyBytes) {
    body.destroy();
    return { ok: false, cause: 'body_too_large', message: `Content-Length ${declared} exceeds the ${maxBodyBytes}-byte cap` };
  }
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > maxBodyBytes) {
      body.destroy();
      throw new BodyTooLarge(`body exceeds the ${maxBodyBytes}-byte cap`);
    }
    chunks.push(chunk);
  }
  return { ok: true, body: Buffer.concat(chunks, bytes).toString('utf8'), bytes };
}

function pathOf(url: string): string {
  const parsed = new URL(url);
  return `${parsed.pathname}${parsed.search}`;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Why a request failed, from undici's error and whether our own timeout fired. */
export function classifyFetchError(error: unknown, signal: AbortSignal, url: string, timeoutMs: number): FetchResult {
  if (error instanceof BodyTooLarge) return { ok: false, cause: 'body_too_large', message: error.message };
  // Our own timeout fired: whatever error undici surfaced for it, the cause is the timeout.
  if (signal.aborted) return { ok: false, cause: 'timeout', message: `no complete response from ${url} within ${timeoutMs} ms` };
  const code = errorCode(error);
  const message = error instanceof Error ? error.message : String(error);
  if (code !== undefined && TIMEOUT_CODES.has(code)) return { ok: false, cause: 'timeout', message: `${code}: ${message}` };
  if (code !== undefined && CONNECT_CODES.has(code)) return { ok: false, cause: 'connect', message: `${code}: ${message} (${url})` };
  if (error instanceof undiciErrors.UndiciError) return { ok: false, cause: 'error', message: `${error.code}: ${message}` };
  return { ok: false, cause: 'error', message };
}

/** The first `code` along the error's cause chain (undici wraps socket errors). */
function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current !== null && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
