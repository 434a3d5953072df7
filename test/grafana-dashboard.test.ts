/**
 * deploy/grafana/keda-llm-scaler-dashboard.json: parses, is well-formed for Grafana, and every
 * metric name in every query (panels and template variables) exists in the live /metrics of a
 * running scaler (a vLLM pool and a Dynamo pool scraping fake workers, after real KEDA calls).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { Scaler } from '../src/scaler.js';
import { KedaClient } from './support/keda-client.js';
import { repoRoot } from './support/k8s.js';
import { FakeWorker } from './support/workers.js';

interface Panel {
  type: string;
  title: string;
  id: number;
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: { expr: string; refId: string }[];
  panels?: Panel[];
}

const dashboard = JSON.parse(readFileSync(path.join(repoRoot, 'deploy', 'grafana', 'keda-llm-scaler-dashboard.json'), 'utf8')) as {
  title: string;
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: string | { query: string } }[] };
};

const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const queries = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
const variableQueries = dashboard.templating.list
  .filter((v) => v.type === 'query')
  .map((v) => ({ variable: v.name, query: typeof v.query === 'string' ? v.query : (v.query?.query ?? '') }));

const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'and', 'or', 'unless', 'inf', 'nan']);

/** Metric names in a PromQL expression: identifiers that are not functions, keywords, labels or literals. */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // string literals (label values, regexes)
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\[[^\]]*\]/g, '') // range selectors and subqueries
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '') // label lists
    .replace(/\$\{?\w+\}?/g, '') // Grafana variables ($__rate_interval, ${datasource})
    .replace(/(?<![\w:])\d+(?:\.\d+)?(?:e[+-]?\d+)?(?![\w:])/gi, ''); // number literals (0.99, 1e-9)
  const names = new Set<string>();
  for (const match of stripped.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const word = match[0];
    const next = stripped.slice((match.index ?? 0) + word.length).trimStart();
    if (next.startsWith('(')) continue; // a function or aggregation
    if (PROMQL_WORDS.has(word.toLowerCase())) continue;
    if (/^\d/.test(word) || /^e\d+$/i.test(word)) continue;
    names.add(word);
  }
  return [...names];
}

let scaler: Scaler;
const workers: FakeWorker[] = [];
let exposition = '';

const DYNAMO_LABELS = 'dynamo_component="backend",dynamo_endpoint="generate",dynamo_namespace="dynamo",model="Qwen/Qwen3-0.6B"';
const DYNAMO_WORKER = `# TYPE dynamo_component_kvstats_active_blocks gauge
dynamo_component_kvstats_active_blocks{${DYNAMO_LABELS}} 120
# TYPE dynamo_component_kvstats_total_blocks gauge
dynamo_component_kvstats_total_blocks{${DYNAMO_LABELS}} 1000
# TYPE dynamo_component_kvstats_gpu_cache_usage_percent gauge
dynamo_component_kvstats_gpu_cache_usage_percent{${DYNAMO_LABELS}} 0.12
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="Qwen/Qwen3-0.6B"} 3.0
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="Qwen/Qwen3-0.6B"} 1.0
`;

beforeAll(async () => {
  const vllm = await FakeWorker.start();
  const dynamo = await FakeWorker.start({ behaviour: { kind: 'text', body: DYNAMO_WORKER } });
  const broken = await FakeWorker.start();
  broken.status(500);
  workers.push(vllm, dynamo, broken);
  scaler = await Scaler.start(
    validateConfig({
      grpc: { host: '127.0.0.1', port: 0 },
      http: { host: '127.0.0.1', port: 0 },
      checkInterval: '100ms',
      pools: [
        { name: 'llama', source: 'vllm', targets: [vllm.target, broken.target] },
        { name: 'decode', source: 'dynamo-http', targets: [dynamo.target] },
      ],
    }),
    { processMetrics: true },
  );
  // Let a few collections happen and make the calls KEDA makes, including a stream.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const client = new KedaClient(`127.0.0.1:${scaler.grpcPort}`);
  const ref = KedaClient.ref({ pool: 'llama', metric: 'kv_cache_usage', target: '0.7' });
  const stream = client.raw.StreamIsActive(ref);
  stream.on('error', () => {});
  await client.getMetricSpec(ref);
  await client.getMetrics(ref, 'llama-kv_cache_usage');
  await client.isActive(ref);
  await client.getMetrics(ref, 'nope').catch(() => undefined); // a NOT_FOUND, so a non-OK code exists
  exposition = await (await fetch(`http://127.0.0.1:${scaler.httpPort}/metrics`)).text();
  stream.cancel();
  client.close();
});

afterAll(async () => {
  await scaler?.stop(500);
  await Promise.all(workers.map((w) => w.close()));
});

/** Sample names a family of each type can have in PromQL. */
function exposedNames(text: string): { declared: Set<string>; sampled: Set<string> } {
  const declared = new Set<string>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) declared.add(`${name}${s}`);
    else if (type === 'summary') for (const s of ['', '_sum', '_count']) declared.add(`${name}${s}`);
    else declared.add(name!);
  }
  const sampled = new Set<string>();
  for (const [, name] of text.matchAll(/^([A-Za-z_:][A-Za-z0-9_:]*)[{ ]/gm)) sampled.add(name!);
  return { declared, sampled };
}

describe('Grafana dashboard', () => {
  it('is a well-formed dashboard: unique panel ids, queries with refIds, panels on the 24-column grid', () => {
    expect(dashboard.title).toBe('keda-llm-scaler');
    expect(dashboard.uid).toMatch(/^[\w-]{1,40}$/);
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of panels) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      if (p.type !== 'row') {
        expect(p.targets?.length, p.title).toBeGreaterThan(0);
        expect(new Set(p.targets!.map((t) => t.refId)).size, p.title).toBe(p.targets!.length);
      }
    }
    expect(queries.length).toBeGreaterThan(15);
    expect(variableQueries.map((v) => v.variable)).toEqual(['job', 'pool', 'signal']);
  });

  it(
    'covers what operators need: scrapes and errors by cause, scrape duration, gRPC rate/latency/codes, streams, workers by state, ' + 'signals, Dynamo gauges',
    () => {
      const used = new Set(queries.flatMap((q) => metricNames(q.expr)));
      for (const name of [
        'keda_llm_scaler_scrapes_total',
        'keda_llm_scaler_scrape_errors_total',
        'keda_llm_scaler_scrape_duration_seconds_bucket',
        'keda_llm_scaler_grpc_requests_total',
        'keda_llm_scaler_grpc_request_duration_seconds_bucket',
        'keda_llm_scaler_active_streams',
        'keda_llm_scaler_pool_workers',
        'keda_llm_scaler_signal_value',
        'llm_load_avg',
        'llm_load_std',
        'llm_kv_blocks_usage_percent',
        'llm_kv_blocks_active',
        'llm_kv_blocks_total',
        'llm_requests_active_slots',
        'llm_requests_total_slots',
      ]) {
        expect(used.has(name), name).toBe(true);
      }
      expect(queries.some((q) => /sum by \(pool, cause\)/.test(q.expr))).toBe(true);
      expect(queries.some((q) => /sum by \(method, code\)/.test(q.expr))).toBe(true);
    },
  );

  it('every metric name in every query exists in a live /metrics', () => {
    const { declared } = exposedNames(exposition);
    const missing: string[] = [];
    for (const { panel, expr } of queries) {
      const names = metricNames(expr);
      expect(names.length, `${panel}: ${expr}`).toBeGreaterThan(0);
      for (const name of names) if (!declared.has(name)) missing.push(`${panel}: ${name}`);
    }
    for (const { variable, query } of variableQueries) {
      const metric = /label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)/.exec(query)?.[1];
      expect(metric, variable).toBeDefined();
      if (!declared.has(metric!)) missing.push(`$${variable}: ${metric}`);
    }
    expect(missing).toEqual([]);
  });

  it('the live scaler has samples (not just declarations) for the core series, the Dynamo pool included', () => {
    const { sampled } = exposedNames(exposition);
    for (const name of [
      'keda_llm_scaler_scrapes_total',
      'keda_llm_scaler_scrape_errors_total',
      'keda_llm_scaler_scrape_duration_seconds_bucket',
      'keda_llm_scaler_grpc_requests_total',
      'keda_llm_scaler_grpc_request_duration_seconds_bucket',
      'keda_llm_scaler_active_streams',
      'keda_llm_scaler_pool_workers',
      'keda_llm_scaler_signal_value',
      'process_resident_memory_bytes',
      'llm_load_avg',
      'llm_kv_blocks_usage_percent',
      'llm_kv_blocks_active',
      'llm_kv_blocks_total',
    ]) {
      expect(sampled.has(name), name).toBe(true);
    }
    expect(exposition).toMatch(/keda_llm_scaler_grpc_requests_total\{[^}]*code="NOT_FOUND"/);
    expect(exposition).toMatch(/keda_llm_scaler_scrape_errors_total\{[^}]*pool="llama"/);
    expect(exposition).toMatch(/llm_kv_blocks_usage_percent\{[^}]*pool="decode"[^}]*\} 12/);
  });

  it('extracts metric names from PromQL the way Prometheus reads it', () => {
    expect(metricNames('histogram_quantile(0.99, sum by (le, method) (rate(a_bucket{job=~"$job"}[$__rate_interval])))')).toEqual(['a_bucket']);
    expect(metricNames('sum(rate(x_total{code!="OK"}[5m])) / clamp_min(sum(rate(y_total[5m])), 1e-9)')).toEqual(['x_total', 'y_total']);
    expect(metricNames('llm_load_avg{pool=~"$pool"}')).toEqual(['llm_load_avg']);
  });
});
