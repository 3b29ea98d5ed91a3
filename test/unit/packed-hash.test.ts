// The packing of read-family.lua as the collector decodes it: a hash's HGETALL list as a
// MessagePack array of strings. What Redis returns is input: anything else than that packing is
// counted (kind `packing`) and the rest of the hash skipped, never thrown.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SelfStats } from '../../src/stats.js';
import { flatPairs } from '../../src/collect/decode.js';

/** MessagePack of an array of strings, with the shortest header of each size (as cmsgpack writes). */
function pack(strings: readonly string[]): Buffer {
  const n = strings.length;
  const parts: Buffer[] = [n < 16 ? Buffer.from([0x90 | n]) : n <= 0xffff ? Buffer.from([0xdc, n >> 8, n & 0xff]) : Buffer.from([0xdd, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff])];
  for (const s of strings) {
    const b = Buffer.from(s, 'utf8');
    const len = b.length;
    parts.push(len < 32 ? Buffer.from([0xa0 | len]) : len <= 0xff ? Buffer.from([0xd9, len]) : len <= 0xffff ? Buffer.from([0xda, len >> 8, len & 0xff]) : Buffer.from([0xdb, len >>> 24, (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff]), b);
  }
  return Buffer.concat(parts);
}

function read(packed: unknown): { pairs: Array<[string, string]>; bad: Record<string, number> } {
  const stats = new SelfStats();
  const pairs = [...flatPairs(packed, stats)];
  return { pairs, bad: Object.fromEntries(stats.badData) };
}

describe('a packed hash from read-family.lua', () => {
  it('reads every pair, whatever the header sizes', () => {
    const long = 'x'.repeat(40);
    const longer = 'é'.repeat(200); // 400 bytes: str 16
    const strings = ['["a"]', '1', `["${long}"]`, '2.5', `["${longer}"]`, '-3'];
    assert.deepEqual(read(pack(strings)), { pairs: [['["a"]', '1'], [`["${long}"]`, '2.5'], [`["${longer}"]`, '-3']], bad: {} });
    // 20 strings: array 16.
    const many = Array.from({ length: 20 }, (_, i) => String(i));
    assert.deepEqual(read(pack(many)).pairs, Array.from({ length: 10 }, (_, i) => [String(2 * i), String(2 * i + 1)]));
    assert.deepEqual(read(Buffer.from([0x90])), { pairs: [], bad: {} });
    assert.deepEqual(read(Buffer.alloc(0)), { pairs: [], bad: {} });
  });

  it('counts what is not that packing, and keeps the pairs before it', () => {
    const good = pack(['["a"]', '1', '["b"]', '2']);
    assert.deepEqual(read(good.subarray(0, good.length - 1)), { pairs: [['["a"]', '1']], bad: { packing: 1 } });
    assert.deepEqual(read(pack(['["a"]', '1', '["b"]'])), { pairs: [], bad: { packing: 1 } });
    assert.deepEqual(read(Buffer.concat([good, Buffer.from([0xa0])])), { pairs: [['["a"]', '1'], ['["b"]', '2']], bad: { packing: 1 } });
    assert.deepEqual(read(Buffer.from([0x92, 0xa1, 0x61, 0x01])), { pairs: [], bad: { packing: 1 } });
    assert.deepEqual(read(Buffer.from('1:a1:1')), { pairs: [], bad: { packing: 1 } });
    assert.deepEqual(read(Buffer.from([0xdc, 0x00])), { pairs: [], bad: { packing: 1 } });
    assert.deepEqual(read(Buffer.from([0x92, 0xdb, 0xff, 0xff, 0xff, 0xff, 0x61])), { pairs: [], bad: { packing: 1 } });
    assert.deepEqual(read('WRONGTYPE'), { pairs: [], bad: { key: 1 } });
  });
});
