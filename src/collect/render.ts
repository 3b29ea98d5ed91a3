import { Registry } from 'prom-client';
import type { MetricObjectWithValues } from '../metrics/base.js';
import type { MetricType } from '../store/family.js';
import { Pacer } from '../flush/batch.js';

/**
 * Writes the exposition text of `registry.metrics()`, byte for byte (test/unit/render.test.ts
 * compares the two), one sample at a time. prom-client's own formatting builds several temporary
 * arrays and objects per sample, and the collector would first build a sample object for each of
 * 150,000 series; the garbage collector's pauses over so many live objects then stall the event
 * loop. Here the merge hands each sample over as it is made and it becomes text at once, kept as one
 * string per 1,000 lines.
 */
export class ExpositionWriter {
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

  /** One sample of the current family (an arrow function: it is handed around as a sink). */
  readonly sample = (labels: Readonly<Record<string, string | number | undefined>>, value: number, metricName?: string): void => {
    let text = '';
    for (const label in labels) text += `${text === '' ? '' : ','}${label}="${escapeLabelValue(labels[label])}"`;
    const name = this.#isCounter ? `${metricName ?? this.#name}_total` : (metricName ?? this.#name);
    this.#lines.push(`${name}${text === '' ? '' : `{${text}}`} ${valueString(value)}`);
    if (this.#lines.length === 1000) {
      this.#parts.push(this.#lines.join('\n'));
      this.#lines = [];
    }
  };

  /** The whole text. */
  finish(): string {
    this.#endFamily();
    return this.#isOpenMetrics ? `${this.#blocks.join('\n')}\n# EOF\n` : `${this.#blocks.join('\n\n')}\n`;
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
      writer.sample(v.labels, v.value, v.metricName);
      const pause = pacer.step();
      if (pause) await pause;
    }
  }
  return writer.finish();
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
function valueString(x: number): string {
  if (Number.isNaN(x)) return 'Nan';
  if (!Number.isFinite(x)) return x < 0 ? '-Inf' : '+Inf';
  return `${x}`;
}
