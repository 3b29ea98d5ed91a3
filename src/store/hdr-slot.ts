import hdr from 'hdr-histogram-js';
import type { Histogram as HdrHistogram } from 'hdr-histogram-js';

/** Observations are stored as integers: value × HDR_SCALE (micro-units, so 3 significant digits hold from 0.001). */
export const HDR_SCALE = 1e6;
export const HDR_SIGNIFICANT_DIGITS = 3;

export function newHdr(): HdrHistogram {
  return hdr.build({ numberOfSignificantValueDigits: HDR_SIGNIFICANT_DIGITS, autoResize: true });
}

/**
 * The counts of one age slot of a summary series, in one of three forms:
 * - sparse: `[index, count, index, count, ...]`, sorted by index, where `index` is the HDR counts
 *   index of newHdr()'s layout. A dense histogram is a counts array as long as the largest value
 *   needs (7,168 counts, 28 KB, for 0.04 s), most of it zeros when the slot holds a few values; the
 *   sparse form costs ~16 bytes a distinct index (perf/README.md `memory`).
 * - dense: the HDR histogram itself, once the slot has more than MAX_SPARSE distinct indexes.
 * - blob: a dense slot the clock has left, as the blob its last flush sent (encodeSlot): no
 *   observation lands there any more, and the blob is a few KB where the histogram is tens.
 * All three hold the same counts at the same indexes, so every reading (quantiles, merge, the blob
 * sent to Redis) is the one a dense histogram fed the same values gives.
 */
export type SlotCounts = LiveCounts | string;
/** The forms the hot path records into. */
export type LiveCounts = number[] | HdrHistogram;

/**
 * Distinct indexes a sparse slot holds before it turns dense. At 256 the array (512 numbers, with
 * V8's growth slack ~6 KB) stays below the smallest dense histogram (2,048 counts, 8 KB, values
 * below 2,048 µs), so a slot never costs more than it did as a histogram; the hot path's binary search
 * over it is 8 steps at most.
 */
export const MAX_SPARSE = 256;

/** Sub-bucket half count of our histograms (1,024 for 3 significant digits). */
let HALF = 0;
/** A histogram of our layout, for its index arithmetic only (it holds nothing). */
const LAYOUT = newHdr() as HdrHistogram & JsInternals;
/** A new histogram's counts length and highest trackable value, before any resize. */
const FRESH_LENGTH = LAYOUT.countsArrayLength;
const FRESH_HIGHEST = LAYOUT.highestTrackableValue;

/** log2(HALF) when countsIndex's arithmetic matches hdr-histogram-js's own, 0 to always ask it. */
const FAST_LAYOUT = ((): number => {
  const h = LAYOUT;
  if (!(h instanceof hdr.JsHistogram) || h.unitMagnitude !== 0) return 0;
  const magnitude = h.subBucketHalfCountMagnitude;
  HALF = 2 ** magnitude;
  const probes = [0, 1, 2, HALF - 1, HALF, 2 * HALF - 1, 2 * HALF, 2 * HALF + 1, 4 * HALF - 1, 4 * HALF, 123_456, 999_999, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1];
  for (const v of probes) {
    const bucket = v < 2 * HALF ? 0 : 31 - Math.clz32(v) - magnitude;
    if (bucket * HALF + (v >>> bucket) !== h.countsArrayIndex(v)) return 0;
  }
  return magnitude;
})();

/** Members of hdr-histogram-js' JsHistogram this module uses that its typings leave out. */
interface JsInternals {
  countsArrayLength: number;
  highestTrackableValue: number;
  maxValue: number;
  minNonZeroValue: number;
  countsArrayIndex(v: number): number;
  valueFromIndex(index: number): number;
  highestEquivalentValue(v: number): number;
  getBucketsNeededToCoverValue(v: number): number;
  getLengthForNumberOfBuckets(n: number): number;
  getCountAtIndex(index: number): number;
  setCountAtIndex(index: number, count: number): void;
  incrementCountAtIndex(index: number): void;
  incrementTotalCount(): void;
  setTotalCount(n: number): void;
  updateMinAndMax(v: number): void;
  resize(highest: number): void;
}

/**
 * The counts index of `v` in newHdr()'s layout. hdr-histogram-js finds it with Math.log2 and two
 * Math.pow (~100 ns past 2,048, half of a Summary.observe in the profile); below 2^32 the same
 * index is exact with Math.clz32 and a shift (checked against the library at start-up: FAST_LAYOUT).
 */
export function countsIndex(v: number): number {
  if (FAST_LAYOUT !== 0 && v < 4294967296) {
    const bucket = v < 2 * HALF ? 0 : 31 - Math.clz32(v) - FAST_LAYOUT;
    return bucket * HALF + (v >>> bucket);
  }
  return LAYOUT.countsArrayIndex(v);
}

/** `h.recordValue(v)`, with countsIndex's cheaper index; anything else takes recordValue. */
export function recordHdr(h: HdrHistogram, v: number): void {
  if (FAST_LAYOUT !== 0 && v < 4294967296 && h instanceof hdr.JsHistogram) {
    const index = countsIndex(v);
    const js = h as unknown as JsInternals;
    if (index < js.countsArrayLength) {
      js.incrementCountAtIndex(index);
      js.updateMinAndMax(v);
      js.incrementTotalCount();
      return;
    }
  }
  h.recordValue(v);
}

/**
 * Records `v` into a sparse slot. When `v` would be its (MAX_SPARSE + 1)th distinct index, the slot
 * turns dense instead: the histogram, with `v` recorded, is returned to take the slot's place.
 */
export function recordSparse(pairs: number[], v: number): HdrHistogram | undefined {
  const index = countsIndex(v);
  // Binary search over the pair indexes 0..n-1 (array positions 2i).
  let lo = 0;
  let hi = pairs.length >> 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const at = pairs[mid << 1]!;
    if (at < index) lo = mid + 1;
    else if (at > index) hi = mid;
    else {
      pairs[(mid << 1) + 1]!++;
      return undefined;
    }
  }
  const n = pairs.length;
  if (n >= 2 * MAX_SPARSE) {
    const dense = toDense(pairs);
    recordHdr(dense, v);
    return dense;
  }
  // Insert at pair lo: shift the tail by two (push grows the array in place; splice would allocate).
  pairs.push(0, 0);
  for (let i = n - 1; i >= lo << 1; i--) pairs[i + 2] = pairs[i]!;
  pairs[lo << 1] = index;
  pairs[(lo << 1) + 1] = 1;
  return undefined;
}

/**
 * The dense histogram of a sparse slot: the one newHdr() fed the slot's values would be, count for
 * count, with the same size (so the same blob header). The largest index goes first: one resize.
 */
export function toDense(pairs: readonly number[]): HdrHistogram {
  const h = newHdr();
  const n = pairs.length;
  if (n === 0) return h;
  const js = h as unknown as JsInternals;
  h.recordValueWithCount(js.valueFromIndex(pairs[n - 2]!), pairs[n - 1]!);
  for (let i = 0; i < n - 2; i += 2) h.recordValueWithCount(js.valueFromIndex(pairs[i]!), pairs[i + 1]!);
  return h;
}

/**
 * The dense histogram of a blob slot, as it was when encoded: the same counts, size (from the
 * header) and maxValue's index, so it encodes to the same blob; and it may grow again, as newHdr()'s.
 */
export function fromBlob(blob: string): HdrHistogram {
  const h = hdr.decodeFromCompressedBase64(blob);
  h.autoResize = true;
  return h;
}

/** A slot in a form that can be read in place. */
function live(c: SlotCounts): LiveCounts {
  return typeof c === 'string' ? fromBlob(c) : c;
}

/** Observations in a slot. */
export function slotTotal(slot: SlotCounts): number {
  const c = live(slot);
  if (!Array.isArray(c)) return c.totalCount;
  let total = 0;
  for (let i = 1; i < c.length; i += 2) total += c[i]!;
  return total;
}

/** Adds a slot's counts to `into` (a histogram of newHdr()'s layout), as `into.add(dense)` would. */
export function addSlotTo(into: HdrHistogram, slot: SlotCounts): void {
  const c = live(slot);
  if (!Array.isArray(c)) {
    into.add(c);
    return;
  }
  const n = c.length;
  if (n === 0) return;
  // The largest first: `into` resizes once.
  into.recordValueWithCount(LAYOUT.valueFromIndex(c[n - 2]!), c[n - 1]!);
  for (let i = 0; i < n - 2; i += 2) into.recordValueWithCount(LAYOUT.valueFromIndex(c[i]!), c[i + 1]!);
}

/**
 * One histogram reused to read sparse slots (quantiles, blobs): a dense one per reading would cost
 * its whole counts array each time. Its counts are zero between readings.
 */
const SCRATCH = newHdr() as HdrHistogram & JsInternals;

/**
 * Calls `read` with a histogram holding the slot's counts: the slot itself when dense, else the
 * scratch histogram, filled for the call and emptied after. `read` must not keep it.
 */
export function readSlot<T>(slot: SlotCounts, read: (h: HdrHistogram) => T): T {
  const c = live(slot);
  if (!Array.isArray(c)) return read(c);
  const s = SCRATCH;
  const n = c.length;
  const top = n === 0 ? 0 : c[n - 2]!;
  if (top >= s.countsArrayLength) s.resize(s.valueFromIndex(top));
  const highest = s.highestTrackableValue;
  let total = 0;
  for (let i = 0; i < n; i += 2) {
    s.setCountAtIndex(c[i]!, c[i + 1]!);
    total += c[i + 1]!;
  }
  s.setTotalCount(total);
  // What a histogram fed these values would hold: the blob has counts up to maxValue's index and,
  // in its header, the highest trackable value of a histogram just wide enough for them.
  s.maxValue = n === 0 ? 0 : s.valueFromIndex(top);
  s.highestTrackableValue = freshHighest(top);
  try {
    return read(s);
  } finally {
    for (let i = 0; i < n; i += 2) s.setCountAtIndex(c[i]!, 0);
    s.setTotalCount(0);
    s.maxValue = 0;
    s.minNonZeroValue = Number.MAX_SAFE_INTEGER;
    s.highestTrackableValue = highest;
  }
}

/**
 * highestTrackableValue of newHdr() after recording values up to counts index `top`: unchanged
 * when the first counts array holds it, else that of the array resized to hold it (as
 * hdr-histogram-js' handleRecordException sets it).
 */
function freshHighest(top: number): number {
  if (top < FRESH_LENGTH) return FRESH_HIGHEST;
  const length = LAYOUT.getLengthForNumberOfBuckets(LAYOUT.getBucketsNeededToCoverValue(LAYOUT.valueFromIndex(top)));
  return LAYOUT.highestEquivalentValue(LAYOUT.valueFromIndex(length - 1));
}

/** The slot as the blob a flush sends (hdr-histogram-js' compressed V2 encoding, base64). */
export function encodeSlot(c: SlotCounts): string {
  if (typeof c === 'string') return c;
  return readSlot(c, (h) => hdr.encodeIntoCompressedBase64(h));
}
