/**
 * Keeps a float sum from going down by a rounding error between two collects. The flush script adds
 * in double (or, for a user without +hmget, HINCRBYFLOAT in long double, 17 decimals kept); a
 * process adds its unflushed part, and its totals when it re-sends what Redis lost, in double. The
 * same sum reached in another order (the processes' flushes interleave as they come) may differ in
 * its last bit, and Prometheus reads any decrease of a counter (or a histogram's
 * `_sum`) as a reset: `rate()` jumps by the whole value. So a summed field lower than what this
 * collector served before by at most a billionth of it is served as before. A real decrease (a
 * writer's part lost) is far larger and goes through. Only non-integer values are kept: counts are
 * exact.
 */
export class RoundingFloor {
  /** Last non-integer value served, by family and field. */
  #last = new Map<string, Map<string, number>>();

  /** Applies the floor to one family's sums, in place, and remembers them for the next collect. */
  apply(family: string, sums: Map<string, number>): void {
    const before = this.#last.get(family);
    let kept: Map<string, number> | undefined;
    for (const [field, x] of sums) {
      if (Number.isInteger(x)) continue;
      let value = x;
      const last = before?.get(field);
      if (last !== undefined && x < last && last - x <= Math.abs(last) * RELATIVE_ROUNDING) {
        value = last;
        sums.set(field, last);
      }
      (kept ??= new Map()).set(field, value);
    }
    if (kept) this.#last.set(family, kept);
    else this.#last.delete(family);
  }
}

/** Relative difference taken for rounding: far above the last bit of a double (2.2e-16), far below a real loss. */
export const RELATIVE_ROUNDING = 1e-9;
