import type { NativeHistogramValue } from '../store/values.js';
import { MIN_SCHEMA, bucketIndex } from './schema.js';
import { coarsen, emptyNative, type Buckets, type NativeState } from './histogram.js';
import type { PackedList } from '../redis/packed-list.js';

// A native histogram series in the shadow store: recording (hot path), resolution reduction under
// the bucket budget, and the Redis fields its buckets travel in.

/**
 * Records `x` (finite) into the series' native buckets. Hot path: a bucket that already has a
 * delta is one Map.get and one Map.set; a new one checks the flushed totals and the budget.
 */
export function recordNative(v: NativeHistogramValue, x: number, maxBuckets: number): void {
  const t = v.zeroThreshold;
  if (x > t) bump(v, v.positiveDeltas, v.positiveFlushed, bucketIndex(x, v.schema), maxBuckets);
  else if (x < -t) bump(v, v.negativeDeltas, v.negativeFlushed, bucketIndex(-x, v.schema), maxBuckets);
  else v.zeroDelta++;
}

function bump(v: NativeHistogramValue, deltas: Buckets, flushed: Buckets, k: number, maxBuckets: number): void {
  const d = deltas.get(k);
  if (d !== undefined) {
    deltas.set(k, d + 1);
    return;
  }
  deltas.set(k, 1);
  if (flushed.has(k)) return;
  v.populated++;
  if (maxBuckets > 0 && v.populated > maxBuckets) reduceSeries(v, maxBuckets);
}

/**
 * Halves the series' resolution until its populated buckets fit the budget (or the schema is -4),
 * deltas and flushed totals alike: what is in Redis at the finer schema stays exact there, and the
 * collector merges it down to this schema. Count and sum are untouched.
 */
export function reduceSeries(v: NativeHistogramValue, maxBuckets: number): void {
  while (v.populated > maxBuckets && v.schema > MIN_SCHEMA) {
    v.schema--;
    for (const m of [v.positiveDeltas, v.negativeDeltas, v.positiveFlushed, v.negativeFlushed]) {
      const coarser = coarsen(m, 1);
      m.clear();
      for (const [k, c] of coarser) m.set(k, c);
    }
    v.populated = unionSize(v.positiveDeltas, v.positiveFlushed) + unionSize(v.negativeDeltas, v.negativeFlushed);
  }
}

function unionSize(a: Buckets, b: Buckets): number {
  let n = b.size;
  for (const k of a.keys()) if (!b.has(k)) n++;
  return n;
}

/** Field suffixes: `n+<schema>:<index>`, `n-<schema>:<index>` (positive, negative), `nz:<threshold>`. */
export function bucketSuffix(isPositive: boolean, schema: number, index: number): string {
  return `n${isPositive ? '+' : '-'}${schema}:${index}`;
}

export function zeroSuffix(threshold: number): string {
  return `nz:${threshold}`;
}

/**
 * Moves the deltas into the flushed totals and writes each field and amount to a batch's list: the
 * deltas, or with `all` everything flushed so far (a re-send after Redis lost the family). Each
 * field is written in its parts (see PackedList), with no string made for it.
 */
export function drainNative(v: NativeHistogramValue, all: boolean, list: PackedList): void {
  drainSide(v, true, v.positiveDeltas, v.positiveFlushed, all, list);
  drainSide(v, false, v.negativeDeltas, v.negativeFlushed, all, list);
  const z = v.zeroDelta;
  v.zeroDelta = 0;
  v.zeroFlushed += z;
  const zero = all ? v.zeroFlushed : z;
  if (zero !== 0) {
    list.write(v.field);
    list.write('#nz:');
    list.writeNumber(v.zeroThreshold);
    list.endItem();
    list.pushNumber(zero);
  }
}

function drainSide(v: NativeHistogramValue, isPositive: boolean, deltas: Buckets, flushed: Buckets, all: boolean, list: PackedList): void {
  for (const [k, d] of deltas) flushed.set(k, (flushed.get(k) ?? 0) + d);
  const send = all ? flushed : deltas;
  // `#${bucketSuffix(isPositive, schema, k)}` written in parts.
  const prefix = isPositive ? '#n+' : '#n-';
  for (const [k, c] of send) {
    if (c === 0) continue;
    list.write(v.field);
    list.write(prefix);
    list.writeNumber(v.schema);
    list.write(':');
    list.writeNumber(k);
    list.endItem();
    list.pushNumber(c);
  }
  deltas.clear();
}

/** The fields of the series not in Redis yet (deltas; with `withFlushed`, the flushed totals too). */
export function unflushedNative(v: NativeHistogramValue, withFlushed: boolean, out: (field: string, amount: number) => void): void {
  const field = v.field;
  for (const [isPositive, deltas, flushed] of [[true, v.positiveDeltas, v.positiveFlushed], [false, v.negativeDeltas, v.negativeFlushed]] as const) {
    for (const [k, d] of deltas) if (d !== 0) out(`${field}#${bucketSuffix(isPositive, v.schema, k)}`, d);
    if (withFlushed) for (const [k, c] of flushed) if (c !== 0) out(`${field}#${bucketSuffix(isPositive, v.schema, k)}`, c);
  }
  const zero = v.zeroDelta + (withFlushed ? v.zeroFlushed : 0);
  if (zero !== 0) out(`${field}#${zeroSuffix(v.zeroThreshold)}`, zero);
}

/** Everything the series counted (flushed and not), as one histogram: what it shows with Redis off. */
export function nativeStateOf(v: NativeHistogramValue): NativeState {
  const h = emptyNative(v.schema, v.zeroThreshold);
  for (const [into, a, b] of [[h.positive, v.positiveDeltas, v.positiveFlushed], [h.negative, v.negativeDeltas, v.negativeFlushed]] as const) {
    for (const [k, c] of b) into.set(k, c);
    for (const [k, c] of a) into.set(k, (into.get(k) ?? 0) + c);
  }
  h.zeroCount = v.zeroDelta + v.zeroFlushed;
  return h;
}

/** Forgets every count of the series (Histogram.zero()). */
export function zeroNative(v: NativeHistogramValue, initialSchema: number): void {
  for (const m of [v.positiveDeltas, v.negativeDeltas, v.positiveFlushed, v.negativeFlushed]) m.clear();
  v.zeroDelta = v.zeroFlushed = v.populated = 0;
  v.schema = initialSchema;
}

/** The flushed totals as fields, for a family that carries them after the series left the store. */
export function flushedNative(v: NativeHistogramValue, out: (field: string, amount: number) => void): void {
  const field = v.field;
  for (const [k, c] of v.positiveFlushed) out(`${field}#${bucketSuffix(true, v.schema, k)}`, c);
  for (const [k, c] of v.negativeFlushed) out(`${field}#${bucketSuffix(false, v.schema, k)}`, c);
  if (v.zeroFlushed !== 0) out(`${field}#${zeroSuffix(v.zeroThreshold)}`, v.zeroFlushed);
}
