// The collector's decoding of what it reads back from Redis (issue 11), without Redis: meta hashes
// checked with the API's rules, HDR blobs checked and inflated within bounds, registry members and
// label-set fields that are not ours skipped and counted.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';
import hdr from 'hdr-histogram-js';
import { Registry } from 'prom-client';
import { SelfStats } from '../../src/stats.js';
import { familyHash } from '../../src/store/family.js';
import { newHdr } from '../../src/store/hdr-slot.js';
import { parseMeta } from '../../src/collect/meta.js';
import { addHdrBlob, decodeHdrBlob } from '../../src/collect/hdr-blob.js';
import { processIds } from '../../src/collect/decode.js';
import { FamilyMerger } from '../../src/collect/merge.js';
import { ExpositionWriter } from '../../src/collect/render.js';
import { hdrHeader } from '../faults/hostile-support.js';

const LIMITS = { maxHistogramBuckets: 10, maxPercentilesPerFamily: 3 };

function meta(name: string, type: string, fields: Record<string, string> = {}): string[] {
  return Object.entries({ name, help: 'Help.', type, mode: '', labelNames: '[]', buckets: '[]', percentiles: '[]', maxAgeSeconds: '0', ageBuckets: '0', pruneAgedBuckets: '0', native: '', ...fields }).flat();
}

function compressed(raw: Buffer): string {
  const body = deflateSync(raw);
  const head = Buffer.alloc(8);
  head.writeInt32BE(0x1c849314, 0);
  head.writeInt32BE(body.length, 4);
  return Buffer.concat([head, body]).toString('base64');
}

describe('meta hashes read from Redis', () => {
  it('a meta hash of ours reads as its family', () => {
    const flat = meta('lat_seconds', 'histogram', { labelNames: '["route"]', buckets: '[0.1,1]', native: '[3,0.001,160]' });
    assert.deepEqual(parseMeta(flat, familyHash('lat_seconds'), 'histogram', LIMITS), {
      name: 'lat_seconds', help: 'Help.', type: 'histogram', mode: undefined, labelNames: ['route'], buckets: [0.1, 1], percentiles: [],
      maxAgeSeconds: 0, ageBuckets: 0, pruneAgedBuckets: false, native: { schema: 3, zeroThreshold: 0.001, maxBuckets: 160 },
    });
    const summary = meta('dur', 'summary', { percentiles: '[0.9,0.5]', maxAgeSeconds: '60', ageBuckets: '5', pruneAgedBuckets: '1' });
    assert.deepEqual(parseMeta(summary, familyHash('dur'), 'summary', LIMITS), {
      name: 'dur', help: 'Help.', type: 'summary', mode: undefined, labelNames: [], buckets: [], percentiles: [0.5, 0.9],
      maxAgeSeconds: 60, ageBuckets: 5, pruneAgedBuckets: true, native: undefined,
    });
  });

  it('a percentile written twice (the API takes it, as prom-client does) is read once', () => {
    const parsed = parseMeta(meta('dur', 'summary', { percentiles: '[0.5,0.5,0.9]' }), familyHash('dur'), 'summary', LIMITS);
    assert.deepEqual(typeof parsed === 'object' && parsed !== null ? parsed.percentiles : parsed, [0.5, 0.9]);
  });

  const cases: Array<[string, string[], string, string]> = [
    ['not a hash', [], 'counter', 'meta'],
    ['an unknown type', meta('x', 'bogus'), 'counter', 'meta'],
    ['a gauge without a mode', meta('x', 'gauge'), 'gauge_sum', 'meta'],
    ['a gauge of another mode than its key', meta('x', 'gauge', { mode: 'max' }), 'gauge_sum', 'meta'],
    ['another type than its key', meta('x', 'gauge', { mode: 'sum' }), 'counter', 'meta'],
    ['a name with a space', meta('a b', 'counter'), 'counter', 'name'],
    ['an injecting label name', meta('x', 'counter', { labelNames: JSON.stringify(['a="1"} 666\nfake{b']) }), 'counter', 'label-names'],
    ['label names that are no strings', meta('x', 'counter', { labelNames: '[{}]' }), 'counter', 'label-names'],
    ['label names that are no JSON', meta('x', 'counter', { labelNames: '[a' }), 'counter', 'label-names'],
    ['a repeated label name', meta('x', 'counter', { labelNames: '["a","a"]' }), 'counter', 'label-names'],
    ['a label name starting with __', meta('x', 'counter', { labelNames: '["__name__"]' }), 'counter', 'label-names'],
    ['pid on an `all` gauge', meta('x', 'gauge', { mode: 'all', labelNames: '["pid"]' }), 'gauge_all', 'label-names'],
    ['quantile on a summary', meta('x', 'summary', { labelNames: '["quantile"]', percentiles: '[0.5]' }), 'summary', 'label-names'],
    ['an empty help', meta('x', 'counter', { help: '' }), 'counter', 'help'],
    ['a bucket list that is no array', meta('x', 'histogram', { buckets: '{}' }), 'histogram', 'buckets'],
    ['a bucket that is no number', meta('x', 'histogram', { buckets: '["1"]' }), 'histogram', 'buckets'],
    ['11 buckets (the limit is 10)', meta('x', 'histogram', { buckets: JSON.stringify([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]) }), 'histogram', 'too-many-buckets'],
    ['a bucket list too long to hold 10 numbers', meta('x', 'histogram', { buckets: `[${' '.repeat(300)}1]` }), 'histogram', 'too-many-buckets'],
    ['a percentile that is no number', meta('x', 'summary', { percentiles: '["0.5"]' }), 'summary', 'percentiles'],
    ['4 percentiles (the limit is 3)', meta('x', 'summary', { percentiles: '[0.1,0.2,0.3,0.4]' }), 'summary', 'too-many-percentiles'],
    ['an age window without slots', meta('x', 'summary', { percentiles: '[0.5]', maxAgeSeconds: '60', ageBuckets: '0' }), 'summary', 'meta'],
  ];
  for (const [what, flat, typeMode, kind] of cases) {
    it(`${what}: \`${kind}\``, () => {
      const name = flat[1] ?? 'x';
      assert.equal(parseMeta(flat, familyHash(name), typeMode, LIMITS), kind);
    });
  }

  it('a meta hash under the keys of another family: `meta`', () => {
    assert.equal(parseMeta(meta('x_total', 'counter'), familyHash('y_total'), 'counter', LIMITS), 'meta');
  });
});

describe('HDR blobs read from Redis', () => {
  it('a blob of ours decodes as hdr-histogram-js decodes it, up to the widest one', () => {
    const h = newHdr();
    for (const v of [0, 1, 999, 123_456, 2 ** 31, 2 ** 40, 2 ** 53 - 1]) h.recordValue(v);
    const blob = hdr.encodeIntoCompressedBase64(h);
    const ours = decodeHdrBlob(blob, 524_288);
    const theirs = hdr.decodeFromCompressedBase64(blob);
    assert.ok(typeof ours !== 'string');
    assert.deepEqual([0, 10, 50, 90, 100].map((p) => ours.getValueAtPercentile(p)), [0, 10, 50, 90, 100].map((p) => theirs.getValueAtPercentile(p)));
    assert.equal(ours.totalCount, 7);
    // Every one of the 45,056 counts at 2^31 - 1: the largest blob newHdr() (32-bit counts) can make fits the default limit.
    const widest = newHdr();
    widest.recordValue(2 ** 53 - 1);
    for (let i = 0; i < (widest as unknown as { countsArrayLength: number }).countsArrayLength; i++) (widest as unknown as { setCountAtIndex(i: number, c: number): void }).setCountAtIndex(i, 2 ** 31 - 1);
    const decoded = decodeHdrBlob(hdr.encodeIntoCompressedBase64(widest), 524_288);
    assert.ok(typeof decoded !== 'string');
  });

  it('a deflate bomb: `hdr-too-big`, inflated no further than the limit', () => {
    const bomb = compressed(Buffer.concat([hdrHeader(64 << 20), Buffer.alloc(64 << 20)]));
    assert.equal(decodeHdrBlob(bomb, 1 << 20), 'hdr-too-big');
    // Longer than any blob that could inflate within the limit: refused before decoding.
    assert.equal(decodeHdrBlob('A'.repeat(2_000_000), 1 << 20), 'hdr-too-big');
  });

  const cases: Array<[string, () => string]> = [
    ['5 significant digits (a counts array 128 times ours)', () => compressed(Buffer.concat([hdrHeader(1, 5), Buffer.from([2])]))],
    ['a unit of 2', () => compressed((() => { const b = Buffer.concat([hdrHeader(1), Buffer.from([2])]); b.writeBigInt64BE(2n, 16); return b; })())],
    ['a run of 2^55 zero counts', () => compressed(Buffer.concat([hdrHeader(8), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])]))],
    ['more counts than its range holds (a run of 2^20 zeros in 32,768)', () => compressed(Buffer.concat([hdrHeader(3), Buffer.from([0xff, 0xff, 0x7f])]))],
    ['a payload longer than the blob', () => compressed(Buffer.concat([hdrHeader(100), Buffer.from([2])]))],
    ['a word cut short', () => compressed(Buffer.concat([hdrHeader(1), Buffer.from([0x82])]))],
    ['a count past 2^53 - 1 (2^53 + 2048: the library throws)', () => compressed(Buffer.concat([hdrHeader(8), Buffer.from([0x80, 0xa0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20])]))],
    ['a truncated blob', () => hdr.encodeIntoCompressedBase64(newHdr()).slice(0, 20)],
    ['not base64 of a blob', () => 'garbage'],
  ];
  for (const [what, blob] of cases) it(`${what}: \`hdr\``, () => assert.equal(decodeHdrBlob(blob(), 524_288), 'hdr'));

  it('addHdrBlob adds what add() of the decoded histogram adds (counts, total, quantiles), and nothing of a refused blob', () => {
    type Js = { countsArrayLength: number; getCountAtIndex(i: number): number; setCountAtIndex(i: number, c: number): void; minNonZeroValue: number };
    const counts = (h: unknown) => {
      const js = h as Js;
      const out: Array<[number, number]> = [];
      for (let i = 0; i < js.countsArrayLength; i++) if (js.getCountAtIndex(i) !== 0) out.push([i, js.getCountAtIndex(i)]);
      return out;
    };
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 200; round++) {
      // Into a histogram already holding values (narrow, so that the blob's grow it) or an empty one.
      const viaAdd = newHdr();
      const viaBlob = newHdr();
      if (round % 3 !== 0) for (const v of [5, 17, 300]) [viaAdd, viaBlob].forEach((h) => h.recordValue(v));
      for (let part = 0; part < 3; part++) {
        const h = newHdr();
        const n = round % 7 === 0 ? 0 : Math.floor(random() * 300) + 1;
        for (let k = 0; k < n; k++) h.recordValue(random() < 0.1 ? 0 : Math.floor(random() ** 4 * 2 ** (8 + ((round * 3 + part) % 44))));
        // Now and then a count past 2^31 (a 32-bit counts array keeps it).
        if (round % 11 === 5 && n > 0) (h as unknown as Js).setCountAtIndex(1, 2 ** 31 + 5);
        const blob = hdr.encodeIntoCompressedBase64(h);
        const decoded = decodeHdrBlob(blob, 524_288);
        assert.ok(typeof decoded !== 'string');
        viaAdd.add(decoded);
        assert.equal(addHdrBlob(blob, 524_288, viaBlob), null);
      }
      assert.deepEqual([viaBlob.totalCount, counts(viaBlob)], [viaAdd.totalCount, counts(viaAdd)], `round ${round}`);
      assert.ok((viaBlob as unknown as Js).minNonZeroValue <= (viaAdd as unknown as Js).minNonZeroValue || viaAdd.totalCount === 0, `round ${round}: min`);
      assert.deepEqual([0.01, 0.5, 0.99, 1].map((q) => viaBlob.getValueAtPercentile(q * 100)), [0.01, 0.5, 0.99, 1].map((q) => viaAdd.getValueAtPercentile(q * 100)));
    }
    const into = newHdr();
    into.recordValue(42);
    const before = counts(into);
    for (const [, blob] of cases) assert.equal(addHdrBlob(blob(), 524_288, into), 'hdr');
    assert.equal(addHdrBlob(compressed(Buffer.concat([hdrHeader(64 << 20), Buffer.alloc(64 << 20)])), 1 << 20, into), 'hdr-too-big');
    assert.deepEqual([into.totalCount, counts(into)], [1, before]);
  });
});

describe('registry members and fields read from Redis', () => {
  it('members that cannot be process ids are skipped; past the limit, the least recently heard', () => {
    const stats = new SelfStats();
    const entries: Array<[string, number]> = [['a:1:n', 1], ['evil{x}', 2], ['b:1:n', 3], ['c d', 4], ['', 5], ['x'.repeat(1025), 6], ['c:1:n', 7], ['d:1:n', 8]];
    assert.deepEqual(processIds(entries, 3, stats), ['b:1:n', 'c:1:n', 'd:1:n']);
    assert.deepEqual(Object.fromEntries(stats.badData), { process: 4, 'too-many-processes': 1 });
  });

  it('a field that is not the JSON.stringify() of its label values, or holds a lone surrogate, would print a series twice: skipped, `field`', async () => {
    const stats = new SelfStats();
    const writer = new ExpositionWriter(Registry.PROMETHEUS_CONTENT_TYPE);
    const sums = new Map([['["a"]', 1], ['["a" ]', 2], ['["\\u0061"]', 3], ['["b"]', 4], ['["\\ud800"]', 5], ['["\\udc00"]', 6], ['["\u{1F600}"]', 7]]);
    const family = { name: 'c_total', help: 'C.', type: 'counter' as const, mode: undefined, labelNames: ['k'], buckets: [], percentiles: [], maxAgeSeconds: 0, ageBuckets: 0, pruneAgedBuckets: false, native: undefined };
    await new FamilyMerger(stats, 0).mergeInto({ meta: family, sums, processes: new Map(), exemplars: new Map() }, new Set(), writer);
    // Lone surrogates are refused too (each would print as U+FFFD); a surrogate pair is a character like any other.
    assert.equal(writer.finish(), '# HELP c_total C.\n# TYPE c_total counter\nc_total{k="a"} 1\nc_total{k="b"} 4\nc_total{k="\u{1F600}"} 7\n');
    assert.deepEqual(Object.fromEntries(stats.badData), { field: 4 });
  });

  it('a histogram series with more bounds of its own than the limit: skipped, `too-many-buckets`; bounds not written as ours are `field`', async () => {
    const stats = new SelfStats();
    const writer = new ExpositionWriter(Registry.PROMETHEUS_CONTENT_TYPE);
    const sums = new Map<string, number>([['["a"]#1', 1], ['["a"]#2', 1], ['["a"]#3', 1], ['["a"]#sum', 3], ['["a"]#count', 3], ['["b"]#1', 1], ['["b"]#1.0', 5], ['["b"]#sum', 1], ['["b"]#count', 1]]);
    const family = { name: 'h', help: 'H.', type: 'histogram' as const, mode: undefined, labelNames: ['k'], buckets: [1], percentiles: [], maxAgeSeconds: 0, ageBuckets: 0, pruneAgedBuckets: false, native: undefined };
    await new FamilyMerger(stats, 0, undefined, undefined, { maxHdrBytes: 524_288, maxHistogramBuckets: 2 }).mergeInto({ meta: family, sums, processes: new Map(), exemplars: new Map() }, new Set(), writer);
    assert.equal(writer.finish(), '# HELP h H.\n# TYPE h histogram\nh_bucket{le="1",k="b"} 1\nh_bucket{le="+Inf",k="b"} 1\nh_sum{k="b"} 1\nh_count{k="b"} 1\n');
    assert.deepEqual(Object.fromEntries([...stats.badData].sort()), { field: 1, 'too-many-buckets': 1 });
  });
});
