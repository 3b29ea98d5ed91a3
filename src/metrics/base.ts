import { Registry, register as promRegister } from 'prom-client';
import { ValidationError, describe } from '../errors.js';
import { checkLabelValue, labelCountMismatch, unknownLabel, validateHelp, validateLabelNames, validateMetricName } from '../validation.js';
import type { FamilyDefinition, LabelValues, MetricFamily, MetricType } from '../store/family.js';
import type { SeriesStore } from '../store/series.js';
import type { RedisValue } from '../store/values.js';
import { emitOwnSeries } from '../collect/local.js';
import { ShapeBuilder, type MetricObjectWithValues } from '../collect/shape.js';
import type { RedisStorageManager } from '../manager.js';
import { getRedisStorageManager } from '../manager.js';

export type { MetricObjectWithValues, MetricValue } from '../collect/shape.js';

/** prom-client's `aggregator` option: kept for compatibility (it only matters to its AggregatorRegistry). */
export type Aggregator = 'omit' | 'sum' | 'first' | 'min' | 'max' | 'average';

/** prom-client's options shared by every metric, plus `storage`. */
export interface MetricConfiguration<T extends string> {
  name: string;
  help: string;
  labelNames?: readonly T[];
  /** Registries to register in. @default [prom-client's global `register`] */
  registers?: Registry[];
  /** Called before the values are read, as in prom-client (may be async); `this` is the metric. */
  collect?: (this: any) => void | Promise<void>;
  /** Accepted for prom-client compatibility. @default 'sum' */
  aggregator?: Aggregator;
  /** Exemplars (OpenMetrics registries only), prom-client's API: `inc({ labels, value, exemplarLabels })`. @default false */
  enableExemplars?: boolean;
  /** The storage manager to write to. @default getRedisStorageManager() */
  storage?: RedisStorageManager;
}

const CONFIG_KEYS = new Set([
  'name', 'help', 'labelNames', 'registers', 'collect', 'storage', 'aggregator', 'enableExemplars',
  'buckets', 'percentiles', 'maxAgeSeconds', 'ageBuckets', 'compressCount', 'pruneAgedBuckets', 'multiprocessMode',
  'nativeHistogramBucketFactor', 'nativeHistogramMaxBucketNumber', 'nativeHistogramZeroThreshold',
]);

/**
 * Marks a metric object of this library, whichever copy of it made the object: two copies can share
 * a process (an app's own dependency next to a globally installed launcher, or Node 18.18's
 * `--import`, which loads a preloaded module a second time), and the registry bridge must not mirror
 * the other copy's metrics (that copy flushes them; a mirror would add its cluster totals again at
 * every sync). `Symbol.for`, unlike `instanceof`, is the same in every copy.
 */
const OWN_METRIC = Symbol.for('prom-client-redis.metric');

/** Whether `m` is a metric object of prom-client-redis (of any copy loaded in this process). */
export function isOwnMetric(m: unknown): boolean {
  return typeof m === 'object' && m !== null && (m as Record<symbol, unknown>)[OWN_METRIC] === true;
}

/**
 * Common part of Counter, Gauge, Histogram and Summary. As in prom-client, each metric object has
 * values of its own and starts from zero. With Redis, the newest object of a name is the one the
 * storage manager flushes and serves: `get()` then shows the cluster-wide values; an object another
 * one of the same name replaced shows only its own (see RedisStorageDict).
 */
export abstract class Metric<T extends string, V extends RedisValue> {
  /** See OWN_METRIC. On the prototype: no field per object. */
  declare readonly [OWN_METRIC]: true;
  /** Not readonly: prom-client's OpenMetrics registry renames counters (strips `_total`). */
  name: string;
  readonly help: string;
  readonly labelNames: readonly T[];
  readonly aggregator: Aggregator;
  readonly enableExemplars: boolean;
  readonly registers: readonly Registry[];
  abstract readonly type: MetricType;
  /** prom-client's `collect` callback, run by get() with the metric as `this`. */
  readonly collect: ((this: any) => void | Promise<void>) | undefined;
  /** @internal This object's series. */
  readonly series: SeriesStore<V>;
  /** @internal */
  readonly storage: RedisStorageManager;

  protected constructor(
    config: MetricConfiguration<T>,
    type: MetricType,
    reservedLabels: readonly string[],
    extra: Omit<FamilyDefinition, 'name' | 'help' | 'type' | 'labelNames'>,
    create: (def: FamilyDefinition) => (labelValues: readonly string[], dropped: boolean) => V,
  ) {
    checkConfig(config, type);
    this.name = config.name;
    this.help = config.help;
    this.labelNames = validateLabelNames(config.name, config.labelNames, reservedLabels) as T[];
    this.aggregator = config.aggregator ?? 'sum';
    this.enableExemplars = config.enableExemplars === true;
    this.collect = config.collect;
    this.storage = config.storage ?? getRedisStorageManager();
    const registers = config.registers ?? [promRegister];
    this.registers = registers;
    // Every check before anything changes: a refused metric leaves no trace in the store.
    for (const registry of registers) {
      if (this.enableExemplars && registry.contentType === Registry.PROMETHEUS_CONTENT_TYPE) {
        throw new ValidationError('ERR_PCR_INVALID_METRIC', 'Exemplars are supported only on OpenMetrics registries');
      }
      const there = registry.getSingleMetric(config.name);
      if (there !== undefined && there !== (this as unknown)) {
        throw new ValidationError('ERR_PCR_DUPLICATE_METRIC', `A metric with the name ${config.name} has already been registered.`);
      }
    }
    const def: FamilyDefinition = Object.freeze({ name: this.name, help: this.help, type, labelNames: this.labelNames, ...extra });
    this.series = this.storage.dict.register(def, create(def));
    const callback = config.collect;
    if (callback) this.series.collect = () => callback.call(this);
    for (const registry of registers) registry.registerMetric(this as never);
  }

  /** @internal The family this object feeds, or undefined once a newer object of its name replaced it. */
  get family(): MetricFamily<V> | undefined {
    const family = this.storage.dict.families.get(this.series.def.name);
    // A family past maxFamilies is not in Redis: its object answers get() from its own series.
    return family?.series === this.series && !family.isOverLimit ? (family as unknown as MetricFamily<V>) : undefined;
  }

  /**
   * The values Prometheus will see, in prom-client's shape: cluster-wide when Redis is enabled and
   * this object represents its name, this object's own otherwise. Runs this metric's `collect`
   * callback first, and only that one.
   */
  async get(): Promise<MetricObjectWithValues<T>> {
    return this.shape(false);
  }

  /** @internal */
  protected async shape(forPromString: boolean): Promise<MetricObjectWithValues<T>> {
    if (this.collect) await this.collect();
    const family = this.family;
    let result: MetricObjectWithValues;
    if (family) result = await this.storage.getCollector().readFamily(family, this.series, forPromString);
    else {
      const shapes = new ShapeBuilder(() => this.series, forPromString);
      await emitOwnSeries(this.series, shapes, Date.now());
      result = shapes.families[0]!;
    }
    return { help: this.help, name: this.name, type: this.type, values: result.values as MetricObjectWithValues<T>['values'], aggregator: 'sum' };
  }

  /** Forgets this process's values. Sums other processes (and this one) already flushed stay in Redis. */
  reset(): void {
    for (const value of [...this.series.values.values()]) this.series.remove(value);
    this.initialize();
  }

  /** Forgets one series, given as prom-client takes it: a labels object or the label values in order. */
  remove(...args: unknown[]): void {
    const value = this.series.peek(this.labelsOf(args));
    if (value) this.series.remove(value);
  }

  /** A metric without labels shows 0 from the start, as in prom-client. */
  protected initialize(): void {
    if (this.labelNames.length === 0) this.touch(this.series.valueFor(undefined));
  }

  /** Marks a value dirty so that it is flushed even with no change (it then exists in Redis). */
  protected touch(value: V): void {
    if (!value.dirty) this.series.markDirty(value);
  }

  /**
   * prom-client's label arguments: a labels object, or the values in `labelNames` order (whose
   * number must match). Unknown names and bad values are refused here, at once.
   */
  protected labelsOf(args: readonly unknown[]): LabelValues | undefined {
    if (args.length === 0 && this.labelNames.length === 0) return undefined;
    if (typeof args[0] === 'object' && args[0] !== null) {
      const labels = args[0] as LabelValues;
      for (const name in labels) {
        if (!(this.labelNames as readonly string[]).includes(name)) throw unknownLabel(this.name, name, this.labelNames);
        const v = labels[name];
        if (v !== undefined) checkLabelValue(this.name, name, v);
      }
      return labels;
    }
    if (args.length !== this.labelNames.length) throw labelCountMismatch(this.name, this.labelNames, args);
    const labels: LabelValues = {};
    this.labelNames.forEach((n, i) => {
      const v = args[i];
      checkLabelValue(this.name, n, v);
      labels[n] = v as string | number;
    });
    return labels;
  }
}

function checkConfig(config: unknown, type: MetricType): asserts config is MetricConfiguration<string> {
  if (config === null || typeof config !== 'object') {
    throw new ValidationError('ERR_PCR_INVALID_METRIC', `constructor expected a config object: a ${type} got ${describe(config)}`);
  }
  const c = config as MetricConfiguration<string>;
  validateHelp(c.name, c.help);
  validateMetricName(c.name);
  for (const key of Object.keys(c)) {
    if (!CONFIG_KEYS.has(key)) {
      throw new ValidationError('ERR_PCR_INVALID_METRIC', `Unknown option \`${key}\` for metric \`${c.name}\``);
    }
  }
  if (c.collect !== undefined && typeof c.collect !== 'function') {
    throw new ValidationError('ERR_PCR_INVALID_METRIC', `Optional "collect" parameter must be a function: metric \`${c.name}\` got ${describe(c.collect)}`);
  }
  if (c.registers !== undefined && !(Array.isArray(c.registers) && c.registers.every((r) => r instanceof Registry || isRegistryLike(r)))) {
    throw new ValidationError('ERR_PCR_INVALID_METRIC', `Invalid registers for metric \`${c.name}\`: expected an array of prom-client registries, got ${describe(c.registers)}`);
  }
}

/** A registry of another copy of prom-client (two versions in node_modules) still works. */
function isRegistryLike(r: unknown): boolean {
  return r !== null && typeof r === 'object' && typeof (r as Registry).registerMetric === 'function' && typeof (r as Registry).getSingleMetric === 'function';
}

/**
 * The labels of a timer's end: `{ ...start, ...end }`, without the copy when one side is missing
 * (the usual `startTimer()` then `end(labels)` costs no object per request).
 */
export function timerLabels<T extends string>(start: LabelValues<T> | undefined, end: LabelValues<T> | undefined): LabelValues<T> {
  if (start === undefined) return end ?? {};
  if (end === undefined) return start;
  return { ...start, ...end };
}

/**
 * prom-client's `startTimer()`: the returned function hands the seconds elapsed to `record`, with
 * the end labels, and returns them.
 */
export function startClock<L, E = undefined>(record: (seconds: number, endLabels: L | undefined, endExtra: E | undefined) => void): (endLabels?: L, endExtra?: E) => number {
  const start = process.hrtime.bigint();
  return (endLabels, endExtra) => {
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    record(seconds, endLabels, endExtra);
    return seconds;
  };
}

/** Splits prom-client's `(labels?, value?)` arguments. */
export function splitArgs(a: unknown, b: unknown): [LabelValues | undefined, unknown] {
  if (typeof a === 'object' && a !== null) return [a as LabelValues, b];
  return [undefined, a];
}

Object.defineProperty(Metric.prototype, OWN_METRIC, { value: true });
