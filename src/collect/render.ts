import { Registry } from 'prom-client';
import type { MetricType } from '../store/family.js';
import type { Exemplar } from '../store/values.js';
import { Pacer } from '../pacer.js';
import type { HistogramExtras, Labels, SeriesSink } from './sink.js';
import type { MetricObjectWithValues } from './shape.js';
import { copyBytes, type CounterValues } from './counter-table.js';

/** Bytes of one chunk of a table-written family: past 128 KB a string goes straight to V8's large-object space, where no scavenge copies it. */
const CHUNK_BYTES = 256 * 1024;

/**
 * Writes the exposition text of prom-client's `registry.metrics()`, byte for byte (see
 * test/unit/render.test.ts), one series at a time. prom-client's own formatting builds several
 * temporary arrays and objects per sample, and the collector would first build a sample object for
 * each of 150,000 series; the garbage collector's pauses over so many live objects then stall the
 * event loop. Here the merge hands each series over as it is made and it becomes text at once (its
 * labels formatted once for all its buckets), kept as one string per 1,000 lines.
 */
export class ExpositionWriter implements SeriesSink {
  readonly #isOpenMetrics: boolean;
  /** Each family's parts (joined with newlines: its text). */
  readonly #families: string[][] = [];
  #parts: string[] = [];
  #lines: string[] = [];
  #name = '';
  #isCounter = false;
  /** Whether a family was written from a CounterTable: the text is then joined as a rope (see finish()). */
  #isChunked = false;

  constructor(contentType: string) {
    this.#isOpenMetrics = contentType === Registry.OPENMETRICS_CONTENT_TYPE;
  }

  /** Starts a family: its HELP and TYPE lines. */
  family(name: string, help: string, type: MetricType): void {
    this.#endFamily();
    this.#isCounter = this.#isOpenMetrics && type === 'counter';
    // As registry.metrics(): OpenMetrics counters are named without `_total`, their samples with it.
    this.#name = escapeString(this.#isCounter ? name.replace(/_total$/, '') : name);
    this.#lines.push(`# HELP ${this.#name} ${escapeString(help)}`, `# TYPE ${this.#name} ${type}`);
  }

  value(_field: string, labels: Labels, value: number, exemplar?: Exemplar, created?: number): void {
    const text = labelText(labels);
    const braces = text === '' ? '' : `{${text}}`;
    this.#push(`${this.#isCounter ? `${this.#name}_total` : this.#name}${braces} ${valueString(value)}${this.#exemplar(exemplar)}`);
    if (this.#isCounter) this.#created(braces, created);
  }

  histogram(_field: string, labels: Labels, les: readonly string[], cumulative: ArrayLike<number>, sum: number, count: number, exemplars?: ReadonlyArray<Exemplar | undefined>, extras?: HistogramExtras): void {
    const text = labelText(labels);
    const rest = text === '' ? '}' : `,${text}}`;
    const bucket = `${this.#name}_bucket{le="`;
    for (let i = 0; i < les.length; i++) this.#push(`${bucket}${les[i]}"${rest} ${valueString(cumulative[i]!)}${this.#exemplar(exemplars?.[i])}`);
    const braces = text === '' ? '' : `{${text}}`;
    this.#push(`${this.#name}_sum${braces} ${valueString(sum)}`);
    this.#push(`${this.#name}_count${braces} ${valueString(count)}`);
    this.#created(braces, extras?.created);
  }

  summary(_field: string, labels: Labels, quantiles: readonly number[], values: ArrayLike<number>, sum: number, count: number, created?: number): void {
    const text = labelText(labels);
    const rest = text === '' ? '}' : `,${text}}`;
    for (let i = 0; i < quantiles.length; i++) this.#push(`${this.#name}{quantile="${quantiles[i]}"${rest} ${valueString(values[i]!)}`);
    const braces = text === '' ? '' : `{${text}}`;
    this.#push(`${this.#name}_sum${braces} ${valueString(sum)}`);
    this.#push(`${this.#name}_count${braces} ${valueString(count)}`);
    this.#created(braces, created);
  }

  /** OpenMetrics `_created`: the series' creation time in seconds (prom-client's text has none). */
  #created(braces: string, created: number | undefined): void {
    if (created !== undefined && this.#isOpenMetrics) this.#push(`${this.#name}_created${braces} ${valueString(created)}`);
  }

  /** One sample as prom-client's `get()` gives it (for families that are not ours). */
  sample(labels: Readonly<Record<string, string | number | undefined>>, value: number, metricName?: string, exemplar?: Exemplar | null): void {
    let text = '';
    for (const label in labels) text += `${text === '' ? '' : ','}${label}="${escapeLabelValue(labels[label])}"`;
    const name = this.#isCounter ? `${metricName ?? this.#name}_total` : (metricName ?? this.#name);
    this.#push(`${name}${text === '' ? '' : `{${text}}`} ${valueString(value)}${this.#exemplar(exemplar ?? undefined)}`);
  }

  /**
   * A counter family's series from its CounterTable (counter-table.ts): the same lines value() would
   * write, made from the table's bytes into 256 KB chunks, each read back as one string. A series
   * whose field is not a label set of ours calls `bad` (as the merge counts it) and is left out.
   */
  async counters(c: CounterValues, bad: () => void, pacer: Pacer): Promise<void> {
    if (this.#lines.length > 0) this.#parts.push(this.#lines.join('\n'));
    this.#lines = [];
    this.#isChunked = true;
    const { table, values, created, exemplars } = c;
    const name = Buffer.from(this.#isCounter ? `${this.#name}_total` : this.#name);
    const createdName = Buffer.from(`${this.#name}_created`);
    const withCreated = this.#isCounter && created !== undefined;
    const asciiNames = name.length === (this.#isCounter ? this.#name.length + 6 : this.#name.length) && createdName.length === this.#name.length + 8;
    let chunk = Buffer.allocUnsafe(CHUNK_BYTES);
    let at = 0;
    let isAscii = table.isAscii && asciiNames;
    const flush = () => {
      // Without the last newline: the parts are joined with one.
      if (at > 0) this.#parts.push(chunk.toString(isAscii ? 'latin1' : 'utf8', 0, at - 1));
      at = 0;
      isAscii = table.isAscii && asciiNames;
    };
    for (let i = 0; i < table.size; i++) {
      const pause = pacer.step();
      if (pause) await pause;
      if (!table.isValid(i)) {
        bad();
        continue;
      }
      const textBytes = table.textLength(i);
      const e = exemplars.size > 0 ? exemplars.get(i) : undefined;
      const exemplar = e === undefined ? '' : this.#exemplar(e);
      const need = 2 * (createdName.length + textBytes + 40) + name.length + 3 * exemplar.length;
      if (at + need > chunk.length) {
        flush();
        if (need > chunk.length) chunk = Buffer.allocUnsafe(need);
      }
      const labelsAt = at + name.length;
      at += copyBytes(name, 0, name.length, chunk, at);
      if (textBytes > 0) {
        chunk[at++] = 0x7b;
        at += table.copyText(i, chunk, at);
        chunk[at++] = 0x7d;
      }
      const labelsEnd = at;
      chunk[at++] = 0x20;
      at = writeValue(chunk, at, values[i]!);
      if (exemplar !== '') {
        const wrote = chunk.write(exemplar, at);
        if (wrote !== exemplar.length) isAscii = false;
        at += wrote;
      }
      chunk[at++] = 0x0a;
      const ms = withCreated ? created[i]! : NaN;
      if (!Number.isNaN(ms)) {
        at += copyBytes(createdName, 0, createdName.length, chunk, at);
        at += copyBytes(chunk, labelsAt, labelsEnd, chunk, at);
        chunk[at++] = 0x20;
        at = writeValue(chunk, at, ms / 1000);
        chunk[at++] = 0x0a;
      }
    }
    flush();
  }

  /** The whole text. */
  finish(): string {
    this.#endFamily();
    // A family written in chunks may be a million lines: the parts and blocks are then joined as a
    // rope (a + b is one small node), not copied into one flat string of tens of MB in one tick; who
    // reads the text as a whole flattens it then.
    // So is a text of many 1,000-line blocks written line by line (450,000 lines of 50,000 summary
    // series took ~60 ms to join).
    const isLarge = this.#isChunked || this.#families.reduce((n, parts) => n + parts.length, 0) > ROPE_BLOCKS;
    const blocks = this.#families.map((parts) => (isLarge ? rope(parts, '\n') : parts.join('\n')));
    const sep = this.#isOpenMetrics ? '\n' : '\n\n';
    const text = isLarge ? rope(blocks, sep) : blocks.join(sep);
    return this.#isOpenMetrics ? `${text}\n# EOF\n` : `${text}\n`;
  }

  /**
   * The whole text in parts (each family's 1,000-line blocks and 256 KB chunks, separators
   * included) whose concatenation is finish(): what an HTTP response writes one at a time, so that
   * no string of the whole text is ever made.
   */
  finishParts(): string[] {
    this.#endFamily();
    const sep = this.#isOpenMetrics ? '\n' : '\n\n';
    const out: string[] = [];
    this.#families.forEach((parts, f) => parts.forEach((part, i) => out.push(i > 0 ? `\n${part}` : f > 0 ? `${sep}${part}` : part)));
    out.push(this.#isOpenMetrics ? '\n# EOF\n' : '\n');
    return out;
  }

  #push(line: string): void {
    this.#lines.push(line);
    if (this.#lines.length === 1000) {
      this.#parts.push(this.#lines.join('\n'));
      this.#lines = [];
    }
  }

  /** ` # {labels} value timestamp`, OpenMetrics only, as prom-client writes it. */
  #exemplar(exemplar: Exemplar | undefined): string {
    if (exemplar === undefined || !this.#isOpenMetrics) return '';
    return ` # {${labelText(exemplar.labelSet)}} ${valueString(exemplar.value)} ${exemplar.timestamp}`;
  }

  #endFamily(): void {
    if (this.#lines.length > 0) this.#parts.push(this.#lines.join('\n'));
    if (this.#parts.length > 0) this.#families.push(this.#parts);
    this.#parts = [];
    this.#lines = [];
  }
}

/** Renders families already collected (what `registry.metrics()` would print for them). */
export async function render(families: readonly MetricObjectWithValues[], contentType: string, pacer = new Pacer()): Promise<string> {
  const writer = new ExpositionWriter(contentType);
  for (const family of families) {
    writer.family(family.name, family.help, family.type);
    for (const v of family.values) {
      writer.sample(v.labels, v.value, v.metricName, v.exemplar);
      const pause = pacer.step();
      if (pause) await pause;
    }
  }
  return writer.finish();
}

/** Blocks of 1,000 lines past which finish() joins them as a rope (a few ms of copying a flat string). */
const ROPE_BLOCKS = 16;

/** pieces.join(sep) as a balanced rope of V8 cons strings: no copy of the pieces. */
export function rope(pieces: readonly string[], sep: string, from = 0, to = pieces.length): string {
  if (to - from <= 1) return to > from ? pieces[from]! : '';
  const mid = (from + to) >>> 1;
  return rope(pieces, sep, from, mid) + sep + rope(pieces, sep, mid, to);
}

/** Writes valueString(x) at `at`; returns the end. Integers digit by digit, with no string. */
function writeValue(out: Buffer, at: number, x: number): number {
  if (!Number.isSafeInteger(x)) return at + out.write(valueString(x), at, 'latin1');
  if (x < 0) {
    out[at++] = 0x2d;
    x = -x;
  }
  let digits = 1;
  for (let t = x; t >= 10; t = Math.floor(t / 10)) digits++;
  for (let k = at + digits - 1; k >= at; k--) {
    out[k] = 48 + (x % 10);
    x = Math.floor(x / 10);
  }
  return at + digits;
}

/** Label text as printed between braces (`a="1",b="2"`), '' for none. */
export function labelText(labels: Readonly<Record<string, string | number>>): string {
  let text = '';
  for (const label in labels) text += `${text === '' ? '' : ','}${label}="${escapeLabelValue(labels[label])}"`;
  return text;
}

const NEEDS_ESCAPE = /[\\\n"]/;

function escapeString(s: string): string {
  return NEEDS_ESCAPE.test(s) ? s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n') : s;
}

function escapeLabelValue(v: string | number | undefined): string {
  if (typeof v !== 'string') return String(v);
  return NEEDS_ESCAPE.test(v) ? v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"') : v;
}

/** prom-client's getValueAsString. */
export function valueString(x: number): string {
  if (Number.isNaN(x)) return 'Nan';
  if (!Number.isFinite(x)) return x < 0 ? '-Inf' : '+Inf';
  return `${x}`;
}
