import type { RedisStorageManager } from '../manager.js';
import { describeTarget } from '../redis/connect.js';

/**
 * One line, at once, when Redis cannot be reached as a command starts: at its first connection
 * error (refused, unknown host, TLS, credentials), or when it has not answered within
 * `flushTimeoutMs`; then one more once it answers. Without it a launcher with Redis down starts
 * in silence while nothing reaches Redis. Resolves at the first of: connected, reported.
 */
export function reportFirstConnection(storage: RedisStorageManager, log: (line: string) => void, meanwhile: string): Promise<void> {
  const client = storage.client;
  if (!client || client.isConnected()) return Promise.resolve();
  const redis = client.redis;
  const target = describeTarget(storage.config);
  let isReported = false;
  let settle: () => void = () => {};
  const settled = new Promise<void>((resolve) => (settle = resolve));
  const stop = (): void => {
    clearTimeout(timer);
    redis.off('error', onError).off('node error', onError);
    settle();
  };
  const report = (why: string): void => {
    stop();
    isReported = true;
    log(`Redis at ${target} is not reachable (${why}): ${meanwhile}`);
  };
  // The client's own listener ran first: lastError is its explanation of this error.
  const onError = (error: Error): void => report(client.lastError?.message ?? error.message);
  const timer = setTimeout(() => report(`no answer within ${storage.config.flushTimeoutMs} ms`), storage.config.flushTimeoutMs);
  timer.unref();
  redis.on('error', onError).on('node error', onError);
  redis.once('ready', () => {
    stop();
    if (isReported) log(`Redis at ${target} answers now`);
  });
  return settled;
}
