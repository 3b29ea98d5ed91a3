import { WELL_FORMED, badLabelValue, isWellFormed, labelCountMismatch, unknownLabel } from '../validation.js';
import { leLabel, type FamilyDefinition, type LabelValues } from './definition.js';
import { CounterValue, GaugeValue, HistogramValue, NativeHistogramValue, flushedAt, SummaryValue, MAX_NUMERIC_LABELS, type RedisValue, type StoredExemplar } from './values.js';
import { flushedNative, zeroNative } from '../native/series.js';

export interface SeriesOptions {
  readonly maxSeriesPerMetric: number;
  /** Values changed since the last flush are listed (false when nothing flushes: Redis disabled). */
  readonly isTracking: boolean;
  onSeriesDropped(def: FamilyDefinition): void;
}

/** What a store feeds: the family of its name (MetricFamily). */
export interface SeriesOwner {
  readonly isDirty: boolean;
  /** Puts the family on the flush list. */
  markDirty(): void;
  /** Adds a flushed total of a series gone from the store. */
  carry(field: string, total: number): void;
  /** Per-process fields to delete at the next flush. */
  removedFields: string[];
}

/**
 * The series of one metric object: its values by label set and the list of values changed since
 * the last flush. Each metric object has its own, as in prom-client; the family of its name flushes
 * the store of the object that currently represents the name (see MetricFamily.replaceSeries).
 */
export class SeriesStore<V extends RedisValue = RedisValue> {
  /** Values by label set, keyed by keyOf(label values), in creation order. */
  readonly values = new Map<string, V>();
  dirty: V[] = [];
  droppedSeries = 0;
  /** The metric's prom-client `collect` callback, run before a full collect while this store represents its name. */
  collect: (() => void | Promise<void>) | undefined = undefined;
  /** Latest exemplar per series (counters) or per bucket (histograms), for metrics with `enableExemplars`. */
  readonly exemplars = new Map<V, StoredExemplar | Array<StoredExemplar | null>>();

  readonly #options: SeriesOptions;
  readonly #create: (labelValues: readonly string[], dropped: boolean) => V;
  readonly #labelIndex: Record<string, number>;
  #family: SeriesOwner | undefined;
  #dropped: V | undefined;
  /**
   * Lookup index over `values`: one Map level per label name, keyed by the label value as given
   * (a string, or a number as an alias of its string: `200` and `'200'` are one series); the last
   * level holds the value. A hit builds no key string. A one-label store keeps only its number
   * aliases here (see #single).
   */
  #index: IndexNode = new Map();

  constructor(readonly def: FamilyDefinition, options: SeriesOptions, create: (labelValues: readonly string[], dropped: boolean) => V) {
    this.#options = options;
    this.#create = create;
    this.#labelIndex = Object.create(null) as Record<string, number>;
    def.labelNames.forEach((n, i) => (this.#labelIndex[n] = i));
  }

  /** The family this store feeds, or undefined once another metric object took the name over. */
  get family(): SeriesOwner | undefined {
    return this.#family;
  }

  /** A flush drains this store (Redis enabled, and no newer metric object took the name over). */
  get isFlushed(): boolean {
    return this.#family !== undefined && this.#options.isTracking;
  }

  /** @internal */
  attach(family: SeriesOwner): void {
    this.#family = family;
  }

  /** @internal Another metric object took the name over: nothing drains this store any more. */
  detach(): void {
    this.#family = undefined;
    this.dirty = [];
  }

  /**
   * The value of a label set given as an object; creates it on first use. Hot path: a hit walks the
   * label index (one Map.get per label, on strings whose hash V8 has cached) and builds no string.
   * Misuse still throws here, at once: an unknown label name (found by counting the object's keys),
   * or a value that is neither a string nor a finite number (never a key of the index, so it misses
   * and is checked below).
   */
  valueFor(labels: LabelValues | undefined): V {
    const names = this.def.labelNames;
    const n = names.length;
    if (labels === undefined || n === 0) {
      if (labels !== undefined) this.#checkNoLabels(labels);
      const empty = n === 0 ? EMPTY : names.map(() => '');
      return this.#lookup(keyOf(empty), empty, 0);
    }
    let node: IndexNode | undefined;
    let matched = 0;
    if (n === 1) {
      const raw = labels[names[0]!];
      if (raw !== undefined) matched = 1;
      node = this.#single(raw === undefined ? '' : raw) as IndexNode | undefined;
    } else {
      node = this.#index;
      for (let i = 0; i < n && node !== undefined; i++) {
        const raw = labels[names[i]!];
        if (raw !== undefined) matched++;
        node = node.get(raw === undefined ? '' : raw) as IndexNode | undefined;
      }
    }
    let given = 0;
    for (const _ in labels) given++;
    if (given !== matched) this.#checkUnknown(labels);
    const hit = node as V | undefined;
    if (hit !== undefined && !hit.removed) return hit;
    return this.#miss(names.map((name) => ownLabel(labels, name)));
  }

  /** The value of a label set given positionally, as `labels('GET', 200)`. */
  valueForPositional(args: readonly unknown[]): V {
    const names = this.def.labelNames;
    if (args.length !== names.length) throw labelCountMismatch(this.def.name, names, args);
    if (names.length === 0) return this.valueFor(undefined);
    let node: IndexNode | undefined;
    if (args.length === 1) node = args[0] === undefined ? undefined : (this.#single(args[0]) as IndexNode | undefined);
    else {
      node = this.#index;
      for (let i = 0; i < args.length && node !== undefined; i++) node = node.get(args[i] as string) as IndexNode | undefined;
    }
    const hit = node as V | undefined;
    if (hit !== undefined && !hit.removed) return hit;
    for (let i = 0; i < names.length; i++) {
      const v = args[i];
      if (typeof v !== 'string' && typeof v !== 'number') throw badLabelValue(this.def.name, names[i]!, v);
    }
    return this.#miss(args);
  }

  /** Finds a value without creating it. */
  peek(labels: LabelValues | undefined): V | undefined {
    const names = this.def.labelNames;
    return this.values.get(keyOf(names.map((n) => labelString(labels === undefined ? undefined : ownLabel(labels, n)))));
  }

  /** The value of a Redis field, if this store has it. */
  byField(field: string): V | undefined {
    const n = this.def.labelNames.length;
    if (n >= 2) return this.values.get(field);
    if (n === 0) return field === '[]' ? this.values.get('') : undefined;
    try {
      const [only] = JSON.parse(field) as unknown[];
      return typeof only === 'string' ? this.values.get(only) : undefined;
    } catch {
      return undefined;
    }
  }

  /** Hot path: the first change of a value since the last flush lists it. */
  markDirty(value: V): void {
    value.dirty = true;
    const family = this.#family;
    if (family === undefined || !this.#options.isTracking) return;
    this.dirty.push(value);
    if (!family.isDirty) family.markDirty();
  }

  /**
   * Forgets a series. With Redis, its flushed totals are carried by the family (the cluster-wide
   * sums keep them) and its per-process fields are deleted from Redis at the next flush.
   */
  remove(value: V): void {
    const labelValues = value.labelValues;
    const key = keyOf(labelValues);
    if (this.values.get(key) !== value) return;
    this.values.delete(key);
    this.exemplars.delete(value);
    this.#unindex(labelValues);
    value.removed = true;
    const family = this.#family;
    if (family === undefined || !this.#options.isTracking) return;
    this.#carry(family, value);
    const fields = perProcessFieldsOf(value);
    if (fields.length > 0) {
      family.removedFields.push(...fields);
      family.markDirty();
    }
  }

  /**
   * Zeroes a series in place (prom-client's Summary.reset() and Histogram.zero() keep the series):
   * its flushed totals move to the family, its deltas and observations are forgotten.
   */
  zeroValue(value: V): void {
    const family = this.#family;
    if (family !== undefined && this.#options.isTracking) {
      this.#carry(family, value);
      const fields = perProcessFieldsOf(value);
      if (fields.length > 0) {
        family.removedFields.push(...fields);
        family.markDirty();
      }
    }
    this.exemplars.delete(value);
    if (value instanceof CounterValue) value.delta = value.flushed = 0;
    else if (value instanceof GaugeValue) value.value = 0;
    else if (value instanceof HistogramValue) {
      value.buckets.fill(0);
      value.sumDelta = value.countDelta = value.sumFlushed = value.countFlushed = 0;
      if (value instanceof NativeHistogramValue) zeroNative(value, this.def.native?.schema ?? value.schema);
    } else if (value instanceof SummaryValue) {
      value.sumDelta = value.countDelta = value.sumFlushed = value.countFlushed = 0;
      value.slots.clear();
      value.dirtySlots = undefined;
      value.current = undefined;
      value.currentSlot = value.lastDirtySlot = -1;
      value.prunedSlots = undefined;
      value.sentSlots = undefined;
    }
  }

  /** @internal Every value's flushed totals move to the family (this store is being replaced). */
  carryFlushed(): void {
    const family = this.#family;
    if (family === undefined || !this.#options.isTracking) return;
    for (const value of this.values.values()) this.#carry(family, value);
  }

  /** @internal Every per-process field of this store. */
  perProcessFields(): string[] {
    const out: string[] = [];
    for (const value of this.values.values()) out.push(...perProcessFieldsOf(value));
    return out;
  }

  #carry(family: SeriesOwner, value: V): void {
    if (value instanceof CounterValue) family.carry(value.field, value.flushed);
    else if (value instanceof HistogramValue) {
      const bounds = this.def.buckets ?? [];
      const f = flushedAt(value);
      for (let i = 0; i <= bounds.length; i++) family.carry(`${value.field}#${leLabel(i < bounds.length ? bounds[i]! : Infinity)}`, value.buckets[f + i]!);
      family.carry(`${value.field}#sum`, value.sumFlushed);
      family.carry(`${value.field}#count`, value.countFlushed);
      if (value instanceof NativeHistogramValue) flushedNative(value, (field, total) => family.carry(field, total));
    } else if (value instanceof SummaryValue) {
      family.carry(`${value.field}#sum`, value.sumFlushed);
      family.carry(`${value.field}#count`, value.countFlushed);
    }
  }

  /**
   * Index miss: checks and converts the label values (undefined = missing = ''), finds or creates the
   * value, and indexes it under the values as given, so a number label (`200`) hits next time
   * without String(). A value past the series limit is not indexed: it is counted at every call.
   */
  #miss(raw: readonly unknown[]): V {
    const names = this.def.labelNames;
    const strings: string[] = new Array(names.length);
    let numeric = 0;
    for (let i = 0; i < names.length; i++) {
      const r = raw[i];
      if (typeof r === 'number' && i < MAX_NUMERIC_LABELS) numeric |= 1 << i;
      strings[i] = r === undefined ? '' : typeof r === 'string' ? this.#stringLabel(names[i]!, r) : this.#numberLabel(names[i]!, r);
    }
    const value = this.#lookup(keyOf(strings), strings, numeric);
    if (value.dropped) return value;
    if (names.length === 1) {
      if (typeof raw[0] === 'number') this.#index.set(raw[0], value);
      return value;
    }
    let node = this.#index;
    const last = names.length - 1;
    for (let i = 0; i <= last; i++) {
      const given = raw[i] === undefined ? '' : (raw[i] as string | number);
      let child = node.get(strings[i]!);
      if (i === last) child = value;
      else if (child === undefined) child = new Map();
      node.set(strings[i]!, child);
      if (given !== strings[i]) node.set(given, child);
      node = child as IndexNode;
    }
    return value;
  }

  /** Drops a removed value from the index, with its number aliases and the nodes left empty. */
  #unindex(labelValues: readonly string[]): void {
    if (labelValues.length === 0) return;
    if (labelValues.length === 1) {
      const asNumber = Number(labelValues[0]);
      if (labelValues[0] !== '' && String(asNumber) === labelValues[0]) this.#index.delete(asNumber);
      return;
    }
    const path: IndexNode[] = [this.#index];
    for (let i = 0; i < labelValues.length - 1; i++) {
      const child = path[i]!.get(labelValues[i]!);
      if (!(child instanceof Map)) return;
      path.push(child as IndexNode);
    }
    for (let i = labelValues.length - 1; i >= 0; i--) {
      const node = path[i]!;
      const s = labelValues[i]!;
      node.delete(s);
      const asNumber = Number(s);
      if (s !== '' && String(asNumber) === s) node.delete(asNumber);
      if (node.size > 0 || i === 0) return;
    }
  }

  /**
   * Index lookup of a one-label store: `values` is keyed by the label value itself, so strings need
   * no index of their own; the index holds only number aliases.
   */
  #single(raw: unknown): V | undefined {
    return typeof raw === 'number' ? (this.#index.get(raw) as V | undefined) : this.values.get(raw as string);
  }

  #lookup(key: string, labelValues: readonly string[], numeric: number): V {
    const existing = this.values.get(key);
    if (existing !== undefined) return existing;
    if (this.values.size >= this.#options.maxSeriesPerMetric) {
      this.droppedSeries++;
      this.#options.onSeriesDropped(this.def);
      return (this.#dropped ??= this.#create(labelValues, true));
    }
    const value = this.#create(labelValues, false);
    if (numeric !== 0) value.numericLabels = numeric;
    // With two labels or more the key is the field itself: keep one copy of the string.
    this.values.set(key === value.field ? value.field : key, value);
    return value;
  }

  /**
   * A lone surrogate cannot be written as UTF-8: every one would print as U+FFFD, and distinct
   * series would show as the same line. Refused when the series is made (the hot path never sees it).
   */
  #stringLabel(name: string, raw: string): string {
    if (!isWellFormed(raw)) throw badLabelValue(this.def.name, name, raw, WELL_FORMED);
    return raw;
  }

  #numberLabel(name: string, raw: unknown): string {
    if (typeof raw === 'number' && Number.isFinite(raw)) return String(raw);
    throw badLabelValue(this.def.name, name, raw);
  }

  #checkNoLabels(labels: LabelValues): void {
    for (const name in labels) throw unknownLabel(this.def.name, name, this.def.labelNames);
  }

  #checkUnknown(labels: LabelValues): void {
    for (const name in labels) {
      if (this.#labelIndex[name] === undefined) throw unknownLabel(this.def.name, name, this.def.labelNames);
    }
    // Every name is known, so one was given as undefined explicitly: accepted as missing.
  }
}

/** Per-process fields of a value, deleted from Redis when the value goes. */
export function perProcessFieldsOf(value: RedisValue): string[] {
  if (value instanceof GaugeValue) return [value.field, `@${value.field}`];
  if (value instanceof SummaryValue) {
    // The slots in the window, and those pruned from it whose deletion has not been sent yet.
    const slots = new Set([...value.slots.keys(), ...(value.prunedSlots ?? [])]);
    return [...slots].map((slot) => `${value.field}#${slot}`);
  }
  return [];
}

const EMPTY: readonly string[] = Object.freeze([]);

/**
 * The key of a label set in `values`: the value itself for one label (what the hot path looks up),
 * the JSON array (the Redis field) for more, which no label value can make ambiguous.
 */
export function keyOf(labelValues: readonly string[]): string {
  return labelValues.length === 1 ? labelValues[0]! : labelValues.length === 0 ? '' : JSON.stringify(labelValues);
}

/** A level of the label index: inner levels map to the next level, the last one to values. */
type IndexNode = Map<string | number, unknown>;

/**
 * A label's value in a labels object, own properties only: a label named `constructor` or
 * `toString` that is not given is missing, not Object.prototype's function. (The hot path reads
 * `labels[name]` directly: an inherited function is never a key of the index, so it misses and
 * comes here.)
 */
function ownLabel(labels: LabelValues, name: string): unknown {
  return Object.prototype.hasOwnProperty.call(labels, name) ? labels[name] : undefined;
}

function labelString(raw: unknown): string {
  return raw === undefined ? '' : String(raw);
}
