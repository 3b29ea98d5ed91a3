// A counter family's table built from its packed reply (counter-read.ts): the fields in the order
// the ordinary merge sorts them (JavaScript's, by UTF-16 code units), their label texts, and the
// replies it refuses so that the ordinary read counts them (bytes that are no UTF-8, a value that
// is no number), the change it reports for fields it does not hold or no longer sees, and the
// table made with that change.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Pacer } from '../../src/pacer.js';
import { sortFields, sumsByTable, tableFromReply, tableWithChange, type LocalFeed, type TableChange } from '../../src/collect/counter-read.js';
import { copyBytes } from '../../src/collect/counter-table.js';
import { RoundingFloor } from '../../src/collect/rounding-floor.js';

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

/** This process's unflushed sums for sumsByTable, from a map or a list of pairs (a pair at a time). */
function localOf(sums: ReadonlyMap<string, number> | ReadonlyArray<[field: string, amount: number, once?: boolean]>): () => LocalFeed {
  return () => {
    const entries: Iterator<[string, number, boolean?]> = sums.entries() as Iterator<[string, number]>;
    const list = Array.isArray(sums) ? (sums as ReadonlyArray<[string, number, boolean?]>) : undefined;
    let k = 0;
    return {
      next(add) {
        if (list) {
          if (k === list.length) return false;
          add(...list[k++]!);
          return true;
        }
        const next = entries.next();
        if (next.done === true) return false;
        add(next.value[0], next.value[1]);
        return true;
      },
    };
  };
}

/** sumsByTable's answer in plain arrays: the sums, or the change (new fields sorted, the table's fields seen), or null. */
function plain(got: Float64Array | TableChange | null): number[] | { added: string[]; seen: number[] } | null {
  if (got === null || got instanceof Float64Array) return got && Array.from(got);
  return { added: [...got.added].sort(), seen: Array.from(got.seen) };
}

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
    const sums = await sumsByTable(reply, table, localOf(new Map([[field('a'), 0.5]])), new Pacer());
    assert.ok(sums instanceof Float64Array);
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

  it('refuses what the ordinary read must count (bytes that are no UTF-8, a value that is no number, a field twice) and reports fields it does not hold or did not see', async () => {
    assert.equal(await tableFromReply(pack([Buffer.from([0x5b, 0x22, 0xff, 0x22, 0x5d]), '1']), ['k'], new Pacer()), null);
    assert.equal(await tableFromReply(Buffer.from('WRONGTYPE'), ['k'], new Pacer()), null);
    assert.equal(await tableFromReply(pack(['["a"]']), ['k'], new Pacer()), null);
    const table = await tableFromReply(pack([field('a'), '1', field('b'), '2']), ['k'], new Pacer());
    assert.ok(table);
    assert.equal(await sumsByTable(pack([field('a'), '1', field('b'), 'x']), table, undefined, new Pacer()), null);
    assert.equal(await sumsByTable(pack([field('a'), '1', field('b'), '']), table, undefined, new Pacer()), null);
    assert.equal(await sumsByTable(pack([field('a'), '1', field('a'), '2']), table, undefined, new Pacer()), null);
    assert.equal(await sumsByTable(pack([field('a'), '1', Buffer.from([0x5b, 0x22, 0xff, 0x22, 0x5d]), '2']), table, undefined, new Pacer()), null);
    assert.deepEqual(plain(await sumsByTable(pack([field('a'), '1', field('c'), '2']), table, undefined, new Pacer())), { added: [field('c')], seen: [1, 0] });
    assert.deepEqual(plain(await sumsByTable(pack([field('a'), '1']), table, undefined, new Pacer())), { added: [], seen: [1, 0] });
    assert.deepEqual(plain(await sumsByTable(pack([field('a'), '1']), table, localOf(new Map([[field('c'), 1]])), new Pacer())), { added: [field('c')], seen: [1, 0] });
    assert.deepEqual(plain(await sumsByTable(pack([field('c'), '1', field('d'), '1']), table, undefined, new Pacer())), { added: [field('c'), field('d')], seen: [0, 0] });
    // More new fields than mostAddedTo() (64 for a small table), from Redis or from this process: none (the table is built again).
    const many = Array.from({ length: 64 }, (_, i) => field(`n${i}`));
    assert.equal(plain(await sumsByTable(pack(many.flatMap((f) => [f, '1'])), table, undefined, new Pacer()))?.constructor, Object);
    assert.equal(await sumsByTable(pack([...many, field('n64')].flatMap((f) => [f, '1'])), table, undefined, new Pacer()), null);
    assert.equal(await sumsByTable(pack(many.flatMap((f) => [f, '1'])), table, localOf(new Map([[field('n64'), 1]])), new Pacer()), null);
    assert.deepEqual(Array.from((await sumsByTable(pack([field('a'), '1']), table, localOf(new Map([[field('b'), 2]])), new Pacer())) as Float64Array), [1, 2]);
    // Local pairs summed first, then added to Redis's value; a pair marked `once` (a counter listed
    // twice) added the first time only, after the others.
    const once = await sumsByTable(pack([field('a'), '1']), table, localOf([[field('b'), 2], [field('b'), 0.5], [field('a'), 4, true], [field('b'), 3, true], [field('a'), 4, true], [field('b'), 3, true]]), new Pacer());
    assert.deepEqual(Array.from(once as Float64Array), [5, 5.5]);
    assert.deepEqual(Array.from((await sumsByTable(pack([field('b'), '1e3', field('a'), '007']), table, undefined, new Pacer())) as Float64Array), [7, 1000]);
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
      return plain(await sumsByTable(reply(order, value, replace), table, undefined, new Pacer()));
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
    // the change (the ordinary read runs), then the same reply as before reads as before.
    assert.deepEqual(await sums(swapped, (i) => i, [17, field('other')]), { added: [field('other')], seen: at.map((_, p) => (p === at[17] ? 0 : 1)) });
    assert.equal(await sums(swapped, (i) => i, [17, field('s18')]), null);
    // The same field at its own place and at another's (a reply of the right length, one series twice).
    assert.equal(await sums(swapped, (i) => i, [40, names[3]!]), null);
    assert.deepEqual(await sums(swapped, (i) => 6 * i), expect((i) => 6 * i));
    // A reply with one pair more than the table: refused.
    assert.equal(await sumsByTable(pack([...swapped.flatMap((i) => [names[i]!, '1']), field('s0'), '1']), table, undefined, new Pacer()), null);
  });

  it('reads a reply whose fields moved by one place or more (fields new in Redis) through a table changed with them', async () => {
    const names = Array.from({ length: 40 }, (_, i) => field(`s${String(i).padStart(2, '0')}`));
    const pairs = (fields: readonly string[]) => pack(fields.flatMap((f) => [f, String(fields.indexOf(f) + 1)]));
    let table = (await tableFromReply(pairs(names), ['k'], new Pacer()))!;
    // Each round puts new fields in: one, then two together, then one at the front and one near the end.
    const rounds = [[[10, 'n1']], [[5, 'n2'], [6, 'n3']], [[0, 'n4'], [39, 'n5']]] as const;
    let fields = [...names];
    for (const round of rounds) {
      for (const [at, name] of round) fields.splice(at, 0, field(name));
      const reply = pairs(fields);
      const change = await sumsByTable(reply, table, undefined, new Pacer());
      assert.ok(change !== null && !(change instanceof Float64Array));
      table = (await tableWithChange(table, change, ['k'], new Pacer()))!.table;
      // Twice: the first through the places moved from the last table, the second through this read's.
      for (let k = 0; k < 2; k++) {
        const sums = await sumsByTable(reply, table, undefined, new Pacer());
        assert.ok(sums instanceof Float64Array);
        assert.deepEqual(Array.from(sums), Array.from({ length: table.size }, (_, i) => fields.indexOf(table.field(i)) + 1));
      }
    }
    fields = fields.filter((f) => f !== field('s20'));
    assert.deepEqual(plain(await sumsByTable(pairs(fields), table, undefined, new Pacer())), { added: [], seen: Array.from({ length: table.size }, (_, i) => (table.field(i) === field('s20') ? 0 : 1)) });
  });
});

describe('a counter table with a change made to it (tableWithChange)', () => {
  it('puts the new fields in JavaScript\'s order, leaves out the fields not seen, and reads a reply of the new set', async () => {
    const before = ['b', 'a', '\ue000', 'é', '10', 'z'];
    const table = await tableFromReply(pack(before.flatMap((v, i) => [field(v), String(i + 1)])), ['k'], new Pacer());
    assert.ok(table);
    assert.equal(table.isAscii, false);
    const fields = (t: typeof table) => Array.from({ length: t.size }, (_, i) => t.field(i));
    // 'a' and '10' gone; a character past U+FFFF (before U+E000), '', an escaped newline and a field that is no label set of ours new.
    const after = ['b', '\ue000', 'é', 'z', '😀', '', 'new\nline'];
    const reply = pack([...after.flatMap((v, i) => [field(v), String(10 * (i + 1))]), '["a" ]', '5']);
    const change = await sumsByTable(reply, table, localOf(new Map([[field('c'), 2]])), new Pacer());
    assert.ok(change !== null && !(change instanceof Float64Array));
    assert.deepEqual(plain(change), { added: [field(''), field('c'), field('new\nline'), field('😀'), '["a" ]'].sort(), seen: fields(table).map((f) => (f === field('a') || f === field('10') ? 0 : 1)) });
    const changed = await tableWithChange(table, change, ['k'], new Pacer());
    assert.ok(changed);
    const expected = [...after, 'c'].map(field).concat('["a" ]').sort();
    assert.deepEqual(fields(changed.table), expected);
    assert.deepEqual(Array.from(changed.at), fields(table).map((f) => expected.indexOf(f)));
    const text = (i: number) => {
      const out = Buffer.alloc(changed.table.textLength(i));
      changed.table.copyText(i, out, 0);
      return out.toString('utf8');
    };
    assert.deepEqual(
      expected.map((f, i) => [f, changed.table.isValid(i), text(i)]),
      expected.map((f) => {
        if (f === '["a" ]') return [f, false, ''];
        const v = JSON.parse(f)[0] as string;
        return [f, true, v === '' ? '' : `k="${v.replace(/\n/g, '\\n')}"`];
      }),
    );
    assert.equal(changed.table.isAscii, false);
    // The new set reads through the new table, this process's field included; twice (the second by the reply's order remembered).
    for (let round = 0; round < 2; round++) {
      const sums = await sumsByTable(reply, changed.table, localOf(new Map([[field('c'), 2]])), new Pacer());
      assert.ok(sums instanceof Float64Array);
      assert.deepEqual(Array.from(sums), expected.map((f) => (f === '["a" ]' ? 5 : f === field('c') ? 2 : 10 * (after.map(field).indexOf(f) + 1))));
    }
    // An ASCII table stays ASCII with ASCII fields added.
    const ascii = await tableFromReply(pack([field('a'), '1']), ['k'], new Pacer());
    const more = await tableWithChange(ascii!, { added: new Set([field('b')]), seen: new Uint8Array([1]) }, ['k'], new Pacer());
    assert.deepEqual([fields(more!.table), more!.table.isAscii], [[field('a'), field('b')], true]);
  });
});

describe('the rounding floor of a family whose table changed', () => {
  it('serves a sum lower by a rounding error as before, by the field\'s new position; a real decrease and the new field as they are', async () => {
    const table = await tableFromReply(pack([field('b'), '1', field('d'), '1']), ['k'], new Pacer());
    const floor = new RoundingFloor();
    await floor.applyTable('f', table!, new Float64Array([0.3, 1.7]), new Pacer());
    // 'a' and 'c' new, before and between them: 'b' moves from 0 to 1, 'd' from 1 to 3.
    const changed = await tableWithChange(table!, { added: new Set([field('a'), field('c')]), seen: new Uint8Array([1, 1]) }, ['k'], new Pacer());
    assert.deepEqual(Array.from(changed!.at), [1, 3]);
    const values = new Float64Array([5.5, 0.3 * (1 - 1e-12), 0.25, 1.2]);
    await floor.applyTable('f', changed!.table, values, new Pacer(), { from: table!, at: changed!.at });
    assert.deepEqual(Array.from(values), [5.5, 0.3, 0.25, 1.2]);
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
