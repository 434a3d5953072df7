/**
 * Prometheus text exposition (0.0.4) scanner, tolerant of OpenMetrics, over the body's bytes.
 *
 * It runs for every worker on every poll, so it never decodes the body to a string and never
 * splits it: lines are found with the native `indexOf`, a sample's name is matched as bytes and an
 * unwanted line is skipped at once, label values are decoded only for the labels the reader asks
 * for, and numbers are read from the bytes (exactly: see `parseNumber`). It never throws: a line it
 * cannot read is counted as invalid and skipped, because one odd line (the literal `...` of vLLM's
 * docs, a truncated body) must not lose the whole scrape.
 *
 * `scanExposition` feeds a `SeriesSink`; `parsePrometheusText` is the sink that builds every
 * series as an object, for callers that want the parsed exposition itself.
 */

export interface Series {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface ParsedExposition {
  /** Samples by series name exactly as on the wire (`x_bucket`, `x_total`, ...), in body order. */
  readonly series: ReadonlyMap<string, readonly Series[]>;
  /** Lines read as samples: the kept ones, plus those dropped unread (only their name was checked). */
  readonly sampleLines: number;
  /** Non-blank, non-comment lines that are not valid samples. */
  readonly invalidLines: number;
  /**
   * A wanted series (name and every label, as written) that appeared twice, if one did: Prometheus
   * refuses such a scrape, and summing both would count one value twice. Set by ExpositionReader.
   */
  readonly duplicate?: string;
}

/** What a scan reports to; every method is called synchronously while the scan runs. */
export interface SeriesSink {
  /**
   * A sample line's metric name, bytes [start, end), with its FNV-1a hash (see `fnv1a`): a handle
   * ≥ 0 to read the line, or -1 to skip it.
   */
  series(bytes: Uint8Array, start: number, end: number, hash: number): number;
  /** A label name of a line being read: a slot ≥ 0 to receive its value, or -1 to skip the value. */
  label(handle: number, bytes: Uint8Array, start: number, end: number): number;
  /** The raw value of a label the sink asked for (between the quotes); `escaped` when it holds backslashes. */
  labelValue(slot: number, bytes: Uint8Array, start: number, end: number, escaped: boolean): void;
  /** The line was a valid sample: its value. A line that turns out invalid gets no call: forget its labels then. */
  sample(handle: number, value: number): void;
}

export interface ScanCounts {
  readonly sampleLines: number;
  readonly invalidLines: number;
}

const TAB = 9;
const LF = 10;
const CR = 13;
const SPACE = 32;
const QUOTE = 34;
const HASH = 35;
const PLUS = 43;
const COMMA = 44;
const MINUS = 45;
const DOT = 46;
const ZERO = 48;
const NINE = 57;
const COLON = 58;
const EQUALS = 61;
const BACKSLASH = 92;
const UNDERSCORE = 95;
const LBRACE = 123;
const RBRACE = 125;

function isLetter(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
}

function isDigit(c: number): boolean {
  return c >= ZERO && c <= NINE;
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

/** TypedArray's own indexOf: Buffer's adds argument handling that costs more than a short search. */
const indexOfByte = (bytes: Uint8Array, byte: number, from: number): number => Uint8Array.prototype.indexOf.call(bytes, byte, from);

/** Powers of ten that are exact doubles: the range where one multiplication or division is correctly rounded. */
const EXACT_POWERS = Array.from({ length: 23 }, (_, i) => 10 ** i);
const latin1 = (bytes: Uint8Array, start: number, end: number): string => Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('latin1');

/**
 * A sample value or a number-like label (`le`) as Prometheus writes it, from bytes [start, end):
 * decimal with optional sign, fraction and exponent, or `NaN` / `Inf` / `+Inf` / `-Inf` (any case;
 * Go's ParseFloat also takes `Infinity`). Undefined for anything else: `""`, `0x1f` or `1_000` are
 * not exposition numbers although JavaScript's `Number()` reads some of them.
 *
 * Up to 15 significant digits with a decimal exponent within ±22 the value is computed from the
 * digits with one exact operation (mantissa × or ÷ an exact power of ten: correctly rounded, the
 * same double as `Number()` gives); longer or larger numbers go through `Number()`.
 */
export function parseNumber(bytes: Uint8Array, start: number, end: number): number | undefined {
  let i = start;
  let c = bytes[i] ?? -1;
  let negative = false;
  if (c === PLUS || c === MINUS) {
    negative = c === MINUS;
    i++;
    c = bytes[i] ?? -1;
  }
  if (i < end && !isDigit(c) && c !== DOT) return parseWord(bytes, i, end, negative);
  let mantissa = 0;
  let digits = 0;
  let significant = 0;
  let scale = 0;
  while (i < end && isDigit(bytes[i] as number)) {
    if (significant > 0 || bytes[i] !== ZERO) significant++;
    mantissa = mantissa * 10 + ((bytes[i] as number) - ZERO);
    i++;
    digits++;
  }
  if (i < end && bytes[i] === DOT) {
    i++;
    while (i < end && isDigit(bytes[i] as number)) {
      if (significant > 0 || bytes[i] !== ZERO) significant++;
      mantissa = mantissa * 10 + ((bytes[i] as number) - ZERO);
      scale--;
      i++;
      digits++;
    }
  }
  if (digits === 0) return undefined;
  if (i < end && ((bytes[i] as number) | 0x20) === 101 /* e or E */) {
    i++;
    let expNegative = false;
    if (bytes[i] === PLUS || bytes[i] === MINUS) {
      expNegative = bytes[i] === MINUS;
      i++;
    }
    const expStart = i;
    let exponent = 0;
    while (i < end && isDigit(bytes[i] as number)) {
      exponent = Math.min(100_000, exponent * 10 + ((bytes[i] as number) - ZERO));
      i++;
    }
    if (i === expStart) return undefined;
    scale += expNegative ? -exponent : exponent;
  }
  if (i !== end) return undefined;
  let value: number;
  if (significant <= 15 && scale >= -22 && scale <= 22) {
    value = scale < 0 ? mantissa / (EXACT_POWERS[-scale] as number) : mantissa * (EXACT_POWERS[scale] as number);
  } else {
    value = Number(latin1(bytes, start, end));
    return value;
  }
  return negative ? -value : value;
}

function parseWord(bytes: Uint8Array, start: number, end: number, negative: boolean): number | undefined {
  const word = latin1(bytes, start, end).toLowerCase();
  if (word === 'inf' || word === 'infinity') return negative ? -Infinity : Infinity;
  return word === 'nan' ? NaN : undefined;
}

/** `parseNumber` for a token already in a string (a label value such as `le="0.25"` or `num_gpu_blocks`). */
export function parseSampleValue(token: string): number | undefined {
  const bytes = Buffer.from(token, 'latin1');
  if (bytes.length !== token.length || Buffer.byteLength(token, 'utf8') !== token.length) return undefined; // not ASCII: not a number
  return parseNumber(bytes, 0, bytes.length);
}

/** Unescapes a label value as the exposition format writes it: `\\`, `\"` and `\n`; unknown escapes kept. */
export function unescapeLabelValue(raw: string): string {
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

/** A label value's bytes as a string (UTF-8), unescaped when it holds backslashes. */
export function labelValueString(bytes: Uint8Array, start: number, end: number, escaped: boolean): string {
  const raw = Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('utf8');
  return escaped ? unescapeLabelValue(raw) : raw;
}

/**
 * Where the last line `scanLine` read had its value (read lines) or ended its name (skipped lines):
 * what `ExpositionReader` remembers of a line, to read the same line of the next scrape faster.
 */
let lastLineMark = 0;

/** Reads one sample line [start, end) into the sink. Returns whether the line was a sample (read or skipped). */
function scanLine(bytes: Uint8Array, start: number, end: number, sink: SeriesSink): boolean {
  let pos = start;
  let c0 = bytes[pos] as number;
  if (!isMetricNameStart(c0)) return false;
  let hash = Math.imul(0x811c9dc5 ^ c0, 0x01000193);
  pos++;
  while (pos < end && isMetricNameChar((c0 = bytes[pos] as number))) {
    hash = Math.imul(hash ^ c0, 0x01000193);
    pos++;
  }
  const nameEnd = pos;
  const handle = sink.series(bytes, start, nameEnd, hash >>> 0);
  if (handle < 0) {
    lastLineMark = nameEnd;
    return true;
  }
  while (pos < end && isBlank(bytes[pos] as number)) pos++;
  if (pos < end && bytes[pos] === LBRACE) {
    pos++;
    for (;;) {
      while (pos < end && isBlank(bytes[pos] as number)) pos++;
      if (pos >= end) return false;
      if (bytes[pos] === RBRACE) {
        pos++;
        break;
      }
      const labelStart = pos;
      if (!isLabelNameStart(bytes[pos] as number)) return false;
      pos++;
      while (pos < end && isLabelNameChar(bytes[pos] as number)) pos++;
      const slot = sink.label(handle, bytes, labelStart, pos);
      while (pos < end && isBlank(bytes[pos] as number)) pos++;
      if (bytes[pos] !== EQUALS || pos >= end) return false;
      pos++;
      while (pos < end && isBlank(bytes[pos] as number)) pos++;
      if (bytes[pos] !== QUOTE || pos >= end) return false;
      pos++;
      const valueStart = pos;
      // The closing quote, found natively; only a value holding a backslash is walked byte by byte.
      let quote = indexOfByte(bytes, QUOTE, pos);
      if (quote < 0 || quote >= end) return false;
      let slash = pos;
      while (slash < quote && bytes[slash] !== BACKSLASH) slash++;
      const escaped = slash < quote;
      if (escaped) {
        pos = slash;
        for (;;) {
          if (pos >= end) return false;
          const c = bytes[pos] as number;
          if (c === QUOTE) break;
          pos += c === BACKSLASH ? 2 : 1;
        }
        quote = pos;
      }
      pos = quote;
      if (slot >= 0) sink.labelValue(slot, bytes, valueStart, pos, escaped);
      pos++; // closing quote
      while (pos < end && isBlank(bytes[pos] as number)) pos++;
      const c = bytes[pos];
      if (pos < end && c === COMMA) pos++;
      else if (pos >= end || c !== RBRACE) return false;
    }
    while (pos < end && isBlank(bytes[pos] as number)) pos++;
  } else if (pos === nameEnd) {
    return false; // e.g. `foo-bar 1`: the name must be followed by a blank or `{`
  }
  const valueStart = pos;
  lastLineMark = valueStart;
  while (pos < end && !isBlank(bytes[pos] as number)) pos++;
  const value = parseNumber(bytes, valueStart, pos);
  if (value === undefined) return false;
  while (pos < end && isBlank(bytes[pos] as number)) pos++;
  // Optional timestamp (integer in 0.0.4, may be fractional in OpenMetrics), then optionally an
  // OpenMetrics exemplar `# {...} v [ts]`, which is not used.
  if (pos < end && bytes[pos] !== HASH) {
    const tsStart = pos;
    while (pos < end && !isBlank(bytes[pos] as number)) pos++;
    if (parseNumber(bytes, tsStart, pos) === undefined) return false;
    while (pos < end && isBlank(bytes[pos] as number)) pos++;
  }
  if (pos < end && bytes[pos] !== HASH) return false;
  sink.sample(handle, value);
  return true;
}

const EOF_MARKER = [HASH, SPACE, 69, 79, 70]; // "# EOF"

function isEofMarker(bytes: Uint8Array, start: number, end: number): boolean {
  if (end - start < EOF_MARKER.length) return false;
  for (let i = 0; i < EOF_MARKER.length; i++) if (bytes[start + i] !== EOF_MARKER[i]) return false;
  for (let i = start + EOF_MARKER.length; i < end; i++) if (!isBlank(bytes[i] as number)) return false;
  return true;
}

/** Scans a `/metrics` body, line by line, into `sink`. */
export function scanExposition(bytes: Uint8Array, sink: SeriesSink): ScanCounts {
  let sampleLines = 0;
  let invalidLines = 0;
  const n = bytes.length;
  let lineStart = 0;
  while (lineStart < n) {
    let lineEnd = indexOfByte(bytes, LF, lineStart);
    if (lineEnd < 0) lineEnd = n;
    const next = lineEnd + 1;
    if (lineEnd > lineStart && bytes[lineEnd - 1] === CR) lineEnd--;
    let pos = lineStart;
    while (pos < lineEnd && isBlank(bytes[pos] as number)) pos++;
    if (pos < lineEnd) {
      if (bytes[pos] === HASH) {
        // HELP, TYPE, UNIT and free comments carry nothing used here; `# EOF` ends an OpenMetrics body.
        if (isEofMarker(bytes, pos, lineEnd)) break;
      } else if (scanLine(bytes, pos, lineEnd, sink)) sampleLines++;
      else invalidLines++;
    }
    lineStart = next;
  }
  return { sampleLines, invalidLines };
}

// Label objects inherit from an empty null-prototype object: nothing is inherited (a label called
// `__proto__` or `constructor` is plain data), and unlike `Object.create(null)` objects, which V8
// keeps as slow dictionaries, they stay fast to read for every consumer.
const LABELS_PROTOTYPE = Object.freeze(Object.create(null) as object);

function newLabels(): Record<string, string> {
  return Object.create(LABELS_PROTOTYPE) as Record<string, string>;
}

/**
 * Parses a `/metrics` body into series objects with every label. With `wanted`, only samples whose
 * series name is in the set are kept, and the rest of their line is never looked at.
 */
export function parsePrometheusText(body: string | Uint8Array, wanted?: ReadonlySet<string>): ParsedExposition {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const series = new Map<string, Series[]>();
  let name = '';
  let labels: Record<string, string> = newLabels();
  const labelNames: string[] = [];
  const sink: SeriesSink = {
    series: (b, start, end) => {
      name = latin1(b, start, end);
      if (wanted !== undefined && !wanted.has(name)) return -1;
      labels = newLabels();
      labelNames.length = 0;
      return 0;
    },
    label: (_handle, b, start, end) => labelNames.push(latin1(b, start, end)) - 1,
    labelValue: (slot, b, start, end, escaped) => {
      labels[labelNames[slot] as string] = labelValueString(b, start, end, escaped);
    },
    sample: (_handle, value) => {
      const list = series.get(name);
      if (list === undefined) series.set(name, [{ labels, value }]);
      else list.push({ labels, value });
    },
  };
  return { series, ...scanExposition(bytes, sink) };
}

/** FNV-1a over bytes [start, end): the hash of names and label values looked up while scanning. */
function fnv1a(bytes: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    h ^= bytes[i] as number;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function sameBytes(bytes: Uint8Array, start: number, end: number, other: Uint8Array): boolean {
  if (end - start !== other.length) return false;
  for (let i = 0; i < other.length; i++) if (bytes[start + i] !== other[i]) return false;
  return true;
}

interface Interned {
  readonly bytes: Uint8Array;
  readonly text: string;
}

/** Strings met before, by their bytes: a repeated name or label value costs a hash, not a new string. */
class InternTable {
  private readonly entries = new Map<number, Interned[]>();
  private size = 0;

  constructor(private readonly limit: number) {}

  private add(entry: Interned, hash: number): Interned {
    const list = this.entries.get(hash);
    if (list === undefined) this.entries.set(hash, [entry]);
    else list.push(entry);
    this.size++;
    return entry;
  }

  /** Adds a string known in advance (a wanted series name). */
  addText(text: string): void {
    const bytes = Buffer.from(text, 'utf8');
    this.add({ bytes, text }, fnv1a(bytes, 0, bytes.length));
  }

  find(bytes: Uint8Array, start: number, end: number, hash: number = fnv1a(bytes, start, end)): Interned | undefined {
    const list = this.entries.get(hash);
    if (list === undefined) return undefined;
    for (const entry of list) if (sameBytes(bytes, start, end, entry.bytes)) return entry;
    return undefined;
  }

  /** The interned string for these bytes, decoding (and remembering) it the first time. */
  intern(bytes: Uint8Array, start: number, end: number, decode: () => string): Interned {
    const hash = fnv1a(bytes, start, end);
    const found = this.find(bytes, start, end, hash);
    if (found !== undefined) return found;
    // Bounded: label values from workers are not trusted to repeat.
    if (this.size >= this.limit) {
      this.entries.clear();
      this.size = 0;
    }
    const copy = new Uint8Array(end - start);
    for (let i = start; i < end; i++) copy[i - start] = bytes[i] as number;
    return this.add({ bytes: copy, text: decode() }, hash);
  }
}

/** What a reader learnt about one line of a body: the bytes before its value, and what they mean. */
interface LineInfo {
  /**
   * `read`: a wanted series, prefix up to its value; `skipped`: an unwanted one, prefix one byte
   * past its name; `comment`: a HELP/TYPE/free comment, prefix the whole line with its end.
   */
  readonly kind: 'read' | 'skipped' | 'comment';
  readonly prefix: Uint8Array;
  /** The prefix as little-endian 32-bit words, compared four bytes at a time. */
  readonly words: Uint32Array;
  readonly name?: string;
  readonly labels?: Readonly<Record<string, string>>;
  /**
   * The number of the read that last met this line: equal lines share one info, so meeting it
   * twice in one read is a duplicate series, found without hashing or comparing any labels.
   */
  seenIn?: number;
}

/** Numbers each `read` (across readers: the infos are per reader, the count only has to differ). */
let readCount = 0;

/**
 * The lines of a worker's last body, by line number: a worker's next body has the same lines in
 * the same order, only the numbers change. Keep one per worker and pass it back to `read`.
 */
export interface BodyShape {
  readonly lines: readonly (LineInfo | undefined)[];
}

/**
 * The parser a source keeps for its pool: it knows which series names it wants and which labels
 * anything downstream reads (engine, model, `le`, matcher labels), and builds series holding only
 * those labels. What it returns is what `parsePrometheusText(body, wanted)` returns, restricted to
 * those labels.
 *
 * Every scrape of a worker repeats the lines of the one before with new numbers. Given the shape of
 * the previous body, a line whose bytes before the value are the same as last time is read by
 * comparing those bytes and parsing the number: the name, labels and their strings are the ones
 * met before (shared by every worker saying the same thing). Only a line that changed is scanned
 * in full. Names and label values are interned, so even those allocate almost no strings.
 */
export class ExpositionReader {
  private readonly names = new InternTable(Number.POSITIVE_INFINITY);
  private readonly labelNames: readonly { readonly name: string; readonly bytes: Uint8Array }[];
  private readonly values: InternTable;
  private lastName: Interned | undefined;
  /** Per label: the last value read, which the next line very often repeats (engine, model). */
  private readonly lastValues: (Interned | undefined)[];
  /** Line infos by the hash of their prefix: workers saying the same thing share them. */
  private readonly lineInfos = new Map<number, LineInfo[]>();
  private lineInfoCount = 0;
  private readonly infoLimit: number;

  constructor(wanted: ReadonlySet<string>, labels: ReadonlySet<string>, options: { internLimit?: number } = {}) {
    for (const name of wanted) this.names.addText(name);
    this.labelNames = [...labels].map((name) => ({ name, bytes: Buffer.from(name, 'latin1') }));
    this.values = new InternTable(options.internLimit ?? 4096);
    this.lastValues = this.labelNames.map(() => undefined);
    this.infoLimit = 16 * (options.internLimit ?? 4096);
  }

  read(bytes: Uint8Array, previous?: BodyShape): { parsed: ParsedExposition; shape: BodyShape } {
    const series = new Map<string, Series[]>();
    const known = previous?.lines;
    // The new shape is the previous one until a line differs: most scrapes allocate no shape at all.
    let lines: (LineInfo | undefined)[] | undefined = known === undefined ? [] : undefined;
    const note = (line: number, info: LineInfo | undefined) => {
      if (lines === undefined) {
        if (known?.[line] === info) return;
        lines = (known as readonly (LineInfo | undefined)[]).slice(0, line);
      }
      lines[line] = info;
    };
    let name = '';
    let labels: Record<string, string> = newLabels();
    let wanted = false;
    const thisRead = ++readCount;
    let duplicate: LineInfo | undefined;
    const meet = (info: LineInfo | undefined): void => {
      if (info === undefined || info.kind !== 'read') return;
      if (info.seenIn === thisRead) duplicate ??= info;
      else info.seenIn = thisRead;
    };
    const push = (seriesName: string, seriesLabels: Readonly<Record<string, string>>, value: number) => {
      const list = series.get(seriesName);
      if (list === undefined) series.set(seriesName, [{ labels: seriesLabels, value }]);
      else list.push({ labels: seriesLabels, value });
    };
    const sink = this.sink(
      (found) => {
        name = found;
        labels = newLabels();
        wanted = true;
      },
      () => labels,
      (value) => push(name, labels, value),
    );
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let sampleLines = 0;
    let invalidLines = 0;
    const n = bytes.length;
    let lineStart = 0;
    let line = 0;
    for (; lineStart < n; line++) {
      // A line known from the last scrape: compare what precedes its value, then read the value up
      // to the end of the line — no search for the line's end, no scan of its name or labels.
      const info = known?.[line];
      if (info !== undefined && startsWithAt(view, bytes, lineStart, info)) {
        if (info.kind === 'comment') {
          note(line, info);
          lineStart += info.prefix.length;
          continue;
        }
        if (info.kind === 'skipped') {
          const end = indexOfByte(bytes, LF, lineStart + info.prefix.length);
          note(line, info);
          sampleLines++;
          lineStart = end < 0 ? n : end + 1;
          continue;
        }
        const read = valueToLineEnd(bytes, lineStart + info.prefix.length);
        if (read >= 0) {
          note(line, info);
          meet(info);
          push(info.name as string, info.labels as Readonly<Record<string, string>>, lastValue);
          sampleLines++;
          lineStart = read;
          continue;
        }
      }
      let lineEnd = indexOfByte(bytes, LF, lineStart);
      if (lineEnd < 0) lineEnd = n;
      const next = lineEnd + 1;
      if (lineEnd > lineStart && bytes[lineEnd - 1] === CR) lineEnd--;
      let pos = lineStart;
      while (pos < lineEnd && isBlank(bytes[pos] as number)) pos++;
      const start = lineStart;
      lineStart = next;
      if (pos >= lineEnd) {
        note(line, undefined);
        continue;
      }
      if (bytes[pos] === HASH) {
        if (isEofMarker(bytes, pos, lineEnd)) break;
        // HELP and TYPE lines repeat byte for byte: the whole line, with its end, is the prefix.
        note(line, next <= n ? this.lineInfo(bytes, start, next, 'comment') : undefined);
        continue;
      }
      wanted = false;
      if (pos === start && scanLine(bytes, pos, lineEnd, sink)) {
        sampleLines++;
        const info = wanted
          ? this.lineInfo(bytes, pos, lastLineMark, 'read', name, Object.freeze(labels))
          : this.lineInfo(bytes, pos, lastLineMark + 1, 'skipped');
        meet(info);
        note(line, info);
      } else if (pos !== start && scanLine(bytes, pos, lineEnd, sink)) {
        // A line indented with blanks is read, but not remembered: its prefix would not start at the line start.
        sampleLines++;
        note(line, undefined);
      } else {
        invalidLines++;
        note(line, undefined);
      }
    }
    // A body with fewer lines than the previous one has another shape too.
    if (lines === undefined && known !== undefined && known.length > line) lines = known.slice(0, line);
    const shape = lines === undefined ? (previous as BodyShape) : { lines };
    const parsed: ParsedExposition =
      duplicate === undefined ? { series, sampleLines, invalidLines } : { series, sampleLines, invalidLines, duplicate: duplicateText(duplicate) };
    return { parsed, shape };
  }

  /** The shared info of a line with these prefix bytes, kind, name and labels. */
  private lineInfo(
    bytes: Uint8Array,
    start: number,
    end: number,
    kind: LineInfo['kind'],
    name?: string,
    labels?: Readonly<Record<string, string>>,
  ): LineInfo | undefined {
    if (end > bytes.length) return undefined;
    const hash = fnv1a(bytes, start, end);
    const list = this.lineInfos.get(hash);
    if (list !== undefined) for (const info of list) if (info.kind === kind && sameBytes(bytes, start, end, info.prefix)) return info;
    if (this.lineInfoCount >= this.infoLimit) {
      this.lineInfos.clear();
      this.lineInfoCount = 0;
    }
    const prefix = new Uint8Array(end - start);
    for (let i = start; i < end; i++) prefix[i - start] = bytes[i] as number;
    const words = new Uint32Array(prefix.length >>> 2);
    const view = new DataView(prefix.buffer);
    for (let i = 0; i < words.length; i++) words[i] = view.getUint32(i * 4, true);
    const info: LineInfo = kind === 'read' ? { kind, prefix, words, name, labels } : { kind, prefix, words };
    if (list === undefined) this.lineInfos.set(hash, [info]);
    else list.push(info);
    this.lineInfoCount++;
    return info;
  }

  private sink(onSeries: (name: string) => void, labelsNow: () => Record<string, string>, onSample: (value: number) => void): SeriesSink {
    const labelNames = this.labelNames;
    return {
      series: (b, start, end, hash) => {
        let found = this.lastName;
        if (found === undefined || !sameBytes(b, start, end, found.bytes)) {
          found = this.names.find(b, start, end, hash);
          if (found === undefined) return -1;
          this.lastName = found;
        }
        onSeries(found.text);
        return 0;
      },
      label: (_handle, b, start, end) => {
        for (let i = 0; i < labelNames.length; i++) if (sameBytes(b, start, end, (labelNames[i] as { bytes: Uint8Array }).bytes)) return i;
        return -1;
      },
      labelValue: (slot, b, start, end, escaped) => {
        const labels = labelsNow();
        const label = (labelNames[slot] as { name: string }).name;
        if (escaped) {
          labels[label] = labelValueString(b, start, end, true);
          return;
        }
        const last = this.lastValues[slot];
        if (last !== undefined && sameBytes(b, start, end, last.bytes)) {
          labels[label] = last.text;
          return;
        }
        const interned = this.values.intern(b, start, end, () => labelValueString(b, start, end, false));
        this.lastValues[slot] = interned;
        labels[label] = interned.text;
      },
      sample: (_handle, value) => onSample(value),
    };
  }
}

/** A duplicated line as messages quote it: its bytes before the value, cut to a readable length. */
function duplicateText(info: LineInfo): string {
  const text = Buffer.from(info.prefix).toString('utf8').trim();
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/** Whether the body has the line's prefix at `start`, compared a 32-bit word at a time (unaligned reads through a DataView). */
function startsWithAt(view: DataView, bytes: Uint8Array, start: number, info: LineInfo): boolean {
  const { prefix, words } = info;
  const n = prefix.length;
  if (start + n > bytes.length) return false;
  const w = words.length;
  for (let i = 0; i < w; i++) if (view.getUint32(start + i * 4, true) !== words[i]) return false;
  for (let i = w * 4; i < n; i++) if (bytes[start + i] !== prefix[i]) return false;
  return true;
}

/** The value read by `valueToLineEnd`. */
let lastValue = 0;

/**
 * Reads a value that runs from `start` to the end of the line (trailing blanks and a CR allowed)
 * into `lastValue`, and returns where the next line starts; -1 when the rest of the line is not
 * just a number (a timestamp, an exemplar, garbage, an empty value).
 */
function valueToLineEnd(bytes: Uint8Array, start: number): number {
  const n = bytes.length;
  let pos = start;
  while (pos < n) {
    const c = bytes[pos] as number;
    if (c === LF || c === CR || isBlank(c)) break;
    pos++;
  }
  const value = parseNumber(bytes, start, pos);
  if (value === undefined) return -1;
  while (pos < n && isBlank(bytes[pos] as number)) pos++;
  if (pos < n && bytes[pos] === CR) pos++;
  if (pos < n && bytes[pos] !== LF) return -1;
  lastValue = value;
  return pos + 1;
}
