/**
 * The label matchers of a PromQL vector selector, as a `source: prometheus` pool's `selector`
 * names its workers' series: `{job="vllm", namespace="llm"}` (braces optional). Matchers follow
 * PromQL (prometheus/prometheus `promql/parser/lex.go`): `=`, `!=`, `=~`, `!~`, values in double or
 * single quotes with Go escapes, or in backticks (raw). The selector is parsed once, at start-up, and
 * written back canonically into every query, so what reaches the engine is always well-formed.
 */

export type PromMatchOp = '=' | '!=' | '=~' | '!~';

export interface PromMatcher {
  readonly label: string;
  readonly op: PromMatchOp;
  readonly value: string;
}

export type PromSelectorParse = { readonly ok: true; readonly matchers: readonly PromMatcher[] } | { readonly ok: false; readonly message: string };

const LABEL = /^[A-Za-z_][A-Za-z0-9_]*/;
const OPS: readonly PromMatchOp[] = ['=~', '!~', '!=', '='];
const SIMPLE_ESCAPES: Readonly<Record<string, string>> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', '"': '"', "'": "'" };
const EXAMPLE = 'e.g. {job="vllm", namespace="llm"}';

/** Parses `{a="x", b=~"y.*"}` or `a="x", b=~"y.*"`; every failure says where and what was expected. */
export function parsePromSelector(text: string): PromSelectorParse {
  const fail = (message: string): PromSelectorParse => ({ ok: false, message: `${message}; expected PromQL label matchers, ${EXAMPLE}` });
  let rest = text.trim();
  const braced = rest.startsWith('{');
  if (braced) {
    if (!rest.endsWith('}')) return fail("missing the closing '}'");
    rest = rest.slice(1, -1).trim();
  }
  const matchers: PromMatcher[] = [];
  while (rest !== '') {
    const label = LABEL.exec(rest)?.[0];
    if (!label) return fail(`expected a label name at '${rest}'`);
    rest = rest.slice(label.length).trimStart();
    const op = OPS.find((candidate) => rest.startsWith(candidate));
    if (!op) return fail(`expected =, !=, =~ or !~ after label '${label}'`);
    rest = rest.slice(op.length).trimStart();
    const quoted = readPromString(rest);
    if (!quoted.ok) return fail(`the value of label '${label}' ${quoted.message}`);
    if (label === '__name__') return fail("'__name__' cannot be matched: the scaler names the series it queries");
    matchers.push({ label, op, value: quoted.value });
    rest = rest.slice(quoted.length).trimStart();
    if (rest.startsWith(',')) rest = rest.slice(1).trimStart();
    else if (rest !== '') return fail(`expected ',' between matchers at '${rest}'`);
  }
  if (matchers.length === 0) return fail('no matcher: a pool reads the series of some targets, not of every target');
  // PromQL refuses a selector whose every matcher matches the empty string (it would select everything).
  if (!matchers.some((m) => !matchesEmpty(m))) return fail('every matcher also matches an empty label: add one that names the targets, such as job="vllm"');
  return { ok: true, matchers };
}

/** Whether a matcher accepts a series without that label (PromQL treats an absent label as ""). */
function matchesEmpty(m: PromMatcher): boolean {
  if (m.op === '=') return m.value === '';
  if (m.op === '!=') return m.value !== '';
  let re: RegExp;
  try {
    re = new RegExp(`^(?:${m.value})$`);
  } catch {
    // The engine judges its own (RE2) syntax; an unknown one is not assumed to match "".
    return false;
  }
  return re.test('') === (m.op === '=~');
}

/** The canonical text of matchers, for a PromQL selector's braces: `job="vllm",namespace="llm"`. */
export function formatPromMatchers(matchers: readonly PromMatcher[]): string {
  return matchers.map((m) => `${m.label}${m.op}${quotePromString(m.value)}`).join(',');
}

/** A PromQL double-quoted string literal that reads back as `value`. */
export function quotePromString(value: string): string {
  let out = '"';
  for (const c of value) {
    if (c === '\\') out += '\\\\';
    else if (c === '"') out += '\\"';
    else if (c === '\n') out += '\\n';
    else if (c === '\r') out += '\\r';
    else if (c === '\t') out += '\\t';
    else if (c < ' ' || c === '\x7f') out += `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
    else out += c;
  }
  return `${out}"`;
}

type StringRead = { ok: true; value: string; length: number } | { ok: false; message: string };

/** A PromQL string literal at the start of `text`: "…" or '…' with Go escapes, or `…` raw. */
function readPromString(text: string): StringRead {
  const quote = text[0];
  if (quote === '`') {
    const end = text.indexOf('`', 1);
    return end < 0 ? { ok: false, message: 'has no closing backtick' } : { ok: true, value: text.slice(1, end), length: end + 1 };
  }
  if (quote !== '"' && quote !== "'") return { ok: false, message: 'must be a quoted string' };
  let value = '';
  for (let i = 1; i < text.length; i++) {
    const c = text[i] as string;
    if (c === quote) return { ok: true, value, length: i + 1 };
    if (c === '\n') return { ok: false, message: 'has a line break inside its quotes' };
    if (c !== '\\') {
      value += c;
      continue;
    }
    const next = text[i + 1];
    if (next === undefined) break;
    const simple = SIMPLE_ESCAPES[next];
    if (simple !== undefined && (next !== '"' || quote === '"') && (next !== "'" || quote === "'")) {
      value += simple;
      i++;
      continue;
    }
    const width = next === 'x' ? 2 : next === 'u' ? 4 : next === 'U' ? 8 : 0;
    const hex = text.slice(i + 2, i + 2 + width);
    if (width === 0 || hex.length !== width || !/^[0-9a-fA-F]+$/.test(hex)) return { ok: false, message: `has an unknown escape '\\${next}'` };
    const code = Number.parseInt(hex, 16);
    if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return { ok: false, message: `has an invalid code point '\\${next}${hex}'` };
    value += String.fromCodePoint(code);
    i += 1 + width;
  }
  return { ok: false, message: 'has no closing quote' };
}
