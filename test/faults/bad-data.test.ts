// Issue 3, item 9: garbage under our prefix (a string where a hash belongs, a non-numeric field, a
// field that is not a label set, a meta hash with an unknown type, a truncated HDR blob) is skipped
// and counted in SelfStats.badData; the rest of the scrape is served; the scrape never crashes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Gauge, Summary, RedisStorageManager, selfMetricsFor } from '../../src/index.js';
import { newPrefix } from '../helpers/redis-server.js';
import { redisSuite } from '../helpers/redis-suite.js';
import { startScraper } from '../helpers/scraper.js';
import { samples } from './support.js';

describe('bad data in Redis', () => {
  const redis = redisSuite();

  async function writeGoodData(prefix: string) {
    const writer = new RedisStorageManager({
      enabled: true, url: redis.server.url, keyPrefix: prefix, flushIntervalMs: 3_600_000, exitHooks: false,
      identity: { host: 'w', pid: 1, nonce: 'n' },
    });
    redis.track(writer);
    const storage = { storage: writer, registers: [] };
    const jobs = new Counter({ name: 'jobs_total', help: 'Jobs.', labelNames: ['k'], ...storage });
    const victim = new Counter({ name: 'victim_total', help: 'Overwritten.', ...storage });
    const dur = new Summary({ name: 'dur', help: 'Durations.', percentiles: [0.5], ...storage });
    const load = new Gauge({ name: 'load', help: 'Load.', multiprocessMode: 'sum', ...storage });
    jobs.inc({ k: 'a' }, 1);
    jobs.inc({ k: 'b' }, 2);
    victim.inc(5);
    dur.observe(3);
    load.set(4);
    await writer.waitUntilConnected(5000);
    await writer.flush();
    return { writer, jobs, hashes: { jobs: jobs.family!.hash, victim: victim.family!.hash, dur: dur.family!.hash, load: load.family!.hash } };
  }

  async function scrapeOnce(prefix: string) {
    const scraper = await startScraper(redis.server, prefix, { exitHooks: false });
    redis.track(scraper);
    const text = await scraper.getCollector().metrics();
    return { scraper, text, bad: Object.fromEntries([...scraper.stats.badData].sort()), total: scraper.stats.badDataTotal };
  }

  it('skips and counts each kind of garbage inside families, and serves the rest', async () => {
    const prefix = newPrefix('bad-data');
    const { hashes } = await writeGoodData(prefix);
    const before = await scrapeOnce(prefix);
    assert.deepEqual(before.bad, {});

    // A string where the victim's cluster hash belongs.
    await redis.server.cli('DEL', `${prefix}:counter:cluster:metric:{${hashes.victim}}`);
    await redis.server.cli('SET', `${prefix}:counter:cluster:metric:{${hashes.victim}}`, 'garbage');
    // A non-numeric value, and a field that is not a label set, in the counter's hash.
    await redis.server.cli('HSET', `${prefix}:counter:cluster:metric:{${hashes.jobs}}`, '["c"]', 'abc', 'not-json', '1');
    // A family in the index whose meta hash has an unknown type.
    await redis.server.cli('HSET', `${prefix}:families`, 'badbadbadbadbad0', 'counter');
    await redis.server.cli('HSET', `${prefix}:counter:cluster:meta:{badbadbadbadbad0}`, 'name', 'bogus', 'help', 'x', 'type', 'bogus');
    await redis.server.cli('HSET', `${prefix}:counter:cluster:metric:{badbadbadbadbad0}`, '[]', '7');
    // A truncated HDR blob in the writer's summary hash.
    const procKey = `${prefix}:summary:w:1:n:metric:{${hashes.dur}}`;
    const blob = await redis.server.cli('HGET', procKey, '[]#0');
    assert.ok(blob.length > 20);
    await redis.server.cli('HSET', procKey, '[]#0', blob.slice(0, blob.length / 2));
    // A process whose gauge value is not a number.
    await redis.server.cli('ZADD', `${prefix}:processes:{registry}`, String(Date.now()), 'ghost');
    await redis.server.cli('HSET', `${prefix}:gauge_sum:ghost:metric:{${hashes.load}}`, '[]', 'xyz');

    const after = await scrapeOnce(prefix);
    assert.equal(
      samples(after.text, 'jobs_total', 'victim_total', 'dur', 'load', 'bogus'),
      [
        // The summary's quantiles came from the broken blob: 0, as for no observation; sum and count are served.
        'dur{quantile="0.5"} 0',
        'dur_sum 3',
        'dur_count 1',
        'jobs_total{k="a"} 1',
        'jobs_total{k="b"} 2',
        'load 4',
      ].join('\n'),
    );
    assert.match(after.text, /# TYPE victim_total counter\n/);
    assert.deepEqual(after.bad, { field: 1, hdr: 1, key: 1, meta: 1, value: 2 });
    assert.equal(after.total, 6);
    // The counts reach the self-monitoring metrics.
    selfMetricsFor(after.scraper, { sampleRedisUsage: false }).refresh();
    const self = await after.scraper.getCollector().getFamily('prom_client_redis_bad_data_total');
    assert.deepEqual(
      self.values.map((v) => `${v.labels.kind} ${v.value}`).sort(),
      ['field 1', 'hdr 1', 'key 1', 'meta 1', 'value 2'],
    );
  });

  it('garbage where the index and the registries belong: counted, and the collecting process still serves its own families', async () => {
    const prefix = newPrefix('bad-index');
    const { writer } = await writeGoodData(prefix);
    for (const key of [`${prefix}:families`, `${prefix}:processes:{registry}`, `${prefix}:live:{registry}`]) {
      await redis.server.cli('DEL', key);
      await redis.server.cli('SET', key, 'garbage');
    }
    const text = await writer.getCollector().metrics();
    assert.equal(samples(text, 'jobs_total', 'victim_total', 'load'), 'jobs_total{k="a"} 1\njobs_total{k="b"} 2\nload 4\nvictim_total 5');
    assert.deepEqual(Object.fromEntries(writer.stats.badData), { key: 3 });
    // A scraper with no families of its own finds none, and says so with an empty exposition, not a crash.
    const scraper = await scrapeOnce(prefix);
    assert.equal(scraper.text, '\n');
    assert.deepEqual(scraper.bad, { key: 3 });
  });

  it('garbage on the write path: a flush never applies half a batch, so nothing is counted twice', async () => {
    const prefix = newPrefix('bad-write');
    const { writer, jobs, hashes } = await writeGoodData(prefix);
    const clusterKey = `${prefix}:counter:cluster:metric:{${hashes.jobs}}`;

    // A field of ours that holds no number: HINCRBYFLOAT would fail half-way through the batch.
    await redis.server.cli('HSET', clusterKey, '["b"]', 'garbage');
    jobs.inc({ k: 'a' }, 10);
    jobs.inc({ k: 'b' }, 3);
    jobs.inc({ k: 'c' }, 4);
    await writer.flush();
    await writer.flush();
    // `b` restarted from its delta; `a` and `c` were added exactly once.
    assert.deepEqual(await redis.server.cli('HMGET', clusterKey, '["a"]', '["b"]', '["c"]'), '11\n3\n4');
    assert.equal(writer.stats.badData.get('repaired'), 1);

    // A string where the whole cluster hash belongs: the script writes nothing, the batch waits.
    await redis.server.cli('DEL', clusterKey);
    await redis.server.cli('SET', clusterKey, 'garbage');
    jobs.inc({ k: 'a' }, 5);
    await assert.rejects(writer.flush(), { code: 'ERR_PCR_REDIS', message: /holds something else than a hash: family `jobs_total` waits until it is removed/ });
    jobs.inc({ k: 'a' }, 1);
    await assert.rejects(writer.flush(), { code: 'ERR_PCR_REDIS' });
    assert.equal(jobs.family!.pending.length, 1);
    assert.equal(writer.stats.badData.get('flush-key'), 2);
    // Deleted, the cluster hash is found gone while the seq hash stayed: a new epoch, and this
    // process re-sends everything it counted (1 + 10 + 5 + 1), not just what came after.
    await redis.server.cli('DEL', clusterKey);
    await writer.flush(); // the waiting batch: lost sums, a new epoch, and the re-send at once
    await writer.flush();
    assert.equal(await redis.server.cli('HGET', clusterKey, '["a"]'), '17');
    assert.deepEqual([writer.stats.familiesLost, [...writer.stats.keysLost]], [1, [['sums', 1]]]);
  });
});
