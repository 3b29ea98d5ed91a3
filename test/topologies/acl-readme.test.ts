// The minimal ACL line exactly as README.md's Security section prints it (user, password, key
// pattern and all): a writer, the exporter's /health and /metrics with every self-metric, and
// `prom-client-redis status` run as that user, and Redis denies them nothing (ACL LOG stays empty).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { makeTempDir, pollUntil } from '../helpers/reaper.js';
import { runNode } from '../helpers/processes.js';
import { freePort } from '../helpers/ports.js';
import { get, waitForLines } from '../e2e/support/load.js';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const PROBE = fileURLToPath(new URL('../fixtures/connect-probe.js', import.meta.url));
const ROOT = new URL('../../../', import.meta.url);

/** The one `user ...` line of the README's Security section. */
function readmeAclLine(): string {
  const readme = readFileSync(new URL('README.md', ROOT), 'utf8');
  const start = readme.indexOf('\n## Security\n');
  assert.notEqual(start, -1, 'README.md has no Security section');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  const lines = section.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('user '));
  assert.equal(lines.length, 1, section);
  return lines[0]!;
}

const ACL_LINE = readmeAclLine();
const tokens = ACL_LINE.split(' ');
const USER = tokens[1]!;
const PASSWORD = tokens.find((t) => t.startsWith('>'))!.slice(1);
const PREFIX = tokens.find((t) => t.startsWith('~'))!.replace(/^~(.*):\*$/, '$1');

/** Every self-metric family of SelfMetrics. */
const SELF_METRICS = [
  'connected', 'keys', 'memory_bytes', 'flush_duration_seconds', 'collect_duration_seconds', 'flush_errors_total',
  'series_pending', 'series_dropped_total', 'families_dropped_total', 'families_lost_total', 'bad_data_total', 'last_successful_flush_age_seconds', 'processes_live',
].map((name) => `prom_client_redis_${name}`);

describe('the README\'s minimal ACL line, exactly as printed', () => {
  let redis: RedisServer;
  let env: Record<string, string>;

  before(async () => {
    // The server owns this test alone, so the line's own prefix and password can be used as is.
    const dir = makeTempDir('acl-readme');
    const aclFile = join(dir, 'users.acl');
    writeFileSync(aclFile, `user default on nopass ~* &* +@all\n${ACL_LINE}\n`);
    redis = await startRedis({ dir, args: ['--aclfile', aclFile] });
    env = { REDIS_HOST: '127.0.0.1', REDIS_PORT: String(redis.port), REDIS_USERNAME: USER, REDIS_PASSWORD: PASSWORD, REDIS_KEY_PREFIX: PREFIX, REDIS_FLUSH_INTERVAL_MS: '100' };
  });

  after(async () => {
    await redis?.stop();
  });

  it('is the line docs/scale-out.md prints too, for user metrics and prefix prom', () => {
    assert.deepEqual([USER, PASSWORD, PREFIX], ['metrics', 'PASSWORD', 'prom']);
    assert.ok(readFileSync(new URL('docs/scale-out.md', ROOT), 'utf8').split('\n').includes(ACL_LINE));
  });

  it('lets a writer flush, the exporter serve /health and every self-metric, and status report, with nothing denied', async () => {
    const writer = runNode(PROBE, { env: { ...env, PROBE_INC: '5' } });
    const [line] = await writer.waitForLine(/^\{.*\}$/, 20_000);
    assert.deepEqual(JSON.parse(line!), { connected: true, flushed: true, error: null, lastError: null });
    assert.deepEqual(await writer.exited, { code: 0, signal: null });

    const port = await freePort();
    const exporter = runNode(CLI, { args: ['serve', '--port', String(port), '--bind', '127.0.0.1'], env });
    try {
      await waitForLines(exporter, /exporter: metrics on/, 1);
      const health = await get(`http://127.0.0.1:${port}/health`);
      assert.deepEqual([health.status, health.body], [200, '{"status":"ok","redis":"up"}\n']);
      // The first scrape samples MEMORY USAGE and TIME; each later one adds a collect duration.
      let body = '';
      await pollUntil('a scrape with a collect duration', async () => {
        const r = await get(`http://127.0.0.1:${port}/metrics`);
        assert.equal(r.status, 200, r.body);
        body = r.body;
        return /^prom_client_redis_collect_duration_seconds_count 1$/m.test(body) ? true : undefined;
      }, { timeoutMs: 10_000, intervalMs: 50 });
      assert.match(body, /^probe_total 5$/m);
      assert.deepEqual(SELF_METRICS.filter((name) => !body.includes(`\n# TYPE ${name} `)), []);
      assert.match(body, /^prom_client_redis_connected\{pid="[^"]+"\} 1$/m);
      const memory = Number(/^prom_client_redis_memory_bytes (\d+)$/m.exec(body)?.[1]);
      const keys = Number(/^prom_client_redis_keys (\d+)$/m.exec(body)?.[1]);
      // Sampled once, at the first scrape: the probe's family (3 keys) and the 3 registries at least.
      assert.ok(memory > 0 && keys >= 6, `memory ${memory}, keys ${keys}`);
      assert.equal(body.split('\n').filter((l) => l.startsWith('prom_client_redis_flush_errors_total{')).join('\n'), '');
    } finally {
      assert.deepEqual(await exporter.kill('SIGTERM'), { code: 0, signal: null });
    }
    assert.equal(exporter.stderr(), '');

    const families = await redis.cli('HLEN', `${PREFIX}:families`);
    const status = runNode(CLI, { args: ['status'], env });
    assert.deepEqual(await status.exited, { code: 0, signal: null });
    assert.equal(status.stderr(), '');
    const lines = status.stdoutLines;
    assert.equal(lines[0], `redis          redis://127.0.0.1:${redis.port}/0, key prefix "prom"`);
    assert.match(lines[1]!, /^connection {5}up \(usage read in \d+\.\d ms\)$/);
    assert.equal(lines[2], `families       ${families}`);
    assert.match(lines[5]!, /^memory {9}\d+(\.\d)? (KiB|MiB)$/);
    assert.equal(await redis.cli('ACL', 'LOG'), '');
  });
});
