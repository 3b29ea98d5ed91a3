import { MIN_SCHEMA, bucketIndex, coarserIndex, lowerBound, upperBound } from './schema.js';

/** Sparse bucket counts by index (positive or negative side). */
export type Buckets = Map<number, number>;

/**
 * A native histogram's state: sparse exponential buckets on both sides of a zero bucket. Plain data,
 * so that the shadow store, the collector's merge and the tests share the operations below.
 */
export interface NativeState {
  schema: number;
  /** Observations with |v| <= zeroThreshold count in the zero bucket. */
  zeroThreshold: number;
  zeroCount: number;
  readonly positive: Buckets;
  readonly negative: Buckets;
}

export function emptyNative(schema: number, zeroThreshold: number): NativeState {
  return { schema, zeroThreshold, zeroCount: 0, positive: new Map(), negative: new Map() };
}

/** Adds `n` observations of `v` (finite) to the buckets. */
export function observeNative(h: NativeState, v: number, n = 1): void {
  const t = h.zeroThreshold;
  if (v > t) add(h.positive, bucketIndex(v, h.schema), n);
  else if (v < -t) add(h.negative, bucketIndex(-v, h.schema), n);
  else h.zeroCount += n;
}

export function add(buckets: Buckets, index: number, n: number): void {
  buckets.set(index, (buckets.get(index) ?? 0) + n);
}

/** Buckets populated on both sides. */
export function bucketCount(h: NativeState): number {
  return h.positive.size + h.negative.size;
}

/** Every bucket's count (zero bucket included): equals the number of observations. */
export function totalCount(h: NativeState): number {
  let n = h.zeroCount;
  for (const c of h.positive.values()) n += c;
  for (const c of h.negative.values()) n += c;
  return n;
}

/** The same buckets `by` schemas coarser: bucket k goes into ceil(k / 2^by). Exact in every count. */
export function coarsen(buckets: Buckets, by: number): Buckets {
  if (by === 0) return buckets;
  const out: Buckets = new Map();
  for (const [k, c] of buckets) add(out, coarserIndex(k, by), c);
  return out;
}

function replace(into: Buckets, from: Buckets): void {
  if (into === from) return;
  into.clear();
  for (const [k, c] of from) into.set(k, c);
}

/** Lowers the resolution to `schema` (coarser or equal), merging buckets. */
export function reduceTo(h: NativeState, schema: number): void {
  const by = h.schema - schema;
  if (by <= 0) return;
  replace(h.positive, coarsen(h.positive, by));
  replace(h.negative, coarsen(h.negative, by));
  h.schema = schema;
}

/**
 * Widens the zero bucket to at least `threshold`: every bucket whose lower bound is below it moves
 * into the zero bucket, and a bucket that straddles it (lower bound below, upper bound above)
 * raises the threshold to its upper bound, so that no bucket is split and no count is lost.
 * Returns the threshold in force afterwards (>= the one asked for).
 */
export function widenZero(h: NativeState, threshold: number): number {
  if (threshold <= h.zeroThreshold) return h.zeroThreshold;
  let t = threshold;
  // Raising t to a straddling bucket's upper bound can make a bucket of the other side straddle
  // the new t: repeat until a pass moves nothing (each raise empties a bucket, so this ends).
  for (let moved = true; moved; ) {
    moved = false;
    for (const side of [h.positive, h.negative]) {
      for (const [k, c] of side) {
        if (lowerBound(k, h.schema) >= t) continue;
        const u = upperBound(k, h.schema);
        if (u > t) t = u;
        h.zeroCount += c;
        side.delete(k);
        moved = true;
      }
    }
  }
  h.zeroThreshold = t;
  return t;
}

/**
 * Keeps at most `maxBuckets` populated buckets by halving the resolution (client_golang's
 * doubleBucketWidth) until they fit or the schema is -4. Count and sum are unchanged.
 * Returns how many schemas it went down.
 */
export function limitBuckets(h: NativeState, maxBuckets: number): number {
  const from = h.schema;
  while (maxBuckets > 0 && bucketCount(h) > maxBuckets && h.schema > MIN_SCHEMA) reduceTo(h, h.schema - 1);
  return from - h.schema;
}

/**
 * One histogram from several (processes, or one process's flushes at successive resolutions):
 * the coarsest schema of all, the widest zero threshold of all (widened further where a bucket
 * straddles it), every count kept. The inputs are not changed.
 */
export function mergeNative(parts: readonly NativeState[], maxBuckets = 0): NativeState | undefined {
  if (parts.length === 0) return undefined;
  let schema = Infinity;
  let threshold = 0;
  for (const p of parts) {
    schema = Math.min(schema, p.schema);
    threshold = Math.max(threshold, p.zeroThreshold);
  }
  const out = emptyNative(schema, 0);
  for (const p of parts) {
    out.zeroCount += p.zeroCount;
    for (const [k, c] of coarsen(p.positive, p.schema - schema)) add(out.positive, k, c);
    for (const [k, c] of coarsen(p.negative, p.schema - schema)) add(out.negative, k, c);
  }
  widenZero(out, threshold);
  if (maxBuckets > 0) limitBuckets(out, maxBuckets);
  return out;
}

/** A run of consecutive buckets, as metrics.proto's BucketSpan. */
export interface Span {
  /** Gap to the end of the previous span, or the first index for the first span. */
  readonly offset: number;
  readonly length: number;
}

/**
 * The protobuf layout of one side: spans and each bucket's count as a delta to the previous one.
 * Gaps of one or two empty buckets are filled with zeros rather than opening a span (a span costs
 * two varints, an empty bucket one byte).
 */
export function spansOf(buckets: Buckets): { spans: Span[]; deltas: number[] } {
  const keys = [...buckets.keys()].filter((k) => buckets.get(k) !== 0).sort((a, b) => a - b);
  const spans: Span[] = [];
  const deltas: number[] = [];
  let previous = 0;
  let next = 0;
  let start = 0;
  let length = 0;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    const gap = k - next;
    if (i === 0 || gap > 2) {
      if (i > 0) spans.push({ offset: start, length });
      start = i === 0 ? k : gap;
      length = 0;
    } else {
      for (let g = 0; g < gap; g++) {
        deltas.push(-previous);
        previous = 0;
        length++;
      }
    }
    const c = buckets.get(k)!;
    deltas.push(c - previous);
    previous = c;
    length++;
    next = k + 1;
  }
  if (keys.length > 0) spans.push({ offset: start, length });
  return { spans, deltas };
}
