import type { LiveCounts, SlotCounts } from './hdr-slot.js';

/** The process's clock when this module loaded: series creation times are kept as offsets from it. */
const CLOCK_BASE_MS = Date.now();

/**
 * `ms` as a small integer when it fits: a difference of two doubles stays a boxed double in V8
 * whatever its value, `| 0` makes it an int32 (exact, as only whole ms within ±2^30 take it).
 */
function clockOffset(ms: number): number {
  return ms >= -0x40000000 && ms < 0x40000000 ? ms | 0 : ms;
}

const DIRTY = 1;
const DROPPED = 2;
const REMOVED = 4;
const CREATED_SENT = 8;
const SEEN = 16;
/** The bits of `#flags` above the five flags hold `numericLabels`. */
const NUMERIC_SHIFT = 5;
const FLAG_BITS = (1 << NUMERIC_SHIFT) - 1;
/**
 * Labels whose number type `numericLabels` records: the first 25, so that the flags stay a small
 * integer (below 2^30) on every build. A label past them given as a number comes back as a string.
 */
export const MAX_NUMERIC_LABELS = 25;

/**
 * One series' state in the shadow store. The hot path only adds to `delta`-like fields and, on the
 * first update after a flush, pushes the value on its series store's dirty list. A flush reads and
 * zeroes the deltas in the same tick, so no update is lost between the read and the reset.
 */
export abstract class RedisValue {
  /** The Redis field of this series: the JSON array of its label values ('' for a missing label). */
  readonly field: string;
  /**
   * dirty, dropped, removed, isCreatedSent and seen as bits of one small integer, and numericLabels
   * above them: fields are 8 bytes each on Node's builds (no pointer compression), one field holds
   * them all (perf/README.md `memory`). The accessors below keep the names; V8 inlines them on the
   * hot path.
   */
  #flags = 0;
  /**
   * When this process made the series, in ms after CLOCK_BASE_MS: a small integer, which V8 keeps in
   * the field itself, where the epoch time (~1.7e12, past the small-integer range) is a boxed double
   * of 16 more bytes a series (perf/README.md `memory`). Past ~12 days of uptime (2^30 ms) the offset is
   * boxed again: exact still, only no longer smaller.
   */
  readonly createdOffsetMs = clockOffset(Date.now() - CLOCK_BASE_MS);

  constructor(labelValues: readonly string[], dropped = false) {
    this.field = JSON.stringify(labelValues);
    // A dropped value never joins a dirty list: it is dirty from the start.
    if (dropped) this.#flags = DROPPED | DIRTY;
  }

  /**
   * Bit i set: label i was first given as a number (`{ code: 200 }`), and `get()` gives it back as
   * one (labels below MAX_NUMERIC_LABELS).
   */
  get numericLabels(): number {
    return this.#flags >>> NUMERIC_SHIFT;
  }

  set numericLabels(x: number) {
    this.#flags = (this.#flags & FLAG_BITS) | ((x & ((1 << MAX_NUMERIC_LABELS) - 1)) << NUMERIC_SHIFT);
  }

  /** On its series store's dirty list (or dropped): the next update need not push it again. */
  get dirty(): boolean {
    return (this.#flags & DIRTY) !== 0;
  }

  set dirty(x: boolean) {
    this.#flags = x ? this.#flags | DIRTY : this.#flags & ~DIRTY;
  }

  /** Past the series limit: updates land here and are never flushed. */
  get dropped(): boolean {
    return (this.#flags & DROPPED) !== 0;
  }

  /** Removed from its series store (remove() or reset()): holders of it (children) ask for a new one. */
  get removed(): boolean {
    return (this.#flags & REMOVED) !== 0;
  }

  set removed(x: boolean) {
    this.#flags = x ? this.#flags | REMOVED : this.#flags & ~REMOVED;
  }

  /**
   * Already read by the collect that is reading the dirty lists now (takeLocalSums sets it on
   * histograms and summaries, and clears it before it returns): a value can be on a dirty list
   * twice (see takeLocalSums).
   */
  get seen(): boolean {
    return (this.#flags & SEEN) !== 0;
  }

  set seen(x: boolean) {
    this.#flags = x ? this.#flags | SEEN : this.#flags & ~SEEN;
  }

  /** A flush carried `createdAtMs` to Redis. */
  get isCreatedSent(): boolean {
    return (this.#flags & CREATED_SENT) !== 0;
  }

  set isCreatedSent(x: boolean) {
    this.#flags = x ? this.#flags | CREATED_SENT : this.#flags & ~CREATED_SENT;
  }

  /** When this process made the series (ms, its clock): its creation time in Redis is the earliest of any process's. */
  get createdAtMs(): number {
    return CLOCK_BASE_MS + this.createdOffsetMs;
  }

  /** The label values in `labelNames` order, from `field`: not kept twice (~56 bytes a series). */
  get labelValues(): string[] {
    return JSON.parse(this.field) as string[];
  }
}

export class CounterValue extends RedisValue {
  delta = 0;
  /** Everything this process has handed to a flush: re-sent whole if Redis loses the family. */
  flushed = 0;
}

export class GaugeValue extends RedisValue {
  value = 0;
  /** Time of the last update, for the `mostrecent` modes. */
  updatedAtMs = 0;
}

export class HistogramValue extends RedisValue {
  /**
   * Per-bucket counts, not cumulative: slots 0..n (n = bucketCount, slot n is `+Inf`) hold the
   * counts since the last flush, slots n+1..2n+1 the totals flushed (see flushedAt). One plain
   * array, allocated at its exact size: counts are small integers that V8 keeps untagged in the
   * array itself, where a typed array costs ~350 bytes of objects and off-heap backing store per
   * series, and two arrays grown by push() cost ~130 bytes more than this one (a second header,
   * and push's spare capacity) — measured with 11 buckets, perf/README.md `memory`. The last two
   * slots hold the sums (sumDelta, sumFlushed): as fields, each non-integer sum is a boxed double
   * (16 bytes more); in the array, once one is not an integer, every slot is an unboxed double.
   */
  readonly buckets: number[];
  countDelta = 0;
  countFlushed = 0;

  constructor(labelValues: readonly string[], bucketCount: number, dropped = false) {
    super(labelValues, dropped);
    this.buckets = zeros(2 * (bucketCount + 1) + 2);
  }

  /** The sum of the observations since the last flush. */
  get sumDelta(): number {
    return this.buckets[this.buckets.length - 2]!;
  }

  set sumDelta(x: number) {
    this.buckets[this.buckets.length - 2] = x;
  }

  /** The sum of the observations handed to flushes. */
  get sumFlushed(): number {
    return this.buckets[this.buckets.length - 1]!;
  }

  set sumFlushed(x: number) {
    this.buckets[this.buckets.length - 1] = x;
  }
}

/** Index in `HistogramValue.buckets` of the flushed total of bucket 0. */
export function flushedAt(v: HistogramValue): number {
  return (v.buckets.length - 2) >> 1;
}

/**
 * A histogram series with native buckets too. Deltas since the last flush and the totals flushed are
 * kept by bucket index at the series' current schema; when the series has more populated buckets
 * than its budget, both are halved in resolution together (src/native), so the fields of earlier
 * flushes at the finer schema stay exact in Redis and the collector reduces them when it merges.
 */
export class NativeHistogramValue extends HistogramValue {
  schema: number;
  readonly zeroThreshold: number;
  readonly positiveDeltas = new Map<number, number>();
  readonly negativeDeltas = new Map<number, number>();
  readonly positiveFlushed = new Map<number, number>();
  readonly negativeFlushed = new Map<number, number>();
  zeroDelta = 0;
  zeroFlushed = 0;
  /** Distinct buckets with a delta or a flushed total, both sides. */
  populated = 0;

  constructor(labelValues: readonly string[], bucketCount: number, schema: number, zeroThreshold: number, dropped = false) {
    super(labelValues, bucketCount, dropped);
    this.schema = schema;
    this.zeroThreshold = zeroThreshold;
  }
}

/** A packed array of small-integer zeros (`new Array(n).fill(0)` would be holey). */
/** An array of n zeros at its exact size (push() would leave spare capacity: ~8 bytes a slot). */
function zeros(n: number): number[] {
  const a = new Array<number>(n);
  for (let i = 0; i < n; i++) a[i] = 0;
  return a;
}

export class SummaryValue extends RedisValue {
  sumDelta = 0;
  countDelta = 0;
  sumFlushed = 0;
  countFlushed = 0;
  /** HDR counts by age slot (`floor(now / slotMs)`; always 0 without `maxAgeSeconds`): sparse, dense or a blob (hdr-slot.ts). */
  readonly slots: Map<number, SlotCounts> = new Map();
  /**
   * Slots changed since the last flush. This and sentSlots are small arrays (at most ageBuckets
   * slots), made when first needed: an empty Set is ~150 bytes a series (perf/README.md `memory`).
   */
  dirtySlots: number[] | undefined = undefined;
  currentSlot = -1;
  /** The counts of `currentSlot`, never a blob (the hot path decodes one it comes back to). */
  current: LiveCounts | undefined;
  /** The slot last added to dirtySlots, so the hot path looks at the list only on a slot change. */
  lastDirtySlot = -1;
  /**
   * Slots a flush has put in a batch (so their field may be in Redis) and not deleted since. Only
   * these need a deletion when they leave the window: a slot that ages out unflushed (Redis down)
   * leaves nothing behind, so however long Redis is down a series holds at most `ageBuckets`
   * histograms and at most `ageBuckets` deletions to send.
   */
  sentSlots: number[] | undefined = undefined;
  /** Sent slots the hot path dropped from the window: their per-process fields go at the next flush. */
  prunedSlots: number[] | undefined = undefined;
}

/** `list` with `slot` in it (a new list when there was none). */
export function withSlot(list: number[] | undefined, slot: number): number[] {
  if (list === undefined) return [slot];
  if (!list.includes(slot)) list.push(slot);
  return list;
}

/** Takes `slot` out of `list`; true if it was there. */
export function dropSlot(list: number[] | undefined, slot: number): boolean {
  const i = list === undefined ? -1 : list.indexOf(slot);
  if (i < 0) return false;
  list!.splice(i, 1);
  return true;
}

/** Slot of a summary's age ring at `nowMs`: 0 when the summary does not age. */
export function summarySlot(maxAgeSeconds: number | undefined, ageBuckets: number | undefined, nowMs: number): number {
  if (!maxAgeSeconds) return 0;
  return Math.floor(nowMs / ((maxAgeSeconds * 1000) / (ageBuckets ?? 5)));
}

/** An OpenMetrics exemplar, in prom-client's shape (`timestamp` in seconds). */
export interface Exemplar {
  labelSet: Record<string, string | number>;
  value: number;
  timestamp: number;
}

/** An exemplar as the store keeps it: `isFlushed` once a flush carried it. */
export interface StoredExemplar extends Exemplar {
  isFlushed: boolean;
}
