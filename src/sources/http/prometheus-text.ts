/**
 * Prometheus text exposition (0.0.4) parser, tolerant of OpenMetrics.
 *
 * It runs for every worker on every poll, so it is a hand-written scanner over the whole body:
 * no per-line split, no regex, and unwanted series are dropped as soon as their name is read.
 * It never throws: a line it cannot read is counted in `invalidLines` and skipped, because one
 * odd line (the literal `...` of vLLM's docs, a truncated body) must not lose the whole scrape.
 */

export interface Series {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface ParsedExposition {
  /** Samples by series name exactly as on the wire (`x_bucket`, `x_total`, ...), in body order. */
  readonly series: ReadonlyMap<string, readonly Series[]>;
  /**
   * Lines read as samples: the kept ones, plus those dropped by `wanted` (only their name was
   * checked).
   */
  readonly sampleLines: number;
  /** Non-blank, non-comment lines that are not valid samples. */
  readonly invalidLines: number;
}

const TAB = 9;
const CR = 13;
const SPACE = 32;
const QUOTE = 34;
const HASH = 35;
const PLUS = 43;
const COMMA = 44;
const MINUS = 45;
const DOT = 46;
const COLON = 58;
const EQUALS = 61;
const BACKSLASH = 92;
const UNDERSCORE = 95;
const LBRACE = 123;
const RBRACE = 125;

// Label objects inherit from an empty null-prototype object: nothing is inherited (a label called
// `__proto__` or `constructor` is plain data), and unlike `Object.create(null)` objects, which V8
// keeps as slow dictionaries, they stay fast to read for every consumer.
const LABELS_PROTOTYPE = Object.freeze(Object.create(null) as object);

function newLabels(): Record<string, string> {
  return Object.create(LABELS_PROTOTYPE) as Record<string, string>;
}

const EMPTY_LABELS: Readonly<Record<string, string>> = Object.freeze(newLabels());

function isLetter(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isBlank(c: number): boolean {
  return c === SPACE || c === TAB;
}

function isMetricNameStart(c: number): boolean {
  return isLetter(c) || c === UNDERSCORE || c === COLON;
}

function isMetricNameChar(c: number): boolean {
  return isMetricNameStart(c) || isDigit(c);
}

function isLabelNameStart(c: number): boolean {
  return isLetter(c) || c === UNDERSCORE;
}

function isLabelNameChar(c: number): boolean {
  return isLabelNameStart(c) || isDigit(c);
}

/**
 * Reads a sample value or an `le`/timestamp-like number as Prometheus writes it: decimal with
 * optional sign, fraction and exponent, or `NaN` / `Inf` / `+Inf` / `-Inf` (any case, Go's
 * ParseFloat also takes `Infinity`). Returns undefined for anything else: JavaScript's `Number()`
 * alone would accept `""`, `0x1f` and `Infinity`-with-spaces, which are not exposition numbers.
 */
export function parseSampleValue(token: string): number | undefined {
  const n = token.length;
  let i = 0;
  let c = token.charCodeAt(0);
  if (c === PLUS || c === MINUS) {
    i = 1;
    c = token.charCodeAt(1);
  }
  if (i < n && !isDigit(c) && c !== DOT) {
    const word = token.slice(i).toLowerCase();
    if (word === 'inf' || word === 'infinity') {
      return token.charCodeAt(0) === MINUS ? -Infinity : Infinity;
    }
    return word === 'nan' ? NaN : undefined;
  }
  let digits = 0;
  while (i < n && isDigit(token.charCodeAt(i))) {
    i++;
    digits++;
  }
  if (i < n && token.charCodeAt(i) === DOT) {
    i++;
    while (i < n && isDigit(token.charCodeAt(i))) {
      i++;
      digits++;
    }
  }
  if (digits === 0) return undefined;
  if (i < n && (token.charCodeAt(i) | 0x20) === 101 /* e or E */) {
    i++;
    const s = token.charCodeAt(i);
    if (s === PLUS || s === MINUS) i++;
    const expStart = i;
    while (i < n && isDigit(token.charCodeAt(i))) i++;
    if (i === expStart) return undefined;
  }
  return i === n ? Number(token) : undefined;
}

function unescapeLabelValue(raw: string): string {
  let out = '';
  let i = 0;
  while (i < raw.length) {
    const slash = raw.indexOf('\\', i);
    if (slash < 0 || slash === raw.length - 1) {
      out += raw.slice(i);
      break;
    }
    out += raw.slice(i, slash);
    const next = raw.charCodeAt(slash + 1);
    // Unknown escapes are kept as written, as prometheus_client's own parser does.
    if (next === 110 /* n */) out += '\n';
    else if (next === BACKSLASH) out += '\\';
    else if (next === QUOTE) out += '"';
    else out += raw.slice(slash, slash + 2);
    i = slash + 2;
  }
  return out;
}

/**
 * Scans one line `[start, end)` of the body; `pos` is the cursor.
 *
 * Consecutive lines mostly repeat the previous line's metric name and label names (a histogram's
 * buckets, a family's engines). Matching those against the last strings seen, instead of slicing
 * new ones, spares V8 hashing a fresh Set key and internalising a fresh property key on every
 * line: about a fifth of the parse time on vLLM bodies.
 */
class LineScanner {
  pos = 0;
  end = 0;
  private lastName = '';
  private readonly lastLabelNames: string[] = [];

  constructor(private readonly text: string) {}

  /** Whether the text at `pos` is `s` followed by a character that `continues` rejects. */
  private matches(s: string, continues: (c: number) => boolean): boolean {
    const n = s.length;
    if (n === 0 || this.pos + n > this.end) return false;
    for (let i = 0; i < n; i++) {
      if (this.text.charCodeAt(this.pos + i) !== s.charCodeAt(i)) return false;
    }
    const after = this.pos + n;
    return after === this.end || !continues(this.text.charCodeAt(after));
  }

  reset(start: number, end: number): void {
    this.pos = start;
    this.end = end;
  }

  skipBlanks(): void {
    while (this.pos < this.end && isBlank(this.text.charCodeAt(this.pos))) this.pos++;
  }

  peek(): number {
    return this.pos < this.end ? this.text.charCodeAt(this.pos) : -1;
  }

  /** A metric name, or '' when the line does not start with one. */
  metricName(): string {
    if (this.matches(this.lastName, isMetricNameChar)) {
      this.pos += this.lastName.length;
      return this.lastName;
    }
    const start = this.pos;
    if (!isMetricNameStart(this.peek())) return '';
    this.pos++;
    while (this.pos < this.end && isMetricNameChar(this.text.charCodeAt(this.pos))) this.pos++;
    return (this.lastName = this.text.slice(start, this.pos));
  }

  /** Parses `{a="x",b="y",}` starting at `{`; undefined when malformed. */
  labels(): Record<string, string> | undefined {
    const text = this.text;
    const labels = newLabels();
    this.pos++; // '{'
    for (let slot = 0; ; slot++) {
      this.skipBlanks();
      if (this.peek() === RBRACE) {
        this.pos++;
        return labels;
      }
      let name = this.lastLabelNames[slot] ?? '';
      if (this.matches(name, isLabelNameChar)) {
        this.pos += name.length;
      } else {
        const nameStart = this.pos;
        if (!isLabelNameStart(this.peek())) return undefined;
        this.pos++;
        while (this.pos < this.end && isLabelNameChar(text.charCodeAt(this.pos))) this.pos++;
        name = this.lastLabelNames[slot] = text.slice(nameStart, this.pos);
      }
      this.skipBlanks();
      if (this.peek() !== EQUALS) return undefined;
      this.pos++;
      this.skipBlanks();
      if (this.peek() !== QUOTE) return undefined;
      this.pos++;
      const valueStart = this.pos;
      let escaped = false;
      for (;;) {
        if (this.pos >= this.end) return undefined;
        const c = text.charCodeAt(this.pos);
        if (c === QUOTE) break;
        if (c === BACKSLASH) {
          escaped = true;
          this.pos += 2;
        } else {
          this.pos++;
        }
      }
      const raw = text.slice(valueStart, this.pos);
      labels[name] = escaped ? unescapeLabelValue(raw) : raw;
      this.pos++; // closing quote
      this.skipBlanks();
      const c = this.peek();
      if (c === COMMA) this.pos++;
      else if (c !== RBRACE) return undefined;
    }
  }

  /** The next run of non-blank characters. */
  token(): string {
    const start = this.pos;
    while (this.pos < this.end && !isBlank(this.text.charCodeAt(this.pos))) this.pos++;
    return this.text.slice(start, this.pos);
  }
}

const SAMPLE = 0;
const SKIPPED = 1;
const INVALID = 2;

function parseSampleLine(
  scan: LineScanner,
  wanted: ReadonlySet<string> | undefined,
  out: Map<string, Series[]>,
): typeof SAMPLE | typeof SKIPPED | typeof INVALID {
  const name = scan.metricName();
  if (name === '') return INVALID;
  if (wanted !== undefined && !wanted.has(name)) return SKIPPED;

  const afterName = scan.pos;
  scan.skipBlanks();
  let labels: Readonly<Record<string, string>> = EMPTY_LABELS;
  if (scan.peek() === LBRACE) {
    const parsed = scan.labels();
    if (parsed === undefined) return INVALID;
    labels = parsed;
    scan.skipBlanks();
  } else if (scan.pos === afterName) {
    return INVALID; // e.g. `foo-bar 1`: the name must be followed by a blank or `{`
  }

  const value = parseSampleValue(scan.token());
  if (value === undefined) return INVALID;

  scan.skipBlanks();
  // Optional timestamp (integer in 0.0.4, may be fractional in OpenMetrics), then optionally an
  // OpenMetrics exemplar `# {...} v [ts]`, which we do not use.
  if (scan.peek() !== -1 && scan.peek() !== HASH) {
    if (parseSampleValue(scan.token()) === undefined) return INVALID;
    scan.skipBlanks();
  }
  if (scan.peek() !== -1 && scan.peek() !== HASH) return INVALID;

  const list = out.get(name);
  if (list === undefined) out.set(name, [{ labels, value }]);
  else list.push({ labels, value });
  return SAMPLE;
}

function isEofMarker(text: string, start: number, end: number): boolean {
  if (!text.startsWith('# EOF', start)) return false;
  for (let i = start + 5; i < end; i++) if (!isBlank(text.charCodeAt(i))) return false;
  return true;
}

/**
 * Parses a `/metrics` body. With `wanted`, only samples whose series name is in the set are kept,
 * and the rest of their line is never looked at.
 */
export function parsePrometheusText(text: string, wanted?: ReadonlySet<string>): ParsedExposition {
  const series = new Map<string, Series[]>();
  let sampleLines = 0;
  let invalidLines = 0;
  const scan = new LineScanner(text);
  const n = text.length;
  let lineStart = 0;
  while (lineStart < n) {
    let lineEnd = text.indexOf('\n', lineStart);
    if (lineEnd < 0) lineEnd = n;
    const next = lineEnd + 1;
    if (lineEnd > lineStart && text.charCodeAt(lineEnd - 1) === CR) lineEnd--;
    scan.reset(lineStart, lineEnd);
    scan.skipBlanks();
    const first = scan.peek();
    if (first === HASH) {
      // HELP, TYPE, UNIT and free comments carry nothing we use; `# EOF` ends an OpenMetrics body.
      if (isEofMarker(text, scan.pos, lineEnd)) break;
    } else if (first !== -1) {
      const result = parseSampleLine(scan, wanted, series);
      if (result === INVALID) invalidLines++;
      else sampleLines++;
    }
    lineStart = next;
  }
  return { series, sampleLines, invalidLines };
}
