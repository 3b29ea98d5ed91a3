// The lists of a flush batch are written as bytes while the drain reads the values (PackedList):
// the bytes must be those of the items joined by '\n' (what flush-family.lua splits), each number
// as String() writes it (writeNumber formats most numbers without String()).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CUT_ITEMS, PackedList, writeNumber } from '../../src/redis/packed-list.js';

function written(x: number): string {
  const b = Buffer.alloc(32);
  return b.toString('latin1', 0, writeNumber(b, 0, x));
}

/** A deterministic stream of doubles (xorshift), so that a failure can be replayed. */
function* numbers(count: number): Generator<number> {
  let s = 0x9e3779b9;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
  for (let i = 0; i < count; i++) {
    const r = next();
    const scale = 10 ** (Math.floor(next() * 24) - 12);
    yield (r - 0.5) * scale; // any double
    yield Math.round((r - 0.5) * 2e7) / 10 ** Math.floor(next() * 9); // few decimals: the fast path
    yield Math.floor(r * 2 ** 53) * (next() < 0.5 ? -1 : 1); // safe integers
  }
}

describe('writeNumber', () => {
  it('writes what String() writes: edge cases', () => {
    const cases = [0, -0, 1, -1, 9, 10, 99, 100, 1.5, -2.5, 0.1, 0.2, 0.3, 0.30000000000000004, 1 / 3, 1e-6, -1e-6, 1e-7, 123456.000001, 999999.999999, 999999.9999995,
      1e6, 1e6 + 0.5, 2 ** 31, -(2 ** 31), 2 ** 31 - 1, 2 ** 32, 2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 53, 2 ** 60, 1e21, 1.7e12, 1765000000123, 5e-324, Number.MAX_VALUE, NaN, Infinity, -Infinity];
    for (const x of cases) assert.equal(written(x), String(x), `${x}`);
  });

  it('writes what String() writes: 300,000 doubles of every scale', () => {
    let checked = 0;
    for (const x of numbers(100_000)) {
      if (written(x) !== String(x)) assert.fail(`${x}: wrote ${written(x)}, String() gives ${String(x)}`);
      checked++;
    }
    assert.equal(checked, 300_000);
  });
});

describe('PackedList', () => {
  it('sends its items joined by newlines, as UTF-8, and reads them back', () => {
    const list = new PackedList(4);
    const items = ['["a"]', '1.5', '["é ☃ 😀"]', '-3', '', '["x"]'];
    list.pushString(items[0]!);
    list.pushNumber(1.5);
    list.pushString(items[2]!);
    list.pushNumber(-3);
    list.pushString('');
    list.pushString(items[5]!);
    assert.equal(list.count, 6);
    assert.deepEqual(list.bytes(), Buffer.from(items.join('\n'), 'utf8'));
    assert.deepEqual(list.items(), items);
    const pairs: Array<[string, number]> = [];
    PackedList.of(['["a"]', '2', '["b"]', '0.25']).forEachPair((f, x) => pairs.push([f, x]));
    assert.deepEqual(pairs, [['["a"]', 2], ['["b"]', 0.25]]);
    assert.deepEqual(new PackedList().bytes(), Buffer.alloc(0));
    assert.deepEqual(new PackedList().items(), []);
  });

  it('pairsFrom() reads the pairs a slice at a time, from the offset it returned, and copy() keeps what the list held', () => {
    const fields = Array.from({ length: 7 }, (_, i) => JSON.stringify([i === 3 ? 'é😀' : i === 4 ? '' : `s${i}`]));
    const list = PackedList.of(fields.flatMap((f, i) => [f, String(i * 1.5)]));
    const snapshot = list.copy();
    for (const most of [1, 2, 3, 7, 100]) {
      const pairs: Array<[string, number]> = [];
      let slices = 0;
      for (let at = 0; at >= 0; slices++) at = list.pairsFrom(at, most, (f, x) => pairs.push([f, x]));
      assert.deepEqual(pairs, fields.map((f, i) => [f, i * 1.5]), `most ${most}`);
      assert.equal(slices, Math.ceil(7 / most), `most ${most}`);
    }
    assert.equal(new PackedList().pairsFrom(0, 10, () => assert.fail('no pair')), -1);
    // A list written on after the copy: the copy reads as before.
    list.pushString('["late"]');
    list.pushNumber(9);
    const copied: string[] = [];
    snapshot.forEachPair((f) => copied.push(f));
    assert.deepEqual(copied, fields);
    const all: string[] = [];
    list.forEachPair((f) => all.push(f));
    assert.deepEqual(all, [...fields, '["late"]']);
  });

  it('take() moves the items out and leaves the list empty for the next ones', () => {
    const list = PackedList.of(['a', 'b']);
    const taken = list.take();
    list.pushString('c');
    assert.deepEqual([taken.items(), list.items()], [['a', 'b'], ['c']]);
    assert.equal(new PackedList().take().count, 0);
  });

  it('chunks() cuts at item counts, each chunk the join of its items', () => {
    const items = Array.from({ length: CUT_ITEMS * 5 + 3 }, (_, i) => (i % 2 === 0 ? `["${i}"]` : String(i / 4)));
    const list = PackedList.of(items);
    const chunks = list.chunks(CUT_ITEMS * 2);
    assert.deepEqual(chunks.map((c) => c.count), [CUT_ITEMS * 2, CUT_ITEMS * 2, CUT_ITEMS + 3]);
    for (let k = 0; k < chunks.length; k++) {
      const expected = items.slice(k * CUT_ITEMS * 2, (k + 1) * CUT_ITEMS * 2);
      assert.deepEqual(chunks[k]!.bytes(), Buffer.from(expected.join('\n')));
      assert.deepEqual(chunks[k]!.items(), expected);
    }
    assert.deepEqual(list.chunks(CUT_ITEMS * 10), [list]);
    assert.throws(() => list.chunks(CUT_ITEMS + 1), /Expected maxItems to be a multiple of 2000, got 2001/);
  });
});
