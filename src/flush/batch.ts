import { Pacer } from '../pacer.js';
import { FLAG_EXPECT_PROCESS, FLAG_META, FLAG_RESET, leLabel, type FamilyBatch, type MetricFamily } from '../store/family.js';
import type { KeyBuilder } from '../redis/keys.js';
import { EMPTY_LIST, PackedList } from '../redis/packed-list.js';
import { CounterValue, GaugeValue, HistogramValue, NativeHistogramValue, flushedAt, SummaryValue, dropSlot, summarySlot, withSlot, type RedisValue, type StoredExemplar } from '../store/values.js';
import { drainNative } from '../native/series.js';
import { encodeSlot, type SlotCounts } from '../store/hdr-slot.js';

/**
 * Drains a family into a batch: every dirty value's deltas are read and zeroed (and added to the
 * value's flushed totals). With `reset`, everything the process ever flushed is sent instead, for a
 * family Redis has lost (the carried totals of series gone from the store included); with
 * `allPerProcess`, every per-process value is set again.
 *
 * The drain runs over several ticks when the family is large. The hot path stays correct meanwhile:
 * a value keeps `dirty = true` until the slice that drains it (so an update to a value not drained
 * yet lands in this batch, and one to a value already drained puts it on the new dirty list), and the
 * batch being built is visible as `family.draining`, so a collect in between counts its sums once.
 *
 * With `onSums`, every MAX_PAIRS_PER_CALL sum pairs drained leave the batch at once as a batch of
 * their own (sums only, no meta), handed over in the same tick: the caller sends it while the drain
 * goes on, and must put it in the family's outbox before returning (the collect looks there). A
 * promise it returns holds the drain until it settles (parts in flight: see FamilyStream.part).
 * `onDone` receives the batch in the tick the drain ends, while the family is still `draining`: a
 * caller that keeps the batch in the outbox puts it there then.
 */
export async function drainFamily(
  family: MetricFamily,
  seq: number,
  nowMs: number,
  options: { reset: boolean; meta: boolean; allPerProcess: boolean },
  pacer = new Pacer(),
  onSums?: (chunk: FamilyBatch) => Promise<void> | void,
  onDone?: (batch: FamilyBatch) => void,
): Promise<FamilyBatch> {
  const { reset } = options;
  const def = family.def;
  const type = def.type;
  const series = family.series;
  let flags = 0;
  if (reset) flags |= FLAG_RESET;
  if (options.meta || reset) flags |= FLAG_META;
  if (family.knownEpoch !== '' && (type === 'gauge' || type === 'summary')) flags |= FLAG_EXPECT_PROCESS;
  // The lists are written as bytes while the values are read (PackedList): no string per delta.
  const sums = new PackedList(1024);
  const sets = new PackedList();
  const dels = PackedList.of(family.removedFields);
  const exemplars = new PackedList();
  const created = new PackedList();
  const batch: FamilyBatch = { family, seq, flags, clientNowMs: nowMs, sums, sets, dels, exemplars, created };
  family.removedFields = [];
  const dirty = series.dirty;
  series.dirty = [];
  family.isDirty = false;
  family.draining = batch;
  if (reset) {
    for (const [field, total] of family.carried) {
      sums.pushString(field);
      sums.pushNumber(total);
    }
  }
  const perProcessAll = reset || options.allPerProcess;
  // Counters and histograms have no per-process data: `allPerProcess` changes nothing for them.
  const everything = type === 'counter' || type === 'histogram' ? reset : perProcessAll;
  const list: readonly RedisValue[] = everything ? [...series.values.values()] : dirty;
  const newest = summarySlot(def.maxAgeSeconds, def.ageBuckets, nowMs);
  const d: Drain = {
    type,
    reset,
    perProcessAll,
    bounds: type === 'histogram' ? [...(def.buckets ?? []), Infinity].map(leLabel) : [],
    stamps: def.mode === 'mostrecent' || def.mode === 'livemostrecent',
    newest,
    oldest: newest - (def.maxAgeSeconds ? (def.ageBuckets ?? 5) - 1 : 0),
    // Counters, histograms and summaries have a creation time (OpenMetrics `_created`).
    hasCreated: type !== 'gauge',
    exemplarsOf: series.exemplars.size > 0 ? series.exemplars : undefined,
    sums,
    sets,
    dels,
    exemplars,
    created,
    pacer,
    pause: undefined,
    // The batch keeps the emptied builder: what a collect reads in `family.draining` is what was
    // not handed over.
    handOver:
      onSums === undefined
        ? undefined
        : () => onSums({ family, seq, flags: flags & ~FLAG_META, clientNowMs: nowMs, sums: sums.take(), sets: EMPTY_LIST, dels: EMPTY_LIST, exemplars: EMPTY_LIST, created: EMPTY_LIST }),
  };
  try {
    // The loops run in plain functions, a slice at a time: V8 tiers up a long loop of a running
    // plain function (on-stack replacement); the loop of this async function ran its first drains
    // of 100k values unoptimized (~0.7 µs a series in the first rounds, ~0.1 once optimized).
    // The dirty list being drained, for a collect in between (takeLocalSums reads its undrained part).
    family.drainList = list;
    family.drainsDirtyList = !everything;
    family.drainStore = series;
    for (let i = 0; i < list.length; ) {
      i = type === 'counter' ? drainCounters(d, list as readonly CounterValue[], i) : drainValues(d, list, i);
      family.drainAt = i;
      const pause = d.pause;
      d.pause = undefined;
      if (pause) await pause;
    }
    // Exact-size copies: the batch waits in the outbox until acknowledged. `onDone` puts it there
    // before the family stops being `draining`, in the same tick: a collect between the two (one
    // whose reply was parsed in the socket read that let this drain go on) would miss its sums.
    const done: FamilyBatch = { family, seq, flags, clientNowMs: nowMs, sums: sums.take(), sets: sets.take(), dels, exemplars: exemplars.take(), created: created.take() };
    onDone?.(done);
    return done;
  } finally {
    family.draining = undefined;
    family.drainList = undefined;
    family.drainStore = undefined;
    family.drainAt = 0;
    family.drainsDirtyList = false;
  }
}

/** What a drain writes to, and how. */
interface Drain {
  readonly type: MetricFamily['def']['type'];
  readonly reset: boolean;
  readonly perProcessAll: boolean;
  /** The `le` labels of a classic histogram's buckets. */
  readonly bounds: readonly string[];
  /** Gauges of the `mostrecent` modes send their update times. */
  readonly stamps: boolean;
  /** Summary age slots: the current one and the oldest in the window. */
  readonly newest: number;
  readonly oldest: number;
  readonly hasCreated: boolean;
  readonly exemplarsOf: Map<RedisValue, StoredExemplar | Array<StoredExemplar | null>> | undefined;
  readonly sums: PackedList;
  readonly sets: PackedList;
  readonly dels: PackedList;
  readonly exemplars: PackedList;
  readonly created: PackedList;
  readonly pacer: Pacer;
  /** Set when a slice stops because the pacer says to yield. */
  pause: Promise<void> | undefined;
  /**
   * Hands the sums drained so far over as a part of their own (drainFamily's `onSums`); a promise
   * returned says to drain no more until it settles (the parts sent are not answered yet).
   */
  readonly handOver: (() => Promise<void> | void) | undefined;
}

/**
 * Drains counters from `list[from]` until the end or a pause: a loop of its own, which sees one
 * kind of value only (its property reads stay monomorphic).
 */
function drainCounters(d: Drain, list: readonly CounterValue[], from: number): number {
  const { sums, created, reset, hasCreated, exemplarsOf, handOver, pacer } = d;
  for (let i = from; i < list.length; i++) {
    const v = list[i]!;
    // Read in the same tick as the drain of this value: see drainFamily.
    v.dirty = false;
    if (!v.removed) {
      const delta = v.delta;
      v.delta = 0;
      v.flushed += delta;
      sums.pushString(v.field);
      sums.pushNumber(reset ? v.flushed : delta);
      if (exemplarsOf !== undefined) drainExemplars(exemplarsOf.get(v), v.field, d.bounds, d.exemplars, reset);
      if (hasCreated && (reset || !v.isCreatedSent)) {
        created.pushString(v.field);
        created.pushNumber(v.createdAtMs);
        v.isCreatedSent = true;
      }
    }
    const pause = handOver !== undefined && sums.count >= MAX_PAIRS_PER_CALL * 2 ? (handOver() ?? pacer.step()) : pacer.step();
    if (pause) {
      d.pause = pause;
      return i + 1;
    }
  }
  return list.length;
}

/** Drains values of the other types from `list[from]` until the end or a pause. */
function drainValues(d: Drain, list: readonly RedisValue[], from: number): number {
  const { type, sums, sets, created, reset } = d;
  for (let i = from; i < list.length; i++) {
    const v = list[i]!;
    // Read in the same tick as the drain of this value: see drainFamily.
    const wasDirty = v.dirty;
    v.dirty = false;
    if (!v.removed) {
      if (type === 'histogram') drainHistogram(v as HistogramValue, d.bounds, sums, reset);
      else if (type === 'gauge') {
        const g = v as GaugeValue;
        pushPair(sets, g.field, g.value);
        if (d.stamps) pushPair(sets, `@${g.field}`, g.updatedAtMs);
      } else {
        // A summary (counters have a loop of their own: drainCounters).
        if (reset || wasDirty) drainSummarySums(v as SummaryValue, sums, reset);
        drainSummarySlots(v as SummaryValue, d.oldest, d.newest, sets, d.dels, d.perProcessAll);
      }
      if (d.exemplarsOf !== undefined) drainExemplars(d.exemplarsOf.get(v), v.field, d.bounds, d.exemplars, reset);
      if (d.hasCreated && (reset || !v.isCreatedSent)) {
        pushPair(created, v.field, v.createdAtMs);
        v.isCreatedSent = true;
      }
    }
    const pause = d.handOver !== undefined && sums.count >= MAX_PAIRS_PER_CALL * 2 ? (d.handOver() ?? d.pacer.step()) : d.pacer.step();
    if (pause) {
      d.pause = pause;
      return i + 1;
    }
  }
  return list.length;
}

function drainHistogram(v: HistogramValue, bounds: readonly string[], sums: PackedList, reset: boolean): void {
  const f = flushedAt(v);
  for (let i = 0; i < bounds.length; i++) {
    const d = v.buckets[i]!;
    v.buckets[i] = 0;
    v.buckets[f + i]! += d;
    const out = reset ? v.buckets[f + i]! : d;
    if (out !== 0) pushSuffixed(sums, v.field, '#', bounds[i]!, out);
  }
  const s = v.sumDelta;
  const c = v.countDelta;
  v.sumDelta = 0;
  v.countDelta = 0;
  v.sumFlushed += s;
  v.countFlushed += c;
  pushSuffixed(sums, v.field, '#sum', '', reset ? v.sumFlushed : s);
  pushSuffixed(sums, v.field, '#count', '', reset ? v.countFlushed : c);
  if (v instanceof NativeHistogramValue) drainNative(v, reset, sums);
}

function pushPair(list: PackedList, field: string, x: number): void {
  list.pushString(field);
  list.pushNumber(x);
}

/** The pair `<field><a><b>`, x: the field written in parts (no string made for it). */
function pushSuffixed(list: PackedList, field: string, a: string, b: string, x: number): void {
  list.write(field);
  list.write(a);
  list.write(b);
  list.endItem();
  list.pushNumber(x);
}

function drainSummarySums(v: SummaryValue, sums: PackedList, reset: boolean): void {
  const s = v.sumDelta;
  const c = v.countDelta;
  v.sumDelta = 0;
  v.countDelta = 0;
  v.sumFlushed += s;
  v.countFlushed += c;
  pushSuffixed(sums, v.field, '#sum', '', reset ? v.sumFlushed : s);
  pushSuffixed(sums, v.field, '#count', '', reset ? v.countFlushed : c);
}

function drainSummarySlots(v: SummaryValue, oldest: number, newest: number, sets: PackedList, dels: PackedList, all: boolean): void {
  if (v.prunedSlots) {
    for (const slot of v.prunedSlots) dels.pushString(`${v.field}#${slot}`);
    v.prunedSlots = undefined;
  }
  for (const slot of [...v.slots.keys()]) {
    if (slot < oldest) {
      v.slots.delete(slot);
      if (v.currentSlot === slot) {
        v.currentSlot = -1;
        v.current = undefined;
      }
      // A slot never sent has no field in Redis; after a re-send of everything (`all`), any may.
      if (dropSlot(v.sentSlots, slot) || all) dels.pushString(`${v.field}#${slot}`);
    }
  }
  const send = all ? [...v.slots.keys()] : (v.dirtySlots ?? []);
  for (const slot of send) {
    const c = v.slots.get(slot);
    if (!c) continue;
    const blob = encodeSlot(c);
    sets.pushString(`${v.field}#${slot}`);
    sets.pushString(blob);
    v.sentSlots = withSlot(v.sentSlots, slot);
    if (slot < newest && isDense(c)) keepBlob(v, slot, blob);
  }
  v.dirtySlots = undefined;
  v.lastDirtySlot = -1;
  // Dense slots the clock has left and this flush did not send (unchanged since an earlier one).
  for (const [slot, c] of v.slots) if (slot < newest && isDense(c)) keepBlob(v, slot, encodeSlot(c));
}

function isDense(c: SlotCounts): boolean {
  return typeof c === 'object' && !Array.isArray(c);
}

/**
 * Keeps a dense slot the clock has left as its blob: no observation lands there any more (but after
 * a clock set back, when the hot path decodes it again), and the blob is a few KB where the
 * histogram is tens (perf/README.md `memory`). Every reader of a slot takes either form (hdr-slot.ts).
 */
function keepBlob(v: SummaryValue, slot: number, blob: string): void {
  v.slots.set(slot, blob);
  if (v.currentSlot === slot) {
    v.currentSlot = -1;
    v.current = undefined;
  }
}

/** Exemplars not flushed yet: `<field>` (counters) or `<field>#<le>` (histogram buckets). */
function drainExemplars(stored: StoredExemplar | Array<StoredExemplar | null> | undefined, field: string, bounds: readonly string[], out: PackedList, all: boolean): void {
  if (stored === undefined) return;
  if (!Array.isArray(stored)) {
    if (all || !stored.isFlushed) {
      out.pushString(field);
      out.pushString(exemplarValue(stored));
    }
    stored.isFlushed = true;
    return;
  }
  for (let i = 0; i < stored.length; i++) {
    const e = stored[i];
    if (!e || (e.isFlushed && !all)) continue;
    out.pushString(`${field}#${bounds[i]}`);
    out.pushString(exemplarValue(e));
    e.isFlushed = true;
  }
}

/**
 * An exemplar as the exemplar hash keeps it: `<timestamp>|<json>`. The flush script keeps the
 * newer of two by the number before `|`, without decoding JSON. JSON holds no raw newline.
 */
export function exemplarValue(e: StoredExemplar): string {
  return `${e.timestamp}|${JSON.stringify([e.labelSet, e.value])}`;
}

/**
 * The keys of a batch's flush call, with their roles (see flush-family.lua): those it writes, and
 * the ones that tell whether Redis lost part of the family: the cluster hash of every summed type
 * (it carries the epoch of its sums) and the meta hash. Both always exist once the family has been
 * flushed, so naming them never makes a slot in migration answer TRYAGAIN; a key the batch has no
 * use for (a process hash for a counter) is not named.
 */
export function flushKeys(batch: FamilyBatch, keys: KeyBuilder, processId: string): { keys: string[]; roles: string } {
  const f = batch.family;
  const out = [keys.seq(f.typeMode, f.hash)];
  let roles = '';
  const add = (role: string, key: string): void => {
    roles += role;
    out.push(key);
  };
  if (batch.sums.count > 0 || f.def.type !== 'gauge') add('c', keys.cluster(f.typeMode, f.hash));
  add('m', keys.meta(f.typeMode, f.hash));
  if (batch.sets.count > 0 || batch.dels.count > 0 || (batch.flags & FLAG_EXPECT_PROCESS) !== 0) add('p', keys.process(f.typeMode, processId, f.hash));
  if (batch.exemplars.count > 0) add('e', keys.exemplar(f.typeMode, f.hash));
  if (batch.created.count > 0) add('r', keys.created(f.typeMode, f.hash));
  return { keys: out, roles };
}

/**
 * The script's ARGV after KEYS and the roles, for a batch. The sums, sets, dels, exemplars and created
 * each travel as ONE argument, items joined by '\n' (a PackedList, sent as its bytes): ioredis
 * spends CPU per argument (~1 µs of the 2 µs a series cost when every field and delta was an
 * argument), and the script splits it back. No item can hold a raw newline: fields are JSON arrays (JSON escapes it) with `#le`,
 * `#sum`, `#count`, `#<slot>` or `@` added, and values are numbers, base64 or JSON. The meta pairs
 * (rare, and help text may hold a newline) stay separate arguments.
 */
export function flushArgs(batch: FamilyBatch, processId: string, ttlSeconds: number, meta: readonly string[]): (string | number | PackedList)[] {
  const withMeta = (batch.flags & FLAG_META) !== 0;
  const m = withMeta ? meta : [];
  return [
    processId, batch.after === undefined ? batch.seq : `${batch.seq}:${batch.after}`, batch.family.knownEpoch, ttlSeconds, batch.flags, batch.clientNowMs,
    m.length / 2, batch.sums, batch.sets, batch.dels, batch.exemplars, batch.created,
    ...m,
  ];
}

/** The meta hash of a family as field/value pairs. */
export function metaPairs(family: MetricFamily): string[] {
  const d = family.def;
  return [
    'name', d.name,
    'help', d.help,
    'type', d.type,
    'mode', d.mode ?? '',
    'labelNames', JSON.stringify(d.labelNames),
    'buckets', JSON.stringify(d.buckets ?? []),
    'percentiles', JSON.stringify(d.percentiles ?? []),
    'maxAgeSeconds', String(d.maxAgeSeconds ?? 0),
    'ageBuckets', String(d.ageBuckets ?? 0),
    'pruneAgedBuckets', d.pruneAgedBuckets ? '1' : '0',
    // `[schema, zeroThreshold, maxBuckets]`, '' for a classic histogram.
    'native', d.native ? JSON.stringify([d.native.schema, d.native.zeroThreshold, d.native.maxBuckets]) : '',
  ];
}

/** Field/value pairs per Lua call: bounds the time one call holds Redis. */
const MAX_PAIRS_PER_CALL = 2000;

/** Splits a batch into Lua calls of at most MAX_PAIRS_PER_CALL pairs, each with its own seq. */
export function split(batch: FamilyBatch, nextSeq: () => number): FamilyBatch[] {
  const pairs = (batch.sums.count + batch.sets.count + batch.created.count) / 2;
  if (pairs <= MAX_PAIRS_PER_CALL) return [{ ...batch, seq: nextSeq() }];
  const out: FamilyBatch[] = [];
  const n = MAX_PAIRS_PER_CALL * 2;
  const none = { sums: EMPTY_LIST, sets: EMPTY_LIST, dels: EMPTY_LIST, exemplars: EMPTY_LIST, created: EMPTY_LIST, seq: 0 };
  if (batch.sums.count > 0) for (const sums of batch.sums.chunks(n)) out.push({ ...batch, ...none, sums });
  if (batch.sets.count > 0) for (const sets of batch.sets.chunks(n)) out.push({ ...batch, ...none, sets });
  if (batch.created.count > 0) for (const created of batch.created.chunks(n)) out.push({ ...batch, ...none, created });
  // The deletions go first, before any set (a series removed and made again keeps its new value).
  out[0] = { ...out[0]!, dels: batch.dels, exemplars: batch.exemplars };
  return out.map((b, i) => ({ ...b, seq: nextSeq(), flags: i === 0 ? b.flags : b.flags & ~FLAG_META }));
}
