import type { Pacer } from '../pacer.js';

/** Strings in code-unit order, as `Array.prototype.sort()` without a comparator. */
export const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

const RUN = 2048;

/**
 * Sorts like `items.sort(compare)` (stable), but in slices with turns of the event loop between
 * them: one `sort()` of 100,000 label keys in Redis' random order blocks the loop for ~15 ms on
 * its own. Runs of 2,048 are sorted natively, then merged pairwise, pacing every element.
 */
export async function sortPaced<T>(items: readonly T[], compare: (a: T, b: T) => number, pacer: Pacer): Promise<T[]> {
  if (items.length <= RUN) return items.slice().sort(compare);
  let runs: T[][] = [];
  for (let i = 0; i < items.length; i += RUN) {
    runs.push(items.slice(i, i + RUN).sort(compare));
    const pause = pacer.due();
    if (pause) await pause;
  }
  while (runs.length > 1) {
    const next: T[][] = [];
    for (let r = 0; r < runs.length; r += 2) {
      const a = runs[r]!;
      const b = runs[r + 1];
      if (!b) {
        next.push(a);
        continue;
      }
      const out: T[] = new Array(a.length + b.length);
      let i = 0;
      let j = 0;
      let k = 0;
      while (i < a.length && j < b.length) {
        // `<= 0` takes from the left run first: stable.
        out[k++] = compare(a[i]!, b[j]!) <= 0 ? a[i++]! : b[j++]!;
        const pause = pacer.step();
        if (pause) await pause;
      }
      while (i < a.length) out[k++] = a[i++]!;
      while (j < b.length) out[k++] = b[j++]!;
      next.push(out);
    }
    runs = next;
  }
  return runs[0]!;
}
