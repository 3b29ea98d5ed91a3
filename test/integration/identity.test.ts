import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { startRedis, newPrefix, type RedisServer } from '../helpers/redis-server.js';
import { runNode, type NodeChild } from '../helpers/processes.js';
import { startScraper, familyText } from '../helpers/scraper.js';
import type { RedisStorageManager } from '../../src/index.js';

const WRITER = fileURLToPath(new URL('../fixtures/writer.js', import.meta.url));

describe('two hosts, the same pid', () => {
  let server: RedisServer;
  let scraper: RedisStorageManager;
  const prefix = newPrefix('identity');
  const writers: NodeChild[] = [];

  before(async () => {
    server = await startRedis();
    for (const [i, host] of [[1, 'alpha'], [2, 'beta']] as const) {
      const w = runNode(WRITER, { env: { WRITER_INDEX: String(i), WRITER_HOST: host, WRITER_PID: '7', TEST_REDIS_URL: server.url, TEST_PREFIX: prefix } });
      writers.push(w);
      await w.waitForLine(/^flushed$/, 10_000);
    }
    scraper = await startScraper(server, prefix);
  });

  after(async () => {
    await scraper?.shutdown();
    await Promise.all(writers.map((w) => w.kill('SIGKILL')));
    await server?.stop();
  });

  it('keeps one series per process, told apart by host', async () => {
    const text = await scraper.getCollector().metrics();
    assert.equal(
      familyText(text, 'g_all', 'g_sum', 'jobs_total'),
      [
        '# HELP g_all Gauge in all mode.',
        '# TYPE g_all gauge',
        'g_all{pid="alpha:7:n"} 10',
        'g_all{pid="beta:7:n"} 20',
        '',
        '# HELP g_sum Gauge in sum mode.',
        '# TYPE g_sum gauge',
        'g_sum 30',
        '',
        '# HELP jobs_total Jobs done.',
        '# TYPE jobs_total counter',
        'jobs_total{kind="a"} 3',
        'jobs_total{kind="b"} 30',
      ].join('\n'),
    );
  });

  it('registers both processes (and the scraping one) under distinct ids', async () => {
    await scraper.flush(); // its own heartbeat
    const ids = await server.cli('ZRANGE', `${prefix}:processes:{registry}`, '0', '-1');
    // ZRANGE orders by last heartbeat, which differs run to run.
    assert.deepEqual(ids.split('\n').sort(), ['alpha:7:n', 'beta:7:n', 'scraper:1:n']);
  });
});
