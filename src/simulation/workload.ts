/**
 * The requests a scenario sends: constant-rate phases like guidellm's `constant` profile (evenly
 * spaced arrivals at each rate for `durationPerRate`, prompt and output lengths from a normal
 * distribution clamped to [min, max], as guidellm's synthetic data does), or a trace CSV. The
 * same seed gives the same requests.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { mulberry32, normalSource } from './random.js';
import { isTraceWorkload, ScenarioError, type PhasedWorkload, type Scenario, type TraceWorkload } from './scenario.js';

export interface RequestSpec {
  readonly id: number;
  /** Seconds from the start. */
  readonly arrival: number;
  readonly promptTokens: number;
  readonly outputTokens: number;
}

export interface Workload {
  readonly requests: readonly RequestSpec[];
  /** Seconds: the simulation ends here (the end of the last phase, or the last arrival of a trace). */
  readonly duration: number;
  /** For reports: the phases, or the trace file. */
  readonly description: string;
}

function lengths(w: PhasedWorkload): () => { prompt: number; output: number } {
  const normal = normalSource(mulberry32(w.seed));
  const draw = (d: PhasedWorkload['promptTokens']) => Math.min(d.max, Math.max(d.min, Math.round(d.mean + d.stdev * normal())));
  if (w.samples === undefined) return () => ({ prompt: draw(w.promptTokens), output: draw(w.outputTokens) });
  const table: { prompt: number; output: number }[] = [];
  for (let i = 0; i < w.samples; i++) table.push({ prompt: draw(w.promptTokens), output: draw(w.outputTokens) });
  let next = 0;
  return () => table[next++ % table.length] as { prompt: number; output: number };
}

export function phasedRequests(w: PhasedWorkload): Workload {
  const sample = lengths(w);
  const gaps = mulberry32(w.seed ^ 0x9e3779b9);
  const requests: RequestSpec[] = [];
  let start = 0;
  for (const rate of w.rates) {
    const end = start + w.durationPerRate;
    if (rate > 0) {
      let t = start;
      for (let k = 0; ; k++) {
        t = w.arrival === 'constant' ? start + k / rate : t + -Math.log(1 - gaps()) / rate;
        if (t >= end) break;
        const { prompt, output } = sample();
        requests.push({ id: requests.length, arrival: t, promptTokens: prompt, outputTokens: output });
      }
    }
    start = end;
  }
  const description = `${w.arrival} rates ${w.rates.join(', ')} req/s, ${w.durationPerRate} s each`;
  return { requests, duration: start, description };
}

/**
 * A trace in the Azure LLM inference trace layout: a header `TIMESTAMP,ContextTokens,GeneratedTokens`,
 * timestamps as `2023-11-16 18:15:46.6805900` (or ISO 8601, or seconds as a number). Arrivals are
 * relative to the first row; rows must be in time order.
 */
export function parseTrace(text: string, file: string, speedup = 1): Workload {
  const lines = text.split(/\r?\n/);
  const header = (lines[0] ?? '').split(',').map((h) => h.trim());
  const columns = ['TIMESTAMP', 'ContextTokens', 'GeneratedTokens'];
  const index = columns.map((c) => header.indexOf(c));
  if (index.some((i) => i < 0)) throw new ScenarioError(`trace ${file}: the header must have columns ${columns.join(',')}, got '${lines[0] ?? ''}'`);
  const requests: RequestSpec[] = [];
  let first: Timestamp | undefined;
  let previous = Number.NEGATIVE_INFINITY;
  for (let row = 1; row < lines.length; row++) {
    const line = lines[row] as string;
    if (line.trim() === '') continue;
    const cells = line.split(',');
    const [ts, ctx, gen] = index.map((i) => (cells[i] ?? '').trim()) as [string, string, string];
    const stamp = timestamp(ts);
    if (stamp === undefined) throw new ScenarioError(`trace ${file} line ${row + 1}: TIMESTAMP '${ts}' is not a time`);
    first ??= stamp;
    // Whole seconds and fractions apart: epoch seconds as one double would lose the 7th decimal.
    const at = stamp.seconds - first.seconds + (stamp.fraction - first.fraction);
    if (at < previous) throw new ScenarioError(`trace ${file} line ${row + 1}: TIMESTAMP goes back in time; rows must be in time order`);
    previous = at;
    const prompt = Number(ctx);
    const output = Number(gen);
    if (!Number.isInteger(prompt) || prompt < 1) throw new ScenarioError(`trace ${file} line ${row + 1}: ContextTokens '${ctx}' must be a whole number ≥ 1`);
    if (!Number.isInteger(output) || output < 1) throw new ScenarioError(`trace ${file} line ${row + 1}: GeneratedTokens '${gen}' must be a whole number ≥ 1`);
    requests.push({ id: requests.length, arrival: at / speedup, promptTokens: prompt, outputTokens: output });
  }
  if (requests.length === 0) throw new ScenarioError(`trace ${file}: no rows after the header`);
  const last = (requests.at(-1) as RequestSpec).arrival;
  return { requests, duration: last + 1e-9, description: `trace ${path.basename(file)} (${requests.length} requests${speedup !== 1 ? `, ×${speedup}` : ''})` };
}

const AZURE_TIME = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$/;

interface Timestamp {
  /** Whole seconds since the epoch (or since 0 for a number of seconds). */
  readonly seconds: number;
  /** The fraction of a second, 0 ≤ fraction < 1. */
  readonly fraction: number;
}

/** A trace timestamp, or undefined when it is not one. */
function timestamp(text: string): Timestamp | undefined {
  const plain = /^(\d+)(\.\d+)?$/.exec(text);
  if (plain) return { seconds: Number(plain[1]), fraction: plain[2] ? Number(`0${plain[2]}`) : 0 };
  const m = AZURE_TIME.exec(text);
  if (!m) return undefined;
  const whole = Date.parse(`${m[1]}T${m[2]}${m[4] ?? 'Z'}`);
  if (!Number.isFinite(whole)) return undefined;
  return { seconds: whole / 1000, fraction: m[3] ? Number(`0${m[3]}`) : 0 };
}

export async function loadWorkload(scenario: Scenario, dir: string): Promise<Workload> {
  const w = scenario.workload;
  if (!isTraceWorkload(w)) return phasedRequests(w);
  return loadTrace(w, dir);
}

async function loadTrace(w: TraceWorkload, dir: string): Promise<Workload> {
  const file = path.resolve(dir, w.trace);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ScenarioError(`workload.trace: cannot read ${file}: ${(error as Error).message}`);
  }
  return parseTrace(text, file, w.speedup);
}
