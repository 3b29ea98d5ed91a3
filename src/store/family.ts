import { createHash } from 'node:crypto';
import { badLabelValue, unknownLabel } from '../validation.js';
import { ValidationError } from '../errors.js';
import type { RedisValue } from './values.js';
import type { FamilyBatch } from '../flush/batch.js';

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary';

export const GAUGE_MODES = [
  'all', 'liveall', 'min', 'max', 'sum', 'mostrecent', 'livemin', 'livemax', 'livesum', 'livemostrecent',
] as const;
export type GaugeMode = (typeof GAUGE_MODES)[number];

export type LabelValues<T extends string = string> = Partial<Record<T, string | number>>;

export interface FamilyDefinition {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  /** Gauges only. */
  readonly mode: GaugeMode | undefined;
  readonly labelNames: readonly string[];
  /** Histograms only: upper bounds, increasing, without +Inf. */
  readonly buckets: readonly number[] | undefined;
  /** Summaries only. */
  readonly percentiles: readonly number[] | undefined;
  readonly maxAgeSeconds: number | undefined;
  readonly ageBuckets: number | undefined;
}

/** Stable across processes and hosts: the hash tag of every key of the family. */
export function familyHash(name: string): string {
  return createHash('sha1').update(name).digest('hex').slice(0, 16);
}

export interface FamilyOwner {
  readonly maxSeriesPerMetric: number;
  onFamilyDirty(family: MetricFamily): void;
  onSeriesDropped(family: MetricFamily): void;
}

/**
 * The shadow store of one metric family: its values by label set, the list of values changed since
 * the last flush, and the family's flush state (outbox, epoch) kept by the flusher.
 */
export class MetricFamily<V extends RedisValue = RedisValue> {
  readonly hash: string;
  /** `counter`, `gauge_max`, ...: the type segment of the family's keys. */
  readonly typeMode: string;
  /** Values by label set, keyed by keyOf(label values). */
  readonly values = new Map<string, V>();
  dirty: V[] = [];
  isDirty = false;
  /** Per-process fields to delete at the next flush (removed gauge and summary series). */
  removedFields: string[] = [];
  droppedSeries = 0;

  // Flush state, owned by the flusher.
  /** Batches sent but not yet acknowledged, in order: re-sent as they are until Redis confirms them. */
  pending: FamilyBatch[] = [];
  /** The batch a flush is draining into right now (a drain may span several ticks); no seq yet. */
  draining: FamilyBatch | undefined = undefined;
  /** Redis lost the family: the next flush re-sends everything this process ever flushed. */
  needsReset = false;
  /** The `__epoch` of the family's seq hash as last seen; '' before the first acknowledged flush. */
  knownEpoch = '';
  metaSent = false;
  /** Re-send every value (Redis lost the family, or this process's per-process hash expired). */
  resendAll = false;

  readonly #owner: FamilyOwner;
  readonly #create: (labelValues: readonly string[], dropped: boolean) => V;
  readonly #labelIndex: Record<string, number>;
  #dropped: V | undefined;
  /**
   * Lookup index over `values`: one Map level per label name, keyed by the label value as given
   * (a string, or a number as an alias of its string: `200` and `'200'` are one series); the last
   * level holds the value. A hit builds no key string. A one-label family keeps only its number
   * aliases here (see #single).
   */
  #index: IndexNode = new Map();

  constructor(readonly def: FamilyDefinition, owner: FamilyOwner, create: (labelValues: readonly string[], dropped: boolean) => V) {
    this.hash = familyHash(def.name);
    this.typeMode = def.type === 'gauge' ? `gauge_${def.mode ?? 'all'}` : def.type;
    this.#owner = owner;
    this.#create = create;
    this.#labelIndex = Object.create(null) as Record<string, number>;
    def.labelNames.forEach((n, i) => (this.#labelIndex[n] = i));
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
      return this.#lookup(keyOf(empty), empty);
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
    return this.#miss(names.map((name) => labels[name]));
  }

  /** The value of a label set given positionally, as `labels('GET', 200)`. */
  valueForPositional(args: readonly unknown[]): V {
    const names = this.def.labelNames;
    if (args.length !== names.length) {
      throw new ValidationError(
        'ERR_PCR_INVALID_LABEL',
        `Invalid number of label values for metric \`${this.def.name}\`: expected ${names.length} (${names.join(', ')}), got ${args.length}`,
      );
    }
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
    return this.values.get(keyOf(names.map((n) => labelString(labels?.[n]))));
  }

  markDirty(value: V): void {
    value.dirty = true;
    this.dirty.push(value);
    if (!this.isDirty) {
      this.isDirty = true;
      this.#owner.onFamilyDirty(this);
    }
  }

  /** Forgets a series; per-process fields are deleted from Redis at the next flush. */
  remove(value: V, perProcessFields: readonly string[]): void {
    const labelValues = value.labelValues;
    const key = keyOf(labelValues);
    if (this.values.get(key) !== value) return;
    this.values.delete(key);
    this.#unindex(labelValues);
    value.removed = true;
    if (perProcessFields.length > 0) {
      this.removedFields.push(...perProcessFields);
      if (!this.isDirty) {
        this.isDirty = true;
        this.#owner.onFamilyDirty(this);
      }
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
    for (let i = 0; i < names.length; i++) {
      const r = raw[i];
      strings[i] = r === undefined ? '' : typeof r === 'string' ? r : this.#numberLabel(names[i]!, r);
    }
    const value = this.#lookup(keyOf(strings), strings);
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
   * Index lookup of a one-label family: `values` is keyed by the label value itself, so strings need
   * no index of their own; the index holds only number aliases.
   */
  #single(raw: unknown): V | undefined {
    return typeof raw === 'number' ? (this.#index.get(raw) as V | undefined) : this.values.get(raw as string);
  }

  #lookup(key: string, labelValues: readonly string[]): V {
    const existing = this.values.get(key);
    if (existing !== undefined) return existing;
    if (this.values.size >= this.#owner.maxSeriesPerMetric) {
      this.droppedSeries++;
      this.#owner.onSeriesDropped(this);
      return (this.#dropped ??= this.#create(labelValues, true));
    }
    const value = this.#create(labelValues, false);
    // With two labels or more the key is the field itself: keep one copy of the string.
    this.values.set(key === value.field ? value.field : key, value);
    return value;
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

const EMPTY: readonly string[] = Object.freeze([]);

/**
 * The key of a label set in `values`: the value itself for one label (what the hot path looks up),
 * the JSON array (the Redis field) for more, which no label value can make ambiguous.
 */
function keyOf(labelValues: readonly string[]): string {
  return labelValues.length === 1 ? labelValues[0]! : labelValues.length === 0 ? '' : JSON.stringify(labelValues);
}

/** A level of the label index: inner levels map to the next level, the last one to values. */
type IndexNode = Map<string | number, unknown>;

function labelString(raw: unknown): string {
  return raw === undefined ? '' : String(raw);
}
