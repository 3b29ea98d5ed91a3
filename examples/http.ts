// Plain node:http: wrap the handler, and tell the route template with `routeOf` (without it the
// label is `unknown`: raw URLs would make one series per distinct path).
//
//   npm run build && REDIS_URL=redis://localhost:6379 node dist/examples/http.js
//
// Expected output (on an empty Redis):
//
//   http_requests_total{method="GET",route="/items/:id",status="200"} 2
import { createServer } from 'node:http';
import { RedisStorageManager, withHttpMetrics } from 'prom-client-redis';

const storage = new RedisStorageManager({ enabled: true, keyPrefix: process.env.REDIS_KEY_PREFIX ?? 'example-http' });
const handler = withHttpMetrics((_req, res) => void res.end('ok'), {
  storage,
  routeOf: (req) => (/^\/items\/[^/]+$/.test(req.url ?? '') ? '/items/:id' : undefined),
});
const server = createServer(handler).listen(0, '127.0.0.1', async () => {
  const { port } = server.address() as { port: number };
  for (const id of [1, 2]) await (await fetch(`http://127.0.0.1:${port}/items/${id}`)).text();
  await new Promise((resolve) => {
    server.close(resolve);
    server.closeIdleConnections();
  });
  await storage.waitUntilConnected(5000);
  await storage.flush();
  console.log((await storage.getCollector().metrics()).split('\n').filter((l) => l.startsWith('http_requests_total{')).join('\n'));
  await storage.shutdown();
});
