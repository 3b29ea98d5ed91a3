import { HistogramValue, type StoredExemplar } from '../store/values.js';
import type { LabelValues } from '../store/family.js';
import type { SeriesStore } from '../store/series.js';
import { invalidValue, notANumber, validateBuckets } from '../validation.js';
import type { MetricObjectWithValues } from '../collect/shape.js';
import { Metric, splitArgs, startClock, timerLabels, type MetricConfiguration } from './base.js';
import { exemplarOf } from './exemplars.js';
import { SeriesChild } from './child.js';

export interface HistogramConfiguration<T extends string> extends MetricConfiguration<T> {
  /** Upper bounds, increasing; `+Inf` is implied. @default prom-client's [0.005 ... 10] */
  buckets?: readonly number[];
}

/** prom-client's `observe({ labels, value, exemplarLabels })` of a histogram with `enableExemplars`. */
export interface ObserveDataWithExemplar<T extends string> {
  labels?: LabelValues<T>;
  value: number;
  exemplarLabels?: LabelValues<string>;
}

export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The bucket of `x`: the first bound >= x, or the `+Inf` slot. Linear: faster than a binary search for a dozen. */
function bucketOf(bounds: Float64Array, x: number): number {
  let i = 0;
  const n = bounds.length;
  while (i < n && x > bounds[i]!) i++;
  return i;
}

/** Records one observation: per-bucket (not cumulative) deltas, sum and count. Hot path. */
function record(series: SeriesStore<HistogramValue>, bounds: Float64Array, v: HistogramValue, x: number): void {
  if (!Number.isFinite(x)) throw notANumber('Value', x);
  // Redis cannot add ±Infinity (HINCRBYFLOAT refuses it): one such sum would block the family's
  // flushes for good. Refused here, with the value named, before anything changes.
  const sum = v.sumDelta + x;
  if (!Number.isFinite(sum)) throw invalidValue(series.def.name, 'Histogram sum would overflow', x);
  v.bucketDeltas[bucketOf(bounds, x)]!++;
  v.sumDelta = sum;
  v.countDelta++;
  if (!v.dirty) series.markDirty(v);
}

export class HistogramChild extends SeriesChild<HistogramValue> {
  readonly #bounds: Float64Array;

  /** @internal */
  constructor(series: SeriesStore<HistogramValue>, bounds: Float64Array, labels: LabelValues | undefined) {
    super(series, labels);
    this.#bounds = bounds;
  }

  observe(x: number): void {
    if (typeof x !== 'number') throw notANumber('Value', x);
    record(this.series, this.#bounds, this.value(), x);
  }

  startTimer(): (endLabels?: LabelValues) => number {
    return startClock((seconds) => this.observe(seconds));
  }
}

/** prom-client's Histogram; buckets are summed across processes by Redis. */
export class Histogram<T extends string = string> extends Metric<T, HistogramValue> {
  readonly type = 'histogram' as const;
  readonly upperBounds: readonly number[];
  readonly #bounds: Float64Array;

  constructor(config: HistogramConfiguration<T>) {
    const buckets = validateBuckets(config?.name, config?.buckets ?? DEFAULT_BUCKETS);
    super(config, 'histogram', ['le'], { mode: undefined, buckets, percentiles: undefined, maxAgeSeconds: undefined, ageBuckets: undefined }, () => (labels, dropped) => new HistogramValue(labels, buckets.length, dropped));
    this.upperBounds = Object.freeze(buckets);
    this.#bounds = Float64Array.from(buckets);
    this.initialize();
  }

  observe(value: number): void;
  observe(labels: LabelValues<T>, value: number): void;
  observe(data: ObserveDataWithExemplar<T>): void;
  observe(a: LabelValues<T> | number | ObserveDataWithExemplar<T>, b?: number): void {
    if (this.enableExemplars) return this.#observeWithExemplar(a as ObserveDataWithExemplar<T>);
    const [labels, x] = splitArgs(a, b);
    if (typeof x !== 'number') throw notANumber('Value', x);
    record(this.series, this.#bounds, this.series.valueFor(labels), x);
  }

  /** prom-client's observeWithExemplar: the exemplar (if labels are given) goes to the observation's bucket. */
  #observeWithExemplar(data: ObserveDataWithExemplar<T> | undefined): void {
    const { labels, value, exemplarLabels } = data ?? ({} as ObserveDataWithExemplar<T>);
    if (typeof value !== 'number' || !Number.isFinite(value)) throw notANumber('Value', value);
    const exemplar = exemplarLabels === undefined || Object.keys(exemplarLabels).length === 0 ? undefined : exemplarOf(this.name, exemplarLabels, value);
    const v = this.series.valueFor(labels);
    record(this.series, this.#bounds, v, value);
    if (exemplar === undefined || v.dropped) return;
    let stored = this.series.exemplars.get(v) as Array<StoredExemplar | null> | undefined;
    if (!stored) this.series.exemplars.set(v, (stored = new Array<StoredExemplar | null>(this.#bounds.length + 1).fill(null)));
    stored[bucketOf(this.#bounds, value)] = exemplar;
  }

  /**
   * prom-client's timer: the returned function observes the seconds elapsed (with the end labels
   * merged over the start labels) and returns them; with exemplars, exemplar labels likewise.
   */
  startTimer(labels?: LabelValues<T>, exemplarLabels?: LabelValues<string>): (endLabels?: LabelValues<T>, endExemplarLabels?: LabelValues<string>) => number {
    if (this.enableExemplars) {
      return startClock((seconds, endLabels: LabelValues<T> | undefined, endExemplar: LabelValues<string> | undefined) =>
        this.#observeWithExemplar({ labels: timerLabels(labels, endLabels), value: seconds, exemplarLabels: timerLabels(exemplarLabels, endExemplar) }),
      );
    }
    return startClock((seconds, endLabels: LabelValues<T> | undefined) => this.observe(timerLabels(labels, endLabels), seconds));
  }

  labels(...values: Array<string | number>): HistogramChild;
  labels(labels: LabelValues<T>): HistogramChild;
  labels(...args: unknown[]): HistogramChild {
    return new HistogramChild(this.series, this.#bounds, this.labelsOf(args));
  }

  /** Sets a series to zero (made if absent), as prom-client: its own counts start again. */
  zero(labels: LabelValues<T>): void {
    const v = this.series.valueFor(labels);
    this.series.zeroValue(v);
    this.touch(v);
  }

  /** prom-client's Histogram.reset() forgets every series, the one without labels too. */
  override reset(): void {
    for (const value of [...this.series.values.values()]) this.series.remove(value);
  }

  /** What prom-client's registry renders a histogram from: `le` first, the series labels apart. */
  async getForPromString(): Promise<MetricObjectWithValues<T>> {
    return this.shape(true);
  }
}
