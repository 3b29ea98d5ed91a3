import { HistogramValue, NativeHistogramValue, type StoredExemplar } from '../store/values.js';
import type { LabelValues, NativeDefinition } from '../store/family.js';
import type { SeriesStore } from '../store/series.js';
import { invalidValue, notANumber, validateBuckets } from '../validation.js';
import type { MetricObjectWithValues } from '../collect/shape.js';
import { Metric, splitArgs, startClock, timerLabels, type MetricConfiguration } from './base.js';
import { exemplarOf } from './exemplars.js';
import { SeriesChild } from './child.js';
import { recordNative } from '../native/series.js';
import { nativeDefinitionOf } from './native-options.js';
import { ValidationError, describe } from '../errors.js';
import { getRedisStorageManager, type RedisStorageManager } from '../manager.js';

export interface HistogramConfiguration<T extends string> extends MetricConfiguration<T> {
  /**
   * Upper bounds, increasing; `+Inf` is implied. `[]` with `nativeHistogramBucketFactor`: native
   * buckets only (the text formats then show the `+Inf` bucket, sum and count).
   * @default prom-client's [0.005 ... 10]
   */
  buckets?: readonly number[];
  /**
   * Native histogram buckets too (sparse, exponential; served over protobuf): each bucket at most this
   * factor wider than the one before, rounded down to a schema of -4..8 (1.1 gives schema 3, 8
   * buckets per power of two). Must be > 1. @default none (classic buckets only)
   */
  nativeHistogramBucketFactor?: number;
  /** Populated native buckets a series keeps before it halves its resolution: 1 to the manager's `maxHistogramBuckets`. @default 160 */
  nativeHistogramMaxBucketNumber?: number;
  /** Observations with |v| <= this count in the zero bucket. @default 2^-128 (client_golang's) */
  nativeHistogramZeroThreshold?: number;
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

/**
 * Records one observation: per-bucket (not cumulative) deltas, sum and count. Hot path. `nativeMax`
 * is -1 for a classic histogram, else the native bucket budget (0: none).
 */
function record(series: SeriesStore<HistogramValue>, bounds: Float64Array, v: HistogramValue, x: number, nativeMax: number): void {
  if (!Number.isFinite(x)) throw notANumber('Value', x);
  // Redis cannot add ±Infinity (the flush script, like HINCRBYFLOAT, refuses a non-finite sum):
  // one such sum would block the family's flushes for good. Refused here, with the value named,
  // before anything changes.
  const sum = v.sumDelta + x;
  if (!Number.isFinite(sum)) throw invalidValue(series.def.name, 'Histogram sum would overflow', x);
  v.buckets[bucketOf(bounds, x)]!++;
  v.sumDelta = sum;
  v.countDelta++;
  if (nativeMax >= 0 && !v.dropped) recordNative(v as NativeHistogramValue, x, nativeMax);
  if (!v.dirty) series.markDirty(v);
}

export class HistogramChild extends SeriesChild<HistogramValue> {
  readonly #bounds: Float64Array;
  readonly #nativeMax: number;

  /** @internal */
  constructor(series: SeriesStore<HistogramValue>, bounds: Float64Array, labels: LabelValues | undefined, nativeMax: number) {
    super(series, labels);
    this.#bounds = bounds;
    this.#nativeMax = nativeMax;
  }

  observe(x: number): void {
    if (typeof x !== 'number') throw notANumber('Value', x);
    record(this.series, this.#bounds, this.value(), x, this.#nativeMax);
  }

  startTimer(): (endLabels?: LabelValues) => number {
    return startClock((seconds) => this.observe(seconds));
  }
}

/**
 * Every bucket is a field in Redis and a line at every scrape, per series: 100,000 buckets × 100
 * series made a 370 MiB exposition. A native budget of 0 (unlimited) is refused for the same reason.
 */
function checkBucketLimit(config: HistogramConfiguration<string> | undefined, classic: number, native: NativeDefinition | undefined): void {
  // No config object: the base constructor refuses it, before any manager is made.
  if (config === null || typeof config !== 'object') return;
  const storage = config.storage ?? getRedisStorageManager();
  const limit = (storage as Partial<RedisStorageManager> | undefined)?.config?.maxHistogramBuckets;
  if (limit === undefined) return;
  const setting = `maxHistogramBuckets (${limit}, REDIS_MAX_HISTOGRAM_BUCKETS)`;
  if (classic > limit) {
    throw new ValidationError('ERR_PCR_INVALID_METRIC', `Invalid buckets for histogram \`${config.name}\`: ${classic} buckets, more than ${setting}`);
  }
  if (native !== undefined && (native.maxBuckets === 0 || native.maxBuckets > limit)) {
    throw new ValidationError('ERR_PCR_INVALID_METRIC', `Invalid nativeHistogramMaxBucketNumber ${describe(native.maxBuckets)} for histogram \`${config.name}\`: expected 1 to ${setting}`);
  }
}

/** prom-client's Histogram; buckets are summed across processes by Redis. */
export class Histogram<T extends string = string> extends Metric<T, HistogramValue> {
  readonly type = 'histogram' as const;
  readonly upperBounds: readonly number[];
  readonly #bounds: Float64Array;
  /** -1 without native buckets, else their budget per series (0: none). */
  readonly #nativeMax: number;

  constructor(config: HistogramConfiguration<T>) {
    const native: NativeDefinition | undefined = nativeDefinitionOf(config);
    const nativeOnly = native !== undefined && Array.isArray(config.buckets) && config.buckets.length === 0;
    const buckets = nativeOnly ? [] : validateBuckets(config?.name, config?.buckets ?? DEFAULT_BUCKETS);
    checkBucketLimit(config, buckets.length, native);
    const create = native === undefined
      ? () => (labels: readonly string[], dropped: boolean) => new HistogramValue(labels, buckets.length, dropped)
      : () => (labels: readonly string[], dropped: boolean) => new NativeHistogramValue(labels, buckets.length, native.schema, native.zeroThreshold, dropped);
    super(config, 'histogram', ['le'], { mode: undefined, buckets, percentiles: undefined, maxAgeSeconds: undefined, ageBuckets: undefined, native }, create);
    this.upperBounds = Object.freeze(buckets);
    this.#bounds = Float64Array.from(buckets);
    this.#nativeMax = native === undefined ? -1 : native.maxBuckets;
    this.initialize();
  }

  observe(value: number): void;
  observe(labels: LabelValues<T>, value: number): void;
  observe(data: ObserveDataWithExemplar<T>): void;
  observe(a: LabelValues<T> | number | ObserveDataWithExemplar<T>, b?: number): void {
    if (this.enableExemplars) return this.#observeWithExemplar(a as ObserveDataWithExemplar<T>);
    const [labels, x] = splitArgs(a, b);
    if (typeof x !== 'number') throw notANumber('Value', x);
    record(this.series, this.#bounds, this.series.valueFor(labels), x, this.#nativeMax);
  }

  /** prom-client's observeWithExemplar: the exemplar (if labels are given) goes to the observation's bucket. */
  #observeWithExemplar(data: ObserveDataWithExemplar<T> | undefined): void {
    const { labels, value, exemplarLabels } = data ?? ({} as ObserveDataWithExemplar<T>);
    if (typeof value !== 'number' || !Number.isFinite(value)) throw notANumber('Value', value);
    const exemplar = exemplarLabels === undefined || Object.keys(exemplarLabels).length === 0 ? undefined : exemplarOf(this.name, exemplarLabels, value);
    const v = this.series.valueFor(labels);
    record(this.series, this.#bounds, v, value, this.#nativeMax);
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
    return new HistogramChild(this.series, this.#bounds, this.labelsOf(args), this.#nativeMax);
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
