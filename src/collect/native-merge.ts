import type { BadDataSink } from './bad-data.js';
import type { NativeDefinition } from '../store/definition.js';
import { MAX_INDEX, isSchema } from '../native/schema.js';
import { emptyNative, mergeNative, widenZero, type NativeState } from '../native/histogram.js';

/** A field suffix of native buckets (`n+3:-80`, `n-3:2`, `nz:2.9e-39`); classic bounds are numbers or `+Inf`. */
export function isNativeSuffix(suffix: string): boolean {
  return suffix.charCodeAt(0) === 110; // 'n'
}

/**
 * One series' native histogram from its fields in the cluster hash: buckets flushed at several
 * schemas (processes with other factors, or one that halved its resolution) and zero buckets of
 * several thresholds, merged to the coarsest schema and the widest zero bucket, then to the family's
 * bucket budget. A field that is not one we write is skipped and counted.
 */
export function mergeNativeFields(def: NativeDefinition, fields: ReadonlyMap<string, number>, stats: BadDataSink): NativeState {
  const bySchema = new Map<number, NativeState>();
  const parts: NativeState[] = [];
  for (const [suffix, count] of fields) {
    if (!isNativeSuffix(suffix)) continue;
    if (!(count >= 0) || !Number.isFinite(count)) {
      stats.bad('native');
      continue;
    }
    if (suffix.startsWith('nz:')) {
      const threshold = Number(suffix.slice(3));
      if (!(threshold >= 0) || !Number.isFinite(threshold) || suffix.length === 3) {
        stats.bad('native');
        continue;
      }
      const zero = emptyNative(def.schema, threshold);
      zero.zeroCount = count;
      parts.push(zero);
      continue;
    }
    const sign = suffix[1];
    const colon = suffix.indexOf(':');
    const schema = Number(suffix.slice(2, colon));
    const index = Number(suffix.slice(colon + 1));
    if ((sign !== '+' && sign !== '-') || colon < 3 || !isSchema(schema) || !Number.isSafeInteger(index) || Math.abs(index) > MAX_INDEX + 1 || suffix.slice(colon + 1) === '') {
      stats.bad('native');
      continue;
    }
    let h = bySchema.get(schema);
    if (!h) {
      bySchema.set(schema, (h = emptyNative(schema, 0)));
      parts.push(h);
    }
    const side = sign === '+' ? h.positive : h.negative;
    side.set(index, (side.get(index) ?? 0) + count);
  }
  // A series with no observation yet still shows as native, at the family's own settings.
  if (parts.length === 0) return emptyNative(def.schema, def.zeroThreshold);
  const merged = mergeNative(parts, def.maxBuckets)!;
  // A zero bucket with nothing in it was never flushed: the family's threshold still applies.
  widenZero(merged, def.zeroThreshold);
  return merged;
}
