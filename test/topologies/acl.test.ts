import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { startRedis, newPrefix, type RedisServer } from '../helpers/redis-server.js';
import { makeTempDir } from '../helpers/reaper.js';
import { runNode } from '../helpers/processes.js';
import { RedisStorageManager } from '../../src/index.js';

const PROBE = fileURLToPath(new URL('../fixtures/connect-probe.js', import.meta.url));
/** Every character a URL, a shell or a JSON log could mangle. */
const PASSWORD = `p@ss:w/rd %#?&=+"'\\ü€!$*{}`;
const WRONG_PASSWORD = `wr0ng:@/%"'\\ pass`;
/** The minimal rights, as README.md and docs/scale-out.md list them (standalone, no WAIT, db 0); acl-readme.test.ts checks the printed line itself. */
const MINIMAL_COMMANDS = '-@all +eval +evalsha +hset +hget +hdel +hgetall +hincrbyfloat +hkeys +type +exists +expire +zadd +zrem +zrange +zrangebyscore +zscore +time +info +client|setname +ping +memory|usage';

interface ProbeResult {
  connected: boolean;
  flushed: boolean;
  error: { code: string | null; message: string } | null;
}

async function probe(env: Record<string, string>): Promise<{ result: ProbeResult; output: string }> {
  const child = runNode(PROBE, { env });
  const [line] = await child.waitForLine(/^\{.*\}$/, 20_000);
  await child.exited;
  return { result: JSON.parse(line!) as ProbeResult, output: `${child.stdoutLines.join('\n')}\n${child.stderr()}` };
}

/** The password in every form it could leak in: as is, URL-encoded, JSON-escaped. */
function assertNoPassword(output: string, password: string): void {
  for (const form of [password, encodeURIComponent(password), JSON.stringify(password).slice(1, -1)]) {
    assert.ok(!output.includes(form), `the output contains the password (${form}):\n${output}`);
  }
}

describe('ACL users: a user limited to our prefix and commands, a password with special characters', () => {
  let server: RedisServer;
  let admin: Redis;
  const prefix = newPrefix('acl');
  let base: Record<string, string>;

  before(async () => {
    server = await startRedis();
    admin = new Redis(server.redisOptions());
    await admin.call('ACL', 'SETUSER', 'metrics', 'reset', 'on', `>${PASSWORD}`, `~${prefix}:*`, 'resetchannels', ...MINIMAL_COMMANDS.split(' '));
    await admin.call('ACL', 'SETUSER', 'stranger', 'reset', 'on', `>${PASSWORD}`, '~elsewhere:*', 'resetchannels', ...MINIMAL_COMMANDS.split(' '));
    await admin.call('ACL', 'LOG', 'RESET');
    base = { REDIS_HOST: server.host, REDIS_PORT: String(server.port), REDIS_KEY_PREFIX: prefix, REDIS_DEBUG: 'true' };
  });

  after(async () => {
    admin?.disconnect();
    await server?.stop();
  });

  it('the minimal ACL line is enough to write and to scrape: Redis denied nothing', async () => {
    const { result, output } = await probe({ ...base, REDIS_USERNAME: 'metrics', REDIS_PASSWORD: PASSWORD, PROBE_INC: '4' });
    assert.deepEqual(result, { connected: true, flushed: true, error: null, lastError: null });
    assertNoPassword(output, PASSWORD);

    const url = `redis://metrics:${encodeURIComponent(PASSWORD)}@${server.host}:${server.port}`;
    const scraper = new RedisStorageManager({ enabled: true, url, keyPrefix: prefix, identity: { host: 'scraper', pid: 1, nonce: 'n' } });
    try {
      await scraper.waitUntilConnected(10_000);
      assert.match(await scraper.getCollector().metrics(), /^probe_total 4$/m);
    } finally {
      await scraper.shutdown();
    }
    assert.deepEqual(await admin.call('ACL', 'LOG'), []);
  });

  it('a REDIS_URL with credentials is echoed in the debug log with the password masked', async () => {
    const url = `redis://metrics:${encodeURIComponent(PASSWORD)}@${server.host}:${server.port}`;
    const { result, output } = await probe({ REDIS_URL: url, REDIS_KEY_PREFIX: prefix, REDIS_DEBUG: 'true' });
    assert.equal(result.flushed, true);
    assert.match(output, new RegExp(`"event":"redis.connect","target":"redis://metrics:\\*\\*\\*@${server.host.replaceAll('.', '\\.')}:${server.port}"`));
    assertNoPassword(output, PASSWORD);
  });

  it('a user without rights to our keys gets an AuthError naming the user and the keys it needs', async () => {
    const { result, output } = await probe({ ...base, REDIS_USERNAME: 'stranger', REDIS_PASSWORD: PASSWORD });
    assert.equal(result.connected, true);
    assert.equal(result.flushed, false);
    assert.equal(result.error?.code, 'ERR_PCR_AUTH');
    assert.equal(
      result.error?.message,
      `flush: Redis user \`stranger\` lacks a right (NOPERM this user has no permissions to access one of the keys used as arguments): it needs the keys ~${prefix}:* and the commands of the minimal ACL line in docs/scale-out.md`,
    );
    assertNoPassword(output, PASSWORD);
  });

  it('a wrong password gets an AuthError naming REDIS_USERNAME and REDIS_PASSWORD, and never shows the password', async () => {
    const { result, output } = await probe({ ...base, REDIS_USERNAME: 'metrics', REDIS_PASSWORD: WRONG_PASSWORD });
    assert.equal(result.connected, false);
    assert.equal(result.error?.code, 'ERR_PCR_AUTH');
    assert.equal(
      result.error?.message,
      'Redis refused the credentials of user `metrics` (WRONGPASS invalid username-password pair or user is disabled.): check REDIS_USERNAME and REDIS_PASSWORD (username, password)',
    );
    assertNoPassword(output, WRONG_PASSWORD);
  });

  it('a wrong password in REDIS_URL names the URL\'s user and the URL, never the password', async () => {
    const url = `redis://metrics:${encodeURIComponent(WRONG_PASSWORD)}@${server.host}:${server.port}`;
    const { result, output } = await probe({ REDIS_URL: url, REDIS_KEY_PREFIX: prefix });
    assert.deepEqual(result.error, {
      code: 'ERR_PCR_AUTH',
      message: 'Redis refused the credentials of user `metrics` (WRONGPASS invalid username-password pair or user is disabled.): check the user and password in REDIS_URL (url)',
    });
    assertNoPassword(output, WRONG_PASSWORD);
  });

  it('DEBUG=ioredis:* (ioredis prints AUTH with the password) is warned about', async () => {
    const { result, output } = await probe({ ...base, REDIS_DEBUG: 'false', DEBUG: 'ioredis:*', REDIS_USERNAME: 'metrics', REDIS_PASSWORD: PASSWORD });
    assert.equal(result.flushed, true);
    assert.match(output, /"level":"warn","msg":"prom-client-redis: DEBUG enables ioredis debug output, which prints the AUTH command with the Redis password: do not keep these logs"/);
  });

  it('a password given as an option never reaches the environment of child processes', async () => {
    const file = join(makeTempDir('acl-secret'), 'password');
    writeFileSync(file, PASSWORD);
    const { result, output } = await probe({ ...base, REDIS_USERNAME: 'metrics', PROBE_PASSWORD_FILE: file, PROBE_SPAWN: '1' });
    assert.equal(result.flushed, true);
    assert.match(output, /^child-env \{/m);
    assertNoPassword(output, PASSWORD);
  });
});
