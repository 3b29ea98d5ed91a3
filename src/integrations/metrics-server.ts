import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { once } from 'node:events';
import { createGzip, gzip } from 'node:zlib';
import type { ExpositionKind } from '../collect/collector.js';
import type { RedisStorageManager } from '../manager.js';
import { ConfigError } from '../errors.js';
import { BasicAuth } from './basic-auth.js';
import { loadWebConfig, type WebConfig } from './web-config.js';
import { GZIP_OPTIONS, acceptsGzip, negotiateFormat, scrapeDeadlineMs } from './negotiate.js';

// In the thread pool: a 10 MB exposition compressed on the event loop would stall it ~100 ms.
const gzipAsync = promisify(gzip);

export interface MetricsServerOptions {
  storage: RedisStorageManager;
  /** @default 9092 (`PROMETHEUS_METRICS_PORT`); 0 picks a free port. */
  port: number;
  /** @default '0.0.0.0' (`PROMETHEUS_BIND_ADDRESS`) */
  bindAddress: string;
  /**
   * exporter-toolkit web config file (`--web.config.file`): TLS, client certificates, basic auth.
   * Read once, here; a bad file rejects with a ConfigError naming the file and the key.
   * @default plain HTTP, no auth (`PROM_CLIENT_REDIS_WEB_CONFIG_FILE` under `run` and `serve`)
   */
  webConfigFile?: string;
  /** Connections open at once; more are closed as they arrive. @default 64 (`PROM_CLIENT_REDIS_MAX_CONNECTIONS` under `run` and `serve`) */
  maxConnections?: number;
  /** Time a new connection has for the TLS handshake and the request head. @default 10000 */
  headersTimeoutMs?: number;
  /** An idle keep-alive connection is closed after this long. @default 5000 */
  keepAliveTimeoutMs?: number;
  /** A connection on which nothing moves for this long (a client that stopped reading) is dropped. @default 30000 */
  idleTimeoutMs?: number;
  /** @internal The web config already loaded (the launcher checks it before it forks). */
  webConfig?: WebConfig;
  /** @internal Renders /metrics somewhere else than on this thread (the launcher's collect thread). */
  render?: Render;
}

/** Renders one scrape's body; rejects when the collect fails (the scrape then answers 503). */
export type Render = (kind: ExpositionKind, options: { timeoutMs: number | undefined; gzip: boolean }) => Promise<{ body: ResponseBody; gzipped: boolean }>;

/** A response body: the text may come in parts (see RedisMultiProcessCollector.expositionParts()). */
export type ResponseBody = string | Buffer | readonly string[];

/**
 * On this thread: the collector's own slices, then gzip in the thread pool. The text comes in
 * parts, written (or compressed) one at a time: no string of the whole text is made here.
 */
export function renderHere(storage: RedisStorageManager): Render {
  return async (kind, { timeoutMs, gzip }) => {
    const body = await storage.getCollector().expositionParts(kind, { timeoutMs });
    if (!gzip) return { body, gzipped: false };
    return { body: Buffer.isBuffer(body) ? await gzipAsync(body, GZIP_OPTIONS) : await gzipParts(body), gzipped: true };
  };
}

/** The parts compressed as one gzip stream, in the thread pool, a part at a time. */
async function gzipParts(parts: readonly string[]): Promise<Buffer> {
  const zip = createGzip(GZIP_OPTIONS);
  const out: Buffer[] = [];
  zip.on('data', (chunk: Buffer) => out.push(chunk));
  const ended = once(zip, 'end');
  // Awaited below, unless a write throws first: never an unhandled rejection.
  ended.catch(() => {});
  for (const part of parts) if (!zip.write(part)) await once(zip, 'drain');
  zip.end();
  await ended;
  return Buffer.concat(out);
}

export interface MetricsServer {
  readonly server: Server;
  /** `http://host:port` (`https://` with TLS), with the port actually bound. */
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
  // Prometheus scrapes this endpoint: started along with a Redis that lost its data, its first
  // answers must not show less than the previous life served (docs/design.md, Restoration).
  if (storage.isEnabled) storage.getCollector().waitForUnseenWriters();
  const limit = (name: keyof MetricsServerOptions, fallback: number): number => {
    const value = options[name] ?? fallback;
    if (!Number.isSafeInteger(value) || (value as number) < 1) throw new ConfigError(`Expected \`${name}\` to be an integer >= 1, got \`${String(value)}\` (${typeof value})`);
    return value as number;
  };
  const maxConnections = limit('maxConnections', 64);
  const headersTimeoutMs = limit('headersTimeoutMs', 10_000);
  const keepAliveTimeoutMs = limit('keepAliveTimeoutMs', 5_000);
  const idleTimeoutMs = limit('idleTimeoutMs', 30_000);
  const web = options.webConfig ?? (options.webConfigFile === undefined ? undefined : await loadWebConfig(options.webConfigFile));
  const auth = new BasicAuth(web?.users ?? new Map());
  if (auth.isEnabled && !web?.tls) storage.logger.warn(`web config \`${web!.file}\` has basic_auth_users but no tls_server_config: passwords cross the network in clear text`);

  const render = options.render ?? renderHere(storage);
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    for (const [name, value] of Object.entries(web?.headers ?? {})) res.setHeader(name, value);
    guarded(auth, storage, render, req, res).catch((error: Error) => {
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', `internal error: ${error.message}\n`);
      else res.destroy();
    });
  };
  // A client that connects and sends nothing must not hold a connection for minutes (Node's
  // defaults: a 120 s TLS handshake, 60 s for the head, checked every 30 s).
  const common = { headersTimeout: headersTimeoutMs, requestTimeout: headersTimeoutMs, connectionsCheckingInterval: Math.min(1000, headersTimeoutMs) };
  const server = web?.tls ? createHttpsServer({ ...common, ...web.tls, handshakeTimeout: headersTimeoutMs }, listener) : createServer(common, listener);
  if (web?.tls) enforceClientAuth(server as Server, web, storage);
  server.maxConnections = maxConnections;
  server.keepAliveTimeout = keepAliveTimeoutMs;
  server.timeout = idleTimeoutMs;
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
    url: `${web?.tls ? 'https' : 'http'}://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * Node either verifies a client certificate and requires one (RequireAndVerifyClientCert), or
 * neither; the two modes in between are decided here, once the handshake is done.
 */
function enforceClientAuth(server: Server, web: WebConfig, storage: RedisStorageManager): void {
  if (web.clientAuth !== 'RequireAnyClientCert' && web.clientAuth !== 'VerifyClientCertIfGiven') return;
  server.on('secureConnection', (socket: TLSSocket) => {
    const hasCertificate = Object.keys(socket.getPeerCertificate() ?? {}).length > 0;
    const refused = web.clientAuth === 'RequireAnyClientCert' ? !hasCertificate : hasCertificate && !socket.authorized;
    if (refused) {
      storage.logger.debug('metrics.client_certificate_refused', { mode: web.clientAuth, reason: hasCertificate ? String(socket.authorizationError) : 'no certificate' });
      socket.destroy();
    }
  });
}

async function guarded(auth: BasicAuth, storage: RedisStorageManager, render: Render, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (auth.isEnabled && !(await auth.check(req.headers.authorization))) {
    res.setHeader('WWW-Authenticate', 'Basic realm="prom-client-redis", charset="UTF-8"');
    send(res, 401, 'text/plain; charset=utf-8', 'Unauthorized\n');
    return;
  }
  await handle(storage, render, req, res);
}

async function handle(storage: RedisStorageManager, render: Render, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
  } else if (path === '/metrics') {
    const { kind, contentType } = negotiateFormat(req.headers.accept);
    let rendered: { body: ResponseBody; gzipped: boolean };
    const started = performance.now();
    try {
      const timeoutMs = scrapeDeadlineMs(req.headers['x-prometheus-scrape-timeout-seconds']);
      rendered = await render(kind, { timeoutMs, gzip: acceptsGzip(req.headers['accept-encoding']) });
      storage.logger.debug('collect', { ms: Math.round((performance.now() - started) * 10) / 10, bytes: lengthOf(rendered.body), format: kind, gzipped: rendered.gzipped });
    } catch (error) {
      const e = error as Error & { code?: string };
      storage.logger.debug('metrics.collect_failed', { message: e.message, code: e.code });
      // While the writers re-send what Redis lost, the totals are partial: lower than served before.
      const why = e.code === 'ERR_PCR_RESTORING' ? '# No totals are served until they are complete again.' : "# No totals are served rather than this process's local figures.";
      send(res, 503, 'text/plain; charset=utf-8', `# Redis data is missing: ${e.message}\n${why}\n`);
      return;
    }
    res.setHeader('Vary', 'Accept, Accept-Encoding');
    if (rendered.gzipped) res.setHeader('Content-Encoding', 'gzip');
    send(res, 200, contentType, rendered.body);
  } else if (path === '/health') {
    const health = await checkHealth(storage);
    send(res, health.ok ? 200 : 503, 'application/json', `${JSON.stringify(health.body)}\n`);
  } else if (path === '/') {
    send(res, 200, 'text/plain; charset=utf-8', 'prom-client-redis: see /metrics and /health\n');
  } else {
    send(res, 404, 'text/plain; charset=utf-8', 'not found: see /metrics and /health\n');
  }
}

export interface Health {
  readonly ok: boolean;
  readonly body: { status: 'ok' | 'unavailable'; redis: 'up' | 'down' | 'disabled'; error?: string; warnings?: readonly string[] };
}

/**
 * Healthy when Redis answers PING within the collect timeout. `warnings` lists what the server
 * checks found wrong (a maxmemory-policy that evicts metric keys): still healthy, but at risk.
 */
export async function checkHealth(storage: RedisStorageManager): Promise<Health> {
  const client = storage.client;
  if (!client) return { ok: false, body: { status: 'unavailable', redis: 'disabled', error: storage.lastError?.message ?? 'Redis is not enabled (REDIS_ENABLED)' } };
  try {
    const [reply] = await client.run([{ name: 'ping', args: [] }], storage.config.collectTimeoutMs, 'health');
    if (reply?.error) throw reply.error;
    const warnings = await storage.checkRedisServer();
    return { ok: true, body: { status: 'ok', redis: 'up', ...(warnings.length > 0 ? { warnings } : {}) } };
  } catch (error) {
    return { ok: false, body: { status: 'unavailable', redis: 'down', error: (error as Error).message } };
  }
}

/** Characters (a string), bytes (a Buffer): what the debug log reports. */
function lengthOf(body: ResponseBody): number {
  if (typeof body === 'string' || Buffer.isBuffer(body)) return body.length;
  let length = 0;
  for (const part of body as readonly string[]) length += part.length;
  return length;
}

function byteLength(body: ResponseBody): number {
  if (typeof body === 'string' || Buffer.isBuffer(body)) return Buffer.byteLength(body);
  let bytes = 0;
  for (const part of body as readonly string[]) bytes += Buffer.byteLength(part);
  return bytes;
}

function send(res: ServerResponse, status: number, contentType: string, body: ResponseBody): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': byteLength(body), 'Cache-Control': 'no-store' });
  if (res.req.method === 'HEAD') res.end();
  else if (typeof body === 'string' || Buffer.isBuffer(body)) res.end(body);
  else {
    // Parts of at most 256 KB each, encoded as they are written.
    for (const part of body as readonly string[]) res.write(part);
    res.end();
  }
}
