import { SummaryValue, dropSlot, summarySlot, withSlot } from '../store/values.js';
import { HDR_SCALE, fromBlob, recordHdr, recordSparse, sparseSlotFor } from '../store/hdr-slot.js';
import type { LabelValues } from '../store/family.js';
import type { SeriesStore } from '../store/series.js';
import { ValidationError, describe } from '../errors.js';
import { invalidValue, notANumber, validatePercentiles } from '../validation.js';
import { Metric, splitArgs, startClock, timerLabels, type MetricConfiguration } from './base.js';
import { SeriesChild } from './child.js';

export interface SummaryConfiguration<T extends string> extends MetricConfiguration<T> {
  /** @default [0.01, 0.05, 0.5, 0.9, 0.95, 0.99, 0.999] */
  percentiles?: readonly number[];
  /** Quantiles over a sliding window of this many seconds (at least 1). @default none: over all observations */
  maxAgeSeconds?: number;
  /** Slots of the sliding window (1 to 60). @default 5 */
  ageBuckets?: number;
  /** Accepted for prom-client compatibility; HDR histograms need no compression. */
  compressCount?: number;
  /** With `maxAgeSeconds`: a series with no observation in its window is left out, as in prom-client. @default false */
  pruneAgedBuckets?: boolean;
}

export const DEFAULT_PERCENTILES: readonly number[] = [0.01, 0.05, 0.5, 0.9, 0.95, 0.99, 0.999];
const MAX_OBSERVATION = Number.MAX_SAFE_INTEGER / HDR_SCALE;
/** Bounds of the ageing window: each age slot holds one set of HDR counts per series. */
const MIN_MAX_AGE_SECONDS = 1;
const MAX_AGE_BUCKETS = 60;

/**
 * Records one observation into the value's HDR histogram of the current age slot. Quantiles are
 * merged across processes from these histograms, so they are true quantiles of all the data.
 */
function record(series: SeriesStore<SummaryValue>, v: SummaryValue, x: number): void {
  if (typeof x !== 'number' || !Number.isFinite(x)) throw notANumber('Value', x);
  if (!(x >= 0 && x <= MAX_OBSERVATION)) {
    throw invalidValue(series.def.name, `Summary observations must be from 0 to ${MAX_OBSERVATION} (quantiles come from HDR histograms of value × ${HDR_SCALE})`, x);
  }
  const def = series.def;
  const slot = def.maxAgeSeconds ? summarySlot(def.maxAgeSeconds, def.ageBuckets, Date.now()) : 0;
  const scaled = Math.round(x * HDR_SCALE);
  if (slot !== v.currentSlot) {
    let h = v.slots.get(slot);
    if (!h) {
      // A new slot starts sparse: most series see few distinct values in a slot (hdr-slot.ts). It
      // is made at its exact size, holding this value at count 0 (the record below counts it): an
      // empty array's first push reserves 17 elements (~120 bytes more a series).
      v.slots.set(slot, (h = sparseSlotFor(scaled)));
      // Slots that left the window are dropped here too, not only at a flush: with Redis down (or
      // no Redis) a series holds at most ageBuckets histograms.
      if (def.maxAgeSeconds) pruneSlots(series, v, slot - (def.ageBuckets ?? 5) + 1);
    } else if (typeof h === 'string') {
      // A slot a flush kept as its blob, the clock back in it (a clock set back): dense again.
      v.slots.set(slot, (h = fromBlob(h)));
    }
    v.current = h;
    v.currentSlot = slot;
  }
  const c = v.current!;
  if (!Array.isArray(c)) recordHdr(c, scaled);
  else {
    const dense = recordSparse(c, scaled);
    if (dense) {
      v.slots.set(slot, dense);
      v.current = dense;
    }
  }
  if (v.lastDirtySlot !== slot) {
    v.dirtySlots = withSlot(v.dirtySlots, slot);
    v.lastDirtySlot = slot;
  }
  v.sumDelta += x;
  v.countDelta++;
  if (!v.dirty) series.markDirty(v);
}

/**
 * Drops the age slots older than `oldest`. Their observations are already in `sumDelta` and
 * `countDelta` (the sum and count are not windowed), so nothing that must reach Redis is lost; a
 * slot a flush has sent has its per-process field deleted at the next flush.
 */
function pruneSlots(series: SeriesStore<SummaryValue>, v: SummaryValue, oldest: number): void {
  for (const slot of v.slots.keys()) {
    if (slot >= oldest) continue;
    v.slots.delete(slot);
    dropSlot(v.dirtySlots, slot);
    if (dropSlot(v.sentSlots, slot) && series.isFlushed) (v.prunedSlots ??= []).push(slot);
  }
}

export class SummaryChild extends SeriesChild<SummaryValue> {
  observe(x: number): void {
    record(this.series, this.value(), x);
  }

  startTimer(): (endLabels?: LabelValues) => number {
    return startClock((seconds) => this.observe(seconds));
  }
}

/** prom-client's Summary with quantiles that are right across processes. */
export class Summary<T extends string = string> extends Metric<T, SummaryValue> {
  readonly type = 'summary' as const;
  readonly percentiles: readonly number[];

  constructor(config: SummaryConfiguration<T>) {
    const percentiles = validatePercentiles(config?.name, config?.percentiles ?? DEFAULT_PERCENTILES);
    const maxAgeSeconds = config?.maxAgeSeconds;
    if (maxAgeSeconds !== undefined && !(typeof maxAgeSeconds === 'number' && Number.isFinite(maxAgeSeconds) && maxAgeSeconds >= MIN_MAX_AGE_SECONDS)) {
      throw new ValidationError('ERR_PCR_INVALID_METRIC', `Invalid maxAgeSeconds ${describe(maxAgeSeconds)} for summary \`${config.name}\`: expected a number >= ${MIN_MAX_AGE_SECONDS}`);
    }
    const ageBuckets = config?.ageBuckets ?? (maxAgeSeconds ? 5 : undefined);
    if (ageBuckets !== undefined && !(Number.isInteger(ageBuckets) && ageBuckets >= 1 && ageBuckets <= MAX_AGE_BUCKETS)) {
      throw new ValidationError('ERR_PCR_INVALID_METRIC', `Invalid ageBuckets ${describe(ageBuckets)} for summary \`${config.name}\`: expected an integer from 1 to ${MAX_AGE_BUCKETS}`);
    }
    const pruneAgedBuckets = config?.pruneAgedBuckets === true;
    super(config, 'summary', ['quantile'], { mode: undefined, buckets: undefined, percentiles, maxAgeSeconds, ageBuckets, pruneAgedBuckets }, () => (labels, dropped) => new SummaryValue(labels, dropped));
    this.percentiles = percentiles;
    this.initialize();
  }

  observe(value: number): void;
  observe(labels: LabelValues<T>, value: number): void;
  observe(a: LabelValues<T> | number, b?: number): void {
    const [labels, x] = splitArgs(a, b);
    if (typeof x !== 'number') throw notANumber('Value', x);
    record(this.series, this.series.valueFor(labels), x);
  }

  startTimer(labels?: LabelValues<T>): (endLabels?: LabelValues<T>) => number {
    return startClock((seconds, endLabels: LabelValues<T> | undefined) => this.observe(timerLabels(labels, endLabels), seconds));
  }

  labels(...values: Array<string | number>): SummaryChild;
  labels(labels: LabelValues<T>): SummaryChild;
  labels(...args: unknown[]): SummaryChild {
    return new SummaryChild(this.series, this.labelsOf(args));
  }

  /** prom-client's Summary.reset() keeps every series, at zero. */
  override reset(): void {
    for (const value of this.series.values.values()) {
      this.series.zeroValue(value);
      this.touch(value);
    }
  }
}
