// The start-up check of maxmemory-policy, as an ACL user may or may not be allowed to run it: INFO
// (in the README's minimal line), CONFIG GET when INFO is refused, a named warning when both are.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RedisStorageManager, checkHealth } from '../../src/index.js';
import { newPrefix, startRedis, type RedisServer } from '../helpers/redis-server.js';

describe('maxmemory-policy at start', () => {
  let server: RedisServer;
  const managers: RedisStorageManager[] = [];
  const prefix = newPrefix('server-checks');

  before(async () => {
    server = await startRedis();
  });

  after(async () => {
    await Promise.all(managers.map((m) => m.shutdown()));
    await server?.stop();
  });

  async function managerAs(username?: string): Promise<{ manager: RedisStorageManager; warnings: string[] }> {
    const manager = new RedisStorageManager({ enabled: true, url: server.url, keyPrefix: prefix, exitHooks: false, ...(username ? { username, password: 'pw' } : {}) });
    managers.push(manager);
    const warnings: string[] = [];
    manager.logger.warn = (message: string) => void warnings.push(message);
    await manager.waitUntilConnected(5000);
    return { manager, warnings };
  }

  it('noeviction: nothing to say, /health has no warnings', async () => {
    const { manager, warnings } = await managerAs();
    assert.deepEqual(await manager.checkRedisServer(), []);
    assert.deepEqual((await checkHealth(manager)).body, { status: 'ok', redis: 'up' });
    assert.deepEqual(warnings, []);
  });

  it('a user without +info: read with CONFIG GET', async () => {
    await server.cli('CONFIG', 'SET', 'maxmemory-policy', 'volatile-lru');
    try {
      await server.cli('ACL', 'SETUSER', 'noinfo', 'on', '>pw', `~${prefix}:*`, '+@all', '-info');
      const { manager, warnings } = await managerAs('noinfo');
      const expected = `Redis maxmemory-policy is not noeviction: 127.0.0.1:${server.port} has volatile-lru. When full, Redis evicts keys, metric sums and seq hashes among them: each loss is detected at the family's next flush and repaired from the live processes' totals, but counts of processes that have ended are lost, and the family is incomplete until every process has re-sent it. Set maxmemory-policy noeviction`;
      assert.deepEqual(await manager.checkRedisServer(), [expected]);
      assert.deepEqual((await checkHealth(manager)).body, { status: 'ok', redis: 'up', warnings: [expected] });
      // Warned once, though asked twice.
      assert.deepEqual(warnings.filter((w) => w.startsWith('Redis maxmemory-policy')), [expected]);
    } finally {
      await server.cli('CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
    }
  });

  it('a user allowed neither INFO nor CONFIG GET: said so, naming the node and both refusals', async () => {
    await server.cli('ACL', 'SETUSER', 'blind', 'on', '>pw', `~${prefix}:*`, '+@all', '-info', '-config');
    const { manager } = await managerAs('blind');
    assert.deepEqual(await manager.checkRedisServer(), [
      `could not read maxmemory-policy of 127.0.0.1:${server.port} (INFO: NOPERM this user has no permissions to run the 'info' command; CONFIG GET: NOPERM this user has no permissions to run the 'config|get' command): make sure it is noeviction`,
    ]);
  });
});
