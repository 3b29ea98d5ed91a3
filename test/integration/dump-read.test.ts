// A large family read through DUMP (read-family.lua sends a hash of more than 1,000 fields so when
// the user may run DUMP and HLEN; collect/rdb-hash.ts reads it): the same exposition, byte for
// byte, as the packed read that a user without +dump (or +hlen) gets, with values in every string
// encoding DUMP writes (small and large integers, floats, long label sets LZF compresses, UTF-8),
// exact values, and an ACL LOG left empty by the users who may not.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Gauge, RedisStorageManager } from '../../src/index.js';
import { newPrefix } from '../helpers/redis-server.js';
import { redisSuite } from '../helpers/redis-suite.js';
import { startScraper } from '../helpers/scraper.js';

const TRICKY = ['a', 'é', '😀', '\ue000', 'x"y', 'a\\b', 'new\nline', '', 'ünïcödé-' + 'ß'.repeat(30)];
const N = 3000;

/** A value of every kind DUMP stores differently: INT8, INT16, INT32, a raw integer past 2^31, a fraction. */
function valueOf(i: number): number {
  switch (i % 5) {
    case 0: return i % 100;
    case 1: return 1000 + i;
    case 2: return 100_000 + i;
    case 3: return 2 ** 40 + i;
    default: return i / 7;
  }
}

describe('a large family read through DUMP', () => {
  const redis = redisSuite();

  it('exposes exactly what the packed read exposes, for a user without +dump or +hlen too, with rdbcompression on', async () => {
    assert.deepEqual(await redis.server.cli('CONFIG', 'GET', 'rdbcompression'), 'rdbcompression\nyes');
    const prefix = newPrefix('dump-read');
    const writer = redis.track(new RedisStorageManager({ enabled: true, url: redis.server.url, keyPrefix: prefix, flushIntervalMs: 3_600_000, exitHooks: false, maxSeriesPerMetric: 100_000, identity: { host: 'w', pid: 1, nonce: 'n' } }));
    await writer.waitUntilConnected(5000);
    const c = new Counter({ name: 'd_total', help: 'Requests.', labelNames: ['route', 'k'], storage: writer, registers: [] });
    const g = new Gauge({ name: 'g', help: 'Levels.', labelNames: ['route', 'k'], storage: writer, registers: [] });
    const want = new Map<string, number>();
    for (let i = 0; i < N; i++) {
      // Label sets of 40-90 bytes with repeats: DUMP compresses most of them.
      const labels = { route: `/api/v1/items/details/${i % 50}/items/details/${i % 50}`, k: `${TRICKY[i % TRICKY.length]}${i}` };
      c.inc(labels, valueOf(i));
      g.set(labels, i % 2 ? -valueOf(i) : valueOf(i));
      want.set(JSON.stringify(labels), valueOf(i));
    }
    await writer.flush();
    // LZF-compressed strings in the counter's dump: shorter than with rdbcompression off.
    const dumpLength = async () => Number(await redis.server.cli('EVAL', "return #redis.call('DUMP', KEYS[1])", '1', `${prefix}:counter:cluster:metric:{${c.family!.hash}}`));
    const compressed = await dumpLength();
    await redis.server.cli('CONFIG', 'SET', 'rdbcompression', 'no');
    const plain = await dumpLength();
    // ~16 bytes saved a field (166,636 against 214,322 bytes when written).
    assert.ok(compressed < plain - 10 * N, `most label sets compressed: ${compressed} against ${plain} bytes`);
    await redis.server.cli('CONFIG', 'SET', 'rdbcompression', 'yes');

    const calls = async (name: string) => Number((await redis.server.cli('INFO', 'commandstats')).match(new RegExp(`cmdstat_${name}:calls=(\\d+)`))?.[1] ?? 0);
    const read = async (options: { username?: string; password?: string }) => {
      const scraper = redis.track(await startScraper(redis.server, prefix, { exitHooks: false, ...options }));
      const collector = scraper.getCollector();
      const dumps = await calls('dump');
      const text = await collector.metrics();
      const om = (await collector.exposition('openmetrics')) as string;
      const counter = (await collector.getFamily('d_total')).values;
      const gauge = (await collector.getFamily('g')).values;
      const dumped = (await calls('dump')) - dumps;
      assert.deepEqual([...scraper.stats.badData], []);
      await scraper.shutdown();
      return { text, om, counter, gauge, dumped };
    };
    const dump = await read({});
    // Each read (text, OpenMetrics, and a whole collect for each getFamily) dumps the counter's
    // cluster hash and the gauge's process hash; OpenMetrics the counter's created hash too.
    assert.equal(dump.dumped, 4 * 2 + 1);
    const bySeries = (values: ReadonlyArray<{ labels: Record<string, string | number>; value: number }>) => new Map(values.filter((v) => v.labels.route !== undefined).map((v) => [JSON.stringify({ route: v.labels.route, k: v.labels.k ?? '' }), v.value]));
    assert.deepEqual(bySeries(dump.counter), want);
    let i = 0;
    assert.deepEqual(bySeries(dump.gauge), new Map([...want].map(([f, v]) => [f, i++ % 2 ? -v : v])));
    assert.equal(dump.text.split('\n').filter((l) => l.startsWith('d_total{')).length, N);
    assert.equal(dump.om.split('\n').filter((l) => l.startsWith('d_created{')).length, N);

    await redis.server.cli('ACL', 'LOG', 'RESET');
    for (const right of ['dump', 'hlen']) {
      await redis.server.cli('ACL', 'SETUSER', `no${right}`, 'on', '>pw', `~${prefix}:*`, '+@all', `-${right}`);
      const packed = await read({ username: `no${right}`, password: 'pw' });
      assert.equal(packed.dumped, 0);
      assert.equal(packed.text, dump.text);
      assert.equal(packed.om, dump.om);
    }
    assert.equal(await redis.server.cli('ACL', 'LOG'), '', 'the script ran DUMP or HLEN for a user without the right');
  });
});
