/**
 * Which workers a set of EndpointSlices describes. Conditions follow the EndpointSlice API
 * (kubernetes/api `discovery/v1/types.go`, EndpointConditions): an unknown (nil) `ready` or
 * `serving` reads as ready, an unknown `terminating` as not terminating; `serving` is `ready`
 * regardless of termination, so `serving && terminating` is a pod draining its last requests.
 */
import type { V1EndpointSlice } from '@kubernetes/client-node';
import { workerTarget, type Scheme, type WorkerTarget } from './discovery.js';

export interface SliceWorkerOptions {
  /** The workers' port: a number, or the name of a port of the slices. */
  readonly port: number | string;
  readonly path: string;
  readonly scheme: Scheme;
}

/** Address families a worker can be reached on; FQDN slices (deprecated) name no address to scrape. */
const FAMILIES = ['IPv4', 'IPv6'];

/**
 * The ready endpoints as workers and the draining ones marked, one per pod: a dual-stack Service
 * lists each pod in an IPv4 and an IPv6 slice, and the pod is one worker (reached over IPv4).
 * Sorted by id, so the same slices in another order are the same answer.
 */
export function workersOfSlices(slices: Iterable<V1EndpointSlice>, options: SliceWorkerOptions): WorkerTarget[] {
  const byPod = new Map<string, { target: WorkerTarget; family: number }>();
  for (const slice of slices) {
    const family = FAMILIES.indexOf(slice.addressType);
    if (family < 0) continue;
    const port = typeof options.port === 'number' ? options.port : slice.ports?.find((p) => p.name === options.port)?.port;
    if (port === undefined || !Number.isInteger(port) || port <= 0 || port > 65535) continue;
    for (const endpoint of slice.endpoints ?? []) {
      const address = endpoint.addresses?.[0];
      if (address === undefined || address === '') continue;
      const conditions = endpoint.conditions ?? {};
      const ready = conditions.ready ?? true;
      const terminating = conditions.terminating ?? false;
      const serving = conditions.serving ?? ready;
      const pod = endpoint.targetRef?.kind === 'Pod' ? endpoint.targetRef.name : undefined;
      const name = pod ?? endpoint.hostname;
      let draining: string | undefined;
      if (terminating) {
        if (!serving) continue;
        draining = `${pod !== undefined ? `pod ${pod}` : `endpoint ${address}`} is terminating and still serving its last requests`;
      } else if (!ready) {
        continue;
      }
      const base = workerTarget(options.scheme, address, port, options.path);
      const target: WorkerTarget = { ...base, ...(name !== undefined ? { name } : {}), ...(draining !== undefined ? { draining } : {}) };
      const key = pod !== undefined ? `pod/${endpoint.targetRef?.namespace ?? ''}/${pod}` : `address/${base.id}`;
      const seen = byPod.get(key);
      // IPv4 first; within a family, a ready endpoint wins over a draining one.
      if (seen === undefined || family < seen.family || (family === seen.family && seen.target.draining !== undefined && draining === undefined)) {
        byPod.set(key, { target, family });
      }
    }
  }
  return [...byPod.values()].map((v) => v.target).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
