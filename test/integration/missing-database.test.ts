// REDIS_DB=99 on a server with 16 databases: ioredis reports the failed SELECT and would go on, on
// database 0. We close the connection instead, and say why everywhere: the wait, lastError, a
// warning, /health, and the flush, which writes nothing anywhere.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, newPrefix, type RedisServer } from '../helpers/redis-server.js';
import { Counter, RedisStorageManager, startMetricsServer } from '../../src/index.js';
import { get } from '../e2e/support/load.js';

const REASON = 'Redis refused SELECT 99 (ERR DB index is out of range): the server has fewer databases (its `databases` setting, 16 by default); check REDIS_DB (db) or the database in REDIS_URL. Not connected, so that nothing is written to database 0';

describe('a database the server lacks', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });

  it('fails the connection with a ConfigError; /health answers 503 with the reason; nothing is written', async () => {
    const storage = new RedisStorageManager({ enabled: true, url: redis.url, db: 99, keyPrefix: newPrefix('db99'), exitHooks: false, shutdownTimeoutMs: 200, env: {} });
    new Counter({ name: 'jobs_total', help: 'Jobs.', storage, registers: [] }).inc();
    const server = await startMetricsServer({ storage, port: 0, bindAddress: '127.0.0.1' });
    try {
      await assert.rejects(storage.waitUntilConnected(5_000), { name: 'ConfigError', code: 'ERR_PCR_CONFIG', message: REASON });
      const connection = storage.client!.redis;
      // Not events.once(): it would reject on the 'error' events of the commands cut short.
      if (connection.status !== 'end') await new Promise((resolve) => connection.once('end', resolve));
      assert.deepEqual([storage.isConnected(), connection.status, storage.lastError?.message], [false, 'end', REASON]);
      const health = await get(`${server.url}/health`);
      assert.deepEqual([health.status, JSON.parse(health.body)], [503, { status: 'unavailable', redis: 'down', error: `health: Redis is not connected (status end): ${REASON}` }]);
      await assert.rejects(storage.flush(), { message: `flush: Redis is not connected (status end): ${REASON}` });
      assert.deepEqual([await redis.cli('DBSIZE'), await redis.cli('INFO', 'keyspace')], ['0', '# Keyspace\r']);
    } finally {
      await server.close();
      await storage.shutdown();
    }
  });
});
