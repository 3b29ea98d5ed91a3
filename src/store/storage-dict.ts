import { MetricFamily, typeModeOf, type FamilyDefinition, type FamilyOwner } from './family.js';
import { SeriesStore, type SeriesOptions } from './series.js';
import type { RedisValue } from './values.js';

/** Names of the package's own metrics (self-monitoring): never past the family limit. */
const OWN_PREFIX = 'prom_client_redis_';

/**
 * The process's shadow store: the metric families of one storage manager by name, and the list of
 * families with changes since the last flush. The seed's `RedisStorageDict`, without any I/O.
 *
 * A name is one family. Each metric object has series of its own (as in prom-client, a new object
 * starts from zero), and the newest object of a name is the one the family flushes and the collector
 * serves: creating a metric whose name is taken replaces the older object in the family (see
 * MetricFamily.replaceSeries). A new type or gauge mode is another set of Redis keys: the family is
 * then made anew.
 */
export class RedisStorageDict implements FamilyOwner {
  readonly families = new Map<string, MetricFamily>();
  dirtyFamilies: MetricFamily[] = [];
  /** Label sets refused because a metric reached `maxSeriesPerMetric`. */
  droppedSeries = 0;
  /** Families made past `maxFamilies`: they work in this process but are never flushed. */
  droppedFamilies = 0;
  readonly #options: SeriesOptions;
  /** The same, for the series of a family past `maxFamilies`: nothing of them is tracked for a flush. */
  readonly #untracked: SeriesOptions;
  /** Families in `families` that flush (not past the limit). */
  #flushedFamilies = 0;

  constructor(
    readonly maxSeriesPerMetric: number,
    readonly onFirstDrop: (def: FamilyDefinition) => void = () => {},
    /** False when nothing flushes (Redis disabled): no dirty lists are kept. */
    readonly isTracking = true,
    /** Most families that flush to Redis; the package's own (`prom_client_redis_*`) are not counted. */
    readonly maxFamilies = Infinity,
    readonly onFirstFamilyDrop: (def: FamilyDefinition) => void = () => {},
  ) {
    this.#options = {
      maxSeriesPerMetric,
      isTracking,
      onSeriesDropped: (def) => {
        this.droppedSeries++;
        if (this.droppedSeries === 1) this.onFirstDrop(def);
      },
    };
    this.#untracked = { ...this.#options, isTracking: false };
  }

  /**
   * The series store of a new metric object named `def.name`, attached to the family of that name
   * (made, or taken over from the object that had it).
   */
  register<V extends RedisValue>(def: FamilyDefinition, create: (labelValues: readonly string[], dropped: boolean) => V): SeriesStore<V> {
    const existing = this.families.get(def.name) as MetricFamily<V> | undefined;
    if (existing && existing.typeMode === typeModeOf(def)) {
      const series = new SeriesStore<V>(def, existing.isOverLimit ? this.#untracked : this.#options, create);
      existing.replaceSeries(def, series);
      return series;
    }
    if (existing) this.#forget(existing);
    // Each family costs Redis keys that outlive the process and work at every scrape of everyone:
    // past the limit a family still counts and renders in this process (get(), a registry without
    // Redis), but none of it is flushed. The package's own metrics always flush: they report this.
    const isOverLimit = this.isTracking && this.#flushedFamilies >= this.maxFamilies && !def.name.startsWith(OWN_PREFIX);
    const series = new SeriesStore<V>(def, isOverLimit ? this.#untracked : this.#options, create);
    if (isOverLimit) {
      this.droppedFamilies++;
      if (this.droppedFamilies === 1) this.onFirstFamilyDrop(def);
    } else this.#flushedFamilies++;
    this.families.set(def.name, new MetricFamily<V>(def, series, this, isOverLimit) as unknown as MetricFamily);
    return series;
  }

  /** Forgets a family (its data in Redis stays). */
  unregister(name: string): void {
    const family = this.families.get(name);
    if (family) this.#forget(family);
  }

  #forget(family: MetricFamily): void {
    family.series.detach();
    // `delete` first: a family made again under the name takes its place at the end, as a re-registered metric would.
    this.families.delete(family.def.name);
    this.dirtyFamilies = this.dirtyFamilies.filter((f) => f !== family);
    if (!family.isOverLimit) this.#flushedFamilies--;
  }

  onFamilyDirty(family: MetricFamily): void {
    if (this.isTracking) this.dirtyFamilies.push(family);
  }

  /** Swaps the dirty-family list for an empty one (the drain of the flush). */
  takeDirtyFamilies(): MetricFamily[] {
    const taken = this.dirtyFamilies;
    this.dirtyFamilies = [];
    return taken;
  }

  /** Number of values with changes not yet handed to a flush. */
  pendingSeries(): number {
    let n = 0;
    for (const f of this.dirtyFamilies) n += f.series.dirty.length;
    return n;
  }
}
