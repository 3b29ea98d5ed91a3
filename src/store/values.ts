import hdr from 'hdr-histogram-js';
import type { Histogram as HdrHistogram } from 'hdr-histogram-js';

/**
 * One series' state in the shadow store. The hot path only adds to `delta`-like fields and, on the
 * first update after a flush, pushes the value on its family's dirty list. A flush reads and zeroes
 * the deltas in the same tick, so no update is lost between the read and the reset.
 */
export abstract class RedisValue {
  /** The Redis field of this series: the JSON array of its label values ('' for a missing label). */
  readonly field: string;
  dirty = false;
  /** Past the series limit: updates land here and are never flushed. */
  readonly dropped: boolean;
  removed = false;

  constructor(readonly labelValues: readonly string[], dropped = false) {
    this.field = JSON.stringify(labelValues);
    this.dropped = dropped;
    // A dropped value never joins a dirty list.
    if (dropped) this.dirty = true;
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
  /** Per-bucket counts since the last flush; the last slot is `+Inf`. Not cumulative. */
  readonly bucketDeltas: Float64Array;
  readonly bucketFlushed: Float64Array;
  sumDelta = 0;
  countDelta = 0;
  sumFlushed = 0;
  countFlushed = 0;

  constructor(labelValues: readonly string[], bucketCount: number, dropped = false) {
    super(labelValues, dropped);
    this.bucketDeltas = new Float64Array(bucketCount + 1);
    this.bucketFlushed = new Float64Array(bucketCount + 1);
  }
}

/** Observations are stored as integers: value × HDR_SCALE (micro-units, so 3 significant digits hold from 0.001). */
export const HDR_SCALE = 1e6;
export const HDR_SIGNIFICANT_DIGITS = 3;

export function newHdr(): HdrHistogram {
  return hdr.build({ numberOfSignificantValueDigits: HDR_SIGNIFICANT_DIGITS, autoResize: true });
}

export class SummaryValue extends RedisValue {
  sumDelta = 0;
  countDelta = 0;
  sumFlushed = 0;
  countFlushed = 0;
  /** HDR histograms by age slot (`floor(now / slotMs)`; always 0 without `maxAgeSeconds`). */
  readonly slots = new Map<number, HdrHistogram>();
  /** Slots changed since the last flush. */
  readonly dirtySlots = new Set<number>();
  currentSlot = -1;
  current: HdrHistogram | undefined;
  /** The slot last added to dirtySlots, so the hot path adds to the set only on a slot change. */
  lastDirtySlot = -1;
}
