import { GaugeValue } from '../store/values.js';
import { GAUGE_MODES, type GaugeMode, type LabelValues } from '../store/family.js';
import type { SeriesStore } from '../store/series.js';
import { ValidationError, describe } from '../errors.js';
import { notANumber } from '../validation.js';
import { getRedisStorageManager } from '../manager.js';
import { Metric, splitArgs, startClock, timerLabels, type MetricConfiguration } from './base.js';
import { SeriesChild } from './child.js';

export interface GaugeConfiguration<T extends string> extends MetricConfiguration<T> {
  /**
   * How the values of several processes merge, as in the Python client: `all` and `liveall` keep one
   * series per process (a `pid` label); the others merge into one; `live*` count only processes
   * whose heartbeat is current. Without Redis there is one process: the mode changes nothing.
   * @default 'all'
   */
  multiprocessMode?: GaugeMode;
}

export class GaugeChild extends SeriesChild<GaugeValue> {
  readonly #stamp: boolean;

  /** @internal */
  constructor(series: SeriesStore<GaugeValue>, labels: LabelValues | undefined, stamp: boolean) {
    super(series, labels);
    this.#stamp = stamp;
  }

  set(value: number): void {
    if (typeof value !== 'number') throw notANumber('Value', value);
    this.#write(value, false);
  }

  inc(amount = 1): void {
    if (typeof amount !== 'number') throw notANumber('Delta', amount);
    this.#write(amount, true);
  }

  dec(amount = 1): void {
    if (typeof amount !== 'number') throw notANumber('Delta', amount);
    this.#write(-amount, true);
  }

  setToCurrentTime(): void {
    this.#write(Date.now() / 1000, false);
  }

  startTimer(): (endLabels?: LabelValues) => number {
    return startClock((seconds) => this.set(seconds));
  }

  #write(x: number, add: boolean): void {
    const v = this.value();
    v.value = add ? v.value + x : x;
    if (this.#stamp) v.updatedAtMs = Date.now();
    if (!v.dirty) this.series.markDirty(v);
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
    // With Redis, `all` and `liveall` add a `pid` label: the gauge cannot have one of its own.
    const storage = config?.storage ?? (config && typeof config === 'object' ? getRedisStorageManager() : undefined);
    const addsPid = storage?.isEnabled === true && (mode === 'all' || mode === 'liveall');
    if (addsPid && Array.isArray(config.labelNames) && config.labelNames.includes('pid' as T)) {
      throw new ValidationError(
        'ERR_PCR_INVALID_LABEL',
        `pid is a reserved label keyword for gauge \`${config.name}\` with multiprocessMode ${mode} (it adds the process as \`pid\`): choose another mode or label name`,
      );
    }
    super(config, 'gauge', [], { mode, buckets: undefined, percentiles: undefined, maxAgeSeconds: undefined, ageBuckets: undefined }, () => (labels, dropped) => new GaugeValue(labels, dropped));
    this.multiprocessMode = mode;
    this.#stamp = mode === 'mostrecent' || mode === 'livemostrecent';
    this.initialize();
  }

  set(value: number): void;
  set(labels: LabelValues<T>, value: number): void;
  set(a: LabelValues<T> | number, b?: number): void {
    const [labels, value] = splitArgs(a, b);
    if (typeof value !== 'number') throw notANumber('Value', value);
    this.#write(labels, value, false);
  }

  inc(value?: number): void;
  inc(labels: LabelValues<T>, value?: number): void;
  inc(a?: LabelValues<T> | number, b?: number): void {
    const [labels, value] = splitArgs(a, b);
    if (value !== undefined && typeof value !== 'number') throw notANumber('Delta', value);
    this.#write(labels, value === undefined ? 1 : value, true);
  }

  dec(value?: number): void;
  dec(labels: LabelValues<T>, value?: number): void;
  dec(a?: LabelValues<T> | number, b?: number): void {
    const [labels, value] = splitArgs(a, b);
    if (value !== undefined && typeof value !== 'number') throw notANumber('Delta', value);
    this.#write(labels, value === undefined ? -1 : -value, true);
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
    return new GaugeChild(this.series, this.labelsOf(args), this.#stamp);
  }

  #write(labels: LabelValues | undefined, x: number, add: boolean): void {
    const v = this.series.valueFor(labels);
    v.value = add ? v.value + x : x;
    if (this.#stamp) v.updatedAtMs = Date.now();
    if (!v.dirty) this.series.markDirty(v);
  }
}
