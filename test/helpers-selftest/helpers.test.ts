// Proves the test helpers work against real processes, so that a failing integration test is about
// the library, not about its harness. The slow setups (cluster, sentinel) run concurrently.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { freePort, freePorts } from '../helpers/ports.js';
import { newPrefix, startRedis } from '../helpers/redis-server.js';
import { startProxy } from '../helpers/tcp-proxy.js';
import { startCluster } from '../helpers/cluster.js';
import { startSentinel } from '../helpers/sentinel.js';
import { readPem, startTlsRedis } from '../helpers/tls.js';
import { runNode } from '../helpers/processes.js';
import { makeTempDir } from '../helpers/reaper.js';

/** A client that fails instead of reconnecting, disconnected when the test ends. */
function client(t: TestContext, options: RedisOptions): Redis {
  const redis = new Redis({ retryStrategy: () => null, maxRetriesPerRequest: 0, ...options });
  redis.on('error', () => {}); // failures are asserted through the rejected commands
  // Not on an ended client: ioredis would start a 2 s timer that holds this file open.
  t.after(() => {
    if (redis.status !== 'end') redis.disconnect();
  });
  return redis;
}

describe('helpers', { concurrency: true }, () => {
  test('freePort and freePorts give distinct usable ports', async () => {
    const ports = await freePorts(4);
    assert.equal(new Set(ports).size, 4);
    for (const port of [...ports, await freePort()]) assert.ok(port > 0 && port < 65536, `port ${port}`);
    assert.notEqual(newPrefix('a b{c}'), newPrefix('a b{c}'));
    assert.match(newPrefix('a b{c}'), /^t:a_b_c_:\d+:\d+:[0-9a-f]{6}$/);
  });

  test('redis: SET/GET through the proxy, cli, restartEmpty on the same port, freeze/thaw', async (t) => {
    const server = await startRedis();
    t.after(() => server.stop());
    const proxy = await startProxy(server.port);
    t.after(() => proxy.close());
    // Long enough for a loaded 2-core machine to answer SET and GET, short enough to wait out once.
    const redis = client(t, { port: proxy.port, commandTimeout: 1500 });

    assert.equal(await redis.set('k', 'v1'), 'OK');
    assert.equal(await redis.get('k'), 'v1');
    assert.equal(await server.cli('GET', 'k'), 'v1');
    assert.equal(proxy.connectionCount, 1);

    server.freeze();
    await assert.rejects(redis.ping(), { message: 'Command timed out' });
    server.thaw();
    assert.equal(await redis.ping(), 'PONG');

    const { port, pid } = server;
    await server.restartEmpty();
    assert.equal(server.port, port);
    assert.notEqual(server.pid, pid);
    assert.equal(await server.cli('DBSIZE'), '0');
    assert.equal(await server.cli('GET', 'k'), '');

    await server.stop();
    assert.equal(server.isRunning, false);
  });

  test('proxy: delay is felt by an awaited reply and keeps chunks in order', async (t) => {
    const server = await startRedis();
    t.after(() => server.stop());
    const proxy = await startProxy(server.port);
    t.after(() => proxy.close());
    const redis = client(t, { port: proxy.port });
    assert.equal(await redis.ping(), 'PONG');

    proxy.setDelay(300);
    let startedAt = performance.now();
    assert.equal(await redis.ping(), 'PONG');
    const delayedMs = performance.now() - startedAt;
    assert.ok(delayedMs >= 299 && delayedMs < 1_500, `round trip took ${delayedMs} ms`);

    // The first APPEND waits 300 ms on its way to Redis; the second, sent with no delay, must not
    // overtake it.
    proxy.setDelay(300, 'toServer');
    proxy.setDelay(0, 'toClient');
    const first = redis.append('order', 'a');
    await new Promise((resolve) => setImmediate(resolve)); // let ioredis write the first command
    proxy.setDelay(0, 'both');
    const second = redis.append('order', 'b');
    assert.deepEqual(await Promise.all([first, second]), [1, 2]);
    assert.equal(await redis.get('order'), 'ab');

    proxy.setDelay(0);
    startedAt = performance.now();
    assert.equal(await redis.ping(), 'PONG');
    assert.ok(performance.now() - startedAt < 200);
  });

  test('proxy: cutAll after a forwarded command, blackhole and refuse', async (t) => {
    const server = await startRedis();
    t.after(() => server.stop());
    const proxy = await startProxy(server.port);
    t.after(() => proxy.close());

    const redis = client(t, { port: proxy.port });
    assert.equal(await redis.ping(), 'PONG');
    // ioredis writes command names as called: lower case.
    proxy.onForward((chunk) => {
      if (chunk.toString('latin1').toUpperCase().includes('EVALSHA')) proxy.cutAll();
    });
    const sha = await server.cli('SCRIPT', 'LOAD', "return redis.call('INCR', KEYS[1])");
    await assert.rejects(redis.evalsha(sha, 1, 'n'), { message: 'Connection is closed.' });
    // Cut after forwarding: Redis ran the command, only its reply was lost.
    assert.equal(await server.cli('GET', 'n'), '1');
    assert.equal(proxy.connectionCount, 0);

    // 1 s: enough for a PING on a loaded machine (200 ms was not, under load 13), short enough to wait out.
    const second = client(t, { port: proxy.port, commandTimeout: 1000 });
    assert.equal(await second.ping(), 'PONG');
    proxy.blackhole(true);
    await assert.rejects(second.set('lost', 'x'), { message: 'Command timed out' });
    assert.equal(await server.cli('EXISTS', 'lost'), '0');
    proxy.blackhole(false);

    proxy.refuse(true);
    const refusal = await new Promise<string>((resolve) => {
      const socket = connect(proxy.port, '127.0.0.1');
      socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'no code'));
      socket.on('close', () => resolve('closed without error'));
    });
    assert.equal(refusal, 'ECONNRESET');
    proxy.refuse(false);
    const third = client(t, { port: proxy.port });
    assert.equal(await third.ping(), 'PONG');
  });

  test('cluster: 3 masters + 3 replicas, a key round-trips, a killed master fails over', { timeout: 60_000 }, async (t) => {
    const cluster = await startCluster({ masters: 3, replicasPerMaster: 1 });
    t.after(() => cluster.stop());
    assert.deepEqual(cluster.nodes.map((node) => node.role).sort(), ['master', 'master', 'master', 'replica', 'replica', 'replica']);
    const redis = new Cluster(cluster.startupNodes, { clusterRetryStrategy: () => 100 });
    redis.on('error', () => {});
    t.after(() => redis.disconnect());
    const keys = ['{a}k', '{b}k', '{c}k', '{d}k', '{e}k', '{f}k'];
    for (const key of keys) assert.equal(await redis.set(key, `v-${key}`), 'OK');
    assert.deepEqual(await Promise.all(keys.map((key) => redis.get(key))), keys.map((key) => `v-${key}`));

    const replicaPorts = cluster.nodes.filter((node) => node.role === 'replica').map((node) => node.port);
    const killedPort = await cluster.killMaster(0);
    assert.equal(killedPort, cluster.nodes.filter((node) => node.role === 'master')[0]!.port);
    const [promotedPort] = await cluster.waitForFailover();
    assert.ok(replicaPorts.includes(promotedPort!), `promoted ${promotedPort}, replicas ${replicaPorts}`);
    const promoted = cluster.servers.find((server) => server.port === promotedPort)!;
    assert.match(await promoted.cli('ROLE'), /^master\n/);
  });

  test('sentinel: the sentinels see master and replica, and a killed master is replaced', { timeout: 60_000 }, async (t) => {
    const setup = await startSentinel();
    t.after(() => setup.stop());
    assert.equal(setup.sentinels.length, 3);
    const redis = client(t, { sentinels: setup.sentinels, name: setup.masterName, retryStrategy: () => 100, maxRetriesPerRequest: null });
    assert.equal(await redis.set('k', 'before failover'), 'OK');
    assert.equal(await redis.wait(1, 5_000), 1); // the replica has it before its master dies

    assert.equal(await setup.killMaster(), setup.master.port);
    assert.deepEqual(await setup.waitForNewMaster(), { host: '127.0.0.1', port: setup.replica.port });
    assert.equal(await redis.get('k'), 'before failover');
    assert.equal(await setup.replica.cli('GET', 'k'), 'before failover');
  });

  test('tls: the right CA connects, an unrelated CA fails with a certificate error', async (t) => {
    const server = await startTlsRedis();
    t.after(() => server.stop());
    assert.equal(server.url, `rediss://127.0.0.1:${server.port}`);
    assert.equal(await server.cli('PING'), 'PONG');
    const good = client(t, server.redisOptions());
    assert.equal(await good.ping(), 'PONG');
    const noClientCert = client(t, { port: server.port, tls: { ca: readPem(server.certs.caCertFile) } });
    assert.equal(await noClientCert.ping(), 'PONG'); // tls-auth-clients optional

    const wrongCa = client(t, { port: server.port, lazyConnect: true, tls: { ca: readPem(server.certs.otherCaCertFile) } });
    // connect() rejects with 'Connection is closed.'; the cause comes as an 'error' event.
    const tlsError = new Promise<NodeJS.ErrnoException>((resolve) => wrongCa.once('error', resolve));
    await assert.rejects(wrongCa.connect(), { message: 'Connection is closed.' });
    // Redis sends its CA along with its certificate, so the chain ends in a root we do not trust.
    const error = await tlsError;
    assert.equal(error.code, 'SELF_SIGNED_CERT_IN_CHAIN');
    assert.equal(error.message, 'self-signed certificate in certificate chain');
  });

  test('processes: runNode reads lines, passes only the given env, and reports the exit', async () => {
    const dir = makeTempDir('selftest-child');
    const script = join(dir, 'child.mjs');
    writeFileSync(script, [
      "process.on('SIGTERM', () => { console.log('stopping'); process.exit(3); });",
      'console.log(`ready secret=${process.env.PCR_SELFTEST_SECRET ?? "none"} extra=${process.env.EXTRA} args=${process.argv.slice(2)}`);',
      'setInterval(() => {}, 1000);',
      '',
    ].join('\n'));
    process.env.PCR_SELFTEST_SECRET = 'must not leak';
    try {
      const child = runNode(script, { env: { EXTRA: 'given' }, args: ['x', 'y'] });
      const match = await child.waitForLine(/^ready secret=(\S+) extra=(\S+) args=(\S+)$/);
      assert.deepEqual(match.slice(1), ['none', 'given', 'x,y']);
      assert.deepEqual(await child.kill('SIGTERM'), { code: 3, signal: null });
      assert.deepEqual(child.stdoutLines, ['ready secret=none extra=given args=x,y', 'stopping']);
      const lines: string[] = [];
      for await (const line of child.lines()) lines.push(line);
      assert.deepEqual(lines, ['ready secret=none extra=given args=x,y', 'stopping']);
    } finally {
      delete process.env.PCR_SELFTEST_SECRET;
    }
  });
});
