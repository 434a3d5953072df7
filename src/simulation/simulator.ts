/**
 * One strategy over one workload, in virtual time (nothing sleeps): arrivals are routed to ready
 * replicas, each replica steps through its batches (engine.ts), the scaler scrapes every ready
 * replica every `checkInterval` into a real PoolStore (whose clock is the simulation's), KEDA
 * evaluates the real triggers every `pollingInterval`, and the HPA model (hpa.ts) turns their
 * values into a replica count every `syncPeriod`.
 */
import type { RequestOutcome } from './engine.js';
import { Fleet } from './fleet.js';
import { HpaController, type MetricReading } from './hpa.js';
import type { Scenario } from './scenario.js';
import { ExpositionScraper } from './scrape.js';
import type { PreparedStrategy, ResolvedTrigger } from './strategy.js';
import type { Workload } from './workload.js';

export interface TimelinePoint {
  /** Seconds from the start. */
  readonly t: number;
  /** The Deployment's replicas (spec). */
  readonly replicas: number;
  readonly ready: number;
  readonly starting: number;
  readonly terminating: number;
  /** What KEDA gets from each trigger (null: unavailable). */
  readonly triggers: Readonly<Record<string, number | null>>;
  /** Σ waiting requests over the pods. */
  readonly queue: number;
  /** Σ running requests. */
  readonly running: number;
  /** Mean KV-cache usage over ready pods (null without one). */
  readonly kvUsage: number | null;
  /** p95 TTFT of the first tokens since the previous point (null without any). */
  readonly ttftP95: number | null;
  /** Arrivals per second since the previous point. */
  readonly arrivalRate: number;
}

export interface ScaleEvent {
  readonly t: number;
  readonly from: number;
  readonly to: number;
}

export interface StrategyResult {
  readonly name: string;
  readonly outcomes: readonly RequestOutcome[];
  readonly rejected: { readonly tooLong: number; readonly noReadyReplica: number; readonly abortedOnScaleDown: number };
  readonly unfinished: number;
  readonly timeline: readonly TimelinePoint[];
  readonly scaleEvents: readonly ScaleEvent[];
  readonly podSeconds: number;
  readonly startingSeconds: number;
  readonly idleSeconds: number;
  /** ∫ replicas dt and the peak, over the run. */
  readonly replicaSeconds: number;
  readonly peakReplicas: number;
  readonly duration: number;
  /** Discrete events processed: arrivals, engine steps, scrapes, KEDA polls, HPA syncs, pod changes. */
  readonly events: number;
  readonly steps: number;
  readonly preemptions: number;
}

export interface Progress {
  (fraction: number): void;
}

function percentile95(values: number[]): number | null {
  if (values.length === 0) return null;
  values.sort((a, b) => a - b);
  return values[Math.min(values.length - 1, Math.ceil(0.95 * values.length) - 1)] as number;
}

/** Shared by the simulator and the store: seconds of virtual time. */
export class VirtualClock {
  seconds = 0;
  readonly nowMs = (): number => this.seconds * 1000;
}

export function simulateStrategy(scenario: Scenario, workload: Workload, strategy: PreparedStrategy, clock: VirtualClock, progress?: Progress): StrategyResult {
  const { fleet: fleetSettings, keda, scaler } = scenario;
  const outcomes: RequestOutcome[] = [];
  const firstTokens: number[] = [];
  const fleet = new Fleet(
    fleetSettings,
    {
      finished: () => undefined,
      firstToken: (o) => firstTokens.push(o.firstTokenAt - o.spec.arrival),
    },
    'seed' in scenario.workload ? scenario.workload.seed : 1,
  );
  const scraper = new ExpositionScraper(strategy.store);
  const hpa = strategy.hpa ? new HpaController(strategy.hpa) : undefined;
  const initial =
    strategy.fixedReplicas ?? Math.min(Math.max(fleetSettings.initialReplicas, strategy.hpa?.minReplicas ?? 1), strategy.hpa?.maxReplicas ?? Infinity);
  for (let i = 0; i < initial; i++) fleet.addPod(0, true);
  let specReplicas = initial;

  const scaled = strategy.triggers.length > 0;
  const requests = workload.requests;
  const end = workload.duration;
  const rejected = { tooLong: 0, noReadyReplica: 0, abortedOnScaleDown: 0 };
  const timeline: TimelinePoint[] = [];
  const scaleEvents: ScaleEvent[] = [];
  let nextArrival = 0;
  let nextScrape = scaled ? 0 : Number.POSITIVE_INFINITY;
  let nextPoll = 0;
  let nextSync = hpa ? strategy.syncPeriod : Number.POSITIVE_INFINITY;
  let events = 0;
  let lastPointAt = 0;
  let arrivalsSincePoint = 0;
  let replicaSeconds = 0;
  let peakReplicas = specReplicas;
  let lastT = 0;
  let cached: (number | undefined)[] = strategy.triggers.map(() => undefined);
  let lastProgress = 0;

  const evaluateTriggers = (): (number | undefined)[] =>
    strategy.triggers.map((t: ResolvedTrigger) => {
      const result = t.trigger.evaluate();
      return result.ok ? result.value : undefined;
    });

  for (;;) {
    const arrivalAt = nextArrival < requests.length ? (requests[nextArrival] as (typeof requests)[number]).arrival : Number.POSITIVE_INFINITY;
    const t = Math.min(arrivalAt, nextScrape, nextPoll, nextSync, fleet.nextLifecycle(), end);
    replicaSeconds += specReplicas * (t - lastT);
    lastT = t;
    clock.seconds = t;
    const becameReady = fleet.advanceTo(t);
    events += becameReady.length;
    if (t >= end && arrivalAt >= end) break;

    let kicked = false;
    while (nextArrival < requests.length && (requests[nextArrival] as (typeof requests)[number]).arrival <= t) {
      const spec = requests[nextArrival++] as (typeof requests)[number];
      events++;
      arrivalsSincePoint++;
      const outcome: RequestOutcome = { spec, firstScheduledAt: -1, firstTokenAt: -1, finishedAt: -1 };
      outcomes.push(outcome);
      const pod = fleet.route();
      if (!pod) {
        rejected.noReadyReplica++;
        outcome.finishedAt = -2;
        continue;
      }
      if (!pod.engine.fits(spec)) {
        rejected.tooLong++;
        outcome.finishedAt = -2;
        continue;
      }
      pod.engine.submit(outcome);
      kicked = true;
    }
    if (kicked) for (const pod of fleet.pods) if (pod.state === 'ready') pod.engine.kick(t);

    if (t >= nextScrape) {
      // One collection round: discovery (the headless Service lists ready pods), then a scrape of each.
      const ready = fleet.ready();
      const ids = ready.map((p) => p.id);
      strategy.store.setWorkers(ids);
      scraper.retain(new Set(ids));
      for (const pod of ready) {
        pod.engine.updateGauges();
        scraper.record(pod.id, pod.engine.metrics.exposition(), clock.nowMs());
        events++;
      }
      nextScrape += scaler.checkInterval;
    }

    if (t >= nextPoll) {
      events++;
      const values = scaled ? evaluateTriggers() : [];
      if (keda.useCachedMetrics) cached = values;
      let queue = 0;
      let running = 0;
      let kv = 0;
      let readyCount = 0;
      let starting = 0;
      let terminating = 0;
      for (const pod of fleet.pods) {
        queue += pod.engine.waitingCount;
        running += pod.engine.runningCount;
        if (pod.state === 'ready') {
          readyCount++;
          kv += pod.engine.kvTokens / fleetSettings.engine.kvCacheTokens;
        } else if (pod.state === 'starting') starting++;
        else if (pod.state === 'terminating') terminating++;
      }
      const span = t - lastPointAt;
      timeline.push({
        t,
        replicas: specReplicas,
        ready: readyCount,
        starting,
        terminating,
        triggers: Object.fromEntries(strategy.triggers.map((tr, i) => [tr.label, values[i] ?? null])),
        queue,
        running,
        kvUsage: readyCount > 0 ? kv / readyCount : null,
        ttftP95: percentile95(firstTokens.splice(0)),
        arrivalRate: span > 0 ? arrivalsSincePoint / span : 0,
      });
      arrivalsSincePoint = 0;
      lastPointAt = t;
      nextPoll += keda.pollingInterval;
    }

    if (hpa && t >= nextSync) {
      events++;
      const values = keda.useCachedMetrics ? cached : evaluateTriggers();
      const readings: MetricReading[] = strategy.triggers.map((tr, i) => ({
        name: tr.label,
        type: tr.metricType,
        target: tr.trigger.spec.target,
        value: values[i],
      }));
      const decision = hpa.sync(t, specReplicas, fleet.ready().length, readings);
      if (decision.desired !== specReplicas) {
        scaleEvents.push({ t, from: specReplicas, to: decision.desired });
        specReplicas = decision.desired;
        fleet.scaleTo(specReplicas, t);
        peakReplicas = Math.max(peakReplicas, specReplicas);
      }
      nextSync += strategy.syncPeriod;
    }

    if (progress && t - lastProgress >= end / 200) {
      lastProgress = t;
      progress(t / end);
    }
  }
  progress?.(1);

  let unfinished = 0;
  let steps = 0;
  let preemptions = 0;
  for (const pod of fleet.pods) unfinished += pod.engine.inFlight().length;
  for (const o of fleet.aborted) {
    o.finishedAt = -2;
    rejected.abortedOnScaleDown++;
  }
  const accounting = fleet.accounting(end);
  for (const pod of fleet.everyPod()) {
    steps += pod.engine.steps;
    preemptions += pod.engine.metrics.preemptions;
  }
  return {
    name: strategy.name,
    outcomes,
    rejected,
    unfinished,
    timeline,
    scaleEvents,
    ...accounting,
    replicaSeconds,
    peakReplicas,
    duration: end,
    events: events + steps,
    steps,
    preemptions,
  };
}
