import type { Histogram as HdrHistogram } from 'hdr-histogram-js';
import { leLabel } from '../store/family.js';
import type { SeriesStore } from '../store/series.js';
import { CounterValue, GaugeValue, HistogramValue, NativeHistogramValue, flushedAt, SummaryValue, summarySlot, type Exemplar, type StoredExemplar } from '../store/values.js';
import { addSlotTo, fromBlob, newHdr, readSlot, slotTotal, type SlotCounts } from '../store/hdr-slot.js';
import { nativeStateOf } from '../native/series.js';
import { Pacer } from '../pacer.js';
import type { Labels, SeriesSink } from './sink.js';
import { quantilesOf } from './quantile.js';

/**
 * Hands a metric object's own series to a sink, in the order they were made: what prom-client
 * would show for the object alone (Redis disabled, or an object another one of the same name
 * replaced). Counters and histograms show everything the object counted, flushed or not. No
 * `_created`: with Redis off the text is prom-client's, and its registry writes none.
 */
export async function emitOwnSeries(series: SeriesStore, sink: SeriesSink, nowMs: number, pacer = new Pacer()): Promise<void> {
  const def = series.def;
  sink.family(def.name, def.help, def.type);
  const names = def.labelNames;
  const les = def.type === 'histogram' ? [...(def.buckets ?? []), Infinity].map(leLabel) : [];
  const newest = summarySlot(def.maxAgeSeconds, def.ageBuckets, nowMs);
  const oldest = def.maxAgeSeconds ? newest - (def.ageBuckets ?? 5) + 1 : newest;
  for (const v of series.values.values()) {
    const labels = labelsOf(v.field, names);
    if (v instanceof CounterValue) sink.value(v.field, labels, v.flushed + v.delta, exemplarOf(series.exemplars.get(v)));
    else if (v instanceof GaugeValue) sink.value(v.field, labels, v.value);
    else if (v instanceof HistogramValue) {
      const cumulative = new Array<number>(les.length);
      let acc = 0;
      const f = flushedAt(v);
      for (let i = 0; i < les.length; i++) cumulative[i] = acc += v.buckets[f + i]! + v.buckets[i]!;
      const stored = series.exemplars.get(v);
      const exemplars = Array.isArray(stored) ? stored.map((e) => exemplarOf(e ?? undefined)) : undefined;
      const native = v instanceof NativeHistogramValue ? nativeStateOf(v) : undefined;
      sink.histogram(v.field, labels, les, cumulative, v.sumFlushed + v.sumDelta, v.countFlushed + v.countDelta, exemplars, { native });
    } else if (v instanceof SummaryValue) {
      // A kept blob is inflated once here, not once for the total and again for the quantiles.
      const slots = windowOf(v, oldest, newest);
      const window = typeof slots === 'string' ? fromBlob(slots) : slots;
      const observed = window !== undefined && slotTotal(window) > 0;
      if (def.pruneAgedBuckets && def.maxAgeSeconds && !observed) continue;
      const percentiles = def.percentiles ?? [];
      const values = observed ? readSlot(window, (h) => {
        const out = new Array<number>(percentiles.length);
        quantilesOf(h, percentiles, out);
        return out;
      }) : percentiles.map(() => 0);
      sink.summary(v.field, labels, percentiles, values, v.sumFlushed + v.sumDelta, v.countFlushed + v.countDelta);
    }
    const pause = pacer.step();
    if (pause) await pause;
  }
}

/** The observations of a summary series within its window, merged from its age slots. */
function windowOf(v: SummaryValue, oldest: number, newest: number): SlotCounts | undefined {
  let merged: HdrHistogram | undefined;
  let only: SlotCounts | undefined;
  for (const [slot, h] of v.slots) {
    if (slot < oldest || slot > newest) continue;
    if (only === undefined) {
      only = h;
      continue;
    }
    if (merged === undefined) {
      merged = newHdr();
      addSlotTo(merged, only);
    }
    addSlotTo(merged, h);
  }
  return merged ?? only;
}

/** Labels of a field (the JSON array of label values), empty values left out. */
export function labelsOf(field: string, names: readonly string[]): Labels {
  const values = JSON.parse(field) as string[];
  const labels: Record<string, string> = {};
  for (let i = 0; i < names.length; i++) if (values[i] !== '') labels[names[i]!] = values[i]!;
  return labels;
}

function exemplarOf(stored: StoredExemplar | Array<StoredExemplar | null> | undefined): Exemplar | undefined {
  if (stored === undefined || Array.isArray(stored)) return undefined;
  return stored;
}
