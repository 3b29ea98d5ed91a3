// Loaded with `node --import` into every worker the launcher starts, before the app's own code:
// the app then gets request, process and self metrics, and its prom-client registry mirrored,
// with no change to its code. It must not throw: a bad setting is reported and the app runs bare.
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { existsSync } from 'node:fs';
import { createRequire, Module } from 'node:module';
import { fileURLToPath } from 'node:url';
import * as api from '../index.js';
import { RedisStorageManager, setRedisStorageManager } from '../manager.js';
import { httpMetricsFor } from './http-metrics.js';
import { ProcessMetrics } from './process-metrics.js';
import { selfMetricsFor } from './self-metrics.js';
import { RegistryBridge } from './bridge.js';
import { launcherSettings, NONCE_VARIABLE } from './env.js';


try {
  setUp();
} catch (error) {
  process.stderr.write(`prom-client-redis: worker instrumentation disabled: ${(error as Error).message}\n`);
}

function setUp(): void {
  const settings = launcherSettings();
  const nonce = process.env[NONCE_VARIABLE];
  const storage = new RedisStorageManager(nonce ? { identity: { nonce } } : {});
  setRedisStorageManager(storage);
  shareWithRequire();
  const requests = httpMetricsFor(storage);
  const servers = new Set<http.Server | https.Server>();

  // Every server the app makes, whatever made it (http.createServer, Express' app.listen, Fastify):
  // 'request' is emitted on the server for each request, and 'listening' once it accepts them.
  for (const Server of [http.Server, https.Server] as const) {
    const emit = Server.prototype.emit;
    // `arguments` passed on with apply(), not rest and spread: no array made for every event.
    Server.prototype.emit = function (this: http.Server, event: string | symbol, a?: unknown, b?: unknown): boolean {
      if (event === 'request') requests.track(a as IncomingMessage, b as ServerResponse);
      else if (event === 'listening') servers.add(this);
      else if (event === 'close') servers.delete(this);
      // eslint-disable-next-line prefer-rest-params
      return (emit as (...rest: unknown[]) => boolean).apply(this, arguments as unknown as unknown[]);
    } as typeof emit;
  }

  const processMetrics = new ProcessMetrics(storage);
  processMetrics.start(storage.config.flushIntervalMs);
  selfMetricsFor(storage, { sampleRedisUsage: false });
  const bridge = settings.bridge ? new RegistryBridge({ storage }).start() : undefined;

  let draining = false;
  const drain = async (why: string): Promise<void> => {
    if (draining) return;
    draining = true;
    storage.logger.debug('worker.drain', { why, servers: servers.size });
    // Stop accepting, let the requests in flight end (bounded), then make the final flush.
    const closed = Promise.all([...servers].map((s) => new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeIdleConnections();
    })));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([closed, new Promise<void>((resolve) => (timer = setTimeout(resolve, settings.drainTimeoutMs)))]);
    clearTimeout(timer);
    processMetrics.sample();
    processMetrics.stop();
    try {
      await bridge?.stop();
    } catch (error) {
      storage.logger.warn(`registry bridge: last read failed: ${(error as Error).message}`);
    }
    await storage.shutdown();
    process.exit(0);
  };
  process.once('SIGTERM', () => void drain('SIGTERM'));
  process.once('SIGINT', () => void drain('SIGINT'));
  // The primary went away: nobody would restart or stop this worker.
  process.once('disconnect', () => void drain('disconnect'));
}

/**
 * A CommonJS app's require('prom-client-redis') would load dist/cjs, a second copy of the code
 * with its own process-wide manager: its metrics would flush under a second identity, miss the
 * final flush on drain, and look foreign to the registry bridge (which mirrors prom-client
 * metrics, and would mirror ours back into themselves). Seeding require's cache with this copy's
 * exports makes both module systems see one copy.
 */
function shareWithRequire(): void {
  const cjsEntry = fileURLToPath(new URL('../../cjs/index.js', import.meta.url));
  if (!existsSync(cjsEntry)) return;
  const require = createRequire(import.meta.url);
  if (require.cache[cjsEntry]) return;
  const entry = new Module(cjsEntry);
  entry.filename = cjsEntry;
  entry.loaded = true;
  entry.exports = Object.defineProperty({ ...api }, '__esModule', { value: true });
  require.cache[cjsEntry] = entry;
}
