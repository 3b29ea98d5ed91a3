import type { RedisStorageDict } from './store/storage-dict.js';

/**
 * What a process stopping while Redis is down would lose, for RedisStorageManager.shutdown(): if
 * nothing, it stops at once and warns of nothing. Not counted: the package's own figures about
 * the process (self-monitoring, process and launcher metrics), and the gauges of `live*` modes,
 * whose series leave the cluster-wide view with the process anyway.
 */
const ownByStorage = new WeakMap<object, Set<string>>();

/** Marks a metric of this package's own bookkeeping about the process. */
export function markOwnMetric(storage: object, name: string): void {
  let names = ownByStorage.get(storage);
  if (!names) ownByStorage.set(storage, (names = new Set()));
  names.add(name);
}

/** Whether a family that outlives the process has changes no flush has written yet. */
export function hasUpdatesToKeep(storage: { readonly dict: RedisStorageDict }): boolean {
  const own = ownByStorage.get(storage);
  for (const family of storage.dict.families.values()) {
    if (!family.isDirty && family.pending.length === 0 && family.draining === undefined) continue;
    if (own?.has(family.def.name) || (family.def.type === 'gauge' && family.def.mode?.startsWith('live'))) continue;
    return true;
  }
  return false;
}
