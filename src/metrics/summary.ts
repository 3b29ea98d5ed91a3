import { SummaryValue, HDR_SCALE, newHdr, recordHdr } from '../store/values.js';
import type { LabelValues, MetricFamily } from '../store/family.js';
import { ValidationError, describe } from '../errors.js';
import { invalidValue, validatePercentiles } from '../validation.js';
import { summarySlot } from '../flush/batch.js';
import { Metric, splitArgs, startClock, timerLabels, type MetricConfiguration } from './base.js';

export interface SummaryConfiguration<T extends string> extends MetricConfiguration<T> {
  /** @default [0.01, 0.05, 0.5, 0.9, 0.95, 0.99, 0.999] */
  percentiles?: readonly number[];
  /** Quantiles over a sliding window of this many seconds. @default none: over all observations */
  maxAgeSeconds?: number;
  /** Slots of the sliding window. @default 5 */
  ageBuckets?: number;
  /** Accepted for prom-client compatibility; HDR histograms need no compression. */
  compressCount?: number;
  /** Accepted for prom-client compatibility. */
  pruneAgedBuckets?: boolean;
}

export const DEFAULT_PERCENTILES: readonly number[] = [0.01, 0.05, 0.5, 0.9, 0.95, 0.99, 0.999];
const MAX_OBSERVATION = Number.MAX_SAFE_INTEGER / HDR_SCALE;

/**
 * Records one observation into the value's HDR histogram of the current age slot. Quantiles are
 * merged across processes from these histograms, so they are true quantiles of all the data.
 */
function record(family: MetricFamily<SummaryValue>, v: SummaryValue, x: number): void {
  if (!(x >= 0 && x <= MAX_OBSERVATION)) {
    throw invalidValue(family.def.name, `Summary observations must be from 0 to ${MAX_OBSERVATION} (quantiles come from HDR histograms of value × ${HDR_SCALE})`, x);
  }
  const slot = family.def.maxAgeSeconds ? summarySlot(family, Date.now()) : 0;
  if (slot !== v.currentSlot) {
    let h = v.slots.get(slot);
    if (!h) v.slots.set(slot, (h = newHdr()));
    v.current = h;
    v.currentSlot = slot;
  }
  recordHdr(v.current!, Math.round(x * HDR_SCALE));
  if (v.lastDirtySlot !== slot) {
    v.dirtySlots.add(slot);
    v.lastDirtySlot = slot;
  }
  v.sumDelta += x;
  v.countDelta++;
  if (!v.dirty) family.markDirty(v);
}

export class SummaryChild {
  #value: SummaryValue;
  readonly #family: MetricFamily<SummaryValue>;

  /** @internal */
  constructor(family: MetricFamily<SummaryValue>, value: SummaryValue) {
    this.#family = family;
    this.#value = value;
  }

  observe(x: number): void {
    let v = this.#value;
    if (v.removed) v = this.#value = this.#family.valueForPositional(v.labelValues);
    record(this.#family, v, x);
  }

  startTimer(): () => number {
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
    if (maxAgeSeconds !== undefined && !(typeof maxAgeSeconds === 'number' && Number.isFinite(maxAgeSeconds) && maxAgeSeconds > 0)) {
      throw new ValidationError('ERR_PCR_INVALID_METRIC', `Invalid maxAgeSeconds ${describe(maxAgeSeconds)} for summary \`${config.name}\`: expected a number > 0`);
    }
    const ageBuckets = config?.ageBuckets ?? (maxAgeSeconds ? 5 : undefined);
    if (ageBuckets !== undefined && !(Number.isInteger(ageBuckets) && ageBuckets >= 1)) {
      throw new ValidationError('ERR_PCR_INVALID_METRIC', `Invalid ageBuckets ${describe(ageBuckets)} for summary \`${config.name}\`: expected an integer >= 1`);
    }
    super(config, 'summary', ['quantile'], { mode: undefined, buckets: undefined, percentiles, maxAgeSeconds, ageBuckets }, () => (labels, dropped) => new SummaryValue(labels, dropped));
    this.percentiles = percentiles;
    this.initialize();
  }

  observe(value: number): void;
  observe(labels: LabelValues<T>, value: number): void;
  observe(a: LabelValues<T> | number, b?: number): void {
    const [labels, x] = splitArgs(a, b);
    if (typeof x !== 'number' || Number.isNaN(x)) throw invalidValue(this.name, 'Value is not a valid number', x);
    record(this.family, this.family.valueFor(labels), x);
  }

  startTimer(labels?: LabelValues<T>): (endLabels?: LabelValues<T>) => number {
    return startClock((seconds, endLabels: LabelValues<T> | undefined) => this.observe(timerLabels(labels, endLabels), seconds));
  }

  labels(...values: Array<string | number>): SummaryChild;
  labels(labels: LabelValues<T>): SummaryChild;
  labels(...args: unknown[]): SummaryChild {
    return new SummaryChild(this.family, this.valueOf(args));
  }

  protected removeValue(value: SummaryValue): void {
    this.family.remove(value, [...value.slots.keys()].map((slot) => `${value.field}#${slot}`));
  }
}
