import { CounterValue } from '../store/values.js';
import type { LabelValues, MetricFamily } from '../store/family.js';
import { invalidValue } from '../validation.js';
import { Metric, splitArgs, type MetricConfiguration } from './base.js';

export type CounterConfiguration<T extends string> = MetricConfiguration<T>;

/** A child bound to one label set: updates its value directly, allocating nothing. */
export class CounterChild {
  #value: CounterValue;
  readonly #family: MetricFamily<CounterValue>;

  /** @internal */
  constructor(family: MetricFamily<CounterValue>, value: CounterValue) {
    this.#family = family;
    this.#value = value;
  }

  inc(amount = 1): void {
    if (!(amount >= 0) || amount === Infinity) throw badIncrement(this.#family.def.name, amount);
    let v = this.#value;
    if (v.removed) v = this.#value = this.#family.valueForPositional(v.labelValues);
    if (v.delta + amount === Infinity) throw overflow(this.#family.def.name, amount);
    v.delta += amount;
    if (!v.dirty) this.#family.markDirty(v);
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
  inc(a?: LabelValues<T> | number, b?: number): void {
    const [labels, raw] = splitArgs(a, b);
    const amount = raw === undefined ? 1 : raw;
    if (typeof amount !== 'number' || !(amount >= 0) || amount === Infinity) throw badIncrement(this.name, amount);
    const v = this.family.valueFor(labels);
    // An infinite delta could never be added in Redis and would block the family's flushes.
    if (v.delta + amount === Infinity) throw overflow(this.name, amount);
    v.delta += amount;
    if (!v.dirty) this.family.markDirty(v);
  }

  labels(...values: Array<string | number>): CounterChild;
  labels(labels: LabelValues<T>): CounterChild;
  labels(...args: unknown[]): CounterChild {
    return new CounterChild(this.family, this.valueOf(args));
  }

  /** Creates the series with value 0 (it then shows in the exposition). */
  zero(labels?: LabelValues<T>): void {
    this.touch(this.family.valueFor(labels));
  }

  protected removeValue(value: CounterValue): void {
    this.family.remove(value, []);
  }
}

function overflow(metric: string, amount: number) {
  return invalidValue(metric, 'Counter increment would overflow to Infinity', amount);
}

function badIncrement(metric: string, amount: unknown) {
  return typeof amount === 'number' && amount < 0
    ? invalidValue(metric, 'It is not possible to decrease a counter', amount)
    : invalidValue(metric, 'Counter increment must be a finite number >= 0', amount);
}
