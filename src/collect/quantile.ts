import type { Histogram as HdrHistogram } from 'hdr-histogram-js';
import { HDR_SCALE } from '../store/hdr-slot.js';

/**
 * The q-quantile of an HDR histogram, as the shortest decimal inside the equivalent-value range of
 * the bucket it falls in: any value there is equally right at the histogram's precision, and the
 * shortest one gives back round inputs exactly (2, not 2.000895).
 */
export function quantileOf(h: HdrHistogram, q: number): number {
  const v = h.getValueAtPercentile(q * 100);
  const js = h as unknown as { lowestEquivalentValue(v: number): number; highestEquivalentValue(v: number): number };
  const lo = js.lowestEquivalentValue(v);
  const hi = js.highestEquivalentValue(v);
  const mid = (lo + hi) / 2;
  for (let digits = 1; digits <= 17; digits++) {
    const candidate = Number(mid.toPrecision(digits));
    if (candidate >= lo && candidate <= hi) return candidate / HDR_SCALE;
  }
  return v / HDR_SCALE;
}
