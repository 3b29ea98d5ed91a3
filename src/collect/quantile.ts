import type { Histogram as HdrHistogram } from 'hdr-histogram-js';
import { HDR_SCALE, type JsInternals } from '../store/hdr-slot.js';

/**
 * The q-quantile of an HDR histogram, as the shortest decimal inside the equivalent-value range of
 * the bucket it falls in: any value there is equally right at the histogram's precision, and the
 * shortest one gives back round inputs exactly (2, not 2.000895).
 */
export function quantileOf(h: HdrHistogram, q: number): number {
  return shortest(h as unknown as JsInternals, h.getValueAtPercentile(q * 100));
}

/**
 * quantileOf(h, q) of each q of `qs` into `out`, in one walk of the counts: the library's
 * getValueAtPercentile walks them from the first for each quantile, and a summary's seven
 * quantiles of a histogram of ~7,000 counts took ~55% of a scrape of 10,000 summary series (one
 * merged histogram each). The walk skips the counts below the smallest value recorded and ends at
 * the last quantile's count; each count is the library's (the same rounding of the percentile's count).
 */
export function quantilesOf(h: HdrHistogram, qs: readonly number[], out: number[]): void {
  const js = h as unknown as JsInternals;
  const n = qs.length;
  // The quantiles by their counts, ascending (stable: equal counts keep their order).
  const order = ORDER.length >= n ? ORDER : (ORDER = new Array<number>(n));
  const counts = COUNTS.length >= n ? COUNTS : (COUNTS = new Array<number>(n));
  for (let k = 0; k < n; k++) {
    const percentile = Math.min(qs[k]! * 100, 100);
    const fp = (percentile / 100) * h.totalCount;
    counts[k] = Math.max(Math.ceil(fp - ulp(fp)), 1);
    order[k] = k;
  }
  for (let a = 1; a < n; a++) {
    const k = order[a]!;
    let b = a - 1;
    while (b >= 0 && counts[order[b]!]! > counts[k]!) {
      order[b + 1] = order[b]!;
      b--;
    }
    order[b + 1] = k;
  }
  let next = 0;
  let total = 0;
  const length = js.countsArrayLength;
  // Past index 0 (the value 0), the counts below the smallest other value recorded are 0:
  // minNonZeroValue is never above it (the library's record and add keep it so, and so does
  // addSlotTo; a histogram that does not keep it, as readSlot's, leaves it at its initial maximum).
  const min = js.minNonZeroValue;
  const from = min > 0 && min < Number.MAX_SAFE_INTEGER ? Math.max(1, Math.min(js.countsArrayIndex(min), length)) : 1;
  for (let i = 0; i < length && next < n; i = i === 0 ? from : i + 1) {
    total += js.getCountAtIndex(i);
    while (next < n && total >= counts[order[next]!]!) {
      const k = order[next++]!;
      const value = js.valueFromIndex(i);
      out[k] = shortest(js, qs[k] === 0 ? js.lowestEquivalentValue(value) : js.highestEquivalentValue(value));
    }
  }
  // What the library returns for a count it never reaches (a histogram with nothing in it).
  while (next < n) out[order[next++]!] = shortest(js, 0);
}

let ORDER: number[] = [];
let COUNTS: number[] = [];

/** The library's ulp (hdr-histogram-js/dist/ulp.js). */
function ulp(x: number): number {
  return Math.pow(2, Math.floor(Math.log2(x)) - 52);
}

/** The shortest decimal inside the equivalent-value range of `v`'s bucket, unscaled. */
function shortest(js: JsInternals, v: number): number {
  const lo = js.lowestEquivalentValue(v);
  const hi = js.highestEquivalentValue(v);
  const mid = (lo + hi) / 2;
  for (let digits = 1; digits <= 17; digits++) {
    const candidate = Number(mid.toPrecision(digits));
    if (candidate >= lo && candidate <= hi) return candidate / HDR_SCALE;
  }
  return v / HDR_SCALE;
}
