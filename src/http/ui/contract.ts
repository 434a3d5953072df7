/**
 * The JSON the status page reads (`/api/v1/status…`), shared by the server that builds it
 * (src/http/status-view.ts) and the page that shows it: types only, nothing runs.
 */

/** 'draining': Kubernetes says the pod is terminating; shown, never counted. */
export type WorkerState = 'fresh' | 'stale' | 'failing' | 'pending' | 'draining';

/** Time-stamped rows as columns (what uPlot draws): `t` in epoch ms, `null` where a value was missing. */
export interface Columns {
  readonly t: number[];
  readonly series: Record<string, (number | null)[]>;
}

export interface SignalValue {
  readonly name: string;
  readonly unit: string;
  readonly kind: 'extensive' | 'intensive' | 'replicas';
  /** The fleet value in the signal's unit; null when unavailable (never 0 for missing data). */
  readonly value: number | null;
  readonly reason?: string;
}

export interface PoolOverview {
  readonly name: string;
  readonly source: string;
  readonly workers: number;
  readonly counts: Record<WorkerState, number>;
  /** Set while the source cannot observe the pool (e.g. NATS down). */
  readonly problem?: string;
  readonly signals: readonly SignalValue[];
  readonly triggers: number;
}

export interface WorkerRow {
  readonly id: string;
  readonly state: WorkerState;
  /** Why the last read failed (connect, timeout, http_status, …), while failing. */
  readonly cause?: string;
  /** Why it is not fresh, in words (while failing: the failure's message). */
  readonly reason?: string;
  /** Seconds since its last good sample; null before the first one. */
  readonly ageSeconds: number | null;
  readonly models: readonly string[];
  readonly waiting: number | null;
  readonly running: number | null;
  readonly kvUsage: number | null;
  readonly kvBlocksUsed: number | null;
  readonly kvBlocksTotal: number | null;
}

export interface DecisionChange {
  readonly at: number;
  readonly from?: number;
  readonly to?: number;
  readonly active: boolean;
  readonly headline: string;
}

export interface DecisionView {
  /** Stable per trigger (pool and metadata), for the page to keep its chart. */
  readonly id: string;
  readonly pool: string;
  readonly metricName: string;
  readonly signal: string;
  readonly unit: string;
  readonly target: number;
  readonly valueMode: 'average' | 'raw';
  /** The trigger's metadata without KEDA's own keys (TLS material). */
  readonly metadata: Readonly<Record<string, string>>;
  readonly ok: boolean;
  /** What GetMetrics returns; null while unavailable. */
  readonly value: number | null;
  /** What HPA makes of it (before its tolerance and behavior); null while unavailable. */
  readonly desired: number | null;
  readonly active: boolean;
  readonly headline: string;
  readonly reasons: readonly string[];
  /** Present on the pool page: the answers over time (`value`, `desired`, `active`), unless over the history's bound. */
  readonly history?: Columns;
  readonly changes?: readonly DecisionChange[];
}

export interface OverviewPayload {
  readonly at: number;
  readonly pools: readonly PoolOverview[];
  readonly decisions: readonly DecisionView[];
  /** Triggers beyond the ones shown (the page shows a bounded number; /api/v1/decisions has all). */
  readonly decisionsOmitted: number;
}

export interface ActivationView {
  readonly signal: string;
  readonly threshold: number;
  readonly value: number | null;
  readonly active: boolean;
  readonly reason?: string;
}

export interface PoolPayload {
  readonly at: number;
  /** True when `history` (and each decision's) holds every row kept, false when only rows after the previous message. */
  readonly full: boolean;
  readonly pool: PoolOverview;
  readonly workers: readonly WorkerRow[];
  readonly activation?: ActivationView;
  /** The pool's default signals (by name) and `workers_<state>` counts over time. */
  readonly history: Columns;
  readonly decisions: readonly DecisionView[];
  readonly decisionsOmitted: number;
}
