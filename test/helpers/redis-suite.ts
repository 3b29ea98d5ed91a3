// The set-up most suites share: one redis-server for the enclosing describe(), and the managers its
// tests create shut down before the server stops.
import { after, before } from 'node:test';
import { startRedis, type RedisServer } from './redis-server.js';

export interface RedisSuite {
  /** The suite's server (started by the describe()'s before hook). */
  readonly server: RedisServer;
  /** Shuts `manager` down when the suite ends, before the server stops; returns it. */
  track<T extends { shutdown(): Promise<void> }>(manager: T): T;
}

/** Call inside describe(): registers the hooks that start and stop the suite's Redis. */
export function redisSuite(): RedisSuite {
  let server: RedisServer | undefined;
  const managers: Array<{ shutdown(): Promise<void> }> = [];
  before(async () => {
    server = await startRedis();
  });
  after(async () => {
    await Promise.all(managers.map((m) => m.shutdown()));
    await server?.stop();
  });
  return {
    get server() {
      if (!server) throw new Error('redisSuite(): the server starts in the before hook; use it inside a test');
      return server;
    },
    track(manager) {
      managers.push(manager);
      return manager;
    },
  };
}
