/**
 * The replicas of one Deployment: pods are created at once when the replica count rises and
 * serve after `startupSeconds`; when it falls, starting pods go first (newest first), then ready
 * ones (newest first), as a ReplicaSet picks pods to delete. A deleted pod leaves the Service at
 * once, finishes what it holds for up to `terminationGracePeriodSeconds`, and what is left then
 * is aborted. Requests go to ready pods only: round-robin or least-loaded (fewest waiting +
 * running), with `skew` of them sent to the oldest ready pod whatever its load.
 */
import { Engine, type EngineHooks, type RequestOutcome } from './engine.js';
import { mulberry32 } from './random.js';
import type { FleetSettings } from './scenario.js';

export type PodState = 'starting' | 'ready' | 'terminating' | 'gone';

export class Pod {
  state: PodState = 'starting';
  deletedAt?: number;
  /** When the pod stopped using its GPU. */
  endedAt?: number;
  /** Busy seconds while it was in the Service (before deletion). */
  busyWhileReady = 0;

  constructor(
    readonly id: string,
    readonly createdAt: number,
    public readyAt: number,
    readonly engine: Engine,
  ) {}
}

export interface FleetAccounting {
  /** Pod-seconds, by what the pod was doing. */
  readonly podSeconds: number;
  readonly startingSeconds: number;
  readonly idleSeconds: number;
}

export class Fleet {
  readonly pods: Pod[] = [];
  /** Every pod that ever existed, for GPU accounting. */
  private readonly all: Pod[] = [];
  private created = 0;
  private roundRobin = 0;
  private readonly random: () => number;
  /** Aborted at the end of a grace period. */
  readonly aborted: RequestOutcome[] = [];

  constructor(
    private readonly settings: FleetSettings,
    private readonly hooks: EngineHooks,
    seed: number,
  ) {
    this.random = mulberry32(seed ^ 0x5bd1e995);
  }

  /** Pods counted in the Deployment's replicas (not terminating). */
  get replicas(): number {
    let n = 0;
    for (const p of this.pods) if (p.state === 'starting' || p.state === 'ready') n++;
    return n;
  }

  ready(): Pod[] {
    return this.pods.filter((p) => p.state === 'ready');
  }

  /** Adds a pod; `warm` pods are ready at once (the replicas running before the simulation starts). */
  addPod(t: number, warm: boolean): Pod {
    const pod = new Pod(
      `${this.settings.name}-${this.created++}`,
      t,
      warm ? t : t + this.settings.startupSeconds,
      new Engine(this.settings.engine, this.settings.model, this.hooks),
    );
    if (warm) pod.state = 'ready';
    this.pods.push(pod);
    this.all.push(pod);
    return pod;
  }

  /** Brings the Deployment to `replicas` pods (creating or deleting) at time t. */
  scaleTo(replicas: number, t: number): void {
    let current = this.replicas;
    while (current < replicas) {
      this.addPod(t, false);
      current++;
    }
    while (current > replicas) {
      const victim = this.pickForDeletion();
      if (!victim) break;
      this.delete(victim, t);
      current--;
    }
  }

  private pickForDeletion(): Pod | undefined {
    for (const state of ['starting', 'ready'] as const) {
      for (let i = this.pods.length - 1; i >= 0; i--) if ((this.pods[i] as Pod).state === state) return this.pods[i];
    }
    return undefined;
  }

  private delete(pod: Pod, t: number): void {
    pod.deletedAt = t;
    if (pod.state === 'starting') {
      pod.state = 'gone';
      pod.endedAt = t;
      return;
    }
    pod.busyWhileReady = pod.engine.busyUntil(t);
    pod.state = 'terminating';
    if (pod.engine.idle) this.end(pod, t);
  }

  private end(pod: Pod, t: number): void {
    pod.state = 'gone';
    pod.endedAt = t;
    const at = this.pods.indexOf(pod);
    if (at >= 0) this.pods.splice(at, 1);
  }

  /** The next time a pod changes state by itself (becomes ready, or its grace period ends). */
  nextLifecycle(): number {
    let next = Number.POSITIVE_INFINITY;
    for (const p of this.pods) {
      if (p.state === 'starting') next = Math.min(next, p.readyAt);
      else if (p.state === 'terminating') next = Math.min(next, (p.deletedAt as number) + this.settings.terminationGracePeriodSeconds);
    }
    return next;
  }

  /** Advances every engine to t, then applies the state changes due at t. Returns the pods that became ready. */
  advanceTo(t: number): Pod[] {
    const becameReady: Pod[] = [];
    for (let i = 0; i < this.pods.length; i++) {
      const pod = this.pods[i] as Pod;
      if (pod.state === 'starting') {
        if (pod.readyAt <= t) {
          pod.state = 'ready';
          pod.engine.idleSince = pod.readyAt;
          becameReady.push(pod);
        }
        continue;
      }
      pod.engine.advanceTo(t);
      if (pod.state === 'terminating') {
        const killAt = (pod.deletedAt as number) + this.settings.terminationGracePeriodSeconds;
        if (pod.engine.idle) {
          this.end(pod, Math.min(killAt, Math.max(pod.deletedAt as number, pod.engine.idleSince)));
          i--;
        } else if (killAt <= t) {
          this.aborted.push(...pod.engine.inFlight());
          this.end(pod, killAt);
          i--;
        }
      }
    }
    // Starting pods were skipped until now: remove the ones that ended above from consideration.
    for (let i = this.pods.length - 1; i >= 0; i--) if ((this.pods[i] as Pod).state === 'gone') this.pods.splice(i, 1);
    return becameReady;
  }

  /** The pod a request arriving now goes to, or undefined when no pod is ready. */
  route(): Pod | undefined {
    const ready = this.ready();
    if (ready.length === 0) return undefined;
    if (this.settings.skew > 0 && this.random() < this.settings.skew) return ready[0];
    if (this.settings.routing === 'round-robin') return ready[this.roundRobin++ % ready.length];
    let best = ready[0] as Pod;
    let load = best.engine.waitingCount + best.engine.runningCount;
    for (let i = 1; i < ready.length; i++) {
      const p = ready[i] as Pod;
      const l = p.engine.waitingCount + p.engine.runningCount;
      if (l < load) {
        best = p;
        load = l;
      }
    }
    return best;
  }

  /** Every pod that ever existed. */
  everyPod(): readonly Pod[] {
    return this.all;
  }

  /** GPU time so far (to `end`), split by what it went to. */
  accounting(end: number): FleetAccounting {
    let podSeconds = 0;
    let startingSeconds = 0;
    let idleSeconds = 0;
    for (const pod of this.all) {
      const until = pod.endedAt ?? end;
      podSeconds += until - pod.createdAt;
      const readyFrom = Math.min(pod.readyAt, until);
      startingSeconds += readyFrom - pod.createdAt;
      const readyUntil = pod.deletedAt !== undefined ? Math.min(pod.deletedAt, until) : until;
      if (readyUntil > readyFrom) {
        const busy = pod.deletedAt !== undefined ? pod.busyWhileReady : pod.engine.busyUntil(end);
        idleSeconds += Math.max(0, readyUntil - readyFrom - busy);
      }
    }
    return { podSeconds, startingSeconds, idleSeconds };
  }
}
