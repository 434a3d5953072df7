/**
 * The `custom` signal end to end: workers expose their own (non-vLLM) series next to vLLM's, the
 * real scaler collects the queried series over HTTP, a real gRPC client asks for the value.
 */
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { parsePrometheusText } from '../src/sources/http/prometheus-text.js';
import { queryValues } from '../src/sources/http/query-values.js';
import { MAX_QUERIES, PoolStore } from '../src/store/pool-store.js';
import { matchesLabels, parseSeriesQuery, type SeriesQuery } from '../src/store/series-query.js';
import { KedaClient, statusOf } from './support/keda-client.js';
import { TestScaler } from './support/test-scaler.js';
import { RenderingWorker } from './support/workers.js';

const MODEL = 'meta-llama/Llama-3.1-8B-Instruct';
const harness = new TestScaler();
afterEach(() => harness.close());

/**
 * A vLLM worker running an agent: the engine's gauges plus the agent's own series. Its tool-call
 * counters grow linearly with time at set rates (rendered per request); `sessions` are gauges.
 */
class AgentWorker extends RenderingWorker {
  sessions: Record<string, number> = {};
  private rates: Record<string, number> = {};
  private base: Record<string, number> = {};
  private since = Date.now();

  static async start(): Promise<AgentWorker> {
    return harness.track(await new AgentWorker().listen());
  }

  /** Tool calls per second, by tool, from now on. */
  setRates(rates: Record<string, number>): void {
    this.base = this.calls();
    this.since = Date.now();
    this.rates = rates;
  }

  /** The agent restarts: its counters start again from 0 (the engine's do not). */
  restart(): void {
    this.base = {};
    this.since = Date.now();
  }

  private calls(): Record<string, number> {
    const t = (Date.now() - this.since) / 1000;
    const tools = new Set([...Object.keys(this.base), ...Object.keys(this.rates)]);
    return Object.fromEntries([...tools].map((tool) => [tool, (this.base[tool] ?? 0) + (this.rates[tool] ?? 0) * t]));
  }

  protected body(): string {
    const l = `engine="0",model_name="${MODEL}"`;
    const lines = [
      `vllm:num_requests_waiting{${l}} 0.0`,
      `vllm:num_requests_running{${l}} 1.0`,
      `vllm:kv_cache_usage_perc{${l}} 0.2`,
      '# HELP agent_tool_calls_total Tool calls made by the agent.',
      '# TYPE agent_tool_calls_total counter',
      ...Object.entries(this.calls()).map(([tool, n]) => `agent_tool_calls_total{model_name="${MODEL}",tool="${tool}"} ${n}`),
      // Another model's agent on the same worker: never counted in a pool filtered to MODEL.
      'agent_tool_calls_total{model_name="other/model",tool="search"} 1e6',
      '# TYPE agent_tool_calls_created gauge',
      'agent_tool_calls_created{tool="search"} 1.7537953269352946e+09',
      '# TYPE agent_active_sessions gauge',
      ...Object.entries(this.sessions).map(([kind, n]) => `agent_active_sessions{kind="${kind}"} ${n}`),
      '',
    ];
    return lines.join('\n');
  }
}

async function startScaler(targets: string[]): Promise<void> {
  await harness.start([{ name: 'agents', source: 'vllm', model: MODEL, targets }]);
}

const ref = (metadata: Record<string, string>) => KedaClient.ref({ pool: 'agents', metric: 'custom', target: '1', ...metadata });

/** KEDA's sequence: GetMetricSpec (which registers the query), then GetMetrics with its name. */
async function value(metadata: Record<string, string>): Promise<number> {
  const so = ref(metadata);
  const spec = await harness.client.getMetricSpec(so);
  const response = await harness.client.getMetrics(so, spec.metricSpecs[0]!.metricName);
  return response.metricValues[0]!.metricValueFloat;
}

/**
 * Δcalls / Δ(sample time) over a 2 s window: off by (latency₂ − latency₁) / 2 s, under 5 % for
 * loopback latencies under 100 ms; 10 % leaves room for a loaded machine.
 */
function expectNear(actual: number, expected: number): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(expected * 0.1);
}

describe("custom: a metric of the workers' own exposition", () => {
  it("reads an agent's tool-call counter as a tool-call rate, and gauges as sum / avg / max / min", async () => {
    const [a, b] = [await AgentWorker.start(), await AgentWorker.start()];
    // Each worker: 5 searches/s and 2 browses/s. Sessions: A chat 3 (+ batch 100), B chat 7.
    for (const w of [a, b]) w.setRates({ search: 5, browse: 2 });
    a.sessions = { chat: 3, batch: 100 };
    b.sessions = { chat: 7 };
    await startScaler([a.target, b.target]);
    const search = { query: 'agent_tool_calls_total{tool="search"}', reduce: 'rate', window: '2s' };
    const others = { query: "agent_tool_calls_total{ tool != 'search' , }", reduce: 'rate', window: '2s' };
    const all = { query: 'agent_tool_calls_total', reduce: 'RATE', window: '2s' };
    const absentTool = { query: 'agent_tool_calls_total{tool="calculator"}', reduce: 'rate', window: '2s' };
    const chat = 'agent_active_sessions{kind="chat"}';
    // GetMetricSpec registers each query: the pool's scrapes collect it from now on.
    for (const metadata of [search, others, all, absentTool, { query: chat }, { query: 'agent_active_sessions' }])
      await harness.client.getMetricSpec(ref(metadata));
    await new Promise((resolve) => setTimeout(resolve, 2300));

    // Σ over 2 workers: 10 searches/s; 4 other calls/s; 14 in all. The `_created` gauge is another
    // series name, so not part of the query.
    expectNear(await value(search), 10);
    expectNear(await value(others), 4);
    expectNear(await value(all), 14);
    // The other model's 10⁶ searches are filtered out with the pool's model: each worker has made
    // about 5/s × 2.5 s of them.
    expect(await value({ query: 'agent_tool_calls_total{tool="search"}', reduce: 'max', valueMode: 'raw' })).toBeLessThan(1000);
    // The family is exposed but no series matches: nothing was called, a true 0.
    expect(await value(absentTool)).toBe(0);

    expect(await value({ query: chat })).toBe(10); // sum by default
    // avg/max/min are per-worker levels: the plain value with valueMode raw, and × the 2 ready
    // workers under KEDA's default AverageValue, like every other level.
    expect(await value({ query: chat, reduce: 'avg', valueMode: 'raw' })).toBe(5);
    expect(await value({ query: chat, reduce: 'avg' })).toBe(10);
    expect(await value({ query: chat, reduce: 'max', valueMode: 'raw' })).toBe(7);
    expect(await value({ query: chat, reduce: 'min', valueMode: 'raw' })).toBe(3);
    // Without matchers a worker's value is the sum of its series: A 103, B 7.
    expect(await value({ query: 'agent_active_sessions', reduce: 'max', valueMode: 'raw' })).toBe(103);

    // A metric no worker exposes: unavailable, not 0.
    const missing = ref({ query: 'agent_handoffs_total' });
    const status = await statusOf(harness.client.getMetrics(missing, (await harness.client.getMetricSpec(missing)).metricSpecs[0]!.metricName));
    expect(status.code).toBe(grpc.status.UNAVAILABLE);
    expect(status.details).toContain('no fresh worker reports agent_handoffs_total');
  });

  it("an agent restart (its counter drops while the engine's do not) never gives a negative rate", async () => {
    const [a, b] = [await AgentWorker.start(), await AgentWorker.start()];
    for (const w of [a, b]) w.setRates({ search: 5 });
    await startScaler([a.target, b.target]);
    const search = { query: 'agent_tool_calls_total{tool="search"}', reduce: 'rate', window: '2s' };
    await harness.client.getMetricSpec(ref(search));
    await new Promise((resolve) => setTimeout(resolve, 2300));
    expectNear(await value(search), 10);

    a.restart();
    const until = Date.now() + 1500;
    while (Date.now() < until) {
      // A's window restarts after the drop (excluded at first, then short): between B's 5 and 10.
      const v = await value(search);
      expect(v).toBeGreaterThanOrEqual(4.5);
      expect(v).toBeLessThanOrEqual(11);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  });

  it('refuses bad query, reduce and window metadata with INVALID_ARGUMENT naming the key', async () => {
    const a = await AgentWorker.start();
    await startScaler([a.target]);
    const cases: [Record<string, string>, string][] = [
      [{}, "metadata 'query': required with metric custom"],
      [
        { query: 'agent_tool_calls_total{tool=search}' },
        "metadata 'query': 'agent_tool_calls_total{tool=search}': the value of label 'tool' must be a quoted string",
      ],
      [{ query: 'agent_tool_calls_total{tool="search"' }, "metadata 'query'"],
      [{ query: '9lives' }, "metadata 'query': '9lives': does not start with a metric name"],
      [{ query: 'rate(agent_tool_calls_total[1m])' }, "metadata 'query'"],
      [{ query: 'agent_tool_calls_total{tool=~"s.*"}' }, 'regular-expression matcher'],
      [{ query: 'x', reduce: 'median' }, "metadata 'reduce': 'median' is not accepted; expected sum, avg, max, min, rate (default sum)"],
      [{ query: 'x', window: '30s' }, "metadata 'window': only applies to reduce: rate"],
      [{ query: 'x', reduce: 'rate', window: 'often' }, "metadata 'window': 'often' is not a duration"],
      [{ query: 'x', quantile: '0.9' }, "metadata 'quantile': unknown key for metric 'custom'"],
    ];
    for (const [metadata, message] of cases) {
      await harness.expectInvalidArgument(ref(metadata), message);
    }
  });
});

describe('series queries', () => {
  it('canonical keys: equal queries written differently share one key; parsing a key gives it back', () => {
    const a = parseSeriesQuery(`x_total{b!="2", a='1'}`);
    const b = parseSeriesQuery(' x_total { a = "1" , b != "2" , } ');
    expect(a).toEqual(b);
    expect(a.ok && a.query.key).toBe('x_total{a="1",b!="2"}');
    fc.assert(
      fc.property(
        fc.array(fc.record({ label: fc.stringMatching(/^[a-z_][a-z0-9_]{0,5}$/), op: fc.constantFrom('=', '!='), value: fc.string({ maxLength: 8 }) }), {
          maxLength: 4,
        }),
        (matchers) => {
          const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
          const text = `m:x{${matchers.map((m) => `${m.label}${m.op}"${esc(m.value)}"`).join(',')}}`;
          const parsed = parseSeriesQuery(text);
          expect(parsed.ok).toBe(true);
          if (!parsed.ok) return;
          const again = parseSeriesQuery(parsed.query.key);
          expect(again).toEqual(parsed);
          expect(parsed.query.matchers.map((m) => m.value).sort()).toEqual(matchers.map((m) => m.value).sort());
        },
      ),
    );
  });

  it('matching follows PromQL: an absent label reads as ""; absent metric is unknown, no matching series is 0', () => {
    const parsed = parsePrometheusText(['calls_total{tool="a"} 2', 'calls_total{tool="b",x="1"} 3', 'calls_total{tool="c"} NaN', ''].join('\n'));
    const q = (text: string) => {
      const r = parseSeriesQuery(text);
      if (!r.ok) throw new Error(r.message);
      return r.query;
    };
    const queries = [q('calls_total'), q('calls_total{x=""}'), q('calls_total{x!=""}'), q('calls_total{tool="z"}'), q('other_total')];
    expect(queryValues(parsed, queries)).toEqual({ calls_total: 5, 'calls_total{x=""}': 2, 'calls_total{x!=""}': 3, 'calls_total{tool="z"}': 0 });
    expect(matchesLabels(q('calls_total{tool!="a"}'), { tool: 'a' })).toBe(false);
  });

  it('a pool collects at most MAX_QUERIES distinct queries; the list changes identity only when one is added', () => {
    const store = new PoolStore('p', { cacheTtlMs: 1000, intervalMs: 1000, historyWindowMs: 600_000 });
    const query = (text: string): SeriesQuery => {
      const r = parseSeriesQuery(text);
      if (!r.ok) throw new Error(r.message);
      return r.query;
    };
    const first = store.queries();
    expect(store.requireQuery(query('a_total'))).toBe(true);
    const second = store.queries();
    expect(second).not.toBe(first);
    expect(store.requireQuery(query('a_total'))).toBe(true);
    expect(store.queries()).toBe(second);
    for (let i = 1; i < MAX_QUERIES; i++) store.requireQuery(query(`q${i}`));
    expect(store.requireQuery(query('one_too_many'))).toBe(false);
    expect(store.queries()).toHaveLength(MAX_QUERIES);
  });
});
