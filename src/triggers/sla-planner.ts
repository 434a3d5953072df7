/**
 * The SLA planner loop: one plan per distinct `policy: sla` metadata (role aside), computed once
 * per adjustment interval on a timer, off the RPC path. Triggers for the prefill and the decode
 * role read the same plan: one plan, two answers. Before the first interval has passed, each role
 * holds its current replica count (its pool's discovered workers).
 */
import { Gauge, type Registry } from 'prom-client';
import type { Profile } from '../config/profiles.js';
import { forecast } from '../policies/predictors/registry.js';
import { observeInterval } from '../policies/sla/observe.js';
import type { SlaParams } from '../policies/sla/params.js';
import { slaPlanKey } from '../policies/sla/params.js';
import { EMPTY_MEMORY, interpolatorsOf, planInterval, type Forecaster, type Plan, type PlanMemory } from '../policies/sla/plan.js';
import { round6 } from '../signals/rounding.js';
import type { Evaluation } from '../signals/types.js';
import { notFreshMembers } from '../store/pool-store.js';
import type { PoolRuntime } from './trigger.js';

export interface SlaPools {
  readonly observed: PoolRuntime;
  readonly prefill: PoolRuntime;
  readonly decode: PoolRuntime;
}

interface Gauges {
  readonly replicas: Gauge<'pool' | 'role'>;
  readonly correction: Gauge<'pool' | 'role'>;
}

export class SlaPlanners {
  private readonly loops = new Map<string, PlanLoop>();
  private readonly gauges?: Gauges;

  constructor(
    readonly profiles: ReadonlyMap<string, Profile>,
    registry?: Registry,
    private readonly forecaster: Forecaster = forecast,
  ) {
    if (registry) {
      this.gauges = {
        replicas: new Gauge({
          name: 'keda_llm_scaler_plan_replicas',
          help: 'Replicas of the last SLA plan, per role',
          labelNames: ['pool', 'role'],
          registers: [registry],
        }),
        correction: new Gauge({
          name: 'keda_llm_scaler_plan_correction_factor',
          help: 'Correction factor of the last SLA plan (observed ÷ interpolated TTFT for prefill, ITL for decode)',
          labelNames: ['pool', 'role'],
          registers: [registry],
        }),
      };
    }
  }

  /** The plan these parameters share (started on first use); its answers are read per role. */
  attach(params: SlaParams, pools: SlaPools): PlanLoop {
    const key = `${pools.observed.name}|${slaPlanKey(params)}`;
    let loop = this.loops.get(key);
    if (!loop) {
      const profile = this.profiles.get(params.profile);
      if (!profile) throw new Error(`profile '${params.profile}' is not configured`); // the registry checks first
      loop = new PlanLoop(params, profile, pools, this.forecaster, this.gauges);
      this.loops.set(key, loop);
      loop.start();
    }
    return loop;
  }

  close(): void {
    for (const loop of this.loops.values()) loop.stop();
    this.loops.clear();
  }
}

export class PlanLoop {
  private timer?: NodeJS.Timeout;
  private memory: PlanMemory = EMPTY_MEMORY;
  private running = false;
  private readonly answers = new Map<'prefill' | 'decode', { plan: Plan; evaluation: Evaluation }>();
  /** The last plan, and how long computing it took. */
  last?: Plan;
  lastComputeMs?: number;
  readonly startedAt = Date.now();

  constructor(
    readonly params: SlaParams,
    readonly profile: Profile,
    readonly pools: SlaPools,
    private readonly forecaster: Forecaster,
    private readonly gauges?: Gauges,
  ) {
    interpolatorsOf(profile); // the decode grids are built here, not in the first interval's plan
  }

  start(): void {
    this.timer = setInterval(() => void this.step(), this.params.adjustmentIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Replicas each role has now: its pool's discovered workers. */
  private current(): { prefill: number; decode: number } {
    return { prefill: this.pools.prefill.store.published().workers.length, decode: this.pools.decode.store.published().workers.length };
  }

  /** One adjustment; exported for the benchmark, which times it. */
  async step(now = Date.now()): Promise<Plan | undefined> {
    if (this.running) return undefined; // a slow forecast never overlaps the next interval
    this.running = true;
    const started = performance.now();
    try {
      const snapshot = this.pools.observed.store.published();
      // A worker that stopped answering took its traffic's record with it: its requests are unknown,
      // not zero, so the plan holds rather than shrink (ai-dynamo/dynamo#14575). Workers not collected
      // yet (just started) carry no traffic of the interval and do not count.
      const missing = notFreshMembers(snapshot).filter((w) => w.state !== 'pending');
      const observed =
        snapshot.sourceProblem !== undefined
          ? { ok: false as const, reason: snapshot.sourceProblem }
          : missing.length > 0
            ? {
                ok: false as const,
                reason:
                  `${missing.length} of ${snapshot.workers.length} workers have no fresh data (` +
                  `${missing
                    .slice(0, 3)
                    .map((w) => `${w.id}: ${w.reason ?? w.state}`)
                    .join('; ')}${missing.length > 3 ? '; …' : ''}), so the interval's traffic is unknown`,
              }
            : observeInterval(snapshot.fresh, this.params.adjustmentIntervalMs, snapshot.at);
      const { plan, memory } = await planInterval(
        this.memory,
        { at: now, params: this.params, interpolators: interpolatorsOf(this.profile), observed, current: this.current(), previous: this.last },
        this.forecaster,
      );
      this.memory = memory;
      this.last = plan;
      this.lastComputeMs = performance.now() - started;
      const pool = this.pools.observed.name;
      this.gauges?.replicas.set({ pool, role: 'prefill' }, plan.prefill);
      this.gauges?.replicas.set({ pool, role: 'decode' }, plan.decode);
      this.gauges?.correction.set({ pool, role: 'prefill' }, memory.corrections.prefill);
      this.gauges?.correction.set({ pool, role: 'decode' }, memory.corrections.decode);
      return plan;
    } finally {
      this.running = false;
    }
  }

  /** What GetMetrics returns for a role: the last plan's answer, read from memory. */
  answer(role: 'prefill' | 'decode'): Evaluation {
    const plan = this.last;
    const p = this.params;
    if (!plan) {
      const current = this.current();
      const value = Math.max(current[role], p.minReplicas);
      return {
        ok: true,
        value,
        readyWorkers: 1,
        contributions: [],
        details: {
          policy: 'sla',
          role,
          decision:
            `holding the current count (${current[role]}${value !== current[role] ? `, at least minReplicas ${p.minReplicas}` : ''}) until the first ` +
            `adjustment interval (${p.adjustmentIntervalMs / 1000}s) has been observed`,
          current,
        },
      };
    }
    // Built once per plan and role: GetMetrics between adjustments is a lookup.
    const cached = this.answers.get(role);
    if (cached?.plan === plan) return cached.evaluation;
    const evaluation: Evaluation = {
      ok: true,
      value: plan[role],
      readyWorkers: 1,
      contributions: [],
      details: explain(plan, role, p, this.lastComputeMs, this.profile),
    };
    this.answers.set(role, { plan, evaluation });
    return evaluation;
  }
}

const r = (x: number | undefined) => (x === undefined ? undefined : round6(x));

function explain(plan: Plan, role: 'prefill' | 'decode', p: SlaParams, computeMs: number | undefined, profile: Profile): Record<string, unknown> {
  const o = plan.observation;
  return {
    policy: 'sla',
    role,
    profile: profile.name,
    plannedAt: new Date(plan.at).toISOString(),
    planComputeMs: r(computeMs),
    answers: { prefill: plan.prefill, decode: plan.decode },
    ...(plan.held ? { decision: plan.held } : {}),
    targets: { ttftSeconds: p.ttftTargetMs / 1000, itlSeconds: p.itlTargetMs / 1000, adjustmentIntervalSeconds: p.adjustmentIntervalMs / 1000 },
    current: plan.current,
    ...(o
      ? {
          observed: {
            requests: r(o.requests),
            isl: r(o.isl),
            osl: r(o.osl),
            ttftSeconds: r(o.ttftSeconds),
            itlSeconds: r(o.itlSeconds),
            requestDurationSeconds: r(o.durationSeconds),
          },
        }
      : {}),
    ...(plan.forecasts
      ? {
          forecasts: Object.fromEntries(
            Object.entries(plan.forecasts).map(([k, f]) => [k, { value: r(f.value), method: f.method, ...(f.note ? { note: f.note } : {}) }]),
          ),
        }
      : {}),
    ...(plan.corrections
      ? {
          corrections: {
            applied: plan.corrections.applied,
            prefill: r(plan.corrections.prefill),
            decode: r(plan.corrections.decode),
            interpolatedTtftSeconds: r(plan.corrections.interpolatedTtftSeconds),
            interpolatedItlSeconds: r(plan.corrections.interpolatedItlSeconds),
            decodeConcurrency: r(plan.corrections.decodeConcurrency),
            ...(plan.corrections.notes.length ? { notes: plan.corrections.notes } : {}),
          },
        }
      : {}),
    ...(plan.raw
      ? {
          interpolated: {
            prefillThptPerGpu: r(plan.raw.prefillThptPerGpu),
            prefillTtftSeconds: r(plan.raw.prefillTtftSeconds),
            correctedItlSeconds: r(plan.raw.correctedItlSeconds),
            decodeThptPerGpu: r(plan.raw.decodeThptPerGpu),
            decodeItlSeconds: r(plan.raw.decodeItlSeconds),
            decodeKvUsage: r(plan.raw.decodeKvUsage),
          },
          raw: {
            prefillLoadTokensPerSecond: r(plan.raw.prefillLoad),
            prefill: plan.raw.prefill,
            decodeLoadTokensPerSecond: r(plan.raw.decodeLoad),
            decode: plan.raw.decode,
          },
        }
      : {}),
    ...(plan.bounded
      ? {
          bounds: {
            minReplicas: p.minReplicas,
            maxReplicas: p.maxReplicas,
            gpuBudget: p.gpuBudget,
            budgetScale: r(plan.bounded.budget?.scale),
            steps: plan.bounded.steps,
          },
        }
      : {}),
    ...(plan.notes.length ? { notes: plan.notes } : {}),
  };
}
