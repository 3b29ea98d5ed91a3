// `prom-client-redis serve` and `status` as a user runs them: a child process configured by the
// environment, against a password-protected Redis, then with Redis gone.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { startRedis, newPrefix, type RedisServer } from '../helpers/redis-server.js';
import { runNode, type NodeChild } from '../helpers/processes.js';
import { freePort } from '../helpers/ports.js';
import { pollUntil } from '../helpers/reaper.js';
import { familyText } from '../helpers/scraper.js';
import { Counter, RedisStorageManager } from '../../src/index.js';
import { familyHash } from '../../src/store/family.js';
import { get, waitForLines } from './support/load.js';
import { promtoolCheck } from './support/prometheus.js';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const PASSWORD = 'not-to-be-logged-7f3a';

describe('exporter and status', () => {
  let redis: RedisServer;
  let exporter: NodeChild;
  let base: string;
  let env: Record<string, string>;
  const prefix = newPrefix('exporter');

  before(async () => {
    redis = await startRedis({ args: ['--requirepass', PASSWORD], password: PASSWORD });
    env = { REDIS_URL: `redis://:${PASSWORD}@127.0.0.1:${redis.port}`, REDIS_KEY_PREFIX: prefix, REDIS_FLUSH_INTERVAL_MS: '100', REDIS_COLLECT_TIMEOUT_MS: '1000' };
    // An app process that wrote and went away cleanly.
    const writer = new RedisStorageManager({ enabled: true, url: env.REDIS_URL, keyPrefix: prefix, identity: { host: 'app', pid: 1, nonce: 'n' } });
    new Counter({ name: 'jobs_total', help: 'Jobs done.', labelNames: ['kind'], storage: writer, registers: [] }).inc({ kind: 'a' }, 5);
    await writer.waitUntilConnected(5000);
    await writer.shutdown();

    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    exporter = runNode(CLI, { args: ['serve'], env: { ...env, PROMETHEUS_METRICS_PORT: String(port), PROMETHEUS_BIND_ADDRESS: '127.0.0.1', REDIS_DEBUG: 'true' } });
    await waitForLines(exporter, /exporter: metrics on/, 1);
  });

  after(async () => {
    await exporter?.kill('SIGKILL');
    await redis?.stop();
  });

  it('serves Prometheus text by default, and it passes promtool', async () => {
    const r = await get(`${base}/metrics`);
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(familyText(r.body, 'jobs_total'), '# HELP jobs_total Jobs done.\n# TYPE jobs_total counter\njobs_total{kind="a"} 5');
    assert.match(r.body, /^prom_client_redis_connected\{pid="[^"]+"\} 1$/m);
    assert.deepEqual(await promtoolCheck(r.body), { code: 0, output: '' });
  });

  it('serves OpenMetrics when Accept asks for it', async () => {
    const r = await get(`${base}/metrics`, { Accept: 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5' });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/openmetrics-text; version=1.0.0; charset=utf-8');
    // OpenMetrics has no blank line between families, names a counter family without `_total`, and
    // has `_created`: the writer's creation time of the series as Redis keeps it (ms -> seconds).
    const createdMs = Number(await redis.cli('HGET', `${prefix}:counter:cluster:created:{${familyHash('jobs_total')}}`, '["a"]'));
    assert.ok(createdMs > 1.7e12, String(createdMs));
    assert.deepEqual(r.body.split('\n').filter((l) => /^(# (HELP|TYPE) jobs |jobs_)/.test(l)), ['# HELP jobs Jobs done.', '# TYPE jobs counter', 'jobs_total{kind="a"} 5', `jobs_created{kind="a"} ${createdMs / 1000}`]);
    assert.ok(r.body.endsWith('# EOF\n'));
  });

  it('answers /health with 200 and a short JSON body while Redis answers', async () => {
    const r = await get(`${base}/health`);
    assert.deepEqual([r.status, r.headers['content-type'], r.body], [200, 'application/json', '{"status":"ok","redis":"up"}\n']);
  });

  it('status prints a short report', async () => {
    // jobs_total plus the 11 self-monitoring families the exporter has values in (12 if a flush
    // failed while it connected): indexed by its first flush, which announces itself with no event.
    let families = 0;
    await pollUntil('the exporter\'s first flush', async () => ((families = Number(await redis.cli('HLEN', `${prefix}:families`))) >= 12 ? true : undefined));
    const status = runNode(CLI, { args: ['status'], env });
    assert.deepEqual(await status.exited, { code: 0, signal: null });
    const lines = status.stdoutLines;
    assert.equal(lines[0], `redis          redis://:***@127.0.0.1:${redis.port}, key prefix "${prefix}"`);
    assert.match(lines[1]!, /^connection {5}up \(usage read in \d+\.\d ms\)$/);
    assert.equal(lines[2], `families       ${families}`);
    assert.match(lines[3]!, /^processes {6}2 known, 1 live \(oldest heartbeat \d\.\d s ago\)$/);
    assert.match(lines[4]!, /^keys {11}\d+ \(estimated from the index\)$/);
    assert.match(lines[5]!, /^memory {9}\d+\.\d KiB$/);
    assert.match(lines[6]!, /^flushes {8}\d+ ok, mean \d+\.\d\d ms$/);
    // Pending is a live figure (the exporter's own collect histogram changes with every scrape).
    assert.match(lines[7]!, families === 12 ? /^flush errors {3}none$/ : /^flush errors {3}connection \d+$/);
    assert.deepEqual(lines.slice(8).map((l) => l.replace(/\d+\.\d s ago/, 'N s ago').replace(/^series pending \d+$/, 'series pending N')), [
      'last flush     N s ago (worst live process)',
      'series pending N',
      'series dropped 0',
    ]);
  });

  it('with Redis gone: /health and /metrics answer 503 and say so, never local-only figures', async () => {
    await redis.kill();
    // Once ioredis has seen the socket fail, the messages end in its reason: the reset of the killed
    // server's connection, then the refusal of each reconnect.
    const health = await get(`${base}/health`);
    assert.equal(health.status, 503);
    assert.equal(health.headers['content-type'], 'application/json');
    assert.match(health.body, /^\{"status":"unavailable","redis":"down","error":"health: Redis is not connected \(status [a-z]+\)(: (connect ECONNREFUSED 127\.0\.0\.1:\d+|read ECONNRESET))?"\}\n$/);
    const metrics = await get(`${base}/metrics`);
    assert.equal(metrics.status, 503);
    assert.match(metrics.body, /^# Redis data is missing: collect: Redis is not connected \(status [a-z]+\)(: (connect ECONNREFUSED 127\.0\.0\.1:\d+|read ECONNRESET))?\n# No totals are served rather than this process's local figures\.\n$/);
    const status = runNode(CLI, { args: ['status'], env });
    assert.deepEqual(await status.exited, { code: 1, signal: null });
    // At its first connection error, with the reason ioredis gave, and no warning of a flush.
    assert.equal(status.stdoutLines[1], `connection     DOWN: connect ECONNREFUSED 127.0.0.1:${redis.port}`);
    assert.equal(status.stdoutLines.length, 2);
    assert.equal(status.stderr(), '');
  });

  it('logs flushes, collects and reconnects as JSON lines, without the password', () => {
    const events = new Set(exporter.stderr().trim().split('\n').map((l) => (JSON.parse(l) as { event?: string }).event));
    for (const event of ['redis.ready', 'flush', 'collect', 'redis.reconnecting']) assert.ok(events.has(event), `no ${event} in ${[...events].join(', ')}`);
    assert.equal(exporter.stderr().includes(PASSWORD), false);
  });
});
