// Native histograms end to end: three real writer processes (bucket factors 1.1, 1.05 and 2, zero
// thresholds 2^-128, 0.0005 and 0.001) write one native histogram; `prom-client-redis serve`
// exposes the merged view; Debian's Prometheus 2.42 with native-histograms and exemplar-storage
// scrapes it over protobuf. PromQL sees the exact count and sum, quantiles inside the bucket of the
// true quantile, and the latest exemplar of any process.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { startRedis, newPrefix, type RedisServer } from '../helpers/redis-server.js';
import { runNode, type NodeChild } from '../helpers/processes.js';
import { freePort } from '../helpers/ports.js';
import { pollUntil } from '../helpers/reaper.js';
import { nativeWriterValues } from '../helpers/native-oracle.js';
import { startPrometheus, promtoolCheck, type PrometheusServer } from './support/prometheus.js';
import { get, waitForLines } from './support/load.js';
import { bucketIndex, upperBound } from '../../src/native/schema.js';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const WRITER = fileURLToPath(new URL('../fixtures/native-writer.js', import.meta.url));
const PROM_242_NATIVE_ACCEPT = 'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
const WRITERS = [
  { index: 1, factor: 1.1, zero: 2 ** -128, count: 400 },
  { index: 2, factor: 1.05, zero: 0.0005, count: 300 },
  { index: 3, factor: 2, zero: 0.001, count: 500 },
];

describe('native histograms: three writers, serve, a real Prometheus', () => {
  let redis: RedisServer;
  let exporter: NodeChild;
  let prometheus: PrometheusServer;
  let metricsUrl: string;
  const prefix = newPrefix('native-e2e');
  const values = WRITERS.flatMap((w) => nativeWriterValues(w.index, w.count));
  // The sum exactly, in micro-units (every value is a whole number of them).
  const sumMicro = values.reduce((a, v) => a + Math.round(v * 1e6), 0);
  const last = nativeWriterValues(3, 500).at(-1)!;

  before(async () => {
    redis = await startRedis();
    const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix };
    // One after the other: writer 3's exemplar is the latest.
    for (const w of WRITERS) {
      const writer = runNode(WRITER, { env: { ...env, WRITER_INDEX: String(w.index), WRITER_FACTOR: String(w.factor), WRITER_ZERO: String(w.zero), WRITER_COUNT: String(w.count) } });
      assert.deepEqual(await writer.exited, { code: 0, signal: null }, writer.stderr());
      assert.deepEqual(writer.stdoutLines, ['done 0']);
    }
    const port = await freePort();
    metricsUrl = `http://127.0.0.1:${port}/metrics`;
    exporter = runNode(CLI, { args: ['serve', '--port', String(port), '--bind', '127.0.0.1'], env });
    await waitForLines(exporter, /exporter: metrics on/, 1);
    prometheus = await startPrometheus([`127.0.0.1:${port}`], 1, undefined, { features: ['native-histograms', 'exemplar-storage'] });
  });

  after(async () => {
    await prometheus?.stop();
    await exporter?.kill('SIGKILL');
    await redis?.stop();
  });

  it('asks for protobuf and gets it, named as such', async () => {
    const r = await fetch(metricsUrl, { headers: { Accept: PROM_242_NATIVE_ACCEPT } });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited');
  });

  it('histogram_count and histogram_sum of the merged native histogram are exact', async () => {
    await pollUntil('Prometheus to store the native histogram', async () => ((await prometheus.scalar('histogram_count(rpc_duration_seconds)')) === values.length ? true : undefined), { timeoutMs: 20_000, intervalMs: 200 });
    assert.equal(await prometheus.scalar('histogram_count(rpc_duration_seconds)'), 1200);
    const sum = await prometheus.scalar('histogram_sum(rpc_duration_seconds)');
    assert.equal(Math.round(sum! * 1e6), sumMicro);
    // Native histograms arrive only over protobuf: this one being there is the negotiation at work.
    assert.equal(await prometheus.scalar('count(rpc_duration_seconds_bucket)'), undefined, 'no classic buckets stored');
  });

  it('histogram_quantile lies in the merged bucket of the true quantile (schema 0, zero bucket 0.001)', async () => {
    const sorted = [...values].sort((a, b) => a - b);
    const seen: Record<string, string> = {};
    for (const q of [0.1, 0.5, 0.9, 0.99]) {
      const estimate = (await prometheus.scalar(`histogram_quantile(${q}, rpc_duration_seconds)`))!;
      const truth = sorted[Math.ceil(q * sorted.length) - 1]!;
      // The coarsest schema of the three writers is 0 (factor 2), the widest zero threshold 0.001.
      const [lo, hi] = truth <= 0.001 ? [0, 0.001] : [upperBound(bucketIndex(truth, 0) - 1, 0), upperBound(bucketIndex(truth, 0), 0)];
      seen[q] = estimate >= lo && estimate <= hi ? 'in bucket' : `${estimate} outside [${lo}, ${hi}] of ${truth}`;
    }
    assert.deepEqual(seen, { 0.1: 'in bucket', 0.5: 'in bucket', 0.9: 'in bucket', 0.99: 'in bucket' });
  });

  it('the latest exemplar of any process reaches Prometheus, for the native histogram and the counter', async () => {
    const exemplars = async (query: string) => {
      const end = Date.now() / 1000 + 60;
      const r = await fetch(`${prometheus.url}/api/v1/query_exemplars?query=${encodeURIComponent(query)}&start=${end - 3600}&end=${end}`);
      const body = (await r.json()) as { data: Array<{ seriesLabels: Record<string, string>; exemplars: Array<{ labels: Record<string, string>; value: string }> }> };
      return body.data.map((s) => ({ series: s.seriesLabels.__name__, exemplars: s.exemplars.map((e) => ({ labels: e.labels, value: Number(e.value) })) }));
    };
    await pollUntil('exemplars in Prometheus', async () => ((await exemplars('rpc_duration_seconds')).length > 0 ? true : undefined), { timeoutMs: 20_000, intervalMs: 200 });
    assert.deepEqual(await exemplars('rpc_duration_seconds'), [{ series: 'rpc_duration_seconds', exemplars: [{ labels: { traceId: 'w3' }, value: last }] }]);
    assert.deepEqual(await exemplars('rpc_requests_total'), [{ series: 'rpc_requests_total', exemplars: [{ labels: { traceId: 'w3' }, value: 1 }] }]);
  });

  it('the text formats show +Inf, sum and count, and pass promtool', async () => {
    for (const accept of [undefined, 'text/plain;version=1.0.0;escaping=underscores']) {
      const r = await get(metricsUrl, accept ? { Accept: accept } : {});
      assert.equal(r.status, 200);
      const lines = r.body.split('\n').filter((l) => l.startsWith('rpc_duration_seconds'));
      assert.deepEqual(lines.map((l) => l.replace(/ [\d.e+-]+$/, '')), ['rpc_duration_seconds_bucket{le="+Inf"}', 'rpc_duration_seconds_sum', 'rpc_duration_seconds_count']);
      assert.deepEqual([Number(lines[0]!.split(' ')[1]), Math.round(Number(lines[1]!.split(' ')[1]) * 1e6), Number(lines[2]!.split(' ')[1])], [1200, sumMicro, 1200]);
      assert.deepEqual(await promtoolCheck(r.body), { code: 0, output: '' });
    }
  });
});
