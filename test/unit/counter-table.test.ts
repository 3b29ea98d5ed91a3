// A counter family's table built from its packed reply (counter-read.ts): the fields in the order
// the ordinary merge sorts them (JavaScript's, by UTF-16 code units), their label texts, and the
// replies it refuses so that the ordinary read counts them (bytes that are no UTF-8, a value that
// is no number, a field the table does not hold).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Pacer } from '../../src/pacer.js';
import { sumsByTable, tableFromReply } from '../../src/collect/counter-read.js';

/** MessagePack of an array of strings or byte strings, as cmsgpack writes it. */
function pack(strings: ReadonlyArray<string | Buffer>): Buffer {
  const n = strings.length;
  const parts: Buffer[] = [n < 16 ? Buffer.from([0x90 | n]) : Buffer.from([0xdc, n >> 8, n & 0xff])];
  for (const s of strings) {
    const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
    parts.push(b.length < 32 ? Buffer.from([0xa0 | b.length]) : Buffer.from([0xd9, b.length]), b);
  }
  return Buffer.concat(parts);
}

const field = (v: string) => JSON.stringify([v]);

describe('a counter table built from a packed reply', () => {
  it('orders the fields as JavaScript sorts their strings (a character past U+FFFF before U+E000-U+FFFF), with their label texts', async () => {
    const values = ['b', 'a', '\ue000', '😀', '\uffff', 'é', 'x"y', 'a\\b', 'new\nline', '', '10', '9'];
    const strings = values.flatMap((v, i) => [field(v), String(i + 1)]);
    // Two parts, as read-family.lua sends a large hash.
    const reply = [pack(strings.slice(0, 8)), pack(strings.slice(8))];
    const table = await tableFromReply(reply, ['k'], new Pacer());
    assert.ok(table);
    const sorted = values.map(field).sort();
    assert.deepEqual(Array.from({ length: table.size }, (_, i) => table.field(i)), sorted);
    assert.equal(sorted.indexOf(field('😀')) < sorted.indexOf(field('\ue000')), true);
    const text = (i: number) => {
      const out = Buffer.alloc(table.textLength(i));
      table.copyText(i, out, 0);
      return out.toString('utf8');
    };
    assert.deepEqual(
      sorted.map((_, i) => text(i)),
      sorted.map((f) => {
        const v = JSON.parse(f)[0] as string;
        return v === '' ? '' : `k="${v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`;
      }),
    );
    assert.equal(table.isAscii, false);
    const sums = await sumsByTable(reply, table, new Map([[field('a'), 0.5]]), new Pacer());
    assert.ok(sums);
    assert.deepEqual(
      Array.from(sums),
      sorted.map((f) => values.indexOf(JSON.parse(f)[0]) + 1 + (f === field('a') ? 0.5 : 0)),
    );
  });

  it('marks the fields that are no label set of ours, which the exposition counts and leaves out', async () => {
    const table = await tableFromReply(pack(['["a" ]', '1', '["\\u0061"]', '2', '["ok"]', '3', '[1]', '4']), ['k'], new Pacer());
    assert.ok(table);
    assert.deepEqual(Array.from({ length: table.size }, (_, i) => [table.field(i), table.isValid(i)]), [['["\\u0061"]', false], ['["a" ]', false], ['["ok"]', true], ['[1]', false]]);
  });

  it('refuses what the ordinary read must count: bytes that are no UTF-8, a value that is no number, fields the table does not hold', async () => {
    assert.equal(await tableFromReply(pack([Buffer.from([0x5b, 0x22, 0xff, 0x22, 0x5d]), '1']), ['k'], new Pacer()), null);
    assert.equal(await tableFromReply(Buffer.from('WRONGTYPE'), ['k'], new Pacer()), null);
    assert.equal(await tableFromReply(pack(['["a"]']), ['k'], new Pacer()), null);
    const table = await tableFromReply(pack([field('a'), '1', field('b'), '2']), ['k'], new Pacer());
    assert.ok(table);
    assert.equal(await sumsByTable(pack([field('a'), '1', field('b'), 'x']), table, undefined, new Pacer()), null);
    assert.equal(await sumsByTable(pack([field('a'), '1', field('b'), '']), table, undefined, new Pacer()), null);
    assert.equal(await sumsByTable(pack([field('a'), '1', field('c'), '2']), table, undefined, new Pacer()), null);
    assert.equal(await sumsByTable(pack([field('a'), '1']), table, undefined, new Pacer()), null);
    assert.equal(await sumsByTable(pack([field('a'), '1']), table, new Map([[field('c'), 1]]), new Pacer()), null);
    assert.deepEqual(Array.from((await sumsByTable(pack([field('a'), '1']), table, new Map([[field('b'), 2]]), new Pacer()))!), [1, 2]);
    assert.deepEqual(Array.from((await sumsByTable(pack([field('b'), '1e3', field('a'), '007']), table, undefined, new Pacer()))!), [7, 1000]);
  });
});
