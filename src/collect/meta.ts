import type { GaugeMode, MetricType, NativeDefinition } from '../store/definition.js';
import { GAUGE_MODES, familyHash, typeModeOf } from '../store/definition.js';
import { isSchema } from '../native/schema.js';
import { validateBuckets, validateHelp, validateLabelNames, validateMetricName, validatePercentiles } from '../validation.js';
import type { FamilyMeta } from './snapshot.js';

// A family's definition as read back from its meta hash. Every process that can write the prefix can
// write this hash, and the collector prints its name, help and label names into everyone's
// exposition: it is checked with the API's own rules (src/validation.ts), so that a label name such
// as `a="1"} 666\nfake{b` or a name with a space is refused here as it would be by `new Counter()`.

/** Bounds of the lists a meta hash may hold (see `maxHistogramBuckets`, `maxPercentilesPerFamily`). */
export interface MetaLimits {
  readonly maxHistogramBuckets: number;
  readonly maxPercentilesPerFamily: number;
}

/**
 * The kinds of bad meta hashes, as counted in `prom_client_redis_bad_data_total{kind}`: `meta` (no
 * hash, unknown type or mode, not of the key it is under), `name`, `help`, `label-names`, `buckets`,
 * `percentiles`, `too-many-buckets`, `too-many-percentiles`.
 */
export type BadMetaKind = 'meta' | 'name' | 'help' | 'label-names' | 'buckets' | 'percentiles' | 'too-many-buckets' | 'too-many-percentiles';

const TYPES: readonly MetricType[] = ['counter', 'gauge', 'histogram', 'summary'];
/** The longest a JSON number we write can be (`-1.2345678901234567e-308`) and its comma. */
const MAX_NUMBER_TEXT = 26;

function asText(v: unknown): string {
  return Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
}

function byteLength(v: unknown): number {
  return Buffer.isBuffer(v) ? v.length : String(v).length;
}

function passes(check: () => unknown): boolean {
  try {
    check();
    return true;
  } catch {
    return false;
  }
}

function jsonArray(raw: string): unknown[] | null {
  try {
    const v = JSON.parse(raw) as unknown;
    return Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}

/**
 * The family of a meta hash (a flat field/value list as read-family.lua returns it) read under the
 * keys of `hash` and `typeMode`, or the kind of bad data it is. A list longer than its limit is
 * refused from its length, before it is parsed: an 8.9 MB percentile list costs nothing.
 */
export function parseMeta(flat: unknown, hash: string, typeMode: string, limits: MetaLimits): FamilyMeta | BadMetaKind {
  if (!Array.isArray(flat) || flat.length === 0) return 'meta';
  const raw = new Map<string, unknown>();
  for (let i = 0; i + 1 < flat.length; i += 2) raw.set(asText(flat[i]), flat[i + 1]);
  const text = (field: string): string | undefined => (raw.has(field) ? asText(raw.get(field)) : undefined);
  const type = text('type') as MetricType;
  const mode = (text('mode') || undefined) as GaugeMode | undefined;
  if (!TYPES.includes(type) || (type === 'gauge' ? !mode || !GAUGE_MODES.includes(mode) : mode !== undefined)) return 'meta';
  const name = text('name');
  if (!passes(() => validateMetricName(name))) return 'name';
  // Every key of a family carries the hash of its name: a meta hash under another family's keys is not ours.
  if (familyHash(name!) !== hash || typeModeOf({ type, mode } as never) !== typeMode) return 'meta';
  const help = text('help');
  if (!passes(() => validateHelp(name!, help))) return 'help';

  const labelNames = jsonArray(text('labelNames') ?? '[]');
  const reserved = type === 'histogram' ? ['le'] : type === 'summary' ? ['quantile'] : mode === 'all' || mode === 'liveall' ? ['pid'] : [];
  if (!labelNames || !passes(() => validateLabelNames(name!, labelNames, reserved))) return 'label-names';

  let buckets: number[] = [];
  let native: NativeDefinition | undefined;
  if (type === 'histogram') {
    if (byteLength(raw.get('buckets') ?? '') > limits.maxHistogramBuckets * MAX_NUMBER_TEXT + 2) return 'too-many-buckets';
    const list = jsonArray(text('buckets') ?? '[]');
    if (!list) return 'buckets';
    if (list.length > limits.maxHistogramBuckets) return 'too-many-buckets';
    native = parseNative(text('native'));
    // No bounds: a native-only histogram, or one the registry bridge mirrors before it saw any bound.
    if (list.length > 0 && !passes(() => (buckets = validateBuckets(name!, list)))) return 'buckets';
  }
  let percentiles: number[] = [];
  let maxAgeSeconds = 0;
  let ageBuckets = 0;
  if (type === 'summary') {
    if (byteLength(raw.get('percentiles') ?? '') > limits.maxPercentilesPerFamily * MAX_NUMBER_TEXT + 2) return 'too-many-percentiles';
    const list = jsonArray(text('percentiles') ?? '[]');
    if (!list) return 'percentiles';
    if (list.length > limits.maxPercentilesPerFamily) return 'too-many-percentiles';
    // No percentiles: a prom-client summary bridged as its count and sum (src/integrations/bridge.ts).
    if (list.length > 0 && !passes(() => (percentiles = validatePercentiles(name!, list)))) return 'percentiles';
    // The API takes a list with a percentile twice (as prom-client does) and writes it so: shown once.
    percentiles = [...new Set(percentiles)];
    maxAgeSeconds = Number(text('maxAgeSeconds') ?? 0);
    ageBuckets = Number(text('ageBuckets') ?? 0);
    // The age window: none (0), or a positive length cut into a whole number of slots.
    if (!(Number.isFinite(maxAgeSeconds) && maxAgeSeconds >= 0) || (maxAgeSeconds > 0 && !(Number.isSafeInteger(ageBuckets) && ageBuckets >= 1))) return 'meta';
  }
  return {
    name: name!, help: help!, type, mode, labelNames: labelNames as string[], buckets, percentiles, maxAgeSeconds, ageBuckets,
    pruneAgedBuckets: text('pruneAgedBuckets') === '1',
    native,
  };
}

/**
 * Every metric name a family of this name and type prints in any format, with the names a parser
 * reads as the family's own (Prometheus' text parser takes `x_count` for the histogram `x`; an
 * OpenMetrics counter `x_total` is the family `x`). Two families sharing one make the exposition
 * invalid: the collector serves the first by name and counts the other as a `conflict`.
 */
export function printedNames(name: string, type: MetricType): string[] {
  if (type === 'gauge') return [name];
  if (type === 'counter') return [name, name.replace(/_total$/, ''), `${name.replace(/_total$/, '')}_total`, `${name.replace(/_total$/, '')}_created`];
  return [name, `${name}_bucket`, `${name}_sum`, `${name}_count`, `${name}_created`];
}

/** A meta hash's `native`: `[schema, zeroThreshold, maxBuckets]`; anything else reads as a classic histogram. */
function parseNative(raw: string | undefined): NativeDefinition | undefined {
  if (!raw || raw.length > 100) return undefined;
  const v = jsonArray(raw);
  if (!v || v.length !== 3) return undefined;
  const [schema, zeroThreshold, maxBuckets] = v;
  if (!isSchema(schema as number) || typeof zeroThreshold !== 'number' || !(zeroThreshold >= 0) || !Number.isSafeInteger(maxBuckets) || (maxBuckets as number) < 0) return undefined;
  return { schema: schema as number, zeroThreshold, maxBuckets: maxBuckets as number };
}
