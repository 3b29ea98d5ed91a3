import type { Reply } from '../redis/client.js';
import { RedisOperationError } from '../errors.js';
import type { SelfStats } from '../stats.js';
import type { GaugeMode, MetricType } from '../store/family.js';
import { GAUGE_MODES } from '../store/family.js';
import type { FamilyMeta } from './snapshot.js';
import type { Exemplar } from '../store/values.js';
import type { NativeDefinition } from '../store/definition.js';
import { isSchema } from '../native/schema.js';

// Decoding of the collector's Redis replies. Nothing here trusts what it reads: whatever is not
// what we write is counted in SelfStats.badData and skipped (see docs/faults.md).

/** A reply's value; WRONGTYPE (garbage where our key should be) counts as bad data and reads as empty. */
export function garbageOr(reply: Reply, stats: SelfStats): unknown {
  if (!reply.error) return reply.value;
  if (reply.error.message.startsWith('WRONGTYPE')) {
    stats.bad('key');
    return null;
  }
  throw new RedisOperationError(`collect: ${reply.error.message}`, { cause: reply.error });
}

export function zsetIds(flat: unknown, minScore: number): string[] {
  const out: string[] = [];
  if (!Array.isArray(flat)) return out;
  for (let i = 0; i + 1 < flat.length; i += 2) if (Number(flat[i + 1]) >= minScore) out.push(String(flat[i]));
  return out;
}

/** A zset read WITHSCORES as member → score; members whose score is not a finite number are skipped. */
export function zsetScores(flat: unknown): Map<string, number> {
  const out = new Map<string, number>();
  if (!Array.isArray(flat)) return out;
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const score = Number(flat[i + 1]);
    if (Number.isFinite(score)) out.set(String(flat[i]), score);
  }
  return out;
}

const WRONGTYPE = Buffer.from('WRONGTYPE');

function isWrongType(flat: unknown): boolean {
  return flat === 'WRONGTYPE' || (Buffer.isBuffer(flat) && flat.equals(WRONGTYPE));
}

const COLON = 0x3a;

/**
 * Field/value pairs of a hash packed by read-family.lua (`<bytes>:<field><bytes>:<value>...`, as a
 * Buffer); a key that was not a hash counts as bad data.
 */
export function* flatPairs(packed: unknown, stats: SelfStats): Generator<[string, string]> {
  if (isWrongType(packed)) {
    stats.bad('key');
    return;
  }
  const buf = Buffer.isBuffer(packed) ? packed : Buffer.from(typeof packed === 'string' ? packed : '');
  let at = 0;
  const next = (): string | undefined => {
    const colon = buf.indexOf(COLON, at);
    if (colon === -1) return undefined;
    const length = Number(buf.toString('latin1', at, colon));
    const end = colon + 1 + length;
    if (!Number.isInteger(length) || end > buf.length) return undefined;
    at = end;
    return buf.toString('utf8', colon + 1, end);
  };
  while (at < buf.length) {
    const field = next();
    const value = field === undefined ? undefined : next();
    if (field === undefined || value === undefined) {
      stats.bad('packing');
      return;
    }
    yield [field, value];
  }
}

const TYPES: readonly MetricType[] = ['counter', 'gauge', 'histogram', 'summary'];

export function parseMeta(flat: unknown): FamilyMeta | null {
  if (isWrongType(flat) || !Array.isArray(flat) || flat.length === 0) return null;
  const m = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) m.set(String(flat[i]), String(flat[i + 1]));
  const type = m.get('type') as MetricType;
  const name = m.get('name');
  if (!name || !TYPES.includes(type)) return null;
  const mode = (m.get('mode') || undefined) as GaugeMode | undefined;
  if (type === 'gauge' && (!mode || !GAUGE_MODES.includes(mode))) return null;
  try {
    const labelNames = JSON.parse(m.get('labelNames') ?? '[]') as string[];
    const buckets = JSON.parse(m.get('buckets') ?? '[]') as number[];
    const percentiles = JSON.parse(m.get('percentiles') ?? '[]') as number[];
    if (![labelNames, buckets, percentiles].every(Array.isArray)) return null;
    return {
      name, help: m.get('help') ?? '', type, mode, labelNames, buckets, percentiles,
      maxAgeSeconds: Number(m.get('maxAgeSeconds') ?? 0) || 0,
      ageBuckets: Number(m.get('ageBuckets') ?? 0) || 0,
      pruneAgedBuckets: m.get('pruneAgedBuckets') === '1',
      native: type === 'histogram' ? parseNative(m.get('native')) : undefined,
    };
  } catch {
    return null;
  }
}

/** A meta hash's `native`: `[schema, zeroThreshold, maxBuckets]`; anything else reads as a classic histogram. */
function parseNative(raw: string | undefined): NativeDefinition | undefined {
  if (!raw) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (!Array.isArray(v) || v.length !== 3) return undefined;
  const [schema, zeroThreshold, maxBuckets] = v as unknown[];
  if (!isSchema(schema as number) || typeof zeroThreshold !== 'number' || !(zeroThreshold >= 0) || !Number.isSafeInteger(maxBuckets) || (maxBuckets as number) < 0) return undefined;
  return { schema: schema as number, zeroThreshold, maxBuckets: maxBuckets as number };
}

const EXEMPLAR_LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * An exemplar as the exemplar hash keeps it (`<timestamp>|[labelSet, value]`), or null when it is
 * not one we would write: label names must be valid, values strings, the label set at most 128
 * characters (the OpenMetrics limit), value and timestamp finite.
 */
export function parseExemplar(raw: string): Exemplar | null {
  const bar = raw.indexOf('|');
  if (bar <= 0 || raw.length > 1024) return null;
  const timestamp = Number(raw.slice(0, bar));
  if (!Number.isFinite(timestamp)) return null;
  try {
    const parsed = JSON.parse(raw.slice(bar + 1)) as unknown;
    if (!Array.isArray(parsed) || parsed.length !== 2) return null;
    const [labelSet, value] = parsed as [unknown, unknown];
    if (typeof value !== 'number' || !Number.isFinite(value) || labelSet === null || typeof labelSet !== 'object' || Array.isArray(labelSet)) return null;
    let size = 0;
    for (const [k, v] of Object.entries(labelSet)) {
      if (!EXEMPLAR_LABEL.test(k) || !(typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v)))) return null;
      size += k.length + String(v).length;
    }
    if (size > 128) return null;
    return { labelSet: labelSet as Record<string, string | number>, value, timestamp };
  } catch {
    return null;
  }
}
