// The metrics server over a real Redis answers each scraper in the format it asked for, with the
// Content-Type of what it sent: protobuf (decoded with protobufjs), OpenMetrics, text; gzip when
// accepted; and a scrape's own timeout bounds the collect.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { Counter, Gauge, Histogram, RedisStorageManager, startMetricsServer, type MetricsServer } from '../../src/index.js';
import { newPrefix, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { startProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { decodeDelimited } from '../helpers/metrics-proto.js';
import { familyHash } from '../../src/store/family.js';

const PROM_242_NATIVE = 'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
const PROM_242 = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  ms: number;
}

function get(url: string, headers: Record<string, string>): Promise<Reply> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    request(url, { headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c)).on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), ms: performance.now() - started }));
    }).on('error', reject).end();
  });
}

describe('metrics server: negotiation, gzip, scrape timeout', () => {
  let redis: RedisServer;
  let proxy: TcpProxy;
  let storage: RedisStorageManager;
  let server: MetricsServer;

  before(async () => {
    redis = await startRedis();
    proxy = await startProxy(redis.port);
    storage = new RedisStorageManager({ enabled: true, url: `redis://127.0.0.1:${proxy.port}`, keyPrefix: newPrefix('negotiate'), flushIntervalMs: 3_600_000, collectTimeoutMs: 5000, exitHooks: false, identity: { host: 'h', pid: 1, nonce: 'n' } });
    await storage.waitUntilConnected();
    new Counter({ name: 'jobs_total', help: 'Jobs.', labelNames: ['queue'], storage, registers: [] }).inc({ queue: 'a' }, 3);
    new Gauge({ name: 'depth', help: 'Depth.', storage, registers: [], multiprocessMode: 'sum' }).set(4);
    new Histogram({ name: 'lat_seconds', help: 'Latency.', buckets: [0.1, 1], storage, registers: [] }).observe(0.5);
    await storage.flush();
    server = await startMetricsServer({ storage, port: 0, bindAddress: '127.0.0.1' });
  });

  after(async () => {
    await server?.close();
    await storage?.shutdown();
    await proxy?.close();
    await redis?.stop();
  });

  it('Prometheus with native histograms gets gzipped protobuf, named as such', async () => {
    const r = await get(`${server.url}/metrics`, { Accept: PROM_242_NATIVE, 'Accept-Encoding': 'gzip' });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited');
    assert.equal(r.headers['content-encoding'], 'gzip');
    assert.equal(r.headers.vary, 'Accept, Accept-Encoding');
    // created_timestamp: the creation time the flush stored in Redis (ms), as seconds and nanos.
    const created = async (type: string, name: string, field: string) => {
      const ms = Number(await redis.cli('HGET', `${storage.config.keyPrefix}:${type}:cluster:created:{${familyHash(name)}}`, field));
      return ms % 1000 === 0 ? { seconds: ms / 1000 } : { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
    };
    assert.deepEqual(decodeDelimited(gunzipSync(r.body)), [
      { name: 'depth', help: 'Depth.', type: 'GAUGE', metric: [{ gauge: { value: 4 } }] },
      { name: 'jobs_total', help: 'Jobs.', type: 'COUNTER', metric: [{ label: [{ name: 'queue', value: 'a' }], counter: { value: 3, createdTimestamp: await created('counter', 'jobs_total', '["a"]') } }] },
      {
        name: 'lat_seconds', help: 'Latency.', type: 'HISTOGRAM',
        metric: [{ histogram: { sampleCount: 1, sampleSum: 0.5, bucket: [{ cumulativeCount: 0, upperBound: 0.1 }, { cumulativeCount: 1, upperBound: 1 }], createdTimestamp: await created('histogram', 'lat_seconds', '[]') } }],
      },
    ]);
  });

  it('Prometheus without them gets OpenMetrics; no Accept gets text 0.0.4, uncompressed without Accept-Encoding', async () => {
    const om = await get(`${server.url}/metrics`, { Accept: PROM_242, 'Accept-Encoding': 'gzip' });
    assert.equal(om.headers['content-type'], 'application/openmetrics-text; version=1.0.0; charset=utf-8');
    assert.match(gunzipSync(om.body).toString(), /^# HELP depth Depth\.\n# TYPE depth gauge\ndepth 4\n/);
    assert.match(gunzipSync(om.body).toString(), /\n# EOF\n$/);
    const text = await get(`${server.url}/metrics`, {});
    assert.equal(text.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(text.headers['content-encoding'], undefined);
    assert.equal(text.body.toString(), [
      '# HELP depth Depth.', '# TYPE depth gauge', 'depth 4', '',
      '# HELP jobs_total Jobs.', '# TYPE jobs_total counter', 'jobs_total{queue="a"} 3', '',
      '# HELP lat_seconds Latency.', '# TYPE lat_seconds histogram',
      'lat_seconds_bucket{le="0.1"} 0', 'lat_seconds_bucket{le="1"} 1', 'lat_seconds_bucket{le="+Inf"} 1', 'lat_seconds_sum 0.5', 'lat_seconds_count 1', '',
    ].join('\n'));
    const v1 = await get(`${server.url}/metrics`, { Accept: 'text/plain;version=1.0.0;escaping=allow-utf-8' });
    assert.equal(v1.headers['content-type'], 'text/plain; version=1.0.0; charset=utf-8; escaping=allow-utf-8');
    assert.equal(v1.body.toString(), text.body.toString());
  });

  it("a scrape's timeout shorter than collectTimeoutMs bounds the collect: 503 before Prometheus gives up", async () => {
    proxy.setDelay(3000);
    try {
      const r = await get(`${server.url}/metrics`, { 'X-Prometheus-Scrape-Timeout-Seconds': '0.5' });
      assert.equal(r.status, 503);
      assert.equal(r.body.toString(), "# Redis data is missing: collect: not done within the scrape's timeout less a margin (450 ms)\n# No totals are served rather than this process's local figures.\n");
      assert.ok(r.ms >= 450 && r.ms < 1500, `answered after ${r.ms} ms`);
    } finally {
      proxy.setDelay(0);
    }
  });
});
