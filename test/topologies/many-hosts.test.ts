import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { newPrefix } from '../helpers/redis-server.js';
import { redisSuite } from '../helpers/redis-suite.js';
import { familyText } from '../helpers/scraper.js';
import { Counter, Gauge, Histogram, RedisStorageManager, type ProcessIdentityOptions } from '../../src/index.js';

/**
 * Processes of two hosts that share pids (pid 7 on both, as in two containers), plus a second life
 * of pid 7 on host a (a restart: same host and pid, a new nonce).
 */
const IDENTITIES: ReadonlyArray<Required<ProcessIdentityOptions>> = [
  { host: 'host-a', pid: 7, nonce: 'n1' },
  { host: 'host-b', pid: 7, nonce: 'n1' },
  { host: 'host-a', pid: 7, nonce: 'n2' },
  { host: 'host-b', pid: 8, nonce: 'n1' },
];

describe('many hosts: processes with distinct identities share one Redis', () => {
  const redis = redisSuite();
  const prefix = newPrefix('hosts');

  const manager = (identity: ProcessIdentityOptions) => {
    const m = new RedisStorageManager({ enabled: true, url: redis.server.url, keyPrefix: prefix, flushIntervalMs: 100, identity });
    redis.track(m);
    return m;
  };

  it('never collide: same pid on two hosts, two lives of one pid; sums exact, per-process series apart', async () => {
    for (const [i, identity] of IDENTITIES.entries()) {
      const m = manager(identity);
      const storage = { storage: m, registers: [] };
      new Counter({ name: 'requests_total', help: 'Requests.', labelNames: ['code'], ...storage }).inc({ code: '200' }, 10 ** i);
      new Gauge({ name: 'inflight', help: 'In flight.', multiprocessMode: 'all', ...storage }).set(i + 1);
      new Gauge({ name: 'inflight_sum', help: 'In flight, summed.', multiprocessMode: 'livesum', ...storage }).set(i + 1);
      new Histogram({ name: 'latency_seconds', help: 'Latency.', buckets: [0.1], ...storage }).observe(0.05 * (i + 1));
      await m.waitUntilConnected(5000);
      await m.flush();
    }
    const scrapers = [manager({ host: 'prometheus-target-1', pid: 1, nonce: 'n' }), manager({ host: 'prometheus-target-2', pid: 1, nonce: 'n' })];
    await Promise.all(scrapers.map((s) => s.waitUntilConnected(5000)));
    const texts = await Promise.all(scrapers.map((s) => s.getCollector().metrics()));
    assert.equal(
      familyText(texts[0]!, 'requests_total', 'inflight', 'inflight_sum', 'latency_seconds'),
      [
        '# HELP inflight In flight.',
        '# TYPE inflight gauge',
        'inflight{pid="host-a:7:n1"} 1',
        'inflight{pid="host-a:7:n2"} 3',
        'inflight{pid="host-b:7:n1"} 2',
        'inflight{pid="host-b:8:n1"} 4',
        '',
        '# HELP inflight_sum In flight, summed.',
        '# TYPE inflight_sum gauge',
        'inflight_sum 10',
        '',
        '# HELP latency_seconds Latency.',
        '# TYPE latency_seconds histogram',
        'latency_seconds_bucket{le="0.1"} 2', // 0.05 and 0.1
        'latency_seconds_bucket{le="+Inf"} 4',
        'latency_seconds_sum 0.5',
        'latency_seconds_count 4',
        '',
        '# HELP requests_total Requests.',
        '# TYPE requests_total counter',
        'requests_total{code="200"} 1111',
      ].join('\n'),
    );
    // Every process serves the same cluster-wide view: scrape one of them, or `sum` double counts.
    assert.equal(texts[1], texts[0]);
  });
});
