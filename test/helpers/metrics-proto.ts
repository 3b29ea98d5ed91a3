// A decoder of Prometheus' protobuf exposition for tests: protobufjs with the schema of
// io.prometheus.client (metrics.proto, written out here field by field as JSON).
import protobuf from 'protobufjs';

const f = (type: string, id: number, rule?: 'repeated'): protobuf.IField => (rule ? { type, id, rule } : { type, id });
// proto2: a field that was written is present, at its default value too (protobufjs's JSON types default to proto3).
const msg = (fields: Record<string, protobuf.IField>) => ({ edition: 'proto2', fields }) as protobuf.IType;

const root = protobuf.Root.fromJSON({
  nested: {
    google: { nested: { protobuf: { nested: { Timestamp: msg({ seconds: f('int64', 1), nanos: f('int32', 2) }) } } } },
    io: {
      nested: {
        prometheus: {
          nested: {
            client: {
              nested: {
                LabelPair: msg({ name: f('string', 1), value: f('string', 2) }),
                MetricType: { values: { COUNTER: 0, GAUGE: 1, SUMMARY: 2, UNTYPED: 3, HISTOGRAM: 4, GAUGE_HISTOGRAM: 5 } },
                Gauge: msg({ value: f('double', 1) }),
                Counter: msg({ value: f('double', 1), exemplar: f('Exemplar', 2), createdTimestamp: f('google.protobuf.Timestamp', 3) }),
                Quantile: msg({ quantile: f('double', 1), value: f('double', 2) }),
                Summary: msg({ sampleCount: f('uint64', 1), sampleSum: f('double', 2), quantile: f('Quantile', 3, 'repeated'), createdTimestamp: f('google.protobuf.Timestamp', 4) }),
                Untyped: msg({ value: f('double', 1) }),
                Histogram: msg({
                    sampleCount: f('uint64', 1), sampleCountFloat: f('double', 4), sampleSum: f('double', 2),
                    bucket: f('Bucket', 3, 'repeated'), createdTimestamp: f('google.protobuf.Timestamp', 15),
                    schema: f('sint32', 5), zeroThreshold: f('double', 6), zeroCount: f('uint64', 7), zeroCountFloat: f('double', 8),
                    negativeSpan: f('BucketSpan', 9, 'repeated'), negativeDelta: f('sint64', 10, 'repeated'), negativeCount: f('double', 11, 'repeated'),
                    positiveSpan: f('BucketSpan', 12, 'repeated'), positiveDelta: f('sint64', 13, 'repeated'), positiveCount: f('double', 14, 'repeated'),
                    exemplars: f('Exemplar', 16, 'repeated'),
                }),
                Bucket: msg({ cumulativeCount: f('uint64', 1), cumulativeCountFloat: f('double', 4), upperBound: f('double', 2), exemplar: f('Exemplar', 3) }),
                BucketSpan: msg({ offset: f('sint32', 1), length: f('uint32', 2) }),
                Exemplar: msg({ label: f('LabelPair', 1, 'repeated'), value: f('double', 2), timestamp: f('google.protobuf.Timestamp', 3) }),
                Metric: msg({
                    label: f('LabelPair', 1, 'repeated'), gauge: f('Gauge', 2), counter: f('Counter', 3), summary: f('Summary', 4),
                    untyped: f('Untyped', 5), histogram: f('Histogram', 7), timestampMs: f('int64', 6),
                }),
                MetricFamily: msg({ name: f('string', 1), help: f('string', 2), type: f('MetricType', 3), metric: f('Metric', 4, 'repeated'), unit: f('string', 5) }),
              },
            },
          },
        },
      },
    },
  },
});

const MetricFamily = root.lookupType('io.prometheus.client.MetricFamily');

/** Every MetricFamily of a delimited stream, as plain objects (int64 as numbers, enums as names, unset fields absent). */
export function decodeDelimited(bytes: Uint8Array): Array<Record<string, unknown>> {
  const reader = protobuf.Reader.create(bytes);
  const out: Array<Record<string, unknown>> = [];
  while (reader.pos < reader.len) {
    const message = MetricFamily.decodeDelimited(reader);
    out.push(MetricFamily.toObject(message, { longs: Number, enums: String, defaults: false, arrays: false }) as Record<string, unknown>);
  }
  return out;
}
