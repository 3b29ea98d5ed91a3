// A large counter family scraped through its table (counter-table.ts): 45,000 series, so that
// read-family.lua sends the cluster hash in packed parts (45 of 1,000 pairs), with label values of every kind.
// The text and OpenMetrics expositions are exact at the first scrape (the table built from the
// reply), the next (the table used), after new and removed series (the table made with the change,
// not built again), and with this process's own unflushed increments and series added.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { Counter, RedisStorageManager } from '../../src/index.js';
import { familyHash } from '../../src/store/family.js';
import { newPrefix } from '../helpers/redis-server.js';
import { redisSuite } from '../helpers/redis-suite.js';
import { startScraper } from '../helpers/scraper.js';

const TRICKY = ['a', 'é', '😀', '\ue000', '\uffff', 'x"y', 'a\\b', 'new\nline', ''];
const escape = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

/** The exposition of counter `c_total` as the ordinary merge prints it: series by field (JSON of the values), in JavaScript's order. */
function expected(totals: ReadonlyMap<string, number>, openMetrics: boolean): string {
  const name = openMetrics ? 'c' : 'c_total';
  const lines = [`# HELP ${name} Requests.`, `# TYPE ${name} counter`];
  for (const f of [...totals.keys()].map((v) => JSON.stringify([v])).sort()) {
    const v = JSON.parse(f)[0] as string;
    lines.push(`c_total${v === '' ? '' : `{k="${escape(v)}"}`} ${totals.get(v)}`);
  }
  return openMetrics ? `${lines.join('\n')}\n# EOF\n` : `${lines.join('\n')}\n`;
}

/** assert.equal of two expositions, a failure showing the lines that differ (not the first kilobytes of each). */
function sameText(actual: string, expected: string, what: string): void {
  if (actual === expected) return;
  const [a, e] = [actual.split('\n'), expected.split('\n')];
  const eSet = new Set(e);
  const aSet = new Set(a);
  assert.deepEqual({ what, extra: a.filter((l) => !eSet.has(l)).slice(0, 10), missing: e.filter((l) => !aSet.has(l)).slice(0, 10), lines: a.length }, { what, extra: [], missing: [], lines: e.length });
  assert.equal(actual, expected, `${what}: the same lines in another order`);
}

/** The table events a manager logs from now on (its debug log), with their figures. */
function tableEvents(manager: RedisStorageManager): string[] {
  const events: string[] = [];
  const logger = manager.logger as { debug: (event: string, fields?: Record<string, unknown>) => void };
  logger.debug = (event, fields) => {
    if (!event.startsWith('collect.table_')) return;
    const { family, ms, ...figures } = fields ?? {};
    void family;
    void ms;
    events.push(Object.keys(figures).length > 0 ? `${event} ${JSON.stringify(figures)}` : event);
  };
  return events;
}

describe('a counter family of 45,000 series read through its table', () => {
  const redis = redisSuite();

  /** A writer process's manager under `prefix` and its counter `c_total{k}` (never flushed by interval). */
  async function writerOf(prefix: string) {
    const writer = redis.track(new RedisStorageManager({ enabled: true, url: redis.server.url, keyPrefix: prefix, flushIntervalMs: 3_600_000, exitHooks: false, maxSeriesPerMetric: 100_000, identity: { host: 'w', pid: 1, nonce: 'n' } }));
    await writer.waitUntilConnected(5000);
    return { writer, c: new Counter({ name: 'c_total', help: 'Requests.', labelNames: ['k'], storage: writer, registers: [] }) };
  }

  /**
   * A scraper under `prefix` whose first scrape runs out of time as its counter table's build
   * begins: a machine that stalls past the scrape's deadline at collect.table_building (the scrape's
   * timer fires at the build's first pause). Returns once that scrape rejected (ERR_PCR_TIMEOUT),
   * with the build's events in order and a promise of its end (built, stopped or failed).
   */
  async function timedOutScrape(prefix: string) {
    const TIMEOUT_MS = 1500;
    const scraper = redis.track(await startScraper(redis.server, prefix, { exitHooks: false }));
    const events: string[] = [];
    let scrapeStarted = 0;
    let ended: () => void = () => {};
    const buildEnded = new Promise<void>((resolve) => (ended = resolve));
    const logger = scraper.logger as { debug: (event: string, fields?: Record<string, unknown>) => void };
    logger.debug = (event, fields) => {
      if (event === 'collect.table_building') {
        events.push(event);
        while (performance.now() < scrapeStarted + TIMEOUT_MS + 100) {
          // Busy: the scrape's time runs out now.
        }
      }
      if (event === 'collect.table_built' || event === 'collect.table_stopped' || event === 'collect.table_failed') {
        events.push(`${event} ${String(fields?.message ?? fields?.series)}`);
        ended();
      }
    };
    scrapeStarted = performance.now();
    await assert.rejects(scraper.getCollector().exposition('text', { timeoutMs: TIMEOUT_MS }), (error: Error & { code?: string }) => error.code === 'ERR_PCR_TIMEOUT');
    assert.deepEqual(events, ['collect.table_building']);
    return { scraper, events, buildEnded };
  }

  it('exposes exactly what the ordinary read prints, at the first scrape, the next, after new series and with unflushed increments', async () => {
    const prefix = newPrefix('counter-table');
    const { writer, c } = await writerOf(prefix);
    const totals = new Map<string, number>();
    const inc = (v: string, by: number) => {
      c.inc({ k: v }, by);
      totals.set(v, (totals.get(v) ?? 0) + by);
    };
    for (let i = 0; i < 45_000 - TRICKY.length; i++) inc(String(i), (i % 7) + 1);
    TRICKY.forEach((v, i) => inc(v, i + 0.5));
    await writer.flush();

    const scraper = redis.track(await startScraper(redis.server, prefix, { exitHooks: false }));
    const collector = scraper.getCollector();
    const events = tableEvents(scraper);
    const openMetrics = (text: string) => text.split('\n').filter((l) => !l.startsWith('c_created')).join('\n');
    sameText(await collector.metrics(), expected(totals, false), 'scrape 1');
    const om = await collector.exposition('openmetrics');
    sameText(openMetrics(om as string), expected(totals, true), 'scrape 2');
    assert.equal((om as string).split('\n').filter((l) => l.startsWith('c_created')).length, 45_000);
    assert.deepEqual(events.splice(0), ['collect.table_building', 'collect.table_built {"series":45000}']);

    inc('1', 10);
    inc('😀', 2);
    await writer.flush();
    sameText(await collector.metrics(), expected(totals, false), 'scrape 3');
    // The parts the metrics server writes one at a time make the same text.
    const parts = (await collector.expositionParts('text')) as string[];
    assert.ok(parts.length > 3 && parts.every((part) => part.length <= 256 * 1024));
    sameText(parts.join(''), expected(totals, false), 'scrape 4');

    assert.deepEqual(events.splice(0), []);

    // A new series: the table made with it (not built again), and the creation times still read.
    inc('new one', 3);
    inc('0', 1);
    await writer.flush();
    sameText(await collector.metrics(), expected(totals, false), 'scrape 5');
    const created = (text: string) => text.split('\n').filter((l) => l.startsWith('c_created')).length;
    const withNew = (await collector.exposition('openmetrics')) as string;
    sameText(openMetrics(withNew), expected(totals, true), 'scrape 6');
    assert.equal(created(withNew), 45_001);
    assert.deepEqual(events.splice(0), ['collect.table_changed {"added":1,"gone":0}']);
    // Fields gone from Redis (deleted by hand: remove() forgets this process's values, not the
    // sums), one of them tricky, and one added: the same.
    const sumsKey = `${prefix}:counter:cluster:metric:{${familyHash('c_total')}}`;
    assert.equal(await redis.server.cli('HDEL', sumsKey, JSON.stringify(['17']), JSON.stringify(['😀'])), '2');
    totals.delete('17');
    totals.delete('😀');
    inc('\ud83d\ude01', 1);
    await writer.flush();
    sameText(await collector.metrics(), expected(totals, false), 'scrape 7');
    assert.equal(created((await collector.exposition('openmetrics')) as string), 45_000);
    assert.deepEqual(events.splice(0), ['collect.table_changed {"added":1,"gone":2}']);

    // The writer's own scrape: its unflushed increments added to what Redis holds, and its series
    // not in Redis yet (its table made with them).
    const ownEvents = tableEvents(writer);
    sameText(await writer.getCollector().metrics(), expected(totals, false), 'scrape 8');
    inc('2', 5);
    inc('é', 0.25);
    inc('not flushed', 4);
    sameText(await writer.getCollector().metrics(), expected(totals, false), 'scrape 9');
    assert.deepEqual(ownEvents.splice(0), ['collect.table_building', 'collect.table_built {"series":45000}', 'collect.table_changed {"added":1,"gone":0}']);
    assert.deepEqual([...scraper.stats.badData], []);
  });

  it('a scrape that runs out of time while the table is built: the build goes on, the next scrape uses it', async () => {
    const prefix = newPrefix('counter-table-slow');
    const { writer, c } = await writerOf(prefix);
    const totals = new Map<string, number>();
    for (let i = 0; i < 20_000; i++) {
      c.inc({ k: String(i) }, (i % 5) + 1);
      totals.set(String(i), (i % 5) + 1);
    }
    await writer.flush();

    const { scraper, events, buildEnded } = await timedOutScrape(prefix);
    const collector = scraper.getCollector();
    // Built after the scrape was answered, and kept.
    const waiting = new AbortController();
    const noTable = delay(20_000, undefined, { signal: waiting.signal }).then(() => assert.fail('the table was not built after the scrape timed out'), () => {});
    await Promise.race([buildEnded, noTable]);
    waiting.abort();
    assert.deepEqual(events, ['collect.table_building', 'collect.table_built 20000']);
    assert.equal(await collector.metrics(), expected(totals, false));
    assert.deepEqual(events, ['collect.table_building', 'collect.table_built 20000']);
  });

  it('a build that outlives its scrape stops at its next slice when the storage manager shuts down', async () => {
    const prefix = newPrefix('counter-table-stop');
    const { writer, c } = await writerOf(prefix);
    for (let i = 0; i < 20_000; i++) c.inc({ k: String(i) }, 1);
    await writer.flush();

    const { scraper, events, buildEnded } = await timedOutScrape(prefix);
    // The scrape's timer fired at the build's first pause: the build has had one slice of its
    // 20,000 series when the manager shuts down, in the same tick.
    await scraper.shutdown();
    await buildEnded;
    assert.deepEqual(events, ['collect.table_building', 'collect.table_stopped collect: the collector was stopped (shutdown) while the table of c_total was being built']);
  });
});
