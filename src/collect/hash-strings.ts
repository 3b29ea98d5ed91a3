// The shapes in which read-family.lua sends a hash, as walkers of its strings: one packed string,
// a list of packed parts (more than 1,000 fields), or a dump (see rdb-hash.ts), for the ordinary
// read (decode.ts) and the counter tables' (counter-read.ts).
import { Packed } from './packed.js';
import { DumpedHash } from './rdb-hash.js';

/**
 * Walks a hash's strings: `count()` first (-1: not what it should be), then `next()` for each
 * string at `buf[start, end)`; a value's bytes may be overwritten by the next string's.
 */
export interface HashStrings {
  readonly buf: Buffer;
  readonly start: number;
  readonly end: number;
  count(): number;
  next(): boolean;
  isDone(): boolean;
}

export interface HashReply {
  /** Each walked in turn: the pairs of a hash never span two of them. */
  walkers: HashStrings[];
  /** A field to leave out (the cluster hash's __epoch), which the script leaves in a dump; null for none. */
  skip: Buffer | null;
}

const DUMP = Buffer.from('dump');

function isBytes(x: unknown): x is Buffer {
  return Buffer.isBuffer(x);
}

/**
 * The walkers of a hash reply of Buffers (ioredis' Buffer variant), or null when it has none of
 * those shapes. `keepFields`: the caller keeps the positions of the fields it read (see rdb-hash.ts).
 */
export function hashReply(reply: unknown, keepFields = false): HashReply | null {
  if (isBytes(reply)) return { walkers: [new Packed(reply)], skip: null };
  if (!Array.isArray(reply) || !reply.every(isBytes)) return null;
  const parts = reply as Buffer[];
  if (parts.length >= 2 && parts[0]!.equals(DUMP)) return { walkers: [new DumpedHash(parts.slice(2), keepFields)], skip: parts[1]!.length > 0 ? parts[1]! : null };
  return { walkers: parts.map((part) => new Packed(part)), skip: null };
}

/** Whether buf[start, end) is the field to leave out. */
export function isSkipped(skip: Buffer | null, buf: Buffer, start: number, end: number): boolean {
  return skip !== null && end - start === skip.length && buf.compare(skip, 0, skip.length, start, end) === 0;
}
