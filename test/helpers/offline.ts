import { RedisStorageManager, type RedisStorageManagerOptions } from '../../src/index.js';

/**
 * A manager with Redis enabled that never connects (a closed loopback port): its shadow store keeps
 * dirty lists as with Redis, for tests of the store and the drain that need no server. Shut it down.
 */
export function offlineManager(options: RedisStorageManagerOptions = {}): RedisStorageManager {
  return new RedisStorageManager({ enabled: true, env: {}, url: 'redis://127.0.0.1:9', exitHooks: false, ...options });
}
