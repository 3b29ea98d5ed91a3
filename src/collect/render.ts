import { Registry } from 'prom-client';
import type { MetricType } from '../store/family.js';
import type { Exemplar } from '../store/values.js';
import { Pacer } from '../pacer.js';
import type { HistogramExtras, Labels, SeriesSink } from './sink.js';
import type { MetricObjectWithValues } from './shape.js';

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
  readonly #blocks: string[] = [];
  #parts: string[] = [];
  #lines: string[] = [];
  #name = '';
  #isCounter = false;

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

  /** The whole text. */
  finish(): string {
    this.#endFamily();
    return this.#isOpenMetrics ? `${this.#blocks.join('\n')}\n# EOF\n` : `${this.#blocks.join('\n\n')}\n`;
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
    if (this.#parts.length > 0) this.#blocks.push(this.#parts.join('\n'));
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

function labelText(labels: Readonly<Record<string, string | number>>): string {
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
