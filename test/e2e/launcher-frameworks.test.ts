// Under the launcher, with no middleware: Express apps are labelled by route template; and a
// framework plugin added on top of the launcher's instrumentation counts nothing twice.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { startRedis, newPrefix, type RedisServer } from '../helpers/redis-server.js';
import { runNode, type NodeChild } from '../helpers/processes.js';
import { freePorts } from '../helpers/ports.js';
import { pollUntil } from '../helpers/reaper.js';
import { get, sumOf, waitForLines } from './support/load.js';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const APP = fileURLToPath(new URL('./support/frameworks-app.js', import.meta.url));

describe('launcher with Express and Fastify apps', () => {
  let redis: RedisServer;
  let launcher: NodeChild;
  let ports: number[];

  before(async () => {
    redis = await startRedis();
    ports = await freePorts(3);
    launcher = runNode(CLI, {
      args: ['run', '--workers', '2', '--port', String(ports[2]), '--bind', '127.0.0.1', APP],
      env: { EXPRESS_PORT: String(ports[0]), FASTIFY_PORT: String(ports[1]), REDIS_URL: redis.url, REDIS_KEY_PREFIX: newPrefix('frameworks'), REDIS_FLUSH_INTERVAL_MS: '100' },
    });
    await waitForLines(launcher, /^fastify listening$/, 2);
    await waitForLines(launcher, /^express listening$/, 2);
  });

  after(async () => {
    await launcher?.kill('SIGKILL');
    await redis?.stop();
  });

  it('labels Express routes by template and counts Fastify requests once', async () => {
    const statuses = [];
    for (const path of ['/users/1', '/users/2', '/users/3']) statuses.push((await get(`http://127.0.0.1:${ports[0]}${path}`)).status);
    for (const path of ['/orders/1', '/orders/2']) statuses.push((await get(`http://127.0.0.1:${ports[1]}${path}`)).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 200]);
    let text = '';
    await pollUntil('5 requests merged', async () => (sumOf((text = (await get(`http://127.0.0.1:${ports[2]}/metrics`)).body), 'http_requests_total') >= 5 ? true : undefined));
    assert.equal(text.split('\n').filter((l) => l.startsWith('http_requests_total{')).join('\n'), [
      'http_requests_total{method="GET",route="/orders/:orderId",status="200"} 2',
      'http_requests_total{method="GET",route="/users/:id",status="200"} 3',
    ].join('\n'));
  });
});
