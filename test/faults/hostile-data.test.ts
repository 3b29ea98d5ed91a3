// Issue 11: an attacker with write access to the key prefix must not blind, bloat or forge everyone's
// monitoring. Each payload of the issue is planted in a real Redis next to good families written by
// a real manager; a fresh scraper process then collects once. Its exposition must be the good
// families, exactly, and pass `promtool check metrics`; the payload is counted by kind (one warning
// per kind); the collect uses less than 1.5 s of CPU (4 s of wall time on a loaded machine) and grows
// the scraper's peak RSS by less than 100 MB
// (before: injected series, an unparseable target, 2.2 GB RSS, 503s, 14-20 s collects).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { Summary } from '../../src/index.js';
import { familyHash } from '../../src/store/family.js';
import { redisSuite } from '../helpers/redis-suite.js';
import { makeTempDir, removeTempDir } from '../helpers/reaper.js';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { startScraper } from '../helpers/scraper.js';
import { deflateBomb, plantBlobs, plantFamily, plantManyFamilies, promtoolCheck, scrapeInChild, smallHostileBlobs, type ScrapeResult, goodPrefix as goodPrefixAt } from './hostile-support.js';

/** What the scraper serves of the good families, whatever else the prefix holds. */
const GOOD = [
  '# HELP dur Durations.', '# TYPE dur summary', 'dur{quantile="0.5"} 3', 'dur_sum 3', 'dur_count 1', '',
  '# HELP jobs_total Jobs.', '# TYPE jobs_total counter', 'jobs_total{k="a"} 1', 'jobs_total{k="b"} 2', '',
  '# HELP lat Latency.', '# TYPE lat histogram', 'lat_bucket{le="1"} 0', 'lat_bucket{le="5"} 1', 'lat_bucket{le="+Inf"} 1', 'lat_sum 3', 'lat_count 1', '',
  '# HELP load Load.', '# TYPE load gauge', 'load 4', '',
].join('\n');

describe('hostile data under the prefix: a fresh scraper serves the valid families, exactly, within bounds', () => {
  const redis = redisSuite();
  let client: Redis;
  let dir: string;

  before(() => {
    client = new Redis(redis.server.redisOptions());
    dir = makeTempDir('hostile');
  });

  after(() => {
    client?.disconnect();
    removeTempDir(dir);
  });

  const goodPrefix = (name: string) => goodPrefixAt(redis.server.url, name);

  /** The scrape's checks common to every payload: no error, within bounds, promtool clean, one warning per kind counted. */
  async function assertServed(result: ScrapeResult, expectedText: string, bad: Record<string, number>): Promise<void> {
    console.log(`# collect ${result.durationMs.toFixed(0)} ms (CPU ${result.cpuMs.toFixed(0)} ms), peak RSS +${(result.rssGrowthBytes / 1048576).toFixed(1)} MiB, ${result.text.length} characters, bad ${JSON.stringify(result.bad)}`);
    assert.equal(result.error, null);
    assert.equal(result.text, expectedText);
    assert.deepEqual(await promtoolCheck(result.text), { code: 0, output: '' });
    assert.deepEqual(result.bad, bad);
    assert.deepEqual(result.warnings.map((w) => /kind="([\w-]+)"/.exec(w)?.[1]).sort(), Object.keys(bad).sort());
    // CPU time is what the payload costs; the wall time also waits for Redis and, on a loaded test
    // machine, for the CPU: it must stay below the default collect timeout (5 s), or scrapes fail.
    assert.ok(result.cpuMs < 1500, `collect used ${result.cpuMs} ms of CPU`);
    assert.ok(result.durationMs < 4000, `collect took ${result.durationMs} ms`);
    assert.ok(result.rssGrowthBytes < 100 * 1024 * 1024, `peak RSS grew by ${result.rssGrowthBytes} bytes`);
  }

  it('serves the good families exactly when nothing else is there', async () => {
    const prefix = await goodPrefix('hostile-none');
    await assertServed(await scrapeInChild(redis.server.url, prefix, dir), GOOD, {});
  });

  const metaPayloads: Array<[string, string, string, Record<string, string>, string]> = [
    // [what, family name, type, meta fields, kind]
    ['a label name that injects a series', 'injected_total', 'counter', { labelNames: JSON.stringify(['a="1"} 666\nfake_injected_metric{b']) }, 'label-names'],
    ['label names [{}]', 'braces_total', 'counter', { labelNames: '[{}]' }, 'label-names'],
    ['a name with a space', 'bad name_total', 'counter', {}, 'name'],
    ['a name with a newline', 'bad\nname_total', 'counter', {}, 'name'],
    ['an empty help', 'helpless_total', 'counter', { help: '' }, 'help'],
    ['a reserved label name', 'reserved', 'histogram', { labelNames: '["le"]', buckets: '[1]' }, 'label-names'],
    ['decreasing buckets', 'unsorted', 'histogram', { buckets: '[5,1]' }, 'buckets'],
    ['a percentile above 1', 'pct_high', 'summary', { percentiles: '[0.5,2]' }, 'percentiles'],
    ['a mode on a counter', 'moded_total', 'counter', { mode: 'sum' }, 'meta'],
    // Valid families whose names the text parser reads as another's ("second HELP line for metric name lat").
    ['a counter `lat_count` next to the histogram `lat`', 'lat_count', 'counter', {}, 'conflict'],
    ['a gauge `dur_sum` next to the summary `dur`', 'dur_sum', 'gauge_sum', { mode: 'sum' }, 'conflict'],
  ];
  for (const [what, name, type, meta, kind] of metaPayloads) {
    it(`a meta hash with ${what}: skipped, counted as \`${kind}\``, async () => {
      const prefix = await goodPrefix('hostile-meta');
      await plantFamily(client, prefix, name, type, meta, { '["v"]': '666', '[]': '666' });
      const result = await scrapeInChild(redis.server.url, prefix, dir);
      await assertServed(result, GOOD, { [kind]: 1 });
      assert.doesNotMatch(result.text, /666|fake_injected_metric/);
    });
  }

  it('a 1 GiB deflate bomb in an HDR field: skipped (`hdr-too-big`) after inflating at most REDIS_MAX_HDR_BYTES', async () => {
    const prefix = await goodPrefix('hostile-bomb');
    const bomb = await deflateBomb(1024);
    assert.ok(bomb.length > 1_000_000 && bomb.length < 2_000_000, `bomb of ${bomb.length} base64 characters`);
    await plantBlobs(client, prefix, 1, () => bomb);
    await assertServed(await scrapeInChild(redis.server.url, prefix, dir), GOOD, { 'hdr-too-big': 1 });
  });

  it('400 small HDR blobs that decode into huge histograms or endless zero runs: skipped (`hdr`)', async () => {
    const prefix = await goodPrefix('hostile-blobs');
    const [wide, run] = await smallHostileBlobs();
    await plantBlobs(client, prefix, 400, (i) => (i % 2 === 0 ? wide : run));
    const total = (wide.length + run.length) * 200;
    assert.ok(total < 50_000, `400 blobs of ${total} characters`);
    await assertServed(await scrapeInChild(redis.server.url, prefix, dir), GOOD, { hdr: 400 });
  });

  it('an 8.9 MB percentile list: the family is skipped (`too-many-percentiles`) from its length alone', async () => {
    const prefix = await goodPrefix('hostile-percentiles');
    const percentiles = JSON.stringify(Array.from({ length: 880_000 }, (_, i) => Number((i / 880_000).toFixed(9))));
    assert.ok(percentiles.length > 8_900_000, `${percentiles.length} characters`);
    await plantFamily(client, prefix, 'pct', 'summary', { percentiles }, { '[]#sum': '1', '[]#count': '1' });
    await assertServed(await scrapeInChild(redis.server.url, prefix, dir), GOOD, { 'too-many-percentiles': 1 });
  });

  it('a 1.3 MB bucket list, and a series with 100,000 bounds of its own: skipped (`too-many-buckets`)', async () => {
    const prefix = await goodPrefix('hostile-buckets');
    const buckets = JSON.stringify(Array.from({ length: 160_000 }, (_, i) => i + 0.5));
    assert.ok(buckets.length > 1_300_000, `${buckets.length} characters`);
    await plantFamily(client, prefix, 'wide_list', 'histogram', { buckets }, { '[]#sum': '1', '[]#count': '1', '[]#0.5': '1' });
    const fields: Record<string, string> = { '[]#sum': '1', '[]#count': '1' };
    for (let i = 0; i < 100_000; i++) fields[`[]#${i + 2}`] = '1';
    await plantFamily(client, prefix, 'wide_series', 'histogram', { buckets: '[1]' }, fields);
    // The family whose only series was skipped is served empty, as any family with no series.
    await assertServed(await scrapeInChild(redis.server.url, prefix, dir), `${GOOD}\n# HELP wide_series Planted.\n# TYPE wide_series histogram\n`, { 'too-many-buckets': 2 });
  });

  it('50,000 families: the first REDIS_MAX_FAMILIES (2,000) by hash are served, exactly; the rest counted (`too-many-families`)', async () => {
    const prefix = await goodPrefix('hostile-families');
    await plantManyFamilies(client, prefix, 50_000);
    const good = new Map([['dur', 'summary'], ['jobs_total', 'counter'], ['lat', 'histogram'], ['load', 'gauge']]);
    const names = [...good.keys(), ...Array.from({ length: 50_000 }, (_, i) => `f${i}_total`)];
    const served = new Set(names.map((n) => [familyHash(n), n] as const).sort((a, b) => (a[0] < b[0] ? -1 : 1)).slice(0, 2000).map(([, n]) => n));
    const goodBlocks = GOOD.split('\n\n').filter(Boolean);
    const expected = [...served].sort().map((n) => (good.has(n) ? goodBlocks.find((b) => b.startsWith(`# HELP ${n} `))! : `# HELP ${n} Planted.\n# TYPE ${n} counter\n${n} ${n.slice(1, -6)}`));
    const result = await scrapeInChild(redis.server.url, prefix, dir);
    await assertServed(result, `${expected.join('\n\n')}\n`, { 'too-many-families': 48_004 });
  });

  it('a registry member with braces or white space: skipped (`process`), the rest served', async () => {
    const prefix = await goodPrefix('hostile-member');
    const [sec] = (await client.time()) as [number, number];
    for (const key of ['processes', 'live']) await client.zadd(`${prefix}:${key}:{registry}`, sec * 1000 + 60_000, 'evil{x}', sec * 1000 + 60_000, 'evil x');
    await assertServed(await scrapeInChild(redis.server.url, prefix, dir), GOOD, { process: 4 });
  });

  for (const timeoutMs of [300, 1200]) {
    it(`the collect timeout (${timeoutMs} ms) holds with 50,000 families to read, and the timed-out collect does no more work`, async () => {
      const prefix = await goodPrefix('hostile-deadline');
      await plantManyFamilies(client, prefix, 50_000);
      // A value that is no number in every family: each family the collect goes on with is counted.
      const pipeline = client.pipeline();
      for (let i = 0; i < 50_000; i++) pipeline.hset(`${prefix}:counter:cluster:metric:{${familyHash(`f${i}_total`)}}`, '["x"]', 'garbage');
      await pipeline.exec();
      const scraper = redis.track(await startScraper(redis.server, prefix, { exitHooks: false, maxFamilies: 100_000, collectTimeoutMs: timeoutMs }));
      const started = performance.now();
      await assert.rejects(scraper.getCollector().metrics(), { code: 'ERR_PCR_TIMEOUT', message: `collect: not done within collectTimeoutMs (${timeoutMs} ms)` });
      const elapsed = performance.now() - started;
      // The timer fires at the first turn of the event loop past the deadline; on this loaded 2-CPU
      // machine a slice of a few ms of CPU can take some hundreds of ms of wall time.
      assert.ok(elapsed < timeoutMs + 1000, `rejected after ${elapsed} ms`);
      const seen = JSON.stringify([...scraper.stats.badData]);
      // Every reply of the collect's reads has arrived once the PING sent after them is answered; then
      // the event loop turns until nothing more is pending. Nothing of the collect ran meanwhile.
      await scraper.client!.redis.ping();
      for (let i = 0; i < 50; i++) await nextTurn();
      assert.equal(JSON.stringify([...scraper.stats.badData]), seen);
      assert.deepEqual([scraper.stats.collects, scraper.stats.collectFailures], [0, 1]);
      console.log(`# rejected after ${elapsed.toFixed(0)} ms; bad data seen before: ${seen}`);
    });
  }

  it('the collect timeout holds when it falls in the merge (8,000 HDR blobs to inflate), and the timed-out collect does no more work; a get() of that family is bounded too', async () => {
    const prefix = await goodPrefix('hostile-deadline-merge');
    // Each inflates 4 MiB of zeros, stopped at maxHdrBytes (2 MiB here): 8,000 of them take ~7 s of
    // CPU on a quiet machine (at 1 MiB each, ~3.5 s: a get() once finished inside the timeout), so
    // that the deadline falls in the merge, after the read (~0.5 s on a quiet machine, up to ~2 s
    // on a loaded one: the timeout leaves room for that).
    const bomb = await deflateBomb(4);
    await plantBlobs(client, prefix, 8000, () => bomb);
    const timeoutMs = 3000;
    const scraper = redis.track(await startScraper(redis.server, prefix, { exitHooks: false, collectTimeoutMs: timeoutMs, maxHdrBytes: 2 << 20 }));
    const started = performance.now();
    await assert.rejects(scraper.getCollector().metrics(), { code: 'ERR_PCR_TIMEOUT' });
    const elapsed = performance.now() - started;
    assert.ok(elapsed < timeoutMs + 1000, `rejected after ${elapsed} ms`);
    const seen = scraper.stats.badData.get('hdr-too-big') ?? 0;
    assert.ok(seen > 0 && seen < 8000, `${seen} blobs inflated before the deadline`);
    await scraper.client!.redis.ping();
    for (let i = 0; i < 50; i++) await nextTurn();
    assert.deepEqual([...scraper.stats.badData], [['hdr-too-big', seen]]);
    assert.deepEqual([scraper.stats.collects, scraper.stats.collectFailures], [0, 1]);
    console.log(`# rejected after ${elapsed.toFixed(0)} ms, ${seen} of 8,000 blobs inflated`);

    // The same family read alone, by a metric's get(): bounded by the same timeout.
    const dur = new Summary({ name: 'dur', help: 'Durations.', percentiles: [0.5], storage: scraper, registers: [] });
    const getStarted = performance.now();
    await assert.rejects(dur.get(), { code: 'ERR_PCR_TIMEOUT' });
    const getElapsed = performance.now() - getStarted;
    assert.ok(getElapsed < timeoutMs + 1000, `get() rejected after ${getElapsed} ms`);
  });
});
