import type { RedisValue } from './values.js';
import type { PackedList } from '../redis/packed-list.js';
import type { SeriesOwner, SeriesStore } from './series.js';
import { familyHash, typeModeOf, sameShape, type FamilyDefinition } from './definition.js';

export { GAUGE_MODES, familyHash, leLabel, typeModeOf, sameShape } from './definition.js';
export type { MetricType, GaugeMode, LabelValues, FamilyDefinition, NativeDefinition } from './definition.js';

/**
 * What one flush sends for one family. Built by draining the family's dirty values in one pass,
 * kept in the family's outbox until Redis acknowledges it, and re-sent unchanged (same seq) until then.
 */
export interface FamilyBatch {
  readonly family: MetricFamily;
  readonly seq: number;
  /**
   * The seq of the family's batch sent before this one in the same round (split chunks, parts sent
   * while the family drains), which Redis must have applied first: a batch refused (OOM, BUSY) while
   * the next one was already on its way must not be overtaken, or its retry would look applied.
   */
  readonly after?: number;
  /** FLAG_RESET, FLAG_META, FLAG_EXPECT_PROCESS. */
  readonly flags: number;
  readonly clientNowMs: number;
  // The lists are kept as the bytes sent (PackedList): `items()` gives them back as strings.
  /** Field/delta pairs summed into the cluster hash. */
  readonly sums: PackedList;
  /** Field/value pairs set in this process's hash. */
  readonly sets: PackedList;
  /** Fields deleted from this process's hash (before the sets are applied). */
  readonly dels: PackedList;
  /** Field/`<timestamp>|<json>` pairs of the latest exemplars, kept in the exemplar hash when newer. */
  readonly exemplars: PackedList;
  /** Field/creation ms (this process's clock) of series new to Redis: the created hash keeps the earliest. */
  readonly created: PackedList;
}

/** A full re-send after Redis lost the family. */
export const FLAG_RESET = 1;
/** Write the meta hash. */
export const FLAG_META = 2;
/** The process hash should exist (its expiry means a re-send of every per-process value). */
export const FLAG_EXPECT_PROCESS = 4;

export interface FamilyOwner {
  onFamilyDirty(family: MetricFamily): void;
}

/**
 * One metric family of a storage manager: one name, one set of keys in Redis. It holds the series
 * of the metric object that currently represents the name (`series`), the flushed totals of series
 * that are gone from it (`carried`), and the flush state kept by the flusher: the outbox of batches
 * not acknowledged yet and the family's epoch.
 */
export class MetricFamily<V extends RedisValue = RedisValue> implements SeriesOwner {
  readonly hash: string;
  readonly typeMode: string;
  /** Changes when a new metric object redefines the family (help, labels, buckets...). */
  def: FamilyDefinition;
  /** The series of the current metric object. */
  series: SeriesStore<V>;
  /**
   * Sum fields this process flushed for series that left `series` (removed, reset, or owned by a
   * replaced metric object), with their totals: a re-send after Redis lost the family includes them,
   * so the cluster-wide sums never go down.
   */
  readonly carried = new Map<string, number>();
  /** On the manager's list of families to flush. */
  isDirty = false;
  /** Per-process fields to delete at the next flush (removed gauge and summary series). */
  removedFields: string[] = [];

  // Flush state, owned by the flusher.
  /** Batches sent but not yet acknowledged, in order: re-sent as they are until Redis confirms them. */
  pending: FamilyBatch[] = [];
  /** The batch a flush is draining into right now (a drain may span several ticks); no seq yet. */
  draining: FamilyBatch | undefined = undefined;
  /**
   * While a drain is paused: the list it reads, the store it came from, the index of the next value
   * it will drain, and whether the list is the store's dirty list (else every value: a re-send). A
   * dirty value the drain has not reached is there (an update to a dirty value does not list it
   * again): a collect reads them there too (takeLocalSums).
   */
  drainList: readonly RedisValue[] | undefined = undefined;
  drainStore: SeriesStore<V> | undefined = undefined;
  drainAt = 0;
  drainsDirtyList = false;
  /** Redis lost the family: the next flush re-sends everything this process ever flushed. */
  needsReset = false;
  /** The `__epoch` of the family's seq hash as last seen; '' before the first acknowledged flush. */
  knownEpoch = '';
  /**
   * The epoch that held this process's sums when a flush last found the family lost ('' if none):
   * a collect whose reply still shows it read Redis before that loss, but would add this process's
   * state as it is after it (see RedisFamilyReader).
   */
  lostEpoch = '';
  metaSent = false;
  /** Re-send every per-process value (this process's per-process hash expired). */
  resendAll = false;

  readonly #owner: FamilyOwner;

  constructor(
    def: FamilyDefinition,
    series: SeriesStore<V>,
    owner: FamilyOwner,
    /** Made past the manager's `maxFamilies`: its series live in this process only, never flushed or read from Redis. */
    readonly isOverLimit = false,
  ) {
    this.def = def;
    this.hash = familyHash(def.name);
    this.typeMode = typeModeOf(def);
    this.series = series;
    this.#owner = owner;
    series.attach(this);
  }

  /**
   * Redis lost the family and this process's full re-send of it is still to come: to be drained,
   * being drained, or sent and not applied (a reset batch with a seq above `appliedSeq`, this
   * process's last seq Redis applied; -1 when unknown). Until then Redis holds none of its sums.
   */
  isRestoring(appliedSeq = -1): boolean {
    const isReset = (b: FamilyBatch) => (b.flags & FLAG_RESET) !== 0;
    return this.needsReset || (this.draining !== undefined && isReset(this.draining)) || this.pending.some((b) => isReset(b) && b.seq > appliedSeq);
  }

  /** Puts the family on the manager's flush list (once until its next drain). */
  markDirty(): void {
    if (this.isDirty || this.isOverLimit) return;
    this.isDirty = true;
    this.#owner.onFamilyDirty(this);
  }

  /** Adds a sum field's flushed total to `carried`. */
  carry(field: string, total: number): void {
    if (total !== 0) this.carried.set(field, (this.carried.get(field) ?? 0) + total);
  }

  /**
   * A new metric object takes the name over: its series become the family's. The old object's
   * flushed totals are carried (when the shape of the data is the same), its per-process fields are
   * deleted from Redis at the next flush, and its updates not flushed yet stay with it.
   */
  replaceSeries(def: FamilyDefinition, next: SeriesStore<V>): void {
    const old = this.series;
    if (sameShape(this.def, def)) old.carryFlushed();
    else this.carried.clear();
    const fields = this.isOverLimit ? [] : old.perProcessFields();
    if (fields.length > 0) {
      this.removedFields.push(...fields);
      this.markDirty();
    }
    if (def !== this.def && (!sameShape(this.def, def) || def.help !== this.def.help || def.pruneAgedBuckets !== this.def.pruneAgedBuckets)) this.metaSent = false;
    this.def = def;
    old.detach();
    this.series = next;
    next.attach(this);
  }
}
