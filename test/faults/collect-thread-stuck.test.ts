// The launcher primary's collect thread stuck in synchronous work (src/integrations/collect-thread.ts):
// a thread that does not answer by its deadline + 1 s is terminated and the scrape answers 503; the
// next scrape starts a new thread, which serves the exact figures. The thread here hangs in its
// gzip of the first scrape (test/fixtures/stuck-gzip.ts: the thread's first answer never comes, the
// case of a first collect of a large cluster that overruns on a busy machine), in a system call that
// the termination cannot interrupt, and it exits only while the new thread has the next scrape in
// hand: that exit must not fail the new thread's scrape.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, existsSync, mkdtempSync, openSync, rmSync, writeSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { Counter } from '../../src/metrics/counter.js';
import { RedisStorageManager } from '../../src/manager.js';
import { startLauncherProbe, type LauncherProbe } from '../helpers/launcher-probe.js';
import { newPrefix, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { fetchRaw, samples } from '../helpers/http-get.js';

const STUCK_GZIP = fileURLToPath(new URL('../fixtures/stuck-gzip.js', import.meta.url));
const TIMEOUT_MS = 2_000;

describe('launcher: a collect thread stuck in synchronous work', () => {
  let redis: RedisServer;
  let writer: RedisStorageManager;
  let launcher: LauncherProbe;
  const dir = mkdtempSync(join(tmpdir(), 'pcr-stuck-'));
  const marker = join(dir, 'hang-next-gzip');
  const fifo = join(dir, 'release');
  const prefix = newPrefix('thread-stuck');

  before(async () => {
    redis = await startRedis();
    writer = new RedisStorageManager({ enabled: true, url: redis.url, keyPrefix: prefix, flushIntervalMs: 3_600_000, exitHooks: false });
    await writer.waitUntilConnected(10_000);
    const planted = new Counter({ name: 'planted_total', help: 'Written by another process.', labelNames: ['id'], storage: writer, registers: [] });
    for (let i = 0; i < 3; i++) planted.inc({ id: String(i) }, i + 1);
    await writer.flush();
    launcher = await startLauncherProbe(
      { REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix, REDIS_FLUSH_INTERVAL_MS: '3600000', REDIS_COLLECT_TIMEOUT_MS: String(TIMEOUT_MS), STUCK_GZIP_ONCE: marker, STUCK_GZIP_FIFO: fifo },
      ['--import', STUCK_GZIP],
    );
  });

  after(async () => {
    // A test that failed before the second scrape leaves the stuck thread in its read of the FIFO,
    // which would keep the launcher from exiting: it is let go first.
    if (existsSync(fifo)) {
      try {
        const fd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
        writeSync(fd, 'go');
        closeSync(fd);
      } catch {
        // No reader: no thread is stuck.
      }
    }
    await launcher?.child.kill('SIGTERM');
    await writer?.shutdown();
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers 503 once the thread is past its deadline + 1 s, and the next scrape gets a new thread and exact figures', async () => {
    await launcher.control('/inc?by=3');
    writeFileSync(marker, '');
    execFileSync('mkfifo', [fifo]);
    const started = performance.now();
    const stuck = await fetchRaw(launcher.metricsUrl, { 'accept-encoding': 'gzip' });
    const stuckMs = performance.now() - started;
    assert.equal(stuck.status, 503);
    // The thread took the marker: it hung in its gzip, after its collect.
    assert.equal(existsSync(marker), false);
    assert.match(
      stuck.body.toString(),
      /^# Redis data is missing: collect: not done within \d+ ms; the collect thread did not answer and was stopped\n# No totals are served rather than this process's local figures\.\n$/,
    );
    // At the collect's deadline (the 2 s from the request) plus the second a thread is given past it
    // (less the rounding of the thread's budget to whole ms), not earlier.
    assert.ok(stuckMs >= TIMEOUT_MS + 1_000 - 1 && stuckMs < TIMEOUT_MS + 1_000 + 2_000, `503 after ${stuckMs.toFixed(0)} ms`);

    await launcher.control('/inc?by=4');
    const served = await fetchRaw(launcher.metricsUrl, { 'accept-encoding': 'gzip' });
    assert.equal(served.status, 200, served.body.toString().slice(0, 300));
    assert.equal(served.headers['content-encoding'], 'gzip');
    const text = gunzipSync(served.body).toString();
    // Byte for byte what zlib's level 1 makes of the text: compressed by the (new) thread.
    assert.ok(served.body.equals(gzipSync(text, { level: 1 })));
    assert.deepEqual(samples(text, 'planted_total'), ['planted_total{id="0"} 1', 'planted_total{id="1"} 2', 'planted_total{id="2"} 3']);
    assert.deepEqual(samples(text, 'probe_primary_total'), ['probe_primary_total 7']);
    // A scrape shows the collects before its own: the stuck thread's never reported (it went with it).
    const collects = (t: string) => samples(t, 'prom_client_redis_collect_duration_seconds_count');
    assert.deepEqual(collects(text), ['prom_client_redis_collect_duration_seconds_count 0']);
    // One collect thread, niced, running: the stuck one was terminated and a new one serves (the
    // main thread would have served had the stuck thread's exit been taken for a broken thread).
    const { main, others } = await launcher.threadNices();
    assert.deepEqual(others, [Math.min(19, main + 10)]);
    const next = await fetchRaw(launcher.metricsUrl);
    assert.equal(next.status, 200);
    assert.deepEqual(collects(next.body.toString()), ['prom_client_redis_collect_duration_seconds_count 1']);
    assert.equal(launcher.child.stdoutLines.filter((l) => l.includes('collect thread failed')).length, 0, launcher.child.stdoutLines.join('\n'));
  });
});
