import type { Pacer } from '../pacer.js';
import type { CounterTable } from './counter-table.js';

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
  /** The same for families read through a CounterTable: by position, NaN for none. */
  #lastByTable = new Map<string, { table: CounterTable; last: Float64Array }>();

  /**
   * Applies the floor to one family's sums, in place, and remembers them for the next collect;
   * paced (the sums and counts of 100,000 summary series held the loop ~35 ms in one call).
   */
  async apply(family: string, sums: Map<string, number>, pacer: Pacer): Promise<void> {
    this.#fromTable(family);
    const before = this.#last.get(family);
    let kept: Map<string, number> | undefined;
    for (const [field, x] of sums) {
      const pause = pacer.step();
      if (pause) await pause;
      if (Number.isInteger(x)) continue;
      let value = x;
      const last = before?.get(field);
      if (last !== undefined && isRoundingBelow(x, last)) {
        value = last;
        sums.set(field, last);
      }
      (kept ??= new Map()).set(field, value);
    }
    // Another collect of the family may have served its sums while this one walked (the walk
    // pauses): floored against those too, in one pass that only this case pays.
    const now = this.#last.get(family);
    if (now !== undefined && now !== before) {
      for (const [field, x] of sums) {
        const last = now.get(field);
        if (last === undefined || Number.isInteger(x) || !isRoundingBelow(x, last)) continue;
        sums.set(field, last);
        kept!.set(field, last);
      }
      // And what it served of fields this one did not read (a series new since this one's read).
      for (const [field, last] of now) if (!sums.has(field)) (kept ??= new Map()).set(field, last);
    }
    if (kept) this.#last.set(family, kept);
    else this.#last.delete(family);
  }

  /**
   * Forgets the families a read of every family did not cover (`read`: their `hash|typeMode`), so
   * that families gone from Redis (removed, expired, renamed) do not stay here for the process's
   * life. A family the read covered but skipped (a bad meta hash, say) keeps its floor: it may be
   * served again at the next read.
   */
  prune(read: ReadonlySet<string> | ReadonlyMap<string, unknown>): void {
    for (const family of this.#last.keys()) if (!read.has(family)) this.#last.delete(family);
    for (const family of this.#lastByTable.keys()) if (!read.has(family)) this.#lastByTable.delete(family);
  }

  /** Families remembered (for tests). */
  get size(): number {
    return this.#last.size + this.#lastByTable.size;
  }

  /**
   * apply() for a family read through a table: `values` by table position; paced (a million
   * values). `moved`: the table was made from `from`, its field i now at `at[i]` (-1: gone).
   */
  async applyTable(family: string, table: CounterTable, values: Float64Array, pacer: Pacer, moved?: { from: CounterTable; at: Int32Array }): Promise<void> {
    const entry = this.#lastByTable.get(family);
    let before = entry;
    const byField = this.#last.get(family);
    if (byField || (before && before.table !== table)) {
      // The family was read the other way, or through another table: its floor moves over, by
      // position when the table was made from that one, else by field.
      const last = new Float64Array(table.size).fill(NaN);
      if (byField) for (const [field, x] of byField) put(last, table.findString(field), x);
      else {
        const from = before!;
        const at = moved?.from === from.table ? moved.at : undefined;
        for (let i = 0; i < from.table.size; i++) {
          if (Number.isNaN(from.last[i]!)) continue;
          put(last, at ? at[i]! : table.findString(from.table.field(i)), from.last[i]!);
          const pause = pacer.step();
          if (pause) await pause;
        }
      }
      this.#last.delete(family);
      before = { table, last };
    }
    let kept: Float64Array | undefined;
    for (let i = 0; i < values.length; i++) {
      const x = values[i]!;
      // Integers (counts) are exact: only every 4,096th is a unit of pacing.
      if (Number.isInteger(x)) {
        if ((i & 4095) === 0) {
          const pause = pacer.due();
          if (pause) await pause;
        }
        continue;
      }
      let value = x;
      const last = before ? before.last[i]! : NaN;
      if (isRoundingBelow(x, last)) {
        value = last;
        values[i] = last;
      }
      (kept ??= new Float64Array(values.length).fill(NaN))[i] = value;
      const pause = pacer.step();
      if (pause) await pause;
    }
    // As apply(): another collect through the same table may have served meanwhile.
    const now = this.#lastByTable.get(family);
    // Served meanwhile through a newer table (made while this collect walked): that floor stays.
    if (now !== undefined && now !== entry && now.table !== table) return;
    if (now !== undefined && now !== entry) {
      for (let i = 0; i < values.length; i++) {
        const x = values[i]!;
        const last = now.last[i]!;
        if (Number.isInteger(x) || !isRoundingBelow(x, last)) continue;
        values[i] = last;
        kept![i] = last;
      }
    }
    if (kept) this.#lastByTable.set(family, { table, last: kept });
    else this.#lastByTable.delete(family);
  }

  /** A family read through a table before, read the ordinary way now: its floor moves back by field. */
  #fromTable(family: string): void {
    const before = this.#lastByTable.get(family);
    if (!before) return;
    this.#lastByTable.delete(family);
    const kept = new Map<string, number>();
    for (let i = 0; i < before.table.size; i++) if (!Number.isNaN(before.last[i]!)) kept.set(before.table.field(i), before.last[i]!);
    if (kept.size > 0) this.#last.set(family, kept);
  }
}

/** `x` lower than `last` (served before) by no more than a rounding error: served as `last` (NaN: never). */
function isRoundingBelow(x: number, last: number): boolean {
  return x < last && last - x <= Math.abs(last) * RELATIVE_ROUNDING;
}

function put(last: Float64Array, i: number, x: number): void {
  if (i >= 0) last[i] = x;
}

/** Relative difference taken for rounding: far above the last bit of a double (2.2e-16), far below a real loss. */
export const RELATIVE_ROUNDING = 1e-9;
