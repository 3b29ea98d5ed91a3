import { GaugeValue } from '../store/values.js';
import { GAUGE_MODES, type GaugeMode, type LabelValues, type MetricFamily } from '../store/family.js';
import { ValidationError, describe } from '../errors.js';
import { invalidValue } from '../validation.js';
import { Metric, splitArgs, startClock, timerLabels, type MetricConfiguration } from './base.js';

export interface GaugeConfiguration<T extends string> extends MetricConfiguration<T> {
  /**
   * How the values of several processes merge, as in the Python client: `all` and `liveall` keep one
   * series per process (a `pid` label); the others merge into one; `live*` count only processes
   * whose heartbeat is current. @default 'all'
   */
  multiprocessMode?: GaugeMode;
}

export class GaugeChild {
  #value: GaugeValue;
  readonly #family: MetricFamily<GaugeValue>;
  readonly #stamp: boolean;

  /** @internal */
  constructor(family: MetricFamily<GaugeValue>, value: GaugeValue, stamp: boolean) {
    this.#family = family;
    this.#value = value;
    this.#stamp = stamp;
  }

  set(value: number): void {
    if (typeof value !== 'number' || Number.isNaN(value)) throw invalidValue(this.#family.def.name, 'Value is not a valid number', value);
    this.#write(value, false);
  }

  inc(amount = 1): void {
    if (typeof amount !== 'number' || Number.isNaN(amount)) throw invalidValue(this.#family.def.name, 'Delta is not a valid number', amount);
    this.#write(amount, true);
  }

  dec(amount = 1): void {
    if (typeof amount !== 'number' || Number.isNaN(amount)) throw invalidValue(this.#family.def.name, 'Delta is not a valid number', amount);
    this.#write(-amount, true);
  }

  setToCurrentTime(): void {
    this.#write(Date.now() / 1000, false);
  }

  startTimer(): () => number {
    return startClock((seconds) => this.set(seconds));
  }

  #write(x: number, add: boolean): void {
    let v = this.#value;
    if (v.removed) v = this.#value = this.#family.valueForPositional(v.labelValues);
    v.value = add ? v.value + x : x;
    if (this.#stamp) v.updatedAtMs = Date.now();
    if (!v.dirty) this.#family.markDirty(v);
  }
}

/** prom-client's Gauge with the Python client's multiprocess modes. */
export class Gauge<T extends string = string> extends Metric<T, GaugeValue> {
  readonly type = 'gauge' as const;
  readonly multiprocessMode: GaugeMode;
  readonly #stamp: boolean;

  constructor(config: GaugeConfiguration<T>) {
    const mode = config?.multiprocessMode ?? 'all';
    if (!(GAUGE_MODES as readonly unknown[]).includes(mode)) {
      throw new ValidationError(
        'ERR_PCR_INVALID_METRIC',
        `Invalid multiprocessMode ${describe(mode)} for gauge \`${config.name}\`: expected one of ${GAUGE_MODES.join(', ')}`,
      );
    }
    const perProcess = mode === 'all' || mode === 'liveall';
    super(config, 'gauge', perProcess ? ['pid'] : [], { mode, buckets: undefined, percentiles: undefined, maxAgeSeconds: undefined, ageBuckets: undefined }, () => (labels, dropped) => new GaugeValue(labels, dropped));
    this.multiprocessMode = mode;
    this.#stamp = mode === 'mostrecent' || mode === 'livemostrecent';
    this.initialize();
  }

  set(value: number): void;
  set(labels: LabelValues<T>, value: number): void;
  set(a: LabelValues<T> | number, b?: number): void {
    const [labels, value] = splitArgs(a, b);
    this.#write(labels, this.checkNumber('Value', value), false);
  }

  inc(value?: number): void;
  inc(labels: LabelValues<T>, value?: number): void;
  inc(a?: LabelValues<T> | number, b?: number): void {
    const [labels, value] = splitArgs(a, b);
    this.#write(labels, value === undefined ? 1 : this.checkNumber('Delta', value), true);
  }

  dec(value?: number): void;
  dec(labels: LabelValues<T>, value?: number): void;
  dec(a?: LabelValues<T> | number, b?: number): void {
    const [labels, value] = splitArgs(a, b);
    this.#write(labels, value === undefined ? -1 : -this.checkNumber('Delta', value), true);
  }

  setToCurrentTime(labels?: LabelValues<T>): void {
    this.#write(labels, Date.now() / 1000, false);
  }

  /** Returns a function that sets the gauge to the seconds elapsed and returns them. */
  startTimer(labels?: LabelValues<T>): (endLabels?: LabelValues<T>) => number {
    return startClock((seconds, endLabels: LabelValues<T> | undefined) => this.set(timerLabels(labels, endLabels), seconds));
  }

  labels(...values: Array<string | number>): GaugeChild;
  labels(labels: LabelValues<T>): GaugeChild;
  labels(...args: unknown[]): GaugeChild {
    return new GaugeChild(this.family, this.valueOf(args), this.#stamp);
  }

  zero(labels?: LabelValues<T>): void {
    this.#write(labels, 0, false);
  }

  protected removeValue(value: GaugeValue): void {
    this.family.remove(value, [value.field, `@${value.field}`]);
  }

  #write(labels: LabelValues | undefined, x: number, add: boolean): void {
    const v = this.family.valueFor(labels);
    v.value = add ? v.value + x : x;
    if (this.#stamp) v.updatedAtMs = Date.now();
    if (!v.dirty) this.family.markDirty(v);
  }
}
