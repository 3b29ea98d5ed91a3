import { deflateSync } from 'node:zlib';
import hdr from 'hdr-histogram-js';
import type { Histogram as HdrHistogram } from 'hdr-histogram-js';
import { sparseEntries, sparseForEach, sparseIncrement, sparseMaxKey, sparseWith, type SparseCounts } from './sparse-counts.js';

/** Observations are stored as integers: value × HDR_SCALE (micro-units, so 3 significant digits hold from 0.001). */
export const HDR_SCALE = 1e6;
export const HDR_SIGNIFICANT_DIGITS = 3;

export function newHdr(): HdrHistogram {
  return hdr.build({ numberOfSignificantValueDigits: HDR_SIGNIFICANT_DIGITS, autoResize: true });
}

/**
 * The counts of one age slot of a summary series, in one of three forms:
 * - sparse: counts by HDR counts index (of newHdr()'s layout) in a small hash table (sparse-counts.ts).
 *   A dense histogram is a counts array as long as the largest value needs (7,168 counts, 28 KB,
 *   for 0.04 s), most of it zeros when the slot holds a few values; the table costs ~16-32 bytes a
 *   distinct index (perf/README.md `memory`).
 * - dense: the HDR histogram itself, once the slot has more than MAX_SPARSE distinct indexes.
 * - blob: a dense slot the clock has left, as the blob its last flush sent (encodeSlot): no
 *   observation lands there any more, and the blob is a few KB where the histogram is tens.
 * All three hold the same counts at the same indexes, so every reading (quantiles, merge, the blob
 * sent to Redis) is the one a dense histogram fed the same values gives.
 */
export type SlotCounts = LiveCounts | string;
/** The forms the hot path records into. */
export type LiveCounts = SparseCounts | HdrHistogram;

/**
 * Distinct indexes a sparse slot holds before it turns dense. At 192 the table (256 entries, 513
 * numbers, ~4-6 KB with V8's growth slack) stays below the smallest dense histogram (2,048 counts,
 * 8 KB, values below 2,048 µs), so a slot never costs more than it did as a histogram.
 */
export const MAX_SPARSE = 192;

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

/** Members of hdr-histogram-js' JsHistogram that its typings leave out (used here and by the collector's blob and quantile readers). */
export interface JsInternals {
  countsArrayLength: number;
  highestTrackableValue: number;
  maxValue: number;
  minNonZeroValue: number;
  countsArrayIndex(v: number): number;
  valueFromIndex(index: number): number;
  lowestEquivalentValue(v: number): number;
  highestEquivalentValue(v: number): number;
  getBucketsNeededToCoverValue(v: number): number;
  getLengthForNumberOfBuckets(n: number): number;
  getCountAtIndex(index: number): number;
  setCountAtIndex(index: number, count: number): void;
  incrementCountAtIndex(index: number): void;
  incrementTotalCount(): void;
  addToCountAtIndex(index: number, count: number): void;
  addToTotalCount(count: number): void;
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

/** A new sparse slot holding `v`'s index at count 0: the recordSparse of `v` that follows counts it. */
export function sparseSlotFor(v: number): SparseCounts {
  return sparseWith(countsIndex(v));
}

/**
 * Records `v` into a sparse slot. When `v` would be its (MAX_SPARSE + 1)th distinct index, the slot
 * turns dense instead: the histogram, with `v` recorded, is returned to take the slot's place.
 */
export function recordSparse(t: SparseCounts, v: number): HdrHistogram | undefined {
  if (sparseIncrement(t, countsIndex(v), MAX_SPARSE)) return undefined;
  const dense = toDense(t);
  recordHdr(dense, v);
  return dense;
}

/**
 * The dense histogram of a sparse slot: the one newHdr() fed the slot's values would be, count for
 * count, with the same size (so the same blob header). The largest index goes first: one resize.
 */
export function toDense(t: SparseCounts): HdrHistogram {
  const h = newHdr();
  addSparseTo(h, t);
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
  sparseForEach(c, (_, count) => (total += count));
  return total;
}

/** Adds a slot's counts to `into` (a histogram of newHdr()'s layout), as `into.add(dense)` would. */
export function addSlotTo(into: HdrHistogram, slot: SlotCounts): void {
  const c = live(slot);
  if (Array.isArray(c)) addSparseTo(into, c);
  else into.add(c);
}

function addSparseTo(into: HdrHistogram, t: SparseCounts): void {
  const top = sparseMaxKey(t);
  if (top < 0) return;
  // The largest through recordValueWithCount, which grows an autoResize histogram to hold it (once);
  // the others straight at their index: `into` has newHdr()'s layout, and the library's
  // recordValueWithCount would find each index again with Math.log2 and Math.pow.
  let topCount = 0;
  sparseForEach(t, (index, count) => {
    if (index === top) topCount = count;
  });
  into.recordValueWithCount(LAYOUT.valueFromIndex(top), topCount);
  const js = into as unknown as JsInternals;
  let low = top;
  sparseForEach(t, (index, count) => {
    if (index === top) return;
    js.addToCountAtIndex(index, count);
    js.addToTotalCount(count);
    if (index > 0 && index < low) low = index;
  });
  // Min and max are the lowest values of the extreme indexes, not the exact values recorded: the
  // quantiles never read them, and the blob reads only maxValue's index.
  js.updateMinAndMax(js.valueFromIndex(low));
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
  const top = Math.max(0, sparseMaxKey(c));
  if (top >= s.countsArrayLength) s.resize(s.valueFromIndex(top));
  const highest = s.highestTrackableValue;
  let total = 0;
  sparseForEach(c, (index, count) => {
    s.setCountAtIndex(index, count);
    total += count;
  });
  s.setTotalCount(total);
  // What a histogram fed these values would hold: the blob has counts up to maxValue's index and,
  // in its header, the highest trackable value of a histogram just wide enough for them.
  s.maxValue = total === 0 ? 0 : s.valueFromIndex(top);
  s.highestTrackableValue = freshHighest(top);
  try {
    return read(s);
  } finally {
    sparseForEach(c, (index) => s.setCountAtIndex(index, 0));
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
  if (Array.isArray(c)) return encodeSparse(c);
  return readSlot(c, (h) => hdr.encodeIntoCompressedBase64(h));
}

/**
 * encodeIntoCompressedBase64 of readSlot()'s histogram of a sparse slot, byte for byte, written
 * from its few counts: the library fills the scratch histogram, then walks every count up to the
 * largest (~6,000 for 0.07 s) to write the few that are not 0, ~23 us a slot in a flush of summary
 * series (profiled). The V2 encoding: a 40-byte header (the scratch's layout, and the highest
 * trackable value readSlot gives it), then ZigZag LEB128 words, a count, or minus a run of zeros
 * (a single zero is written as a count of 0), up to the largest index with a count; deflated with
 * the library's (zlib's default) options, behind the compressed cookie and length.
 */
function encodeSparse(c: SparseCounts): string {
  const entries = sparseEntries(c);
  const top = entries.length > 0 ? entries[entries.length - 1]![0] : 0;
  const words: number[] = [];
  let next = 0;
  const zeros = (n: number): void => {
    if (n > 1) words.push(2 * n - 1);
    else if (n === 1) words.push(0);
  };
  for (const [index, count] of entries) {
    zeros(index - next);
    words.push(2 * count);
    next = index + 1;
  }
  // Up to the largest index with a count (index 0 alone when there is none: maxValue 0).
  zeros(top + 1 - next);
  const bytes: number[] = [];
  for (const w of words) {
    for (let k = 0, scale = 1; ; k++, scale *= 128) {
      if (k === 8) {
        bytes.push(Math.floor(w / scale) & 0xff);
        break;
      }
      if (w < scale * 128) {
        bytes.push(Math.floor(w / scale));
        break;
      }
      bytes.push((Math.floor(w / scale) & 0x7f) | 0x80);
    }
  }
  const raw = Buffer.alloc(40 + bytes.length);
  raw.writeInt32BE(V2_ENCODING_COOKIE, 0);
  raw.writeInt32BE(bytes.length, 4);
  raw.writeInt32BE(1, 8);
  raw.writeInt32BE(HDR_SIGNIFICANT_DIGITS, 12);
  raw.writeBigInt64BE(1n, 16);
  raw.writeBigInt64BE(BigInt(freshHighest(top)), 24);
  raw.writeBigInt64BE(1n, 32);
  raw.set(bytes, 40);
  const deflated = deflateSync(raw);
  const out = Buffer.alloc(8 + deflated.length);
  out.writeInt32BE(V2_COMPRESSED_COOKIE, 0);
  out.writeInt32BE(deflated.length, 4);
  deflated.copy(out, 8);
  return out.toString('base64');
}

/** hdr-histogram-js' V2 cookies, with the word-size bits it writes (`| 0x10`, LEB128 ZigZag words). */
export const V2_ENCODING_COOKIE = 0x1c849313;
export const V2_COMPRESSED_COOKIE = 0x1c849314;
