import pLimit, { type LimitFunction } from 'p-limit';
import { Agent, errors as undiciErrors, type Dispatcher } from 'undici';
import { SeriesCounter } from './series-count.js';

export type FetchFailureCause = 'connect' | 'timeout' | 'http_status' | 'body_too_large' | 'too_many_series' | 'error';

/** A body as bytes (the parser reads them without decoding the whole text), or why there is none. */
export type FetchResult = { ok: true; body: Buffer; bytes: number } | { ok: false; cause: FetchFailureCause; message: string };

export interface ScrapeClientOptions {
  /** Total time for one request: waiting for a connection, connect, headers and the whole body. */
  readonly timeoutMs: number;
  /** Requests in flight at once across every pool sharing this client. */
  readonly concurrency: number;
  /** Largest body accepted; a larger one is aborted as soon as the cap is passed. */
  readonly maxBodyBytes: number;
  /** Most sample lines accepted in one body; a body with more is aborted as soon as it passes the cap. Unset: no cap. */
  readonly maxSeries?: number;
  /** Sockets per worker. One scrape per worker is in flight at a time, so a small number suffices. */
  readonly connectionsPerOrigin?: number;
  /** How long an idle keep-alive socket is kept; collection intervals are usually ~1 s. */
  readonly keepAliveMs?: number;
}

/**
 * Prometheus text only: OpenMetrics would change counter naming (`_total` suffix handling) and
 * add `# EOF`/exemplars the parser then has to tolerate for no benefit.
 */
const ACCEPT_HEADERS = { accept: 'text/plain;version=0.0.4;q=1,*/*;q=0.1' };

/** How much of an error page is read (and dropped) before the connection is closed instead. */
const ERROR_BODY_LIMIT = 64 * 1024;

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

/** Why a response was cut short on purpose (its size); the result says so, this only closes the socket. */
class BodyTooLarge extends Error {}

/**
 * The HTTP client every HTTP pool shares: one keep-alive connection pool, one concurrency bound,
 * and hard limits on time and size per request, so that no worker — slow, hung, or sending an
 * endless body — can hold the collector's memory or time hostage. `fetchBody` never rejects.
 */
export class ScrapeClient {
  private readonly agent: Agent;
  private readonly limit: LimitFunction;
  private readonly urls = new Map<string, { origin: string; path: string }>();

  constructor(private readonly options: ScrapeClientOptions) {
    const { timeoutMs } = options;
    this.agent = new Agent({
      connections: options.connectionsPerOrigin ?? 2,
      keepAliveTimeout: options.keepAliveMs ?? 30_000,
      // Backstops only: the per-request timer below bounds the total time.
      connect: { timeout: timeoutMs },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    this.limit = pLimit(options.concurrency);
  }

  fetchBody(url: string): Promise<FetchResult> {
    // The timeout starts when the request does, not while it waits for a concurrency slot.
    return this.limit(() => this.fetchNow(url));
  }

  /** Closes idle sockets and waits for in-flight requests (bounded by their timeout). */
  async close(): Promise<void> {
    this.limit.clearQueue();
    await this.agent.close();
  }

  /**
   * One GET on undici's dispatch API: the response arrives as callbacks (status, chunks, end) with
   * no stream or async iterator in between, which is most of a request's cost at a thousand
   * scrapes per second. One timer bounds the whole request, from connect to the last byte.
   */
  private fetchNow(url: string): Promise<FetchResult> {
    const { timeoutMs, maxBodyBytes, maxSeries } = this.options;
    const { origin, path } = this.parts(url);
    const series = maxSeries === undefined ? undefined : new SeriesCounter();
    return new Promise<FetchResult>((resolve) => {
      let settled = false;
      let controller: Dispatcher.DispatchController | undefined;
      let status = 0;
      let bytes = 0;
      const chunks: Buffer[] = [];
      const finish = (result: FetchResult, abort?: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        // Aborting destroys the socket, so a worker sending too much or too long stops too.
        if (abort && controller && !controller.aborted) controller.abort(abort);
        resolve(result);
      };
      const timer = setTimeout(
        () => finish({ ok: false, cause: 'timeout', message: `no complete response from ${url} within ${timeoutMs} ms` }, new Error('scrape timeout')),
        timeoutMs,
      );
      const handler: Dispatcher.DispatchHandler = {
        onRequestStart: (c) => {
          controller = c;
          if (settled) c.abort(new Error('scrape timeout'));
        },
        onResponseStart: (_c, statusCode, headers) => {
          status = statusCode;
          if (statusCode >= 200 && statusCode <= 299) {
            const declared = Number(headerValue(headers['content-length']));
            if (Number.isFinite(declared) && declared > maxBodyBytes) {
              finish({ ok: false, cause: 'body_too_large', message: `Content-Length ${declared} exceeds the ${maxBodyBytes}-byte cap` }, new BodyTooLarge());
            }
          }
        },
        onResponseData: (_c, chunk) => {
          bytes += chunk.length;
          if (status < 200 || status > 299) {
            // An error page is read a little, so the connection can be reused, but never kept.
            if (bytes > ERROR_BODY_LIMIT) finish({ ok: false, cause: 'http_status', message: `HTTP ${status} from ${url}` }, new BodyTooLarge());
            return;
          }
          if (bytes > maxBodyBytes) {
            finish({ ok: false, cause: 'body_too_large', message: `body exceeds the ${maxBodyBytes}-byte cap` }, new BodyTooLarge());
            return;
          }
          if (series !== undefined && maxSeries !== undefined && series.add(chunk) > maxSeries) {
            finish(
              { ok: false, cause: 'too_many_series', message: `more than ${maxSeries} series in one scrape (scrape.maxSeries); the worker is not read` },
              new BodyTooLarge(),
            );
            return;
          }
          chunks.push(chunk);
        },
        onResponseEnd: () => {
          if (status < 200 || status > 299) finish({ ok: false, cause: 'http_status', message: `HTTP ${status} from ${url}` });
          else finish({ ok: true, body: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, bytes), bytes });
        },
        onResponseError: (_c, error) => finish(classify(error, url)),
      };
      try {
        this.agent.dispatch({ origin, path, method: 'GET', headers: ACCEPT_HEADERS }, handler);
      } catch (error) {
        finish(classify(error, url));
      }
    });
  }

  /** Origin and path of a target URL, parsed once: targets are few and scraped every interval. */
  private parts(url: string): { origin: string; path: string } {
    let parts = this.urls.get(url);
    if (parts === undefined) {
      const parsed = new URL(url);
      parts = { origin: parsed.origin, path: `${parsed.pathname}${parsed.search}` };
      if (this.urls.size >= 100_000) this.urls.clear();
      this.urls.set(url, parts);
    }
    return parts;
  }
}

/**
 * Reads a response body (from undici's `request` API), refusing it (and closing the socket, so the
 * sender stops too) as soon as it passes `maxBodyBytes`, or at once when its Content-Length says
 * it will. Used by clients other than the scraper (Prometheus queries).
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
  return { ok: true, body: Buffer.concat(chunks, bytes), bytes };
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Why a request made with an AbortSignal timeout failed (undici's `request` API). */
export function classifyFetchError(error: unknown, signal: AbortSignal, url: string, timeoutMs: number): FetchResult {
  if (error instanceof BodyTooLarge) return { ok: false, cause: 'body_too_large', message: error.message };
  // Our own timeout fired: whatever error undici surfaced for it, the cause is the timeout.
  if (signal.aborted) return { ok: false, cause: 'timeout', message: `no complete response from ${url} within ${timeoutMs} ms` };
  return classify(error, url);
}

function classify(error: unknown, url: string): FetchResult {
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
