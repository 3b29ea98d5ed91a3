// Express middleware: route templates as labels (`/users/:id`, not `/users/42`).
//
//   npm run build && REDIS_URL=redis://localhost:6379 node dist/examples/express.js
//
// Expected output (on an empty Redis):
//
//   http_requests_total{method="GET",route="/users/:id",status="200"} 2
//   http_requests_total{method="GET",route="unknown",status="404"} 1
import express from 'express';
import { RedisStorageManager, expressMetrics } from 'prom-client-redis';

const storage = new RedisStorageManager({ enabled: true, keyPrefix: process.env.REDIS_KEY_PREFIX ?? 'example-express' });
const app = express();
app.use(expressMetrics({ storage })); // before the routes
app.get('/users/:id', (req, res) => void res.json({ id: req.params.id }));

const server = app.listen(0, '127.0.0.1', async () => {
  const { port } = server.address() as { port: number };
  for (const path of ['/users/1', '/users/2', '/missing']) await (await fetch(`http://127.0.0.1:${port}${path}`)).text();
  server.close(); // answers sent: now every request is recorded
  await storage.waitUntilConnected(5000);
  await storage.flush();
  const text = await storage.getCollector().metrics();
  console.log(text.split('\n').filter((l) => l.startsWith('http_requests_total{')).join('\n'));
  await storage.shutdown();
  server.closeAllConnections();
});
