import type { Exemplar } from '../store/values.js';
import type { MetricType } from '../store/family.js';
import type { NativeState } from '../native/histogram.js';
import type { Pacer } from '../pacer.js';
import type { CounterValues } from './counter-table.js';

/** Label name → value of one series (numbers only where `get()` gives a label back as one). */
export type Labels = Readonly<Record<string, string | number>>;

/**
 * Receives a family's series, one call a series, in exposition order: the exposition writer turns
 * each into text at once, the shape builder into prom-client's `get()` objects. `field` is the
 * series' Redis field (the JSON array of its label values), by which a sink can find the series in
 * this process's own store.
 */
export interface SeriesSink {
  /** Starts a family. */
  family(name: string, help: string, type: MetricType): void;
  /** A counter or gauge series; `created` (counters) is the series' creation time in seconds. */
  value(field: string, labels: Labels, value: number, exemplar?: Exemplar, created?: number): void;
  /**
   * A histogram series: `les` are the bucket bounds as printed (`+Inf` last), `cumulative` the
   * counts of each bucket and all below it, `exemplars` the latest exemplar of each bucket.
   */
  histogram(field: string, labels: Labels, les: readonly string[], cumulative: ArrayLike<number>, sum: number, count: number, exemplars?: ReadonlyArray<Exemplar | undefined>, extras?: HistogramExtras): void;
  /** A summary series: one value per quantile. */
  summary(field: string, labels: Labels, quantiles: readonly number[], values: ArrayLike<number>, sum: number, count: number, created?: number): void;
  /**
   * A whole counter family read through a CounterTable (the text exposition only: the collector
   * reads through tables for a sink that has this). `bad` counts a field that is no label set.
   */
  counters?(c: CounterValues, bad: () => void, pacer: Pacer): Promise<void>;
}

/** What a histogram series may carry besides its classic buckets. */
export interface HistogramExtras {
  /** The series' creation time, seconds since the epoch (OpenMetrics `_created`, protobuf created_timestamp). */
  readonly created?: number | undefined;
  /** The merged native buckets, for a histogram with `nativeHistogramBucketFactor` (protobuf only). */
  readonly native?: NativeState | undefined;
}
