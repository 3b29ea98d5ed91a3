import { CounterValue } from '../store/values.js';
import type { LabelValues } from '../store/family.js';
import type { SeriesStore } from '../store/series.js';
import { decreasedCounter, invalidValue, notANumber } from '../validation.js';
import { Metric, splitArgs, type MetricConfiguration } from './base.js';
import { exemplarOf } from './exemplars.js';
import { SeriesChild } from './child.js';

export type CounterConfiguration<T extends string> = MetricConfiguration<T>;

/** prom-client's `inc({ labels, value, exemplarLabels })` of a counter with `enableExemplars`. */
export interface IncreaseDataWithExemplar<T extends string> {
  labels?: LabelValues<T>;
  value?: number;
  exemplarLabels?: LabelValues<string>;
}

/** A child bound to one label set: updates its value directly, allocating nothing. */
export class CounterChild extends SeriesChild<CounterValue> {
  inc(amount?: number): void {
    add(this.series, this.value(), checkIncrement(this.series.def.name, amount));
  }
}

/** prom-client's Counter, kept in the shadow store and flushed to Redis. */
export class Counter<T extends string = string> extends Metric<T, CounterValue> {
  readonly type = 'counter' as const;

  constructor(config: CounterConfiguration<T>) {
    super(config, 'counter', [], { mode: undefined, buckets: undefined, percentiles: undefined, maxAgeSeconds: undefined, ageBuckets: undefined }, () => (labels, dropped) => new CounterValue(labels, dropped));
    this.initialize();
  }

  inc(value?: number): void;
  inc(labels: LabelValues<T>, value?: number): void;
  inc(data: IncreaseDataWithExemplar<T>): void;
  inc(a?: LabelValues<T> | number | IncreaseDataWithExemplar<T>, b?: number): void {
    if (this.enableExemplars) return this.#incWithExemplar(a as IncreaseDataWithExemplar<T> | undefined);
    const [labels, raw] = splitArgs(a, b);
    const x = checkIncrement(this.name, raw);
    add(this.series, this.series.valueFor(labels), x);
  }

  /** prom-client's incWithExemplar: the exemplar (if labels are given) records this increment. */
  #incWithExemplar(data: IncreaseDataWithExemplar<T> | undefined): void {
    const { labels, value, exemplarLabels } = data ?? {};
    const x = checkIncrement(this.name, value);
    const exemplar = exemplarLabels === undefined ? undefined : exemplarOf(this.name, exemplarLabels, x === 0 ? 1 : x);
    const v = this.series.valueFor(labels);
    add(this.series, v, x);
    // The increment made the value dirty: the next flush carries the exemplar with it.
    if (exemplar && !v.dropped) this.series.exemplars.set(v, exemplar);
  }

  labels(...values: Array<string | number>): CounterChild;
  labels(labels: LabelValues<T>): CounterChild;
  labels(...args: unknown[]): CounterChild {
    return new CounterChild(this.series, this.labelsOf(args));
  }
}

function add(series: SeriesStore<CounterValue>, v: CounterValue, x: number): void {
  // An infinite delta could never be added in Redis and would block the family's flushes.
  if (v.delta + x === Infinity) throw invalidValue(series.def.name, 'Counter increment would overflow to Infinity', x);
  v.delta += x;
  if (!v.dirty) series.markDirty(v);
}

/** prom-client's checks and messages: undefined means 1, a negative value or a non-number throws. */
function checkIncrement(metric: string, raw: unknown): number {
  if (raw === undefined || raw === null) return 1;
  if (typeof raw !== 'number' || !Number.isFinite(raw)) throw notANumber('Value', raw);
  if (raw < 0) throw decreasedCounter();
  void metric;
  return raw;
}
