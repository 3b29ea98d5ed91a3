import hdr from 'hdr-histogram-js';
import type { MetricFamily } from '../store/family.js';
import { CounterValue, GaugeValue, HistogramValue, SummaryValue, type RedisValue } from '../store/values.js';

/**
 * What one flush sends for one family. Built by draining the family's dirty values in one
 * synchronous pass, kept in the family's outbox until Redis acknowledges it, and re-sent unchanged
 * (same seq) until then.
 */
export interface FamilyBatch {
  readonly family: MetricFamily;
  readonly seq: number;
  /** 1 reset (full re-send after loss), 2 write meta, 4 the process hash should exist. */
  readonly flags: number;
  readonly clientNowMs: number;
  /** Field/delta pairs summed into the cluster hash. */
  readonly sums: string[];
  /** Field/value pairs set in this process's hash. */
  readonly sets: string[];
  /** Fields deleted from this process's hash. */
  readonly dels: string[];
}

export const FLAG_RESET = 1;
export const FLAG_META = 2;
export const FLAG_EXPECT_PROCESS = 4;

export function leLabel(bound: number): string {
  return bound === Infinity ? '+Inf' : String(bound);
}

/** Slot of a summary's age ring at `nowMs`: 0 when the summary does not age. */
export function summarySlot(family: MetricFamily, nowMs: number): number {
  const { maxAgeSeconds, ageBuckets } = family.def;
  if (!maxAgeSeconds) return 0;
  return Math.floor(nowMs / ((maxAgeSeconds * 1000) / (ageBuckets ?? 5)));
}

/**
 * Yields to the event loop when the current slice of synchronous work has run for `sliceMs`, so
 * that draining or merging 100,000 series never blocks the loop for long (see perf/EVENT-LOOP.md).
 */
export class Pacer {
  #sliceStart = performance.now();
  #count = 0;

  constructor(readonly sliceMs = 4, readonly checkEvery = 128) {}

  /** Call once per unit of work; `await` the result when it is not undefined. */
  step(): Promise<void> | undefined {
    if (++this.#count % this.checkEvery !== 0) return undefined;
    return this.due();
  }

  /** Yields now if the slice has run its time (for units of work too big to count). */
  due(): Promise<void> | undefined {
    if (performance.now() - this.#sliceStart < this.sliceMs) return undefined;
    return new Promise<void>((resolve) => setImmediate(() => {
      this.#sliceStart = performance.now();
      resolve();
    }));
  }
}

/**
 * Drains a family into a batch: every dirty value's deltas are read and zeroed (and added to the
 * value's flushed totals). With `reset`, everything the process ever flushed is sent instead, for a
 * family Redis has lost; with `allPerProcess`, every per-process value is set again.
 *
 * The drain runs over several ticks when the family is large. The hot path stays correct meanwhile:
 * a value keeps `dirty = true` until the slice that drains it (so an update to a value not drained
 * yet lands in this batch, and one to a value already drained puts it on the new dirty list), and the
 * batch being built is visible as `family.draining`, so a collect in between counts its sums once.
 */
export async function drainFamily(family: MetricFamily, seq: number, nowMs: number, options: { reset: boolean; meta: boolean; allPerProcess: boolean }, pacer = new Pacer()): Promise<FamilyBatch> {
  const { reset } = options;
  const type = family.def.type;
  let flags = 0;
  if (reset) flags |= FLAG_RESET;
  if (options.meta || reset) flags |= FLAG_META;
  if (family.knownEpoch !== '' && (type === 'gauge' || type === 'summary')) flags |= FLAG_EXPECT_PROCESS;
  const batch: FamilyBatch = { family, seq, flags, clientNowMs: nowMs, sums: [], sets: [], dels: family.removedFields };
  const { sums, sets, dels } = batch;
  family.removedFields = [];
  const dirty = family.dirty;
  family.dirty = [];
  family.isDirty = false;
  family.draining = batch;
  const perProcessAll = reset || options.allPerProcess;
  // Counters and histograms have no per-process data: `allPerProcess` changes nothing for them.
  const everything = type === 'counter' || type === 'histogram' ? reset : perProcessAll;
  const list: readonly RedisValue[] = everything ? [...family.values.values()] : dirty;
  const bounds = type === 'histogram' ? [...(family.def.buckets ?? []), Infinity].map(leLabel) : [];
  const stamps = family.def.mode === 'mostrecent' || family.def.mode === 'livemostrecent';
  const oldest = summarySlot(family, nowMs) - (family.def.maxAgeSeconds ? (family.def.ageBuckets ?? 5) - 1 : 0);
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
          drainSummarySlots(v as SummaryValue, oldest, sets, dels, perProcessAll);
        }
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
  if (v.removed) return;
  const d = v.delta;
  v.delta = 0;
  v.flushed += d;
  sums.push(v.field, String(reset ? v.flushed : d));
}

function drainHistogram(v: HistogramValue, bounds: readonly string[], sums: string[], reset: boolean): void {
  if (v.removed) return;
  for (let i = 0; i < bounds.length; i++) {
    const d = v.bucketDeltas[i]!;
    v.bucketDeltas[i] = 0;
    v.bucketFlushed[i]! += d;
    const out = reset ? v.bucketFlushed[i]! : d;
    if (out !== 0) sums.push(`${v.field}#${bounds[i]}`, String(out));
  }
  const s = v.sumDelta;
  const c = v.countDelta;
  v.sumDelta = 0;
  v.countDelta = 0;
  v.sumFlushed += s;
  v.countFlushed += c;
  sums.push(`${v.field}#sum`, String(reset ? v.sumFlushed : s), `${v.field}#count`, String(reset ? v.countFlushed : c));
}

function drainSummarySums(v: SummaryValue, sums: string[], reset: boolean): void {
  if (v.removed) return;
  const s = v.sumDelta;
  const c = v.countDelta;
  v.sumDelta = 0;
  v.countDelta = 0;
  v.sumFlushed += s;
  v.countFlushed += c;
  sums.push(`${v.field}#sum`, String(reset ? v.sumFlushed : s), `${v.field}#count`, String(reset ? v.countFlushed : c));
}

function drainSummarySlots(v: SummaryValue, oldest: number, sets: string[], dels: string[], all: boolean): void {
  if (v.removed) return;
  for (const slot of [...v.slots.keys()]) {
    if (slot < oldest) {
      v.slots.delete(slot);
      if (v.currentSlot === slot) {
        v.currentSlot = -1;
        v.current = undefined;
      }
      dels.push(`${v.field}#${slot}`);
    }
  }
  const send = all ? v.slots.keys() : v.dirtySlots.values();
  for (const slot of send) {
    const h = v.slots.get(slot);
    if (h) sets.push(`${v.field}#${slot}`, hdr.encodeIntoCompressedBase64(h));
  }
  v.dirtySlots.clear();
  v.lastDirtySlot = -1;
}

/** Per-process fields of a value, deleted from Redis when the value is removed. */
export function perProcessFields(family: MetricFamily, value: RedisValue): string[] {
  if (value instanceof GaugeValue) return [value.field, `@${value.field}`];
  if (value instanceof SummaryValue) return [...value.slots.keys()].map((slot) => `${value.field}#${slot}`);
  return [];
}

/**
 * The script's ARGV after KEYS, for a batch. The sums, sets and dels each travel as ONE string,
 * items joined by '\n': ioredis spends CPU per argument (~1 µs of the 2 µs a series cost when every
 * field and delta was an argument), one join costs far less, and the script splits it back.
 * No item can hold a raw newline: fields are JSON arrays (JSON escapes it) with `#le`, `#sum`,
 * `#count`, `#<slot>` or `@` added, and values are numbers or base64. The meta pairs (rare, and
 * help text may hold a newline) stay separate arguments.
 */
export function flushArgs(batch: FamilyBatch, processId: string, ttlSeconds: number, meta: readonly string[]): (string | number)[] {
  const withMeta = (batch.flags & FLAG_META) !== 0;
  const m = withMeta ? meta : [];
  return [
    processId, batch.seq, batch.family.knownEpoch, ttlSeconds, batch.flags, batch.clientNowMs,
    m.length / 2, batch.sums.join('\n'), batch.sets.join('\n'), batch.dels.join('\n'),
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
  ];
}
