/** What the demo prints: the banner with its addresses, and every few seconds what KEDA gets. */
import type { ProbeResult } from '../probe.js';
import { DEMO_POOL, vllmBanner, type DemoBackend, type DemoTrigger, type DemoWorker } from './backends.js';
import type { DemoOptions } from './options.js';

/** How a reader runs this CLI, as README writes it (`npx` finds the checkout's own bin, or the installed one). */
const SELF_COMMAND = 'npx keda-llm-scaler';

export function shownHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

function formatValue(v: number): string {
  if (Number.isInteger(v)) return String(v);
  return v.toFixed(3);
}

function table(rows: readonly (readonly string[])[], rightAligned: ReadonlySet<number>): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row
      .map((cell, i) => (rightAligned.has(i) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

export interface TriggerView {
  readonly trigger: DemoTrigger;
  readonly metricName?: string;
  readonly value?: number;
  readonly desired?: number;
  readonly active?: boolean;
  readonly error?: string;
}

export function viewOf(trigger: DemoTrigger, result: ProbeResult): TriggerView {
  const metricName = result.spec?.metricSpecs[0]?.metricName;
  const value = result.metrics?.metricValues[0]?.metricValueFloat;
  const error = result.errors.map((e) => `${e.call}: ${e.code}`).join(', ') || undefined;
  return {
    trigger,
    metricName,
    value,
    desired: value === undefined ? undefined : Math.ceil(value / trigger.target),
    active: result.active,
    error,
  };
}

/** One print: what the workers report, then what KEDA would receive for each trigger. */
export function formatReport(elapsedMs: number, workers: readonly DemoWorker[], views: readonly TriggerView[]): string {
  const lines: string[] = [`[t=${(elapsedMs / 1000).toFixed(1)}s]`];
  const states = workers.map((w) => ({ target: w.target, ...w.state() }));
  if (states.length <= 6) {
    const rows = states.map((s, i) => [
      `  worker ${i + 1}`,
      s.target,
      `load ${s.load.toFixed(2)}`,
      `kv ${s.kvUsage.toFixed(2)}`,
      ...(s.kvUsedBlocks === undefined ? [] : [`blocks ${s.kvUsedBlocks}/${s.kvTotalBlocks ?? '?'}`]),
      `running ${s.running}`,
      `waiting ${s.waiting}`,
    ]);
    lines.push(...table(rows, new Set()));
  } else {
    const loads = states.map((s) => s.load);
    const kv = states.reduce((a, s) => a + s.kvUsage, 0) / states.length;
    lines.push(
      `  ${states.length} workers: load ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)}, mean kv ${kv.toFixed(2)}, ` +
        `Σ running ${states.reduce((a, s) => a + s.running, 0)}, Σ waiting ${states.reduce((a, s) => a + s.waiting, 0)}`,
    );
  }
  const rows: string[][] = [['  trigger', 'target', 'value sent', 'HPA desired', 'active']];
  for (const v of views) {
    if (v.value === undefined) {
      rows.push([`  ${v.trigger.metric}`, String(v.trigger.target), '-', '-', v.error ?? 'no answer']);
    } else {
      rows.push([
        `  ${v.trigger.metric}`,
        String(v.trigger.target),
        formatValue(v.value),
        String(v.desired),
        v.active === undefined ? '?' : v.active ? 'yes' : 'no',
      ]);
    }
  }
  lines.push(...table(rows, new Set([1, 2, 3])));
  const answered = views.filter((v) => v.desired !== undefined);
  if (answered.length === views.length && answered.length > 0) {
    const max = Math.max(...answered.map((v) => v.desired ?? 0));
    const anyActive = views.some((v) => v.active === true);
    const all = views.length === 3 ? 'all three' : `all ${views.length}`;
    lines.push(
      anyActive
        ? `  -> ${all} on one ScaledObject: HPA takes the largest, ${Math.max(1, max)} replica(s)`
        : '  -> every trigger inactive: KEDA scales to minReplicaCount (0 allowed)',
    );
  }
  return `${lines.join('\n')}\n`;
}

/** The demo pool's page on the status page. */
export function statusPageUrl(options: Pick<DemoOptions, 'host'>, scaler: { httpPort: number }): string {
  return `http://${shownHost(options.host)}:${scaler.httpPort}/pools/${DEMO_POOL}`;
}

export function formatBanner(
  options: DemoOptions,
  scaler: { grpcPort: number; httpPort: number },
  workers: readonly DemoWorker[],
  backend: Omit<DemoBackend, 'workers' | 'pool' | 'close'> = vllmBanner(options, workers),
): string {
  const host = shownHost(options.host);
  const grpcAddress = `${host}:${scaler.grpcPort}`;
  const httpAddress = `http://${host}:${scaler.httpPort}`;
  const first = backend.triggers[0] as DemoTrigger;
  const metadata = { pool: DEMO_POOL, metric: first.metric, target: String(first.target) };
  const request = JSON.stringify({
    scaledObjectRef: { name: 'demo', namespace: 'default', scalerMetadata: metadata },
    metricName: `${DEMO_POOL}-${first.metric}`,
  });
  const self = SELF_COMMAND;
  // probe asks the gRPC host's port 8080 for the explanation unless told otherwise.
  const httpFlag = scaler.httpPort === 8080 ? '' : ` --http ${host}:${scaler.httpPort}`;
  const row = (label: string, text: string) => `  ${label.padEnd(28)} ${text}`;
  const lines = [
    `Status page: ${statusPageUrl(options, scaler)}   <- open it in a browser: workers, charts and every decision, live`,
    '',
    `keda-llm-scaler demo: the real scaler + ${backend.what}, pool '${DEMO_POOL}', no external services`,
    '',
    row('gRPC (KEDA external scaler)', grpcAddress),
    row('HTTP (ops)', `${httpAddress}  (/healthz /readyz /metrics /api/v1/pools/${DEMO_POOL})`),
    ...backend.rows.map(([label, text]) => row(label, text)),
    '',
    'Try, in another terminal:',
    `  ${self} probe ${grpcAddress} pool=${DEMO_POOL} metric=${first.metric} target=${first.target}${httpFlag}`,
    ...backend.tryLines.map(
      (line) => `  ${line.replaceAll('{self}', self).replaceAll('{grpc}', grpcAddress).replaceAll('{http-flag}', httpFlag).replaceAll('{http}', httpAddress)}`,
    ),
    `  grpcurl -plaintext -d '${request}' ${grpcAddress} externalscaler.ExternalScaler/GetMetrics`,
    `  grpcurl -plaintext ${grpcAddress} grpc.health.v1.Health/Check`,
    `  curl -s ${httpAddress}/api/v1/pools/${DEMO_POOL}`,
    '',
    `Every table: what KEDA gets over gRPC (GetMetricSpec -> GetMetrics -> IsActive) for ` +
      `${backend.triggers.length === 3 ? 'three' : backend.triggers.length} triggers.`,
    ...backend.explain,
    `The status page also shows a desired_replicas trigger (policy saturation, llm-d WVA V1) with its reasons.`,
    options.durationMs === undefined ? 'Ctrl-C stops.' : `Stops after ${options.durationMs / 1000}s.`,
    '',
  ];
  return `${lines.join('\n')}\n`;
}
