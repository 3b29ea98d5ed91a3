// Issue 3, item 6: a process forked after metrics were used in its parent (child_process.fork and a
// node:cluster worker) starts with an empty shadow store and its own identity: nothing is counted
// twice. Even when the app gives every process the same identity (read from an inherited env var),
// flush idempotency is per process life, so no child's counts are dropped as "already applied".
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { RedisStorageManager } from '../../src/index.js';
import { startRedis, newPrefix, type RedisServer } from '../helpers/redis-server.js';
import { runNode } from '../helpers/processes.js';
import { startScraper } from '../helpers/scraper.js';
import { samples } from './support.js';

const APP = fileURLToPath(new URL('../fixtures/fork-app.js', import.meta.url));

describe('fork safety', () => {
  let server: RedisServer;
  const scrapers: RedisStorageManager[] = [];

  before(async () => {
    server = await startRedis();
  });

  after(async () => {
    await Promise.all(scrapers.map((s) => s.shutdown()));
    await server?.stop();
  });

  async function runApp(prefix: string, env: Record<string, string> = {}) {
    const app = runNode(APP, { env: { TEST_REDIS_URL: server.url, TEST_PREFIX: prefix, ...env } });
    assert.deepEqual(await app.exited, { code: 0, signal: null }, app.stderr());
    const lines = [...app.stdoutLines].sort();
    const scraper = await startScraper(server, prefix, { exitHooks: false });
    scrapers.push(scraper);
    return { lines, text: await scraper.getCollector().metrics() };
  }

  it('child_process.fork and cluster workers: own identity, empty store, exact totals', async () => {
    const { lines, text } = await runApp(newPrefix('fork'));
    assert.equal(lines.length, 3);
    const [child, parent, worker] = lines.map((l) => l.split(' '));
    assert.equal(child![0], 'child');
    assert.equal(parent![0], 'parent');
    assert.equal(worker![0], 'worker');
    // Fresh shadow stores: the counter with no labels exists at 0, nothing inherited.
    assert.equal(child![3], 'series=1');
    assert.equal(child![4], 'delta=0');
    assert.equal(worker![4], 'delta=0');
    const ids = new Set([child![1], parent![1], worker![1]]);
    assert.equal(ids.size, 3, 'three processIds');
    assert.equal(samples(text, 'jobs_total'), 'jobs_total 11');
    const up = samples(text, 'up').split('\n').map((l) => l.replace(/pid="[^"]+"/, 'pid'));
    assert.deepEqual(up.slice().sort(), ['up{pid} 1', 'up{pid} 2', 'up{pid} 2']);
  });

  it('an identity inherited through the environment: counts of every process are kept exactly once', async () => {
    const { lines, text } = await runApp(newPrefix('fork-fixed'), { APP_FIXED_NONCE: 'inherited' });
    const parsed = lines.map((l) => l.split(' '));
    assert.deepEqual(new Set(parsed.map((p) => p[1])), new Set(['app:7:inherited']));
    // The process lives still differ, and that is what flush idempotency is keyed on.
    assert.equal(new Set(parsed.map((p) => p[2])).size, 3);
    assert.equal(samples(text, 'jobs_total'), 'jobs_total 11');
    // Per-process gauges of processes sharing an id share one series (documented): the last write.
    assert.equal(samples(text, 'up'), 'up{pid="app:7:inherited"} 2');
  });
});
