import { Registry } from 'prom-client';
import type { MetricObjectWithValues } from '../metrics/base.js';
import { Pacer } from '../flush/batch.js';

/**
 * The exposition text of `registry.metrics()`, byte for byte (test/unit/render.test.ts compares the
 * two), written without prom-client's per-sample temporary arrays and objects. prom-client's own
 * formatting of 150,000 samples allocates a few million short-lived objects in one synchronous pass;
 * the garbage collector's pauses then stall the event loop. Here each sample is one string, and the
 * work yields to the event loop between slices.
 */
export async function render(families: readonly MetricObjectWithValues[], contentType: string, pacer = new Pacer()): Promise<string> {
  const isOpenMetrics = contentType === Registry.OPENMETRICS_CONTENT_TYPE;
  const blocks: string[] = [];
  for (const family of families) {
    const isCounter = isOpenMetrics && family.type === 'counter';
    // As registry.metrics(): OpenMetrics counters are named without `_total`, their samples with it.
    const name = escapeString(isCounter ? family.name.replace(/_total$/, '') : family.name);
    const parts: string[] = [];
    let lines: string[] = [`# HELP ${name} ${escapeString(family.help)}`, `# TYPE ${name} ${family.type}`];
    for (const sample of family.values) {
      let line = sample.metricName ?? name;
      if (isCounter) line += '_total';
      let labels = '';
      const given = sample.labels as Record<string, string | number | undefined>;
      for (const label in given) labels += `${labels === '' ? '' : ','}${label}="${escapeLabelValue(given[label])}"`;
      lines.push(`${line}${labels === '' ? '' : `{${labels}}`} ${valueString(sample.value)}`);
      // One string per slice: the short line strings die young instead of surviving (and being
      // copied by) every scavenge until the end.
      if (lines.length === 1000) {
        parts.push(lines.join('\n'));
        lines = [];
      }
      const pause = pacer.step();
      if (pause) await pause;
    }
    if (lines.length > 0) parts.push(lines.join('\n'));
    blocks.push(parts.join('\n'));
  }
  return isOpenMetrics ? `${blocks.join('\n')}\n# EOF\n` : `${blocks.join('\n\n')}\n`;
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
