/**
 * Series queries: a metric name with optional label matchers, as the `custom` signal reads them
 * from the workers' own exposition (`agent_tool_calls_total{tool="search"}`) and as engine
 * profiles name a candidate series (`dynamo_frontend_requests_total{status="success"}`).
 *
 * Only equality matchers (`=`, `!=`) are accepted: regular expressions from trigger metadata
 * would run on every scrape of every worker, and a pathological one could stall collection.
 * The grammar lives in the store because both sides of it meet here: sources collect what the
 * store's queries ask for, signals read the values back by the query's canonical key.
 */

export interface LabelMatcher {
  readonly label: string;
  readonly op: '=' | '!=';
  readonly value: string;
}

export interface SeriesQuery {
  /** Series name exactly as on the wire (`x_total`, `x_bucket`, `x_count` …). */
  readonly name: string;
  readonly matchers: readonly LabelMatcher[];
  /** Canonical text: equal queries written differently share it (and one collection). */
  readonly key: string;
}

export type QueryParse = { readonly ok: true; readonly query: SeriesQuery } | { readonly ok: false; readonly message: string };

const MAX_QUERY_LENGTH = 1024;
const NAME = /^[A-Za-z_:][A-Za-z0-9_:]*/;
const LABEL = /^[A-Za-z_][A-Za-z0-9_]*/;
const EXAMPLE = 'e.g. agent_tool_calls_total{tool="search"}';

/** Parses `name`, `name{}` or `name{a="x", b!="y"}` (values in double or single quotes). */
export function parseSeriesQuery(text: string): QueryParse {
  const fail = (message: string): QueryParse => ({
    ok: false,
    message: `'${text}': ${message}; expected a metric name with optional label matchers, ${EXAMPLE}`,
  });
  if (text.length > MAX_QUERY_LENGTH) return { ok: false, message: `longer than ${MAX_QUERY_LENGTH} characters` };
  let rest = text.trim();
  const name = NAME.exec(rest)?.[0];
  if (!name) return fail('does not start with a metric name');
  rest = rest.slice(name.length).trimStart();
  const matchers: LabelMatcher[] = [];
  if (rest.startsWith('{')) {
    rest = rest.slice(1).trimStart();
    for (;;) {
      if (rest.startsWith('}')) {
        rest = rest.slice(1).trimStart();
        break;
      }
      const label = LABEL.exec(rest)?.[0];
      if (!label) return fail(rest === '' ? "missing '}'" : `expected a label name at '${rest}'`);
      rest = rest.slice(label.length).trimStart();
      let op: '=' | '!=';
      if (rest.startsWith('=~') || rest.startsWith('!~')) return fail(`regular-expression matcher on '${label}' is not supported; use = or !=`);
      if (rest.startsWith('!=')) op = '!=';
      else if (rest.startsWith('=')) op = '=';
      else return fail(`expected = or != after label '${label}'`);
      rest = rest.slice(op.length).trimStart();
      const quoted = readQuoted(rest);
      if (!quoted) return fail(`the value of label '${label}' must be a quoted string`);
      matchers.push({ label, op, value: quoted.value });
      rest = rest.slice(quoted.length).trimStart();
      if (rest.startsWith(',')) rest = rest.slice(1).trimStart();
      else if (!rest.startsWith('}')) return fail(rest === '' ? "missing '}'" : `expected ',' or '}' at '${rest}'`);
    }
  }
  if (rest !== '') return fail(`unexpected '${rest}' after the query`);
  matchers.sort((a, b) =>
    a.label < b.label ? -1 : a.label > b.label ? 1 : a.op < b.op ? -1 : a.op > b.op ? 1 : a.value < b.value ? -1 : a.value > b.value ? 1 : 0,
  );
  const key = matchers.length === 0 ? name : `${name}{${matchers.map((m) => `${m.label}${m.op}"${escapeValue(m.value)}"`).join(',')}}`;
  return { ok: true, query: { name, matchers, key } };
}

/** The inverse of `readQuoted` for a double-quoted value, as the exposition format writes it. */
function escapeValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** A string in double or single quotes with `\\`, `\"`, `\'` and `\n` escapes. */
function readQuoted(text: string): { value: string; length: number } | undefined {
  const quote = text[0];
  if (quote !== '"' && quote !== "'") return undefined;
  let value = '';
  for (let i = 1; i < text.length; i++) {
    const c = text[i] as string;
    if (c === quote) return { value, length: i + 1 };
    if (c === '\\') {
      const next = text[i + 1];
      if (next === undefined) return undefined;
      value += next === 'n' ? '\n' : next;
      i++;
    } else {
      value += c;
    }
  }
  return undefined;
}

/** Whether a series' labels pass every matcher; an absent label reads as "" (PromQL semantics). */
export function matchesLabels(query: SeriesQuery, labels: Readonly<Record<string, string>>): boolean {
  for (const m of query.matchers) {
    const actual = labels[m.label] ?? '';
    if ((actual === m.value) !== (m.op === '=')) return false;
  }
  return true;
}
