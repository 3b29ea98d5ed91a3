// Fastify plugin: labels by `request.routeOptions.url`.
//
//   npm run build && REDIS_URL=redis://localhost:6379 node dist/examples/fastify.js
//
// Expected output (on an empty Redis):
//
//   http_requests_total{method="GET",route="/orders/:orderId",status="200"} 2
//   http_requests_total{method="GET",route="unknown",status="404"} 1
import Fastify from 'fastify';
import { RedisStorageManager, fastifyMetrics } from 'prom-client-redis';

const storage = new RedisStorageManager({ enabled: true, keyPrefix: process.env.REDIS_KEY_PREFIX ?? 'example-fastify' });
const app = Fastify();
await app.register(fastifyMetrics, { storage });
app.get('/orders/:orderId', async (request) => ({ order: (request.params as { orderId: string }).orderId }));

const url = await app.listen({ port: 0, host: '127.0.0.1' });
for (const path of ['/orders/7', '/orders/8', '/missing']) await (await fetch(url + path)).text();
await app.close();
await storage.waitUntilConnected(5000);
await storage.flush();
const text = await storage.getCollector().metrics();
console.log(text.split('\n').filter((l) => l.startsWith('http_requests_total{')).join('\n'));
await storage.shutdown();
