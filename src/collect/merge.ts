import type { Histogram as HdrHistogram } from 'hdr-histogram-js';
import { addSlotTo, newHdr, type SlotCounts } from '../store/hdr-slot.js';
import type { BadDataSink } from './bad-data.js';
import { addHdrBlob } from './hdr-blob.js';
import type { FamilySnapshot, ProcessFields } from './snapshot.js';
import { Pacer } from '../pacer.js';
import { byCodeUnits, sortPaced } from './paced-sort.js';
import { quantilesOf } from './quantile.js';
import type { SeriesSink } from './sink.js';
import { isNativeSuffix, mergeNativeFields } from './native-merge.js';
import { parseLabelField } from './labels.js';
import type { CounterTable } from './counter-table.js';

type Labels = Record<string, string>;

/** Bounds of the merge's work (see `maxHdrBytes` and `maxHistogramBuckets` in config.ts). */
export interface MergeLimits {
  readonly maxHdrBytes: number;
  readonly maxHistogramBuckets: number;
}

const DEFAULT_LIMITS: MergeLimits = { maxHdrBytes: 524_288, maxHistogramBuckets: 1000 };

/**
 * A counter family's series in exposition order with their parsed labels, kept from one scrape to
 * the next: while the set of fields stays the same (the usual case), a scrape neither sorts nor
 * parses them again. The labels objects are shared between scrapes: sinks must not change them.
 */
export interface SeriesOrder {
  readonly labelNames: string;
  readonly fields: readonly string[];
  readonly labels: readonly (Labels | null)[];
  readonly known: ReadonlySet<string>;
}

/**
 * Hands a family's merged state to a sink, with the Python client's multiprocess semantics. Series
 * come out sorted, so the exposition is the same at every scrape. Fields that do not parse are
 * skipped and counted, never fatal.
 */
export class FamilyMerger {
  /** Per family (the label names are fixed within one): a gauge field recurs in every process. */
  #labelCache = new Map<string, Labels | null>();

  /**
   * @param orders series orders of the last scrape by family name (read), and where this scrape's
   *   go (written); the caller swaps them so that families gone from Redis are forgotten.
   */
  constructor(
    readonly stats: BadDataSink,
    readonly nowMs: number,
    readonly pacer = new Pacer(),
    readonly orders: { readonly last: ReadonlyMap<string, SeriesOrder>; readonly next: Map<string, SeriesOrder>; readonly tables?: Map<string, CounterTable> } = { last: new Map(), next: new Map() },
    readonly limits: MergeLimits = DEFAULT_LIMITS,
  ) {}

  /**
   * Merges one family into the sink, series by series: the exposition writer formats each at once,
   * so 150,000 sample objects never have to live (and be copied by the GC) together. Yields to the
   * event loop between slices of a large family.
   */
  async mergeInto(s: FamilySnapshot, live: ReadonlySet<string>, sink: SeriesSink): Promise<void> {
    this.#labelCache = new Map();
    const { type, name, help } = s.meta;
    sink.family(name, help, type);
    if (type === 'counter') await this.#counter(s, sink);
    else if (type === 'histogram') await this.#histogram(s, sink);
    else if (type === 'summary') await this.#summary(s, sink);
    else await this.#gauge(s, live, sink);
  }

  /** Labels of a field (the JSON array of label values), or null when it is not one of ours. */
  labels(field: string, names: readonly string[]): Labels | null {
    let labels = this.#labelCache.get(field);
    if (labels !== undefined) return labels;
    labels = this.#parseLabels(field, names);
    if (labels === null) this.stats.bad('field');
    this.#labelCache.set(field, labels);
    return labels;
  }

  /** Parses a field into labels (see parseLabelField). */
  #parseLabels(field: string, names: readonly string[]): Labels | null {
    return parseLabelField(field, names);
  }

  async #counter(s: FamilySnapshot, sink: SeriesSink): Promise<void> {
    if (s.counters && sink.counters) {
      await sink.counters(s.counters, () => this.stats.bad('field'), this.pacer);
      this.orders.tables?.set(s.meta.name, s.counters.table);
      return;
    }
    const order = await this.#orderOf(s);
    for (let i = 0; i < order.fields.length; i++) {
      const labels = order.labels[i]!;
      const field = order.fields[i]!;
      // A field that is not a label set is counted at every scrape, as when it was parsed.
      if (labels) sink.value(field, labels, s.sums.get(field)!, s.exemplars.get(field), createdOf(s, field));
      else this.stats.bad('field');
      const pause = this.pacer.step();
      if (pause) await pause;
    }
  }

  /** The family's fields sorted, with their labels: the last scrape's when the fields are the same. */
  async #orderOf(s: FamilySnapshot): Promise<SeriesOrder> {
    const labelNames = s.meta.labelNames.join(',');
    const last = this.orders.last.get(s.meta.name);
    let same = last !== undefined && last.labelNames === labelNames && last.fields.length === s.sums.size;
    // Every loop over the fields is paced: with a million series, the check, the copy of the keys
    // and the set of known fields each held the event loop 50-150 ms in one tick (perf/README.md
    // `curve-1m`). `s.sums` is not changed while the merge runs.
    if (same) {
      for (const field of s.sums.keys()) {
        if (!last!.known.has(field)) {
          same = false;
          break;
        }
        const pause = this.pacer.step();
        if (pause) await pause;
      }
    }
    let order: SeriesOrder;
    if (same) order = last!;
    else {
      const keys: string[] = [];
      for (const field of s.sums.keys()) {
        keys.push(field);
        const pause = this.pacer.step();
        if (pause) await pause;
      }
      const fields = await sortPaced(keys, byCodeUnits, this.pacer);
      const labels: (Labels | null)[] = new Array(fields.length);
      const known = new Set<string>();
      for (let i = 0; i < fields.length; i++) {
        labels[i] = this.#parseLabels(fields[i]!, s.meta.labelNames);
        known.add(fields[i]!);
        const pause = this.pacer.step();
        if (pause) await pause;
      }
      order = { labelNames, fields, labels, known };
    }
    this.orders.next.set(s.meta.name, order);
    return order;
  }

  /** labels() without the cache, for fields seen once per family (no garbage for the collector). */
  #labelsOnce(field: string, names: readonly string[]): Labels | null {
    const labels = this.#parseLabels(field, names);
    if (labels === null) this.stats.bad('field');
    return labels;
  }

  /** Groups `<labelKey>#<suffix>` fields by label key. */
  async #bySeries<T>(fields: Iterable<[string, T]>): Promise<Map<string, Map<string, T>>> {
    const groups = new Map<string, Map<string, T>>();
    for (const [field, value] of fields) {
      const pause = this.pacer.step();
      if (pause) await pause;
      const at = field.lastIndexOf('#');
      if (at <= 0) {
        this.stats.bad('field');
        continue;
      }
      const key = field.slice(0, at);
      let g = groups.get(key);
      if (!g) groups.set(key, (g = new Map()));
      g.set(field.slice(at + 1), value);
    }
    return groups;
  }

  async #histogram(s: FamilySnapshot, sink: SeriesSink): Promise<void> {
    // The family's own bounds, sorted and formatted once: a series with no other bound (the usual
    // case) reuses them; one with bounds of another deploy gets the union.
    const metaLes = [...[...s.meta.buckets].sort((x, y) => x - y).map(String), '+Inf'];
    const known = new Set(metaLes);
    const groups = await this.#bySeries(s.sums);
    const hasExemplars = s.exemplars.size > 0;
    for (const key of await sortPaced([...groups.keys()], byCodeUnits, this.pacer)) {
      const pause = this.pacer.step();
      if (pause) await pause;
      const labels = this.#labelsOnce(key, s.meta.labelNames);
      if (!labels) continue;
      const g = groups.get(key)!;
      let les: string[] | null = metaLes;
      for (const suffix of g.keys()) {
        if (suffix === 'sum' || suffix === 'count' || known.has(suffix) || isNativeSuffix(suffix)) continue;
        les = await this.#unionOfBounds(s.meta.buckets, g.keys());
        break;
      }
      if (!les) continue;
      const cumulative = new Array<number>(les.length);
      let acc = 0;
      for (let i = 0; i < les.length; i++) cumulative[i] = acc += g.get(les[i]!) ?? 0;
      const exemplars = hasExemplars ? les.map((le) => s.exemplars.get(`${key}#${le}`)) : undefined;
      const native = s.meta.native ? mergeNativeFields(s.meta.native, g, this.stats) : undefined;
      sink.histogram(key, labels, les, cumulative, g.get('sum') ?? 0, g.get('count') ?? 0, exemplars, { created: createdOf(s, key), native });
    }
  }

  /**
   * The family's bounds and a series' own, sorted, as `le` strings (`+Inf` last); a suffix that is
   * no number we write (String() of a finite number) is counted. Bounds of other deploys count
   * towards the family's limit: past it, null (the series is skipped and counted), as 100,000 `le`
   * fields in one series would print 100,000 lines for it.
   */
  async #unionOfBounds(buckets: readonly number[], suffixes: Iterable<string>): Promise<string[] | null> {
    const bounds = new Set<number>(buckets);
    for (const suffix of suffixes) {
      if (suffix === 'sum' || suffix === 'count' || suffix === '+Inf' || isNativeSuffix(suffix)) continue;
      const b = Number(suffix);
      if (Number.isFinite(b) && String(b) === suffix) bounds.add(b);
      else this.stats.bad('field');
      const pause = this.pacer.step();
      if (pause) await pause;
    }
    if (bounds.size > this.limits.maxHistogramBuckets) {
      this.stats.bad('too-many-buckets');
      return null;
    }
    return [...[...bounds].sort((x, y) => x - y).map(String), '+Inf'];
  }

  async #summary(s: FamilySnapshot, sink: SeriesSink): Promise<void> {
    const { maxAgeSeconds, ageBuckets, percentiles, pruneAgedBuckets } = s.meta;
    const sums = await this.#bySeries(s.sums);
    const newest = maxAgeSeconds > 0 ? Math.floor(this.nowMs / ((maxAgeSeconds * 1000) / ageBuckets)) : 0;
    const oldest = maxAgeSeconds > 0 ? newest - ageBuckets + 1 : 0;
    // Each series' slots in its window, merged one series at a time into one histogram (a histogram
    // per series grew and was dropped at every scrape: 2,000 series of 8 processes, ~50 MB of counts).
    const inputs = new Map<string, SlotCounts[]>();
    for (const fields of s.processes.values()) {
      for (const [key, slots] of await this.#bySeries(fields)) {
        for (const [slotText, data] of slots) {
          const slot = Number(slotText);
          if (!(slot >= oldest && slot <= newest)) continue;
          const list = inputs.get(key);
          if (list) list.push(data);
          else inputs.set(key, [data]);
        }
      }
    }
    const keys = new Set([...sums.keys(), ...inputs.keys()]);
    const values = new Array<number>(percentiles.length);
    const h = newHdr();
    for (const key of await sortPaced([...keys], byCodeUnits, this.pacer)) {
      const pause = this.pacer.step();
      if (pause) await pause;
      // This process's own slots come as live counts (added as they are) or as the blob a flush
      // kept of a slot the clock has left; a blob, ours or from Redis, is checked and its counts
      // added (addHdrBlob: nothing added when it is refused). A series whose every blob was
      // refused, with no sums, is left out.
      let isMerged = false;
      h.reset();
      for (const data of inputs.get(key) ?? []) {
        const bad = typeof data === 'string' ? addHdrBlob(data, this.limits.maxHdrBytes, h) : (addSlotTo(h, data), null);
        if (bad === null) isMerged = true;
        else this.stats.bad(bad);
        // A blob is a unit of work of up to maxHdrBytes: the deadline and the slice are checked after each.
        const paused = this.pacer.due();
        if (paused) await paused;
      }
      if (!isMerged && !sums.has(key)) continue;
      const labels = this.labels(key, s.meta.labelNames);
      if (!labels) continue;
      const observed = isMerged && h.totalCount > 0;
      // As prom-client's pruneAgedBuckets: a series with nothing in its window is left out.
      if (pruneAgedBuckets && maxAgeSeconds > 0 && !observed) continue;
      if (observed) quantilesOf(h, percentiles, values);
      else values.fill(0);
      const g = sums.get(key);
      sink.summary(key, labels, percentiles, values, g?.get('sum') ?? 0, g?.get('count') ?? 0, createdOf(s, key));
    }
  }

  async #gauge(s: FamilySnapshot, live: ReadonlySet<string>, sink: SeriesSink): Promise<void> {
    const mode = s.meta.mode ?? 'all';
    const liveOnly = mode.startsWith('live');
    const procs: Array<[string, ProcessFields]> = [...s.processes].filter(([id]) => !liveOnly || live.has(id));
    if (mode === 'all' || mode === 'liveall') {
      const rows: Array<[string, string, number]> = [];
      for (const [id, fields] of procs) {
        for (const [field, raw] of fields) {
          if (field.startsWith('@')) continue;
          const x = this.#number(raw);
          if (x !== null) rows.push([field, id, x]);
          const pause = this.pacer.step();
          if (pause) await pause;
        }
      }
      const byFieldThenProcess = (a: [string, string, number], b: [string, string, number]) => byCodeUnits(a[0], b[0]) || byCodeUnits(a[1], b[1]);
      for (const [field, id, x] of await sortPaced(rows, byFieldThenProcess, this.pacer)) {
        const pause = this.pacer.step();
        if (pause) await pause;
        const labels = this.labels(field, s.meta.labelNames);
        if (labels) sink.value(field, { ...labels, pid: id }, x);
      }
      return;
    }
    const acc = new Map<string, { value: number; at: number }>();
    const base = mode.replace(/^live/, '');
    for (const [, fields] of procs) {
      for (const [field, raw] of fields) {
        if (field.startsWith('@')) continue;
        const x = this.#number(raw);
        if (x === null) continue;
        const at = base === 'mostrecent' ? Number(fields.get(`@${field}`) ?? 0) : 0;
        const prev = acc.get(field);
        if (!prev) acc.set(field, { value: x, at });
        else if (base === 'sum') prev.value += x;
        else if (base === 'min') prev.value = Math.min(prev.value, x);
        else if (base === 'max') prev.value = Math.max(prev.value, x);
        else if (at > prev.at) acc.set(field, { value: x, at });
        const pause = this.pacer.step();
        if (pause) await pause;
      }
    }
    for (const field of await sortPaced([...acc.keys()], byCodeUnits, this.pacer)) {
      const pause = this.pacer.step();
      if (pause) await pause;
      const labels = this.labels(field, s.meta.labelNames);
      if (labels) sink.value(field, labels, acc.get(field)!.value);
    }
  }

  /** A gauge value: any number Number() reads, `NaN` and `±Infinity` included (prom-client allows them). */
  #number(raw: string | SlotCounts): number | null {
    if (typeof raw === 'string' && raw !== '') {
      const x = Number(raw);
      if (!Number.isNaN(x) || raw === 'NaN') return x;
    }
    this.stats.bad('value');
    return null;
  }
}

/** A series' creation time in seconds, if known. */
function createdOf(s: FamilySnapshot, key: string): number | undefined {
  const ms = s.created?.get(key);
  return ms === undefined ? undefined : ms / 1000;
}
