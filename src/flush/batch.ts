import { Pacer } from '../pacer.js';
import { FLAG_EXPECT_PROCESS, FLAG_META, FLAG_RESET, leLabel, type FamilyBatch, type MetricFamily } from '../store/family.js';
import type { KeyBuilder } from '../redis/keys.js';
import { JoinedArg } from '../redis/dispatch.js';
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
 * goes on, and must put it in the family's outbox before returning (the collect looks there).
 */
export async function drainFamily(
  family: MetricFamily,
  seq: number,
  nowMs: number,
  options: { reset: boolean; meta: boolean; allPerProcess: boolean },
  pacer = new Pacer(),
  onSums?: (chunk: FamilyBatch) => void,
): Promise<FamilyBatch> {
  const { reset } = options;
  const def = family.def;
  const type = def.type;
  const series = family.series;
  let flags = 0;
  if (reset) flags |= FLAG_RESET;
  if (options.meta || reset) flags |= FLAG_META;
  if (family.knownEpoch !== '' && (type === 'gauge' || type === 'summary')) flags |= FLAG_EXPECT_PROCESS;
  const batch: FamilyBatch & { sums: string[] } = { family, seq, flags, clientNowMs: nowMs, sums: [], sets: [], dels: family.removedFields, exemplars: [], created: [] };
  let sums = batch.sums;
  const { sets, dels, exemplars, created } = batch;
  family.removedFields = [];
  const dirty = series.dirty;
  series.dirty = [];
  family.isDirty = false;
  family.draining = batch;
  if (reset) for (const [field, total] of family.carried) sums.push(field, String(total));
  const perProcessAll = reset || options.allPerProcess;
  // Counters and histograms have no per-process data: `allPerProcess` changes nothing for them.
  const everything = type === 'counter' || type === 'histogram' ? reset : perProcessAll;
  const list: readonly RedisValue[] = everything ? [...series.values.values()] : dirty;
  const bounds = type === 'histogram' ? [...(def.buckets ?? []), Infinity].map(leLabel) : [];
  const stamps = def.mode === 'mostrecent' || def.mode === 'livemostrecent';
  const newest = summarySlot(def.maxAgeSeconds, def.ageBuckets, nowMs);
  const oldest = newest - (def.maxAgeSeconds ? (def.ageBuckets ?? 5) - 1 : 0);
  const hasExemplars = series.exemplars.size > 0;
  // Counters, histograms and summaries have a creation time (OpenMetrics `_created`).
  const hasCreated = type !== 'gauge';
  try {
    for (const v of list) {
      // Read in the same tick as the drain of this value: see above.
      const wasDirty = v.dirty;
      v.dirty = false;
      if (!v.removed) {
        if (type === 'counter') drainCounter(v as CounterValue, sums, reset);
        else if (type === 'histogram') drainHistogram(v as HistogramValue, bounds, sums, reset);
        else if (type === 'gauge') {
          const g = v as GaugeValue;
          sets.push(g.field, String(g.value));
          if (stamps) sets.push(`@${g.field}`, String(g.updatedAtMs));
        } else {
          if (reset || wasDirty) drainSummarySums(v as SummaryValue, sums, reset);
          drainSummarySlots(v as SummaryValue, oldest, newest, sets, dels, perProcessAll);
        }
        if (hasExemplars) drainExemplars(series.exemplars.get(v), v.field, bounds, exemplars, reset);
        if (hasCreated && (reset || !v.isCreatedSent)) {
          created.push(v.field, String(v.createdAtMs));
          v.isCreatedSent = true;
        }
      }
      if (onSums !== undefined && sums.length >= MAX_PAIRS_PER_CALL * 2) {
        onSums({ family, seq, flags: flags & ~FLAG_META, clientNowMs: nowMs, sums, sets: [], dels: [], exemplars: [], created: [] });
        batch.sums = sums = [];
      }
      const pause = pacer.step();
      if (pause) await pause;
    }
  } finally {
    family.draining = undefined;
  }
  return batch;
}

function drainCounter(v: CounterValue, sums: string[], reset: boolean): void {
  const d = v.delta;
  v.delta = 0;
  v.flushed += d;
  sums.push(v.field, String(reset ? v.flushed : d));
}

function drainHistogram(v: HistogramValue, bounds: readonly string[], sums: string[], reset: boolean): void {
  const f = flushedAt(v);
  for (let i = 0; i < bounds.length; i++) {
    const d = v.buckets[i]!;
    v.buckets[i] = 0;
    v.buckets[f + i]! += d;
    const out = reset ? v.buckets[f + i]! : d;
    if (out !== 0) sums.push(`${v.field}#${bounds[i]}`, String(out));
  }
  const s = v.sumDelta;
  const c = v.countDelta;
  v.sumDelta = 0;
  v.countDelta = 0;
  v.sumFlushed += s;
  v.countFlushed += c;
  sums.push(`${v.field}#sum`, String(reset ? v.sumFlushed : s), `${v.field}#count`, String(reset ? v.countFlushed : c));
  if (v instanceof NativeHistogramValue) drainNative(v, reset, (field, amount) => sums.push(field, String(amount)));
}

function drainSummarySums(v: SummaryValue, sums: string[], reset: boolean): void {
  const s = v.sumDelta;
  const c = v.countDelta;
  v.sumDelta = 0;
  v.countDelta = 0;
  v.sumFlushed += s;
  v.countFlushed += c;
  sums.push(`${v.field}#sum`, String(reset ? v.sumFlushed : s), `${v.field}#count`, String(reset ? v.countFlushed : c));
}

function drainSummarySlots(v: SummaryValue, oldest: number, newest: number, sets: string[], dels: string[], all: boolean): void {
  if (v.prunedSlots) {
    for (const slot of v.prunedSlots) dels.push(`${v.field}#${slot}`);
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
      if (dropSlot(v.sentSlots, slot) || all) dels.push(`${v.field}#${slot}`);
    }
  }
  const send = all ? [...v.slots.keys()] : (v.dirtySlots ?? []);
  for (const slot of send) {
    const c = v.slots.get(slot);
    if (!c) continue;
    const blob = encodeSlot(c);
    sets.push(`${v.field}#${slot}`, blob);
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
function drainExemplars(stored: StoredExemplar | Array<StoredExemplar | null> | undefined, field: string, bounds: readonly string[], out: string[], all: boolean): void {
  if (stored === undefined) return;
  if (!Array.isArray(stored)) {
    if (all || !stored.isFlushed) out.push(field, exemplarValue(stored));
    stored.isFlushed = true;
    return;
  }
  for (let i = 0; i < stored.length; i++) {
    const e = stored[i];
    if (!e || (e.isFlushed && !all)) continue;
    out.push(`${field}#${bounds[i]}`, exemplarValue(e));
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
  if (batch.sums.length > 0 || f.def.type !== 'gauge') add('c', keys.cluster(f.typeMode, f.hash));
  add('m', keys.meta(f.typeMode, f.hash));
  if (batch.sets.length > 0 || batch.dels.length > 0 || (batch.flags & FLAG_EXPECT_PROCESS) !== 0) add('p', keys.process(f.typeMode, processId, f.hash));
  if (batch.exemplars.length > 0) add('e', keys.exemplar(f.typeMode, f.hash));
  if (batch.created.length > 0) add('r', keys.created(f.typeMode, f.hash));
  return { keys: out, roles };
}

/**
 * The script's ARGV after KEYS and the roles, for a batch. The sums, sets, dels and exemplars each travel as ONE
 * string, items joined by '\n': ioredis spends CPU per argument (~1 µs of the 2 µs a series cost
 * when every field and delta was an argument), one join costs far less, and the script splits it
 * back. No item can hold a raw newline: fields are JSON arrays (JSON escapes it) with `#le`,
 * `#sum`, `#count`, `#<slot>` or `@` added, and values are numbers, base64 or JSON. The meta pairs
 * (rare, and help text may hold a newline) stay separate arguments.
 */
export function flushArgs(batch: FamilyBatch, processId: string, ttlSeconds: number, meta: readonly string[]): (string | number | JoinedArg)[] {
  const withMeta = (batch.flags & FLAG_META) !== 0;
  const m = withMeta ? meta : [];
  // The lists are joined when their pipeline slice is written, not all at once here (JoinedArg).
  return [
    processId, batch.after === undefined ? batch.seq : `${batch.seq}:${batch.after}`, batch.family.knownEpoch, ttlSeconds, batch.flags, batch.clientNowMs,
    m.length / 2, new JoinedArg(batch.sums), new JoinedArg(batch.sets), new JoinedArg(batch.dels), new JoinedArg(batch.exemplars), new JoinedArg(batch.created),
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
  const pairs = (batch.sums.length + batch.sets.length + batch.created.length) / 2;
  if (pairs <= MAX_PAIRS_PER_CALL) return [{ ...batch, seq: nextSeq() }];
  const out: FamilyBatch[] = [];
  const n = MAX_PAIRS_PER_CALL * 2;
  const none = { sums: [], sets: [], dels: [], exemplars: [], created: [], seq: 0 };
  for (let i = 0; i < batch.sums.length; i += n) out.push({ ...batch, ...none, sums: batch.sums.slice(i, i + n) });
  for (let i = 0; i < batch.sets.length; i += n) out.push({ ...batch, ...none, sets: batch.sets.slice(i, i + n) });
  for (let i = 0; i < batch.created.length; i += n) out.push({ ...batch, ...none, created: batch.created.slice(i, i + n) });
  // The deletions go first, before any set (a series removed and made again keeps its new value).
  out[0] = { ...out[0]!, dels: batch.dels, exemplars: batch.exemplars };
  return out.map((b, i) => ({ ...b, seq: nextSeq(), flags: i === 0 ? b.flags : b.flags & ~FLAG_META }));
}
