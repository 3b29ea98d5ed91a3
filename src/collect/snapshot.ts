import { leLabel, type GaugeMode, type MetricFamily, type MetricType } from '../store/family.js';
import { CounterValue, GaugeValue, HistogramValue, NativeHistogramValue, flushedAt, SummaryValue, type Exemplar, type RedisValue } from '../store/values.js';
import type { NativeDefinition } from '../store/definition.js';
import { unflushedNative } from '../native/series.js';
import type { SlotCounts } from '../store/hdr-slot.js';
import type { CounterTable, CounterValues } from './counter-table.js';
import type { LocalFeed } from './counter-read.js';
import type { Pacer } from '../pacer.js';
import type { PackedList } from '../redis/packed-list.js';

/** A family's definition as read back from its meta hash (or from this process's own metric). */
export interface FamilyMeta {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly mode: GaugeMode | undefined;
  readonly labelNames: readonly string[];
  readonly buckets: readonly number[];
  readonly percentiles: readonly number[];
  readonly maxAgeSeconds: number;
  readonly ageBuckets: number;
  readonly pruneAgedBuckets: boolean;
  /** Histograms with native buckets. */
  readonly native: NativeDefinition | undefined;
}

/** Per-process fields: Redis strings, or this process's own summary slots (any form of hdr-slot.ts). */
export type ProcessFields = Map<string, string | SlotCounts>;

/** Everything the merge needs for one family, Redis and local state together. */
export interface FamilySnapshot {
  readonly meta: FamilyMeta;
  /** Cluster-wide sums (counters, histogram buckets/sum/count, summary sum/count). */
  readonly sums: Map<string, number>;
  /** Per-process fields of the processes the mode counts, by processId. */
  readonly processes: Map<string, ProcessFields>;
  /** Latest exemplar by sum field (`<labelKey>` or `<labelKey>#<le>`). */
  readonly exemplars: Map<string, Exemplar>;
  /** Creation time of each series (ms, Redis time), by label key: what the first process to flush it reported. */
  readonly created?: Map<string, number> | undefined;
  /** This process's own family of that name, if it has one. */
  readonly local?: MetricFamily | undefined;
  /** A counter family read through its CounterTable: its series are here, not in `sums`. */
  readonly counters?: CounterValues | undefined;
}

export function metaOfFamily(family: MetricFamily): FamilyMeta {
  const d = family.def;
  return {
    name: d.name,
    help: d.help,
    type: d.type,
    mode: d.mode,
    labelNames: d.labelNames,
    buckets: d.buckets ?? [],
    percentiles: d.percentiles ?? [],
    maxAgeSeconds: d.maxAgeSeconds ?? 0,
    ageBuckets: d.ageBuckets ?? 0,
    pruneAgedBuckets: d.pruneAgedBuckets ?? false,
    native: d.native,
  };
}

function add(into: Map<string, number>, field: string, x: number): void {
  into.set(field, (into.get(field) ?? 0) + x);
}

/**
 * This process's sums not yet in Redis, as one tick saw them: the outbox batches Redis has not
 * applied (`seq > appliedSeq`; read later, by settleLocalSums) and the shadow store's deltas (in
 * `deltas`). A batch Redis applied but whose reply is still on its way is left out.
 */
export interface LocalSums {
  /** The sums of the batches to add, in outbox order: lists no later write changes. */
  readonly batches: readonly PackedList[];
  readonly deltas: Map<string, number>;
  /**
   * Counter values and their deltas as the tick read them, added after the rest by settleLocalSums
   * a slice at a time: a map of a million fields built in the tick held it ~0.4 s (a process
   * collecting its own million unflushed counters).
   */
  readonly counters: readonly CounterValue[];
  readonly counterDeltas: Float64Array;
  /** Entries of `counters` and `counterDeltas` in use (they are made at the most the tick could take). */
  readonly counterCount: number;
}

/**
 * Takes this process's sums not yet in Redis (see LocalSums) in one tick, against the seq Redis
 * reported in the same tick. The batches are only kept, not read: a flush of a million series in
 * flight holds a million pairs, whose strings and Map entries took ~0.35-0.4 s in one tick.
 */
export function takeLocalSums(family: MetricFamily, appliedSeq: number): LocalSums {
  const batches: PackedList[] = [];
  const into = new Map<string, number>();
  let counters: CounterValue[] = NO_COUNTERS;
  let counterDeltas = NO_DELTAS;
  let counterCount = 0;
  // While Redis has lost the family and this process's full re-send is not applied yet, Redis holds
  // none of this process's sums: add everything it ever flushed instead of the outbox.
  const draining = family.draining;
  const resetPending = family.isRestoring(appliedSeq);
  if (!resetPending) {
    // A batch being drained has no seq yet, so Redis cannot have applied it; its list still grows
    // (and a part handed over empties it), so what it holds now is copied.
    for (const batch of family.pending) if (batch.seq > appliedSeq) batches.push(batch.sums);
    if (draining) batches.push(draining.sums.copy());
  }
  if (resetPending) for (const [field, total] of family.carried) add(into, field, total);
  // Runs in one tick (see the collector), so it reads only what can have something to add: a value
  // with no delta that is not dirty is entirely in Redis already, and every dirty value is on the
  // store's dirty list or on the part of a paused drain's dirty list not drained yet (see
  // MetricFamily.drainList): a million series of which a thousand changed cost a thousand reads.
  // A value can be on them twice: a drain of every value clears the flag of a value that an update
  // had already listed again, so the next update lists it once more (and a drain of such a list
  // does the same). Each value is added once: a counter's readers add the first of its pairs
  // (LocalFeed's `once`), and the other types' `seen` flag marks it for this read. A dirty one is
  // added even at 0, so that a series created (or zeroed) but not flushed yet shows up. A re-send
  // pending reads every value (its totals count too), and so does a collect during a drain of every
  // value (a value it has not reached may be on the dirty list too), and one of a store that keeps
  // no dirty list (nothing flushes it).
  const series = family.series;
  const drainList = family.drainStore === series ? family.drainList : undefined;
  if (resetPending || !series.isFlushed || (drainList !== undefined && !family.drainsDirtyList)) {
    for (const v of series.values.values()) addUnflushed(family, v, resetPending, into);
  } else if (family.def.type === 'counter') {
    const dirty = series.dirty as unknown as readonly CounterValue[];
    const undrained = drainList === undefined ? 0 : drainList.length - family.drainAt;
    if (dirty.length + undrained > 0) {
      counters = new Array<CounterValue>(dirty.length + undrained);
      counterDeltas = new Float64Array(dirty.length + undrained);
      counterCount = takeCounters(dirty, 0, counters, counterDeltas, 0);
      if (drainList !== undefined) counterCount = takeCounters(drainList as unknown as readonly CounterValue[], family.drainAt, counters, counterDeltas, counterCount);
    }
  } else {
    const read: RedisValue[] = [];
    const once = (v: RedisValue): void => {
      if (v.seen || v.removed) return;
      v.seen = true;
      read.push(v);
      addUnflushed(family, v, false, into);
    };
    try {
      const dirty = series.dirty;
      for (let k = 0; k < dirty.length; k++) once(dirty[k]!);
      if (drainList !== undefined) for (let k = family.drainAt; k < drainList.length; k++) once(drainList[k]!);
    } finally {
      for (const v of read) v.seen = false;
    }
  }
  return { batches, deltas: into, counters, counterDeltas, counterCount };
}

const NO_COUNTERS: CounterValue[] = [];
const NO_DELTAS = new Float64Array(0);

/**
 * Puts the counters of `list` from `from` on that are dirty or hold a delta, with their deltas now,
 * at `n` and after; returns the new count. A counter listed twice comes twice, with the same delta:
 * the readers of the counters add it once (LocalFeed's `once`). Marking each one `seen` here, and
 * clearing the marks, took ~40% of this tick at a million dirty counters (~25 ms in all).
 */
function takeCounters(list: readonly CounterValue[], from: number, counters: CounterValue[], deltas: Float64Array, n: number): number {
  for (let k = from; k < list.length; k++) {
    const c = list[k]!;
    if (c.removed || (c.delta === 0 && !c.dirty)) continue;
    counters[n] = c;
    deltas[n++] = c.delta;
  }
  return n;
}

/**
 * Adds a value's unflushed part to `into`: with `all`, its deltas and flushed totals (Redis lost the
 * family), else its deltas if it is dirty or holds one. A removed value adds nothing.
 */
function addUnflushed(family: MetricFamily, v: RedisValue, all: boolean, into: Map<string, number>): void {
  if (v.removed) return;
  const type = family.def.type;
  if (type === 'counter') {
    const c = v as CounterValue;
    if (c.delta !== 0 || c.dirty || all) add(into, c.field, c.delta + (all ? c.flushed : 0));
  } else if (type === 'histogram') {
    const h = v as HistogramValue;
    if (h.countDelta === 0 && !h.dirty && !all) return;
    const bounds = family.def.buckets ?? [];
    const f = flushedAt(h);
    for (let i = 0; i <= bounds.length; i++) {
      const d = h.buckets[i]! + (all ? h.buckets[f + i]! : 0);
      if (d !== 0) add(into, `${h.field}#${leLabel(i < bounds.length ? bounds[i]! : Infinity)}`, d);
    }
    add(into, `${h.field}#sum`, h.sumDelta + (all ? h.sumFlushed : 0));
    add(into, `${h.field}#count`, h.countDelta + (all ? h.countFlushed : 0));
    if (h instanceof NativeHistogramValue) unflushedNative(h, all, (field, amount) => add(into, field, amount));
  } else if (type === 'summary') {
    const s = v as SummaryValue;
    if (s.countDelta === 0 && !s.dirty && !all) return;
    add(into, `${s.field}#sum`, s.sumDelta + (all ? s.sumFlushed : 0));
    add(into, `${s.field}#count`, s.countDelta + (all ? s.countFlushed : 0));
  }
}

/** Pairs of the local sums fed between two looks at the pacer. */
const PAIRS_PER_STEP = 256;

/**
 * This process's unflushed sums as a LocalFeed (counter-read.ts), in the one-tick read's order: the
 * batches' pairs, then the deltas, then the counters' deltas, so that a field's float sum is the
 * same whoever adds it up (settleLocalSums into a map, or sumsByTable by table position).
 */
/** A feed of `local` from its first pair (each reader takes its own). */
export function feedOf(local: LocalSums): LocalFeed {
  return new Feed(local);
}

class Feed implements LocalFeed {
  readonly #local: LocalSums;
  /** The batch being read, and the offset of its next pair. */
  #batch = 0;
  #at = 0;
  #deltas: Iterator<[string, number]> | undefined;
  #deltasDone = false;
  #counter = 0;

  constructor(local: LocalSums) {
    this.#local = local;
  }

  next(add: (field: string, amount: number, once?: boolean) => void): boolean {
    const local = this.#local;
    if (this.#batch < local.batches.length) {
      this.#at = local.batches[this.#batch]!.pairsFrom(this.#at, PAIRS_PER_STEP, add);
      if (this.#at < 0) [this.#batch, this.#at] = [this.#batch + 1, 0];
      return true;
    }
    if (!this.#deltasDone) {
      this.#deltas ??= local.deltas.entries();
      for (let k = 0; k < PAIRS_PER_STEP; k++) {
        const next = this.#deltas.next();
        if (next.done === true) {
          this.#deltasDone = true;
          break;
        }
        add(next.value[0], next.value[1]);
      }
      return true;
    }
    const { counters, counterDeltas, counterCount } = local;
    const end = Math.min(counterCount, this.#counter + PAIRS_PER_STEP);
    for (let k = this.#counter; k < end; k++) add(counters[k]!.field, counterDeltas[k]!, true);
    this.#counter = end;
    return end < counterCount;
  }
}

/** The local sums as one map (see LocalFeed), a slice at a time. */
export async function settleLocalSums(local: LocalSums, pacer: Pacer): Promise<Map<string, number>> {
  if (local.batches.length === 0 && local.counterCount === 0) return local.deltas;
  const into = new Map<string, number>();
  const once = new Set<string>();
  const addPair = (field: string, x: number, isOnce?: boolean): void => {
    if (isOnce === true) {
      if (once.has(field)) return;
      once.add(field);
    }
    add(into, field, x);
  };
  for (const feed = feedOf(local); feed.next(addPair); ) {
    const pause = pacer.due();
    if (pause) await pause;
  }
  return into;
}

/** This process's per-process fields, from memory: authoritative over what Redis holds for it. */
export function localProcessFields(family: MetricFamily, clockOffsetMs: number): ProcessFields {
  const out: ProcessFields = new Map();
  if (family.def.type === 'gauge') {
    const stamps = family.def.mode === 'mostrecent' || family.def.mode === 'livemostrecent';
    for (const v of family.series.values.values()) {
      const g = v as GaugeValue;
      out.set(g.field, String(g.value));
      if (stamps) out.set(`@${g.field}`, String(g.updatedAtMs + clockOffsetMs));
    }
  } else if (family.def.type === 'summary') {
    for (const v of family.series.values.values()) {
      const s = v as SummaryValue;
      for (const [slot, h] of s.slots) out.set(`${s.field}#${slot}`, h);
    }
  }
  return out;
}

/**
 * Creation times of this process's series that Redis does not hold yet (made since the last flush,
 * or in a flush not acknowledged yet), moved to Redis time: Redis's, once there, is authoritative,
 * so that `_created` never moves by a clock-offset jitter between scrapes.
 */
export function addLocalCreated(family: MetricFamily, clockOffsetMs: number, into: Map<string, number>): void {
  if (family.def.type === 'gauge') return;
  for (const v of family.series.values.values()) if (!into.has(v.field)) into.set(v.field, v.createdAtMs + clockOffsetMs);
}

/**
 * addLocalCreated() for creation times by table position (NaN: unknown), a slice at a time (a
 * creation time never changes, so the series need not be read in one tick).
 */
export async function addLocalCreatedByTable(family: MetricFamily, clockOffsetMs: number, table: CounterTable, into: Float64Array, pacer: Pacer): Promise<void> {
  if (family.def.type === 'gauge') return;
  const values = family.series.values.values();
  while (createdSlice(values, clockOffsetMs, table, into)) {
    const pause = pacer.due();
    if (pause) await pause;
  }
}

/** Series per slice of addLocalCreatedByTable. */
const CREATED_PER_SLICE = 512;

/** One slice of addLocalCreatedByTable (a plain function: its loop is optimized); false at the end. */
function createdSlice(values: Iterator<RedisValue>, clockOffsetMs: number, table: CounterTable, into: Float64Array): boolean {
  for (let k = 0; k < CREATED_PER_SLICE; k++) {
    const next = values.next();
    if (next.done === true) return false;
    const v = next.value;
    const i = table.findString(v.field);
    if (i >= 0 && Number.isNaN(into[i])) into[i] = v.createdAtMs + clockOffsetMs;
  }
  return true;
}

/** Adds this process's exemplars to the latest ones Redis holds (the newer of two wins). */
export function addLocalExemplars(family: MetricFamily, into: Map<string, Exemplar>): void {
  const series = family.series;
  if (series.exemplars.size === 0) return;
  const les = family.def.type === 'histogram' ? [...(family.def.buckets ?? []), Infinity].map(leLabel) : [];
  const put = (field: string, e: Exemplar): void => {
    const known = into.get(field);
    if (!known || e.timestamp >= known.timestamp) into.set(field, e);
  };
  for (const [v, stored] of series.exemplars) {
    if (!Array.isArray(stored)) put(v.field, stored);
    else stored.forEach((e, i) => e && put(`${v.field}#${les[i]}`, e));
  }
}
