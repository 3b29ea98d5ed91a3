// A manager with no metrics of its own, standing in for the process Prometheus scrapes.
import { RedisStorageManager, type RedisStorageManagerOptions } from '../../src/index.js';
import type { RedisServer } from './redis-server.js';

export async function startScraper(server: RedisServer, prefix: string, options: RedisStorageManagerOptions = {}): Promise<RedisStorageManager> {
  const manager = new RedisStorageManager({
    enabled: true,
    url: server.url,
    keyPrefix: prefix,
    flushIntervalMs: 100,
    identity: { host: 'scraper', pid: 1, nonce: 'n' },
    ...options,
  });
  await manager.waitUntilConnected(5000);
  return manager;
}

/** Only the lines of the named families (HELP, TYPE and samples), for focused assertions. */
export function familyText(exposition: string, ...names: string[]): string {
  const blocks = exposition.trim().split('\n\n');
  return blocks.filter((b) => names.some((n) => b.startsWith(`# HELP ${n} `))).join('\n\n');
}
