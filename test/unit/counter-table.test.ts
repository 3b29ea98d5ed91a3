// A counter family's table built from its packed reply (counter-read.ts): the fields in the order
// the ordinary merge sorts them (JavaScript's, by UTF-16 code units), their label texts, and the
// replies it refuses so that the ordinary read counts them (bytes that are no UTF-8, a value that
// is no number, a field the table does not hold).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Pacer } from '../../src/pacer.js';
import { sortFields, sumsByTable, tableFromReply } from '../../src/collect/counter-read.js';
import { copyBytes } from '../../src/collect/counter-table.js';

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

  it('reads the fields by where the last reply put them, and looks up any field that moved or changed', async () => {
    const names = Array.from({ length: 50 }, (_, i) => field(`s${i}`));
    const reply = (order: readonly number[], value: (i: number) => number, replace?: [number, string]) =>
      pack(order.flatMap((i) => [replace?.[0] === i ? replace[1] : names[i]!, String(value(i))]));
    const table = await tableFromReply(reply([...names.keys()], () => 1), ['k'], new Pacer());
    assert.ok(table);
    // Sorted: table position of each name.
    const at = names.map((f) => Array.from({ length: table.size }, (_, i) => table.field(i)).indexOf(f));
    const expect = (value: (i: number) => number) => names.map((_, i) => i).sort((a, b) => at[a]! - at[b]!).map(value);
    const sums = async (order: readonly number[], value: (i: number) => number, replace?: [number, string]) => {
      const got = await sumsByTable(reply(order, value, replace), table, undefined, new Pacer());
      return got === null ? null : Array.from(got);
    };
    const forwards = [...names.keys()];
    const backwards = [...forwards].reverse();
    // The same order twice (the second read by the remembered positions), then another order, then back.
    assert.deepEqual(await sums(forwards, (i) => i + 1), expect((i) => i + 1));
    assert.deepEqual(await sums(forwards, (i) => 2 * i), expect((i) => 2 * i));
    assert.deepEqual(await sums(backwards, (i) => 3 * i), expect((i) => 3 * i));
    assert.deepEqual(await sums(forwards, (i) => 4 * i), expect((i) => 4 * i));
    // Two fields swapped.
    const swapped = [...forwards];
    [swapped[3], swapped[40]] = [swapped[40]!, swapped[3]!];
    assert.deepEqual(await sums(swapped, (i) => 5 * i), expect((i) => 5 * i));
    // A field the table does not hold where a known one was, the rest in their remembered places:
    // refused (the ordinary read runs), then the same reply as before reads as before.
    assert.equal(await sums(swapped, (i) => i, [17, field('other')]), null);
    assert.equal(await sums(swapped, (i) => i, [17, field('s18')]), null);
    // The same field at its own place and at another's (a reply of the right length, one series twice).
    assert.equal(await sums(swapped, (i) => i, [40, names[3]!]), null);
    assert.deepEqual(await sums(swapped, (i) => 6 * i), expect((i) => 6 * i));
    // A reply with one pair more than the table: refused.
    assert.equal(await sumsByTable(pack([...swapped.flatMap((i) => [names[i]!, '1']), field('s0'), '1']), table, undefined, new Pacer()), null);
  });
});

describe('sortFields: the radix sort of a table\'s fields', () => {
  /** The fields as byte ranges of a few buffers, sorted by sortFields, read back as strings. */
  async function sorted(fields: readonly string[]): Promise<string[]> {
    const bufs = [0, 1, 2].map((p) => Buffer.from(fields.filter((_, i) => i % 3 === p).join('')));
    const n = fields.length;
    const [bufOf, from, to] = [new Int32Array(n), new Int32Array(n), new Int32Array(n)];
    const at = [0, 0, 0];
    fields.forEach((f, i) => {
      const p = i % 3;
      const length = Buffer.byteLength(f);
      [bufOf[i], from[i], to[i]] = [p, at[p]!, at[p]! + length];
      at[p]! += length;
    });
    const order = await sortFields(n, (i) => bufs[bufOf[i]!]!, from, to, new Pacer(0, 64));
    return [...order].map((i) => bufs[bufOf[i]!]!.toString('utf8', from[i], to[i]));
  }

  let seed = 5;
  const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;

  it('orders as JavaScript sorts the strings: long shared prefixes, ties past several passes, UTF-8', async () => {
    const routes = ['/api/v1/items/', '/api/v1/items/long/path/segment/', '/api/v2/', '/é/', '/\ue000/', '/😀/', '/\uffff/'];
    const fields = new Set<string>();
    while (fields.size < 40_000) fields.add(JSON.stringify([pick(['GET', 'POST']), `${pick(routes)}${Math.floor(random() * 100_000)}`, pick(['200', '404', '500'])]));
    const list = [...fields];
    assert.deepEqual(await sorted(list), list.slice().sort());
  });

  it('holds for fields that are prefixes of one another, differ only past 40 bytes, or hold bytes 00 and EE-F4', async () => {
    const base = 'x'.repeat(45);
    const list = ['', 'a', 'a\u0000', 'a\u0000\u0000', 'ab', ...Array.from({ length: 200 }, (_, i) => `${base}${i}`), ...Array.from({ length: 100 }, (_, i) => `p${String.fromCodePoint(0xe000 + i)}`), ...Array.from({ length: 100 }, (_, i) => `p${String.fromCodePoint(0x1f600 + i)}`), ...Array.from({ length: 100 }, (_, i) => `q${i}`)];
    assert.deepEqual(await sorted(list), list.slice().sort());
    assert.deepEqual(await sorted([]), []);
    assert.deepEqual(await sorted(['only']), ['only']);
  });
});

describe('copyBytes', () => {
  it('copies short runs byte by byte and long ones in one call, within one buffer too, and returns the length', () => {
    for (const n of [0, 1, 63, 64, 65, 300]) {
      const from = Buffer.from(Array.from({ length: n + 5 }, (_, i) => (i * 7 + 3) & 0xff));
      const to = Buffer.alloc(n + 10, 0xaa);
      assert.equal(copyBytes(from, 5, 5 + n, to, 3), n);
      assert.deepEqual(to, Buffer.concat([Buffer.alloc(3, 0xaa), from.subarray(5), Buffer.alloc(7, 0xaa)]));
      // Forwards within one buffer (the render repeats a line's labels further on).
      const one = Buffer.concat([from, Buffer.alloc(n + 5)]);
      assert.equal(copyBytes(one, 0, n + 5, one, n + 5), n + 5);
      assert.deepEqual(one.subarray(n + 5), from);
    }
  });
});
