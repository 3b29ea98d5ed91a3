// Each middleware behind a real server: real requests, then the series another process reads
// back from Redis, as exact text. Route templates, never raw URLs.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { startRedis, newPrefix, type RedisServer } from '../helpers/redis-server.js';
import { startScraper, familyText } from '../helpers/scraper.js';
import { RedisStorageManager, expressMetrics, fastifyMetrics, withHttpMetrics } from '../../src/index.js';
import { get } from './support/load.js';

let redis: RedisServer;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});

async function writer(prefix: string): Promise<RedisStorageManager> {
  const storage = new RedisStorageManager({ enabled: true, url: redis.url, keyPrefix: prefix, flushIntervalMs: 60_000, identity: { host: 'w', pid: 1, nonce: 'n' } });
  await storage.waitUntilConnected(5000);
  return storage;
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

/** Resolves when every connection has closed, so every response's 'finish' or 'close' has run. */
function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** The merged view from another process (a scraper with its own identity), after the writer flushed. */
async function readBack(storage: RedisStorageManager, prefix: string, ...names: string[]): Promise<string> {
  await storage.flush();
  await storage.shutdown();
  const scraper = await startScraper(redis, prefix);
  try {
    return familyText(await scraper.getCollector().metrics(), ...names);
  } finally {
    await scraper.shutdown();
  }
}

const HELP = {
  requests: '# HELP http_requests_total HTTP requests answered, by method, route template and status code.\n# TYPE http_requests_total counter',
  failed: '# HELP http_requests_failed_total HTTP requests that failed: server_error (status >= 500) or aborted (connection closed before the response ended).\n# TYPE http_requests_failed_total counter',
};

/** The `_count` lines of the duration histogram: durations vary, counts do not. */
function durationCounts(text: string): string {
  return text.split('\n').filter((l) => l.startsWith('http_request_duration_seconds_count')).join('\n');
}

describe('middleware', () => {
  it('Express: req.baseUrl + req.route.path, 404s as unknown, errors as server_error', async () => {
    const prefix = newPrefix('express');
    const storage = await writer(prefix);
    const app = express();
    app.use(expressMetrics({ storage }));
    app.get('/users/:id', (_req, res) => void res.send('user'));
    app.get('/boom', () => {
      throw new Error('boom');
    });
    const api = express.Router();
    api.get('/items/:itemId', (_req, res) => void res.send('item'));
    app.use('/api', api);
    const server = createServer(app);
    const url = await listen(server);
    const statuses = [];
    for (const path of ['/users/1', '/users/2', '/api/items/9', '/nope', '/boom']) statuses.push((await get(url + path)).status);
    assert.deepEqual(statuses, [200, 200, 200, 404, 500]);
    await close(server);
    const text = await readBack(storage, prefix, 'http_requests_total', 'http_requests_failed_total', 'http_request_duration_seconds');
    assert.equal(familyText(text, 'http_requests_total', 'http_requests_failed_total'), [
      HELP.failed,
      'http_requests_failed_total{method="GET",route="/boom",reason="server_error"} 1',
      '',
      HELP.requests,
      'http_requests_total{method="GET",route="/api/items/:itemId",status="200"} 1',
      'http_requests_total{method="GET",route="/boom",status="500"} 1',
      'http_requests_total{method="GET",route="/users/:id",status="200"} 2',
      'http_requests_total{method="GET",route="unknown",status="404"} 1',
    ].join('\n'));
    assert.equal(durationCounts(text), [
      'http_request_duration_seconds_count{method="GET",route="/api/items/:itemId",status="200"} 1',
      'http_request_duration_seconds_count{method="GET",route="/boom",status="500"} 1',
      'http_request_duration_seconds_count{method="GET",route="/users/:id",status="200"} 2',
      'http_request_duration_seconds_count{method="GET",route="unknown",status="404"} 1',
    ].join('\n'));
  });

  it('Fastify: request.routeOptions.url, 404s as unknown', async () => {
    const prefix = newPrefix('fastify');
    const storage = await writer(prefix);
    const app = Fastify();
    await app.register(fastifyMetrics, { storage });
    app.get('/users/:id', async () => 'user');
    app.post('/orders', async (_req, reply) => reply.code(201).send('created'));
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const statuses = [];
    for (const path of ['/users/1', '/users/2', '/nope']) statuses.push((await get(url + path)).status);
    statuses.push(await new Promise<number>((resolve, reject) => {
      request(`${url}/orders`, { method: 'POST', agent: false }, (res) => {
        res.resume().on('end', () => resolve(res.statusCode ?? 0));
      }).on('error', reject).end();
    }));
    assert.deepEqual(statuses, [200, 200, 404, 201]);
    await app.close();
    const text = await readBack(storage, prefix, 'http_requests_total', 'http_request_duration_seconds');
    assert.equal(familyText(text, 'http_requests_total'), [
      HELP.requests,
      'http_requests_total{method="GET",route="/users/:id",status="200"} 2',
      'http_requests_total{method="GET",route="unknown",status="404"} 1',
      'http_requests_total{method="POST",route="/orders",status="201"} 1',
    ].join('\n'));
    assert.equal(durationCounts(text), [
      'http_request_duration_seconds_count{method="GET",route="/users/:id",status="200"} 2',
      'http_request_duration_seconds_count{method="GET",route="unknown",status="404"} 1',
      'http_request_duration_seconds_count{method="POST",route="/orders",status="201"} 1',
    ].join('\n'));
  });

  it('Fastify inject() (light-my-request: no socket, closed with writableFinished false): answered, not aborted', async () => {
    const prefix = newPrefix('fastify-inject');
    const storage = await writer(prefix);
    const app = Fastify();
    await app.register(fastifyMetrics, { storage });
    app.get('/users/:id', async () => 'user');
    const statuses = [];
    for (const id of ['1', '2', '3']) statuses.push((await app.inject({ method: 'GET', url: `/users/${id}` })).statusCode);
    assert.deepEqual(statuses, [200, 200, 200]);
    await app.close();
    const text = await readBack(storage, prefix, 'http_requests_total', 'http_requests_failed_total');
    assert.equal(text, [HELP.requests, 'http_requests_total{method="GET",route="/users/:id",status="200"} 3'].join('\n'));
  });

  it('node:http: routeOf gives the template; an aborted request counts as failed, not answered', async () => {
    const prefix = newPrefix('nodehttp');
    const storage = await writer(prefix);
    let hung!: () => void;
    const hanging = new Promise<void>((resolve) => (hung = resolve));
    const handler = withHttpMetrics((req, res) => {
      if (req.url === '/hang') return hung(); // never answers
      res.writeHead(req.url?.startsWith('/users/') ? 200 : 404).end();
    }, { storage, routeOf: (req) => (req.url?.startsWith('/users/') ? '/users/:id' : req.url === '/hang' ? '/hang' : undefined) });
    const server = createServer(handler);
    const url = await listen(server);
    assert.equal((await get(`${url}/users/7`)).status, 200);
    assert.equal((await get(`${url}/other`)).status, 404);
    const aborted = request(`${url}/hang`, { agent: false });
    aborted.on('error', () => {}).end();
    await hanging;
    aborted.destroy();
    await close(server);
    // livesum: only live processes count, so this is read while the writer is still live.
    assert.equal(familyText(await storage.getCollector().metrics(), 'http_requests_in_flight').split('\n')[2], 'http_requests_in_flight 0');
    const text = await readBack(storage, prefix, 'http_requests_total', 'http_requests_failed_total');
    assert.equal(text, [
      HELP.failed,
      'http_requests_failed_total{method="GET",route="/hang",reason="aborted"} 1',
      '',
      HELP.requests,
      'http_requests_total{method="GET",route="/users/:id",status="200"} 1',
      'http_requests_total{method="GET",route="unknown",status="404"} 1',
    ].join('\n'));
  });
});
