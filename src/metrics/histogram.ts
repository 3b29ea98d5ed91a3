import { HistogramValue } from '../store/values.js';
import type { LabelValues, MetricFamily } from '../store/family.js';
import { invalidValue, validateBuckets } from '../validation.js';
import { Metric, splitArgs, startClock, timerLabels, type MetricConfiguration } from './base.js';

export interface HistogramConfiguration<T extends string> extends MetricConfiguration<T> {
  /** Upper bounds, increasing; `+Inf` is implied. @default prom-client's [0.005 ... 10] */
  buckets?: readonly number[];
}

export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Records one observation: per-bucket (not cumulative) deltas, sum and count. Hot path. */
function record(family: MetricFamily<HistogramValue>, bounds: Float64Array, v: HistogramValue, x: number): void {
  // Redis cannot add ±Infinity (HINCRBYFLOAT refuses it): one such sum would block the family's
  // flushes for good. Refused here, with the value named, before anything changes.
  const sum = v.sumDelta + x;
  if (!Number.isFinite(sum)) throw invalidValue(family.def.name, Number.isFinite(x) ? 'Histogram sum would overflow' : 'Value is not a finite number', x);
  let i = 0;
  const n = bounds.length;
  // Linear scan beats binary search for the usual dozen buckets.
  while (i < n && x > bounds[i]!) i++;
  v.bucketDeltas[i]!++;
  v.sumDelta = sum;
  v.countDelta++;
  if (!v.dirty) family.markDirty(v);
}

export class HistogramChild {
  #value: HistogramValue;
  readonly #family: MetricFamily<HistogramValue>;
  readonly #bounds: Float64Array;

  /** @internal */
  constructor(family: MetricFamily<HistogramValue>, bounds: Float64Array, value: HistogramValue) {
    this.#family = family;
    this.#bounds = bounds;
    this.#value = value;
  }

  observe(x: number): void {
    if (typeof x !== 'number' || Number.isNaN(x)) throw invalidValue(this.#family.def.name, 'Value is not a valid number', x);
    let v = this.#value;
    if (v.removed) v = this.#value = this.#family.valueForPositional(v.labelValues);
    record(this.#family, this.#bounds, v, x);
  }

  startTimer(): () => number {
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
    this.upperBounds = buckets;
    this.#bounds = Float64Array.from(buckets);
    this.initialize();
  }

  observe(value: number): void;
  observe(labels: LabelValues<T>, value: number): void;
  observe(a: LabelValues<T> | number, b?: number): void {
    const [labels, x] = splitArgs(a, b);
    if (typeof x !== 'number' || Number.isNaN(x)) throw invalidValue(this.name, 'Value is not a valid number', x);
    record(this.family, this.#bounds, this.family.valueFor(labels), x);
  }

  startTimer(labels?: LabelValues<T>): (endLabels?: LabelValues<T>) => number {
    return startClock((seconds, endLabels: LabelValues<T> | undefined) => this.observe(timerLabels(labels, endLabels), seconds));
  }

  labels(...values: Array<string | number>): HistogramChild;
  labels(labels: LabelValues<T>): HistogramChild;
  labels(...args: unknown[]): HistogramChild {
    return new HistogramChild(this.family, this.#bounds, this.valueOf(args));
  }

  zero(labels?: LabelValues<T>): void {
    this.touch(this.family.valueFor(labels));
  }

  protected removeValue(value: HistogramValue): void {
    this.family.remove(value, []);
  }
}
