import { createHash } from 'node:crypto';

// What a metric family is, independent of any store: shared by the series stores, the families and
// the collector's reading of Redis meta hashes.

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary';

export const GAUGE_MODES = [
  'all', 'liveall', 'min', 'max', 'sum', 'mostrecent', 'livemin', 'livemax', 'livesum', 'livemostrecent',
] as const;
export type GaugeMode = (typeof GAUGE_MODES)[number];

export type LabelValues<T extends string = string> = Partial<Record<T, string | number>>;

export interface FamilyDefinition {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  /** Gauges only. */
  readonly mode: GaugeMode | undefined;
  readonly labelNames: readonly string[];
  /** Histograms only: upper bounds, increasing, without +Inf. */
  readonly buckets: readonly number[] | undefined;
  /** Summaries only. */
  readonly percentiles: readonly number[] | undefined;
  readonly maxAgeSeconds: number | undefined;
  readonly ageBuckets: number | undefined;
  /** Summaries only: a series with no observation in its window is left out, as in prom-client. */
  readonly pruneAgedBuckets?: boolean | undefined;
  /** Histograms with native (sparse exponential) buckets too. */
  readonly native?: NativeDefinition | undefined;
}

/** A native histogram's settings (client_golang's names). */
export interface NativeDefinition {
  /** The initial schema, from nativeHistogramBucketFactor. */
  readonly schema: number;
  readonly zeroThreshold: number;
  /** Populated buckets a series keeps before halving its resolution; 0 for no limit. */
  readonly maxBuckets: number;
}

/** Stable across processes and hosts: the hash tag of every key of the family. */
export function familyHash(name: string): string {
  return createHash('sha1').update(name).digest('hex').slice(0, 16);
}

/** The `le` label of a bucket bound, as prom-client prints it. */
export function leLabel(bound: number): string {
  return bound === Infinity ? '+Inf' : String(bound);
}

/** The type segment of a family's keys: `counter`, `gauge_max`, ... */
export function typeModeOf(def: FamilyDefinition): string {
  return def.type === 'gauge' ? `gauge_${def.mode ?? 'all'}` : def.type;
}

/** Two definitions whose series mean the same thing in Redis (same fields, same merge). */
export function sameShape(a: FamilyDefinition, b: FamilyDefinition): boolean {
  return typeModeOf(a) === typeModeOf(b) && sameList(a.labelNames, b.labelNames) && sameList(a.buckets, b.buckets)
    && sameList(a.percentiles, b.percentiles) && a.maxAgeSeconds === b.maxAgeSeconds && a.ageBuckets === b.ageBuckets
    && (a.native === undefined) === (b.native === undefined);
}

function sameList(a: readonly unknown[] | undefined, b: readonly unknown[] | undefined): boolean {
  if (a === b) return true;
  if (!a || !b || a.length !== b.length) return false;
  return a.every((x, i) => x === b[i]);
}
