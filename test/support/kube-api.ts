/**
 * A Kubernetes API endpoint for EndpointSlices, served over real HTTPS (a test CA, a bearer token)
 * the way the API server serves list and watch (kubernetes/apiserver `pkg/endpoints/handlers/watch.go`,
 * `k8s.io/apimachinery/pkg/watch`): every change gets a new resourceVersion; a list answers the
 * current objects and the version they are at; a watch from a version replays what happened since,
 * then streams `ADDED` / `MODIFIED` / `DELETED` events and `BOOKMARK`s (when allowed) as JSON lines,
 * and ends after `timeoutSeconds`; a watch from a version older than what is kept gets one `ERROR`
 * event holding a 410 Expired Status, then the stream ends. 401 without the token, 403 when forbidden.
 *
 *   const api = await FakeKubeApi.start(dir);      // api.kubeconfig: a kubeconfig file for it
 *   api.apply(endpointSlice('llama-abc', 'llama', [{ ip: '127.0.0.2', pod: 'llama-0' }]));
 *   api.bookmark(); api.breakWatches(); api.compact(); api.forbid('watch');
 */
import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { V1EndpointSlice } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { makeCa, makeLeaf } from './certs.js';

export interface EndpointSpec {
  readonly ip: string;
  readonly pod: string;
  readonly ready?: boolean;
  readonly serving?: boolean;
  readonly terminating?: boolean;
}

/** An EndpointSlice of `service` in `namespace` as the EndpointSlice controller writes it. */
export function endpointSlice(
  name: string,
  service: string,
  endpoints: readonly EndpointSpec[],
  options: { namespace?: string; port?: number; portName?: string; addressType?: string; labels?: Record<string, string> } = {},
): V1EndpointSlice {
  const namespace = options.namespace ?? 'llm';
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name,
      namespace,
      labels: { 'kubernetes.io/service-name': service, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io', ...options.labels },
    },
    addressType: options.addressType ?? 'IPv4',
    ports: [{ name: options.portName ?? 'http', port: options.port ?? 8000, protocol: 'TCP' }],
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: { ready: e.ready ?? true, serving: e.serving ?? e.ready ?? true, terminating: e.terminating ?? false },
      targetRef: { kind: 'Pod', name: e.pod, namespace },
      nodeName: 'node-1',
    })),
  };
}

interface StoredEvent {
  readonly version: number;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly object: V1EndpointSlice;
}

/** What the scaler asked, for tests to check how it listed and watched. */
export interface ApiRequest {
  readonly verb: 'list' | 'watch';
  readonly resourceVersion?: string;
  readonly labelSelector?: string;
  readonly allowWatchBookmarks?: boolean;
}

type Watcher = { readonly res: ServerResponse; readonly namespace: string; readonly selector: string; readonly bookmarks: boolean };

export class FakeKubeApi {
  readonly requests: ApiRequest[] = [];
  readonly token = 'test-service-account-token';
  private version = 100;
  private readonly objects = new Map<string, V1EndpointSlice>();
  private readonly events: StoredEvent[] = [];
  /** Watches from a version below this get 410 Gone. */
  private oldestKept = 0;
  private readonly watchers = new Set<Watcher>();
  private readonly forbidden = new Set<'list' | 'watch'>();

  private constructor(
    private readonly server: Server,
    readonly kubeconfig: string,
  ) {}

  static async start(dir: string): Promise<FakeKubeApi> {
    const ca = await makeCa(dir, 'kube-ca');
    const leaf = await makeLeaf(dir, 'kube-apiserver', ca, 'server');
    const server = createServer({ cert: await readFile(leaf.cert), key: await readFile(leaf.key) });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const kubeconfig = path.join(dir, 'kubeconfig');
    const api = new FakeKubeApi(server, kubeconfig);
    writeFileSync(
      kubeconfig,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'test', cluster: { server: `https://127.0.0.1:${port}`, 'certificate-authority': ca.cert } }],
        users: [{ name: 'scaler', user: { token: api.token } }],
        contexts: [{ name: 'test', context: { cluster: 'test', user: 'scaler', namespace: 'llm' } }],
        'current-context': 'test',
      }),
    );
    server.on('request', (req: IncomingMessage, res: ServerResponse) => api.handle(req, res));
    return api;
  }

  /** Creates or replaces a slice (one new resourceVersion). */
  apply(slice: V1EndpointSlice): void {
    const key = keyOf(slice);
    const type = this.objects.has(key) ? 'MODIFIED' : 'ADDED';
    this.record(type, slice);
  }

  delete(namespace: string, name: string): void {
    const existing = this.objects.get(`${namespace}/${name}`);
    if (existing) this.record('DELETED', existing);
  }

  /** Sends a BOOKMARK at the current version to every watch that allowed them. */
  bookmark(): void {
    for (const w of this.watchers) {
      if (w.bookmarks)
        write(w.res, {
          type: 'BOOKMARK',
          object: { kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', metadata: { resourceVersion: String(this.version) } },
        });
    }
  }

  /** Forgets the history: a watch from any version before now gets 410 Gone. */
  compact(): void {
    this.oldestKept = this.version;
    this.events.length = 0;
  }

  /** Cuts every open watch's connection without ending the response (a broken watch). */
  breakWatches(): void {
    for (const w of this.watchers) w.res.socket?.destroy();
    this.watchers.clear();
  }

  forbid(...verbs: ('list' | 'watch')[]): void {
    this.forbidden.clear();
    for (const v of verbs) this.forbidden.add(v);
  }

  get openWatches(): number {
    return this.watchers.size;
  }

  get resourceVersion(): string {
    return String(this.version);
  }

  async close(): Promise<void> {
    this.breakWatches();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private record(type: StoredEvent['type'], slice: V1EndpointSlice): void {
    this.version += 1;
    const object: V1EndpointSlice = { ...slice, metadata: { ...slice.metadata, resourceVersion: String(this.version) } };
    if (type === 'DELETED') this.objects.delete(keyOf(object));
    else this.objects.set(keyOf(object), object);
    const event: StoredEvent = { version: this.version, type, object };
    this.events.push(event);
    for (const w of this.watchers) if (matches(object, w.namespace, w.selector)) write(w.res, { type, object });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'https://kube');
    const match = /^\/apis\/discovery\.k8s\.io\/v1\/namespaces\/([^/]+)\/endpointslices$/.exec(url.pathname);
    if (req.method !== 'GET' || !match) return status(res, 404, 'NotFound', `the server could not find the requested resource (${url.pathname})`);
    if (req.headers.authorization !== `Bearer ${this.token}`) return status(res, 401, 'Unauthorized', 'Unauthorized');
    const namespace = decodeURIComponent(match[1] ?? '');
    const selector = url.searchParams.get('labelSelector') ?? '';
    const watch = url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1';
    const verb = watch ? 'watch' : 'list';
    this.requests.push({
      verb,
      resourceVersion: url.searchParams.get('resourceVersion') ?? undefined,
      labelSelector: selector || undefined,
      allowWatchBookmarks: url.searchParams.get('allowWatchBookmarks') === 'true',
    });
    if (this.forbidden.has(verb)) {
      return status(
        res,
        403,
        'Forbidden',
        `endpointslices.discovery.k8s.io is forbidden: User "system:serviceaccount:keda:keda-llm-scaler" cannot ${verb} resource "endpointslices" ` +
          `in API group "discovery.k8s.io" in the namespace "${namespace}"`,
      );
    }
    if (!watch) {
      const items = [...this.objects.values()].filter((o) => matches(o, namespace, selector));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSliceList', metadata: { resourceVersion: String(this.version) }, items }));
      return;
    }
    const from = Number(url.searchParams.get('resourceVersion') ?? '0');
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    if (from < this.oldestKept) {
      write(res, {
        type: 'ERROR',
        object: {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: `too old resource version: ${from} (${this.oldestKept})`,
          reason: 'Expired',
          code: 410,
        },
      });
      res.end();
      return;
    }
    for (const e of this.events) if (e.version > from && matches(e.object, namespace, selector)) write(res, { type: e.type, object: e.object });
    const watcher: Watcher = { res, namespace, selector, bookmarks: url.searchParams.get('allowWatchBookmarks') === 'true' };
    this.watchers.add(watcher);
    const timeoutSeconds = Number(url.searchParams.get('timeoutSeconds') ?? '1800');
    const timer = setTimeout(() => res.end(), timeoutSeconds * 1000);
    res.on('close', () => {
      clearTimeout(timer);
      this.watchers.delete(watcher);
    });
  }
}

function keyOf(slice: V1EndpointSlice): string {
  return `${slice.metadata?.namespace ?? ''}/${slice.metadata?.name ?? ''}`;
}

/** Equality-based label selectors (`a=b,c==d,e!=f`), which is what the scaler sends. */
function matches(slice: V1EndpointSlice, namespace: string, selector: string): boolean {
  if (slice.metadata?.namespace !== namespace) return false;
  const labels = slice.metadata?.labels ?? {};
  for (const term of selector.split(',').filter(Boolean)) {
    const [key, value] = term.includes('!=') ? term.split('!=') : term.split(/==?/);
    const actual = labels[(key ?? '').trim()];
    if (term.includes('!=') ? actual === (value ?? '').trim() : actual !== (value ?? '').trim()) return false;
  }
  return true;
}

function write(res: ServerResponse, event: unknown): void {
  if (!res.writableEnded && !res.destroyed) res.write(`${JSON.stringify(event)}\n`);
}

function status(res: ServerResponse, code: number, reason: string, message: string): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }));
}
