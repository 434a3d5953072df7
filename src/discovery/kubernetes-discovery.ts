/**
 * Workers from the Kubernetes API: the EndpointSlices of a Service (or of a label selector), kept
 * current by list + watch as client-go's reflector does (kubernetes/client-go `tools/cache/reflector.go`):
 * list, then watch from the list's resourceVersion with bookmarks; a watch that ends normally is
 * resumed from the last resourceVersion seen; 410 Gone (the version is too old) lists again;
 * any other failure waits (exponential backoff) and resumes. Each collection round reads the cache,
 * so a pod that becomes ready, unready, terminating or deleted is seen at the next round.
 */
import { DiscoveryV1Api, KubeConfig, Watch, type V1EndpointSlice, type V1EndpointSliceList } from '@kubernetes/client-node';
import type { Discovery, Scheme, WorkerTarget } from './discovery.js';
import { workersOfSlices } from './endpoint-slices.js';

export interface KubernetesDiscoveryOptions {
  readonly namespace: string;
  /** The Service whose slices to read (label `kubernetes.io/service-name`); or `labelSelector`. */
  readonly service?: string;
  readonly labelSelector?: string;
  readonly port: number | string;
  readonly path: string;
  readonly scheme?: Scheme;
  /** A kubeconfig file; without it, the pod's service account (in-cluster configuration). */
  readonly kubeconfig?: string;
  /** First wait after a failure, doubled per failure up to `maxBackoffMs`. */
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** How long the API server keeps one watch open before ending it (it is then resumed). */
  readonly watchTimeoutSeconds?: number;
  /** Bound on one list request (the server is asked to give up by then too). */
  readonly requestTimeoutMs?: number;
}

/** Items per list page: the API server's own default chunk size for informers. */
const PAGE_SIZE = 500;

type WatchEnd = { readonly kind: 'closed' } | { readonly kind: 'gone' } | { readonly kind: 'error'; readonly message: string };

export class KubernetesDiscovery implements Discovery {
  private readonly config: KubeConfig;
  private readonly api: DiscoveryV1Api;
  private readonly watcher: Watch;
  private readonly selector: string;
  private readonly path: string;
  private slices = new Map<string, V1EndpointSlice>();
  private resourceVersion = '';
  private synced = false;
  private lastProblem: string | undefined;
  private loop: Promise<void> | undefined;
  private stopped = false;
  private activeWatch: AbortController | undefined;
  private wake: (() => void) | undefined;
  private firstOutcome: Promise<void>;
  private settleFirst: () => void = () => undefined;
  private cached: WorkerTarget[] | undefined;
  /** Why the client cannot be configured (no kubeconfig outside a cluster, an unreadable file). */
  private configProblem: string | undefined;

  constructor(private readonly options: KubernetesDiscoveryOptions) {
    this.config = new KubeConfig();
    try {
      if (options.kubeconfig !== undefined) this.config.loadFromFile(options.kubeconfig);
      else if (process.env['KUBERNETES_SERVICE_HOST']) this.config.loadFromCluster();
      else this.configProblem = 'not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST is unset): set discovery.kubernetes.kubeconfig';
    } catch (error) {
      const where = options.kubeconfig !== undefined ? `discovery.kubernetes.kubeconfig ${options.kubeconfig}` : 'the in-cluster service account';
      this.configProblem = `cannot load ${where}: ${error instanceof Error ? error.message : String(error)}`;
    }
    this.api = this.config.makeApiClient(DiscoveryV1Api);
    this.watcher = new Watch(this.config);
    this.selector = options.service !== undefined ? `kubernetes.io/service-name=${options.service}` : (options.labelSelector ?? '');
    this.path = `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(options.namespace)}/endpointslices`;
    this.firstOutcome = new Promise((resolve) => (this.settleFirst = resolve));
  }

  /**
   * The workers as the cache has them. Rejects until a first list succeeds; after that, a failing
   * watch or list leaves the last answer in place and `problem()` says why it may be old.
   */
  async resolve(): Promise<WorkerTarget[]> {
    if (this.configProblem !== undefined) throw new Error(`${this.describe()}: ${this.configProblem}`);
    if (this.loop === undefined && !this.stopped) this.loop = this.run();
    if (!this.synced) await this.firstOutcome;
    if (!this.synced) throw new Error(this.lastProblem ?? `${this.describe()}: not listed yet`);
    this.cached ??= workersOfSlices(this.slices.values(), { port: this.options.port, path: this.options.path, scheme: this.options.scheme ?? 'http' });
    return [...this.cached];
  }

  problem(): string | undefined {
    return this.synced ? this.lastProblem : undefined;
  }

  describe(): string {
    const { namespace, service, labelSelector, port } = this.options;
    return `kubernetes endpointslices ${namespace}/${service ?? `{${labelSelector ?? ''}}`} port ${port}`;
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.activeWatch?.abort();
    this.wake?.();
    this.settleFirst();
    await this.loop;
  }

  private async run(): Promise<void> {
    const initial = this.options.initialBackoffMs ?? 500;
    let backoff = initial;
    const fail = async (message: string): Promise<void> => {
      this.lastProblem = message;
      this.settleFirst();
      await this.sleep(backoff);
      backoff = Math.min(this.options.maxBackoffMs ?? 30_000, backoff * 2);
    };
    while (!this.stopped) {
      if (this.resourceVersion === '') {
        try {
          await this.list();
        } catch (error) {
          await fail(`listing ${this.describe()}: ${apiErrorMessage(error)}`);
          continue;
        }
        this.lastProblem = undefined;
        this.settleFirst();
        backoff = initial;
      }
      const started = Date.now();
      const end = await this.watchOnce();
      if (this.stopped) break;
      if (end.kind === 'gone') {
        // The version is older than the API server keeps: only a new list is consistent again.
        this.resourceVersion = '';
        continue;
      }
      if (end.kind === 'error') {
        await fail(`watching ${this.describe()}: ${end.message}`);
        continue;
      }
      // A normal end (the server's timeout) resumes at once; one that ends at once, repeatedly, waits.
      if (Date.now() - started < 1000) await this.sleep(backoff);
    }
  }

  /** Lists every page into a new cache; the list's resourceVersion is where the watch starts. */
  private async list(): Promise<void> {
    const items: V1EndpointSlice[] = [];
    let continueToken: string | undefined;
    let resourceVersion = '';
    const timeoutMs = this.options.requestTimeoutMs ?? 10_000;
    do {
      const page: V1EndpointSliceList = await withTimeout(
        this.api.listNamespacedEndpointSlice({
          namespace: this.options.namespace,
          labelSelector: this.selector || undefined,
          limit: PAGE_SIZE,
          _continue: continueToken,
          timeoutSeconds: Math.max(1, Math.ceil(timeoutMs / 1000)),
        }),
        timeoutMs,
        'the list request',
      );
      items.push(...page.items);
      continueToken = page.metadata?._continue || undefined;
      resourceVersion = page.metadata?.resourceVersion ?? '';
    } while (continueToken !== undefined && !this.stopped);
    this.slices = new Map(items.map((s) => [sliceKey(s), s]));
    this.cached = undefined;
    this.resourceVersion = resourceVersion;
    this.synced = true;
  }

  /** One watch from `resourceVersion`, applying its events to the cache until the stream ends. */
  private watchOnce(): Promise<WatchEnd> {
    return new Promise<WatchEnd>((resolve) => {
      let gone = false;
      let refused: string | undefined;
      let settled = false;
      const finish = (end: WatchEnd): void => {
        if (settled) return;
        settled = true;
        clearTimeout(watchdog);
        this.activeWatch = undefined;
        resolve(end);
      };
      const timeoutSeconds = this.options.watchTimeoutSeconds ?? 300;
      // A connection that silently died sends nothing, not even the server's end: give up after the timeout and a margin.
      const watchdog = setTimeout(() => this.activeWatch?.abort(), (timeoutSeconds + 30) * 1000);
      const onEvent = (type: string, object: unknown): void => {
        if (type === 'ERROR') {
          const status = object as { code?: number; message?: string; reason?: string };
          if (status.code === 410) gone = true;
          else refused = `the API server ended the watch: ${status.code ?? ''} ${status.reason ?? ''} ${status.message ?? ''}`.replace(/\s+/g, ' ').trim();
          return;
        }
        const slice = object as V1EndpointSlice;
        const version = slice.metadata?.resourceVersion;
        if (version) this.resourceVersion = version;
        if (type === 'ADDED' || type === 'MODIFIED') this.slices.set(sliceKey(slice), slice);
        else if (type === 'DELETED') this.slices.delete(sliceKey(slice));
        else return; // BOOKMARK: only the version moves
        this.cached = undefined;
        this.lastProblem = undefined;
      };
      const onDone = (error: unknown): void => {
        if (this.stopped) return finish({ kind: 'closed' });
        const status = (error as { statusCode?: number } | null)?.statusCode;
        if (gone || status === 410) return finish({ kind: 'gone' });
        if (refused !== undefined) return finish({ kind: 'error', message: refused });
        if (error) return finish({ kind: 'error', message: watchErrorMessage(error) });
        finish({ kind: 'closed' });
      };
      this.watcher
        .watch(
          this.path,
          { resourceVersion: this.resourceVersion, allowWatchBookmarks: true, labelSelector: this.selector || undefined, timeoutSeconds },
          onEvent,
          onDone,
        )
        .then(
          (controller: AbortController) => {
            if (settled) return;
            this.activeWatch = controller;
            if (this.stopped) controller.abort();
          },
          (error: unknown) => finish({ kind: 'error', message: watchErrorMessage(error) }),
        );
      watchdog.unref();
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}

function sliceKey(slice: V1EndpointSlice): string {
  return slice.metadata?.name ?? '';
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} got no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const RBAC_HINT = 'the service account needs list and watch on endpointslices.discovery.k8s.io in this namespace (the Helm chart grants them)';

/** An API error as an operator reads it: the HTTP status, the API's own message, and what to do for 401/403. */
function apiErrorMessage(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'number') {
    const body = (error as { body?: unknown }).body;
    const status = parseStatus(body);
    const hint = code === 401 || code === 403 ? `; ${RBAC_HINT}` : '';
    return `HTTP ${code}${status ? `: ${status}` : ''}${hint}`;
  }
  return error instanceof Error ? error.message : String(error);
}

function watchErrorMessage(error: unknown): string {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  if (typeof status === 'number') {
    const hint = status === 401 || status === 403 ? `; ${RBAC_HINT}` : '';
    return `HTTP ${status} ${(error as Error).message}${hint}`;
  }
  return error instanceof Error ? error.message : String(error);
}

/** The `message` of a Kubernetes Status body (a JSON string or an object), if there is one. */
function parseStatus(body: unknown): string | undefined {
  let value = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body) as unknown;
    } catch {
      return body.slice(0, 300) || undefined;
    }
  }
  const message = (value as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : undefined;
}
