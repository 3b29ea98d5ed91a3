import type { Reply } from '../redis/client.js';
import { RedisOperationError } from '../errors.js';
import type { Exemplar } from '../store/values.js';
import type { BadDataSink } from './bad-data.js';
import { hashReply, isSkipped, type HashStrings } from './hash-strings.js';

// Decoding of the collector's Redis replies. Nothing here trusts what it reads: whatever is not
// what we write is counted in SelfStats.badData and skipped (see docs/faults.md).

/** A reply's value; WRONGTYPE (garbage where our key should be) counts as bad data and reads as empty. */
export function garbageOr(reply: Reply, stats: BadDataSink): unknown {
  if (!reply.error) return reply.value;
  if (reply.error.message.startsWith('WRONGTYPE')) {
    stats.bad('key');
    return null;
  }
  throw new RedisOperationError(`collect: ${reply.error.message}`, { cause: reply.error });
}

/** Ids and scores of a registry zset reply (`ZRANGE ... WITHSCORES`, lowest score first) with a score of at least `minScore`. */
export function zsetEntries(flat: unknown, minScore: number): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  if (!Array.isArray(flat)) return out;
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const score = Number(flat[i + 1]);
    if (score >= minScore) out.push([String(flat[i]), score]);
  }
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

// What a process id may be (as validateIdentity in manager.ts allows): it becomes part of key names,
// and braces would put the key in another Redis Cluster slot than the family's (a cross-slot error
// fails the whole collect). A hostname is at most 253 characters: 1,024 leaves room for the rest.
const PROCESS_ID = /^[^{}\s]{1,1024}$/;

/**
 * The process ids of a registry reply to read per-process hashes of: members that cannot be a
 * process id are counted (`process`) and skipped; past `max`, the least recently heard are left out
 * and counted (`too-many-processes`). Lowest score first, as Redis lists them.
 */
export function processIds(entries: ReadonlyArray<[string, number]>, max: number, bad: BadDataSink): string[] {
  const ids: string[] = [];
  for (const [id] of entries) {
    if (PROCESS_ID.test(id)) ids.push(id);
    else bad.bad('process');
  }
  if (ids.length <= max) return ids;
  bad.bad('too-many-processes', ids.length - max);
  return ids.slice(ids.length - max);
}

const WRONGTYPE = Buffer.from('WRONGTYPE');

function isWrongType(flat: unknown): boolean {
  return flat === 'WRONGTYPE' || (Buffer.isBuffer(flat) && flat.equals(WRONGTYPE));
}

/**
 * Field/value pairs of a hash as read-family.lua sends it: its HGETALL list as a MessagePack array
 * of strings (cmsgpack: fixarray, array 16 or array 32, then fixstr, str 8, str 16 or str 32) or a
 * list of such arrays, or its DUMP (rdb-hash.ts), as Buffers; '' (a hash not asked for) has no
 * pairs. A key that was not a hash counts as bad data, and so does anything else than those shapes
 * (counted once, the rest of the hash skipped).
 */
export function* flatPairs(packed: unknown, stats: BadDataSink): Generator<[string, string]> {
  if (isWrongType(packed)) {
    stats.bad('key');
    return;
  }
  const reply = hashReply(asBytes(packed));
  if (reply === null) {
    stats.bad('packing');
    return;
  }
  // Bad bytes in one part skip the rest.
  for (const strings of reply.walkers) if (!(yield* pairsOf(strings, reply.skip, stats))) return;
}

/** Strings as latin1 bytes (a test's replies), in a list too; anything else that is no list of them reads as empty. */
function asBytes(reply: unknown): unknown {
  if (Buffer.isBuffer(reply)) return reply;
  if (typeof reply === 'string') return Buffer.from(reply, 'latin1');
  if (Array.isArray(reply)) return reply.map((part) => (typeof part === 'string' ? Buffer.from(part, 'latin1') : part));
  return Buffer.alloc(0);
}

/** The pairs of one walker; false when its bytes were not of its shape (counted). */
function* pairsOf(p: HashStrings, skip: Buffer | null, stats: BadDataSink): Generator<[string, string], boolean> {
  const count = p.count();
  if (count < 0) {
    stats.bad('packing');
    return false;
  }
  for (let i = 0; i < count; i += 2) {
    const field = p.next() ? p.buf.toString('utf8', p.start, p.end) : undefined;
    const skipped = field !== undefined && isSkipped(skip, p.buf, p.start, p.end);
    const value = field === undefined ? undefined : p.next() ? p.buf.toString('utf8', p.start, p.end) : undefined;
    if (field === undefined || value === undefined) {
      stats.bad('packing');
      return false;
    }
    if (!skipped) yield [field, value];
  }
  if (p.isDone()) return true;
  stats.bad('packing');
  return false;
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
      if (!EXEMPLAR_LABEL.test(k) || !(typeof v === 'string' ? !/\p{Surrogate}/u.test(v) : typeof v === 'number' && Number.isFinite(v))) return null;
      size += k.length + String(v).length;
    }
    if (size > 128) return null;
    return { labelSet: labelSet as Record<string, string | number>, value, timestamp };
  } catch {
    return null;
  }
}
