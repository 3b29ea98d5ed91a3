import type { MetricType } from '../store/family.js';
import type { SeriesStore } from '../store/series.js';
import { MAX_NUMERIC_LABELS, type Exemplar } from '../store/values.js';
import type { Labels, SeriesSink } from './sink.js';

export interface MetricValue<T extends string = string> {
  value: number;
  labels: Partial<Record<T, string | number>> & Record<string, string | number>;
  metricName?: string;
  exemplar?: Exemplar | null;
}

/** What `get()` returns: the same shape as prom-client's. */
export interface MetricObjectWithValues<T extends string = string> {
  name: string;
  help: string;
  type: MetricType;
  values: MetricValue<T>[];
  aggregator: 'sum';
}

/** A histogram sample as prom-client's `getForPromString()` gives it: the series labels apart. */
export interface PromStringValue {
  labels: Record<string, string | number>;
  sharedLabels: Record<string, string | number>;
  value: number;
  metricName: string;
  exemplar: Exemplar | null | undefined;
}

/**
 * Builds prom-client's `get()` objects from a family's series: histogram `le` and summary
 * `quantile` as numbers (`+Inf` aside), bucket values with their `exemplar` (null when none), and
 * label values of the type they were first given in this process (`{ code: 200 }` stays 200; what
 * other processes wrote comes back as strings). With `forPromString`, histogram samples keep the
 * series labels apart (`sharedLabels`), as prom-client's `getForPromString()`, so that a prom-client
 * registry prints `le` first, as it does for its own histograms.
 */
export class ShapeBuilder implements SeriesSink {
  readonly families: MetricObjectWithValues[] = [];
  #current: MetricObjectWithValues | undefined;

  constructor(
    /** This process's own series of the families built, for the types of label values. */
    readonly localOf: (name: string) => SeriesStore | undefined = () => undefined,
    readonly forPromString = false,
  ) {}

  #local: SeriesStore | undefined;

  family(name: string, help: string, type: MetricType): void {
    this.#current = { name, help, type, values: [], aggregator: 'sum' };
    this.families.push(this.#current);
    this.#local = this.localOf(name);
  }

  value(field: string, labels: Labels, value: number, exemplar?: Exemplar): void {
    const v: MetricValue = { value, labels: this.#typed(field, labels) };
    if (exemplar !== undefined) v.exemplar = copyExemplar(exemplar);
    this.#current!.values.push(v);
  }

  histogram(field: string, labels: Labels, les: readonly string[], cumulative: ArrayLike<number>, sum: number, count: number, exemplars?: ReadonlyArray<Exemplar | undefined>): void {
    const own = this.#typed(field, labels);
    const out = this.#current!.values as unknown as Array<MetricValue | PromStringValue>;
    const name = this.#current!.name;
    for (let i = 0; i < les.length; i++) {
      const le = les[i] === '+Inf' ? '+Inf' : Number(les[i]);
      const ex = exemplars?.[i];
      const exemplar = ex === undefined ? null : copyExemplar(ex);
      if (this.forPromString) out.push({ labels: { le }, sharedLabels: own, value: cumulative[i]!, metricName: `${name}_bucket`, exemplar });
      else out.push({ value: cumulative[i]!, metricName: `${name}_bucket`, exemplar, labels: { le, ...own } });
    }
    for (const [suffix, value] of [['_sum', sum], ['_count', count]] as const) {
      if (this.forPromString) out.push({ labels: {}, sharedLabels: own, value, metricName: `${name}${suffix}`, exemplar: undefined });
      else out.push({ value, metricName: `${name}${suffix}`, exemplar: undefined, labels: { ...own } });
    }
  }

  summary(field: string, labels: Labels, quantiles: readonly number[], values: ArrayLike<number>, sum: number, count: number): void {
    const own = this.#typed(field, labels);
    const out = this.#current!.values;
    const name = this.#current!.name;
    for (let i = 0; i < quantiles.length; i++) out.push({ labels: { quantile: quantiles[i]!, ...own }, value: values[i]! });
    out.push({ metricName: `${name}_sum`, labels: own, value: sum });
    out.push({ metricName: `${name}_count`, labels: own, value: count });
  }

  /** A copy of the labels, with the label values this process first gave as numbers made numbers again. */
  #typed(field: string, labels: Labels): Record<string, string | number> {
    const own: Record<string, string | number> = { ...labels };
    const numeric = this.#local?.byField(field)?.numericLabels ?? 0;
    if (numeric !== 0) {
      const names = this.#local!.def.labelNames;
      for (let i = 0; i < names.length && i < MAX_NUMERIC_LABELS; i++) {
        const name = names[i]!;
        if ((numeric & (1 << i)) !== 0 && typeof own[name] === 'string') own[name] = Number(own[name]);
      }
    }
    return own;
  }
}

function copyExemplar(e: Exemplar): Exemplar {
  return { labelSet: { ...e.labelSet }, value: e.value, timestamp: e.timestamp };
}
