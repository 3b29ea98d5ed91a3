import type { Exemplar } from '../store/values.js';
import type { MetricType } from '../store/family.js';

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
  /** A counter or gauge series. */
  value(field: string, labels: Labels, value: number, exemplar?: Exemplar): void;
  /**
   * A histogram series: `les` are the bucket bounds as printed (`+Inf` last), `cumulative` the
   * counts of each bucket and all below it, `exemplars` the latest exemplar of each bucket.
   */
  histogram(field: string, labels: Labels, les: readonly string[], cumulative: ArrayLike<number>, sum: number, count: number, exemplars?: ReadonlyArray<Exemplar | undefined>): void;
  /** A summary series: one value per quantile. */
  summary(field: string, labels: Labels, quantiles: readonly number[], values: ArrayLike<number>, sum: number, count: number): void;
}
