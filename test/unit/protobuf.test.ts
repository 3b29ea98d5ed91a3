// The protobuf exposition writer against protobufjs's decoder (metrics.proto): every metric type,
// exemplars, created timestamps, native histograms, and the wire corner cases (multi-byte lengths,
// UTF-8, negative zigzag, float counts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ProtobufWriter } from '../../src/collect/protobuf.js';
import { ProtoWriter } from '../../src/collect/proto-wire.js';
import { emptyNative, observeNative } from '../../src/native/histogram.js';
import protobuf from 'protobufjs';
import { decodeDelimited } from '../helpers/metrics-proto.js';

const ts = (seconds: number, nanos?: number) => (nanos ? { seconds, nanos } : { seconds });

describe('protobuf exposition', () => {
  it('counter, gauge and summary families with labels, exemplar and created timestamps', () => {
    const w = new ProtobufWriter();
    w.family('jobs_total', 'Jobs done.', 'counter');
    w.value('["a"]', { queue: 'a' }, 7, { labelSet: { traceId: 'abc', n: 3 }, value: 1, timestamp: 1700000000.123 }, 1690000000.5);
    w.value('["b"]', { queue: 'b' }, 0.5);
    w.family('temp', 'Temperature.', 'gauge');
    w.value('[]', {}, -3.25);
    w.family('rpc_seconds', 'RPC time.', 'summary');
    w.summary('[]', {}, [0.5, 0.99], [0.1, 0.9], 12.5, 40, 1690000001);
    assert.deepEqual(decodeDelimited(w.finish()), [
      {
        name: 'jobs_total', help: 'Jobs done.', type: 'COUNTER',
        metric: [
          {
            label: [{ name: 'queue', value: 'a' }],
            counter: { value: 7, exemplar: { label: [{ name: 'traceId', value: 'abc' }, { name: 'n', value: '3' }], value: 1, timestamp: ts(1700000000, 123_000_000) }, createdTimestamp: ts(1690000000, 500_000_000) },
          },
          { label: [{ name: 'queue', value: 'b' }], counter: { value: 0.5 } },
        ],
      },
      { name: 'temp', help: 'Temperature.', type: 'GAUGE', metric: [{ gauge: { value: -3.25 } }] },
      {
        name: 'rpc_seconds', help: 'RPC time.', type: 'SUMMARY',
        metric: [{ summary: { sampleCount: 40, sampleSum: 12.5, quantile: [{ quantile: 0.5, value: 0.1 }, { quantile: 0.99, value: 0.9 }], createdTimestamp: ts(1690000001) } }],
      },
    ]);
  });

  it('classic histogram: cumulative buckets, +Inf only to carry its exemplar', () => {
    const w = new ProtobufWriter();
    w.family('req_seconds', 'Requests.', 'histogram');
    const e = { labelSet: { id: 'x' }, value: 7, timestamp: 1700000000 };
    w.histogram('["GET"]', { method: 'GET' }, ['0.1', '1', '+Inf'], [2, 5, 6], 9.5, 6, [undefined, undefined, e], { created: 1690000000 });
    w.histogram('["PUT"]', { method: 'PUT' }, ['0.1', '1', '+Inf'], [0, 0, 0], 0, 0);
    assert.deepEqual(decodeDelimited(w.finish()), [{
      name: 'req_seconds', help: 'Requests.', type: 'HISTOGRAM',
      metric: [
        {
          label: [{ name: 'method', value: 'GET' }],
          histogram: {
            sampleCount: 6, sampleSum: 9.5, createdTimestamp: ts(1690000000),
            bucket: [
              { cumulativeCount: 2, upperBound: 0.1 },
              { cumulativeCount: 5, upperBound: 1 },
              { cumulativeCount: 6, upperBound: Infinity, exemplar: { label: [{ name: 'id', value: 'x' }], value: 7, timestamp: ts(1700000000) } },
            ],
          },
        },
        // proto2: a set field is written even at 0 (a count of 0 is a count).
        { label: [{ name: 'method', value: 'PUT' }], histogram: { sampleCount: 0, sampleSum: 0, bucket: [{ cumulativeCount: 0, upperBound: 0.1 }, { cumulativeCount: 0, upperBound: 1 }] } },
      ],
    }]);
  });

  it('native histogram: schema, zero bucket, spans and deltas on both sides, exemplars', () => {
    const native = emptyNative(3, 0.001);
    for (const v of [1, 1.05, 1.05, 1.1, 2, 2.1, 100, -1, -0.0005, 0]) observeNative(native, v);
    const e = { labelSet: { trace: 't1' }, value: 1.05, timestamp: 1700000000.25 };
    const w = new ProtobufWriter();
    w.family('lat', 'Latency.', 'histogram');
    w.histogram('[]', {}, ['+Inf'], [10], 107.3, 10, [e], { native, created: 1690000000 });
    const [family] = decodeDelimited(w.finish());
    assert.deepEqual(family, {
      name: 'lat', help: 'Latency.', type: 'HISTOGRAM',
      metric: [{
        histogram: {
          sampleCount: 10, sampleSum: 107.3, createdTimestamp: ts(1690000000),
          bucket: [{ cumulativeCount: 10, upperBound: Infinity, exemplar: { label: [{ name: 'trace', value: 't1' }], value: 1.05, timestamp: ts(1700000000, 250_000_000) } }],
          schema: 3, zeroThreshold: 0.001, zeroCount: 2,
          // Positive buckets 0 (1), 1 (1.05 ×2), 2 (1.1), 8 (2), 9 (2.1), 54 (100): runs [0..2], [8..9], [54].
          positiveSpan: [{ offset: 0, length: 3 }, { offset: 5, length: 2 }, { offset: 44, length: 1 }],
          positiveDelta: [1, 1, -1, 0, 0, 0],
          negativeSpan: [{ offset: 0, length: 1 }],
          negativeDelta: [1],
          exemplars: [{ label: [{ name: 'trace', value: 't1' }], value: 1.05, timestamp: ts(1700000000, 250_000_000) }],
        },
      }],
    });
  });

  it('an empty native histogram with zero threshold 0 gets the no-op span', () => {
    const w = new ProtobufWriter();
    w.family('lat', 'Latency.', 'histogram');
    w.histogram('[]', {}, ['+Inf'], [0], 0, 0, undefined, { native: emptyNative(0, 0) });
    const [family] = decodeDelimited(w.finish()) as [{ metric: Array<{ histogram: unknown }> }];
    assert.deepEqual(family.metric[0]!.histogram, { sampleCount: 0, sampleSum: 0, schema: 0, zeroThreshold: 0, zeroCount: 0, positiveSpan: [{ offset: 0, length: 0 }] });
  });

  it('counts that are not whole numbers go to the _float fields', () => {
    const w = new ProtobufWriter();
    w.family('h', 'H.', 'histogram');
    const native = emptyNative(0, 0);
    native.zeroCount = 1.5;
    w.histogram('[]', {}, ['1', '+Inf'], [0.5, 2.5], 1, 2.5, undefined, { native });
    const [family] = decodeDelimited(w.finish()) as [{ metric: Array<{ histogram: Record<string, unknown> }> }];
    const h = family.metric[0]!.histogram;
    assert.deepEqual([h.sampleCountFloat, h.zeroCountFloat, h.bucket], [2.5, 1.5, [{ cumulativeCountFloat: 0.5, upperBound: 1 }]]);
  });

  it('long and UTF-8 strings, many series: multi-byte lengths at every level', () => {
    const w = new ProtobufWriter();
    const help = `Help ${'é'.repeat(200)} ${'x'.repeat(20000)}`;
    w.family('big', help, 'gauge');
    const metrics: unknown[] = [];
    for (let i = 0; i < 3000; i++) {
      const id = `${'🚀'.repeat(i % 50)}-${i}`;
      w.value('', { id }, i);
      metrics.push({ label: [{ name: 'id', value: id }], gauge: { value: i } });
    }
    w.family('after', 'After.', 'counter');
    w.value('[]', {}, 1, undefined, -1.5);
    assert.deepEqual(decodeDelimited(w.finish()), [
      { name: 'big', help, type: 'GAUGE', metric: metrics },
      // A creation time before 1970: seconds -2 and nanos 500,000,000, as Timestamp normalizes it.
      { name: 'after', help: 'After.', type: 'COUNTER', metric: [{ counter: { value: 1, createdTimestamp: ts(-2, 500_000_000) } }] },
    ]);
  });

  it('varints up to 2^53 and zigzag of large negatives', () => {
    const w = new ProtoWriter();
    w.uint64(1, 2 ** 53 - 1);
    w.uint64(1, 2 ** 32);
    w.sint(2, -(2 ** 40));
    w.sint(2, 2 ** 40);
    w.int64(3, -5);
    const r = protobuf.Reader.create(w.finish());
    const num = (x: unknown) => (typeof x === 'number' ? x : Number(String(x)));
    const read = [r.uint32(), num(r.uint64()), r.uint32(), num(r.uint64()), r.uint32(), num(r.sint64()), r.uint32(), num(r.sint64()), r.uint32(), num(r.int64())];
    assert.deepEqual(read, [8, 2 ** 53 - 1, 8, 2 ** 32, 16, -(2 ** 40), 16, 2 ** 40, 24, -5]);
    assert.equal(r.pos, r.len);
  });
});
