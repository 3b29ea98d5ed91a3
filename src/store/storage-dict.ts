import { ValidationError } from '../errors.js';
import { MetricFamily, type FamilyDefinition, type FamilyOwner } from './family.js';
import type { RedisValue } from './values.js';

/**
 * The process's shadow store: every metric family of this process and the list of families with
 * changes since the last flush. The seed's `RedisStorageDict`, without any I/O.
 */
export class RedisStorageDict implements FamilyOwner {
  readonly families = new Map<string, MetricFamily>();
  dirtyFamilies: MetricFamily[] = [];
  /** Label sets refused because a metric reached `maxSeriesPerMetric`. */
  droppedSeries = 0;

  constructor(
    readonly maxSeriesPerMetric: number,
    readonly onFirstDrop: (family: MetricFamily) => void = () => {},
  ) {}

  register<V extends RedisValue>(def: FamilyDefinition, create: (labelValues: readonly string[], dropped: boolean) => V): MetricFamily<V> {
    if (this.families.has(def.name)) {
      throw new ValidationError(
        'ERR_PCR_DUPLICATE_METRIC',
        `A metric with the name \`${def.name}\` has already been registered in this storage manager`,
      );
    }
    const family = new MetricFamily<V>(def, this, create);
    this.families.set(def.name, family as unknown as MetricFamily);
    return family;
  }

  unregister(name: string): void {
    this.families.delete(name);
    this.dirtyFamilies = this.dirtyFamilies.filter((f) => f.def.name !== name);
  }

  onFamilyDirty(family: MetricFamily): void {
    this.dirtyFamilies.push(family);
  }

  onSeriesDropped(family: MetricFamily): void {
    this.droppedSeries++;
    if (family.droppedSeries === 1) this.onFirstDrop(family);
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
    for (const f of this.dirtyFamilies) n += f.dirty.length;
    return n;
  }
}
