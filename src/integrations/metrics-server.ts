import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import type { RedisStorageManager } from '../manager.js';

export interface MetricsServerOptions {
  storage: RedisStorageManager;
  /** @default 9092 (`PROMETHEUS_METRICS_PORT`); 0 picks a free port. */
  port: number;
  /** @default '0.0.0.0' (`PROMETHEUS_BIND_ADDRESS`) */
  bindAddress: string;
}

export interface MetricsServer {
  readonly server: Server;
  /** `http://host:port`, with the port actually bound. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Serves the cluster-wide `/metrics` and `/health` of a storage manager: what the launcher's primary
 * and `prom-client-redis serve` expose. A collect that fails answers 503: Prometheus then records
 * the target as down instead of storing this process's local figures as if they were the totals.
 */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const { storage } = options;
  const server = createServer((req, res) => {
    handle(storage, req, res).catch((error: Error) => {
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', `internal error: ${error.message}\n`);
      else res.destroy();
    });
  });
  // Prometheus keeps its connections open; without a bound, close() would wait for it.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.bindAddress, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    server,
    port: address.port,
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(storage: RedisStorageManager, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
  } else if (path === '/metrics') {
    const contentType = negotiate(req.headers.accept);
    let body: string;
    const started = performance.now();
    try {
      body = await storage.getCollector().metrics(contentType);
      storage.logger.debug('collect', { ms: Math.round((performance.now() - started) * 10) / 10, bytes: body.length, openMetrics: contentType !== Registry.PROMETHEUS_CONTENT_TYPE });
    } catch (error) {
      const e = error as Error & { code?: string };
      storage.logger.debug('metrics.collect_failed', { message: e.message, code: e.code });
      send(res, 503, 'text/plain; charset=utf-8', `# Redis data is missing: ${e.message}\n# No totals are served rather than this process's local figures.\n`);
      return;
    }
    send(res, 200, contentType, body);
  } else if (path === '/health') {
    const health = await checkHealth(storage);
    send(res, health.ok ? 200 : 503, 'application/json', `${JSON.stringify(health.body)}\n`);
  } else if (path === '/') {
    send(res, 200, 'text/plain; charset=utf-8', 'prom-client-redis: see /metrics and /health\n');
  } else {
    send(res, 404, 'text/plain; charset=utf-8', 'not found: see /metrics and /health\n');
  }
}

/** OpenMetrics when the scraper asks for it (Prometheus does with some settings), else text 0.0.4. */
export function negotiate(accept: string | undefined): string {
  return accept !== undefined && /application\/openmetrics-text/i.test(accept) ? Registry.OPENMETRICS_CONTENT_TYPE : Registry.PROMETHEUS_CONTENT_TYPE;
}

export interface Health {
  readonly ok: boolean;
  readonly body: { status: 'ok' | 'unavailable'; redis: 'up' | 'down' | 'disabled'; error?: string };
}

/** Healthy when Redis answers PING within the collect timeout. */
export async function checkHealth(storage: RedisStorageManager): Promise<Health> {
  const client = storage.client;
  if (!client) return { ok: false, body: { status: 'unavailable', redis: 'disabled', error: storage.lastError?.message ?? 'Redis is not enabled (REDIS_ENABLED)' } };
  try {
    const [reply] = await client.run([{ name: 'ping', args: [] }], storage.config.collectTimeoutMs, 'health');
    if (reply?.error) throw reply.error;
    return { ok: true, body: { status: 'ok', redis: 'up' } };
  } catch (error) {
    return { ok: false, body: { status: 'unavailable', redis: 'down', error: (error as Error).message } };
  }
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
