import { register as promRegister, type Registry } from 'prom-client';
import { ValidationError, describe } from '../errors.js';
import { validateHelp, validateLabelNames, validateMetricName, invalidValue } from '../validation.js';
import type { FamilyDefinition, LabelValues, MetricFamily, MetricType } from '../store/family.js';
import type { RedisValue } from '../store/values.js';
import type { RedisStorageManager } from '../manager.js';
import { getRedisStorageManager } from '../manager.js';

export interface MetricValue<T extends string = string> {
  value: number;
  labels: LabelValues<T> & Record<string, string | number>;
  metricName?: string;
}

/** What `get()` returns: the same shape as prom-client's. */
export interface MetricObjectWithValues<T extends string = string> {
  name: string;
  help: string;
  type: MetricType;
  values: MetricValue<T>[];
  aggregator: 'sum';
}

/** prom-client's options shared by every metric, plus `storage`. */
export interface MetricConfiguration<T extends string> {
  name: string;
  help: string;
  labelNames?: readonly T[];
  /** Registries to register in. @default [prom-client's global `register`] */
  registers?: Registry[];
  /** Called before the values are read, as in prom-client (may be async). */
  collect?: (this: any) => void | Promise<void>;
  /** The storage manager to write to. @default getRedisStorageManager() */
  storage?: RedisStorageManager;
}

const CONFIG_KEYS = new Set([
  'name', 'help', 'labelNames', 'registers', 'collect', 'storage', 'aggregator', 'enableExemplars',
  'buckets', 'percentiles', 'maxAgeSeconds', 'ageBuckets', 'compressCount', 'pruneAgedBuckets', 'multiprocessMode',
]);

/** Common part of Counter, Gauge, Histogram and Summary. */
export abstract class Metric<T extends string, V extends RedisValue> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly T[];
  readonly aggregator = 'sum' as const;
  abstract readonly type: MetricType;
  /** @internal */
  readonly family: MetricFamily<V>;
  /** @internal */
  readonly storage: RedisStorageManager;
  /** @internal prom-client's `collect` callback. */
  readonly collectCallback: ((this: any) => void | Promise<void>) | undefined;

  protected constructor(
    config: MetricConfiguration<T>,
    type: MetricType,
    reservedLabels: readonly string[],
    extra: Omit<FamilyDefinition, 'name' | 'help' | 'type' | 'labelNames'>,
    create: (def: FamilyDefinition) => (labelValues: readonly string[], dropped: boolean) => V,
  ) {
    if (config === null || typeof config !== 'object') {
      throw new ValidationError('ERR_PCR_INVALID_METRIC', `Expected a configuration object for a ${type}, got ${describe(config)}`);
    }
    validateMetricName(config.name);
    validateHelp(config.name, config.help);
    for (const key of Object.keys(config)) {
      if (!CONFIG_KEYS.has(key)) {
        throw new ValidationError('ERR_PCR_INVALID_METRIC', `Unknown option \`${key}\` for metric \`${config.name}\``);
      }
    }
    if (config.collect !== undefined && typeof config.collect !== 'function') {
      throw new ValidationError('ERR_PCR_INVALID_METRIC', `Optional "collect" parameter of metric \`${config.name}\` must be a function, got ${describe(config.collect)}`);
    }
    this.name = config.name;
    this.help = config.help;
    this.labelNames = validateLabelNames(config.name, config.labelNames, reservedLabels) as T[];
    this.collectCallback = config.collect;
    this.storage = config.storage ?? getRedisStorageManager();
    const def: FamilyDefinition = Object.freeze({ name: this.name, help: this.help, type, labelNames: this.labelNames, ...extra });
    this.family = this.storage.dict.register(def, create(def));
    const callback = config.collect;
    if (callback) this.storage.addCollectCallback(this.name, () => callback.call(this));
    const registers = config.registers ?? [promRegister];
    for (const registry of registers) registry.registerMetric(this as never);
  }

  /** The values Prometheus will see: cluster-wide when Redis is enabled, this process's otherwise. */
  async get(): Promise<MetricObjectWithValues<T>> {
    return (await this.storage.getCollector().getFamily(this.name)) as MetricObjectWithValues<T>;
  }

  /** Forgets this process's values. Sums other processes (and this one) already flushed stay in Redis. */
  reset(): void {
    for (const value of [...this.family.values.values()]) this.removeValue(value);
    this.initialize();
  }

  remove(...args: unknown[]): void {
    const value = this.family.peek(labelsOf(this.family, args));
    if (value) this.removeValue(value);
  }

  /** @internal */
  protected abstract removeValue(value: V): void;

  /** A metric without labels shows 0 from the start, as in prom-client. */
  protected initialize(): void {
    if (this.labelNames.length === 0) this.touch(this.family.valueFor(undefined));
  }

  /** Marks a value dirty so that it is flushed even with no change (it then exists in Redis). */
  protected touch(value: V): void {
    if (!value.dirty) this.family.markDirty(value);
  }

  protected valueOf(args: readonly unknown[]): V {
    return args.length === 1 && typeof args[0] === 'object' && args[0] !== null
      ? this.family.valueFor(args[0] as LabelValues)
      : this.family.valueForPositional(args);
  }

  protected checkNumber(what: string, value: unknown): number {
    if (typeof value !== 'number' || Number.isNaN(value)) throw invalidValue(this.name, `${what} is not a valid number`, value);
    return value;
  }
}

function labelsOf(family: MetricFamily, args: readonly unknown[]): LabelValues | undefined {
  if (args.length === 0) return undefined;
  if (args.length === 1 && typeof args[0] === 'object' && args[0] !== null) return args[0] as LabelValues;
  const labels: LabelValues = {};
  family.def.labelNames.forEach((n, i) => {
    const v = args[i];
    if (typeof v === 'string' || typeof v === 'number') labels[n] = v;
  });
  return labels;
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
export function startClock<L>(record: (seconds: number, endLabels: L | undefined) => void): (endLabels?: L) => number {
  const start = process.hrtime.bigint();
  return (endLabels) => {
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    record(seconds, endLabels);
    return seconds;
  };
}

/** Splits prom-client's `(labels?, value?)` arguments. */
export function splitArgs(a: unknown, b: unknown): [LabelValues | undefined, unknown] {
  if (typeof a === 'object' && a !== null) return [a as LabelValues, b];
  return [undefined, a];
}
