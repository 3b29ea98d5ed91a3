import { MetricFamily, typeModeOf, type FamilyDefinition, type FamilyOwner } from './family.js';
import { SeriesStore, type SeriesOptions } from './series.js';
import type { RedisValue } from './values.js';

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
  readonly #options: SeriesOptions;

  constructor(
    readonly maxSeriesPerMetric: number,
    readonly onFirstDrop: (def: FamilyDefinition) => void = () => {},
    /** False when nothing flushes (Redis disabled): no dirty lists are kept. */
    readonly isTracking = true,
  ) {
    this.#options = {
      maxSeriesPerMetric,
      isTracking,
      onSeriesDropped: (def) => {
        this.droppedSeries++;
        if (this.droppedSeries === 1) this.onFirstDrop(def);
      },
    };
  }

  /**
   * The series store of a new metric object named `def.name`, attached to the family of that name
   * (made, or taken over from the object that had it).
   */
  register<V extends RedisValue>(def: FamilyDefinition, create: (labelValues: readonly string[], dropped: boolean) => V): SeriesStore<V> {
    const series = new SeriesStore<V>(def, this.#options, create);
    const existing = this.families.get(def.name) as MetricFamily<V> | undefined;
    if (existing && existing.typeMode === typeModeOf(def)) {
      existing.replaceSeries(def, series);
    } else {
      existing?.series.detach();
      // `delete` first: the new family takes its place at the end, as a re-registered metric would.
      this.families.delete(def.name);
      this.dirtyFamilies = this.dirtyFamilies.filter((f) => f !== existing);
      this.families.set(def.name, new MetricFamily<V>(def, series, this) as unknown as MetricFamily);
    }
    return series;
  }

  /** Forgets a family (its data in Redis stays). */
  unregister(name: string): void {
    const family = this.families.get(name);
    if (!family) return;
    family.series.detach();
    this.families.delete(name);
    this.dirtyFamilies = this.dirtyFamilies.filter((f) => f !== family);
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
