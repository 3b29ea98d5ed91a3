// Entry of the CommonJS bundle (dist/cjs/index.js): what src/index.ts exports, and one hand-off.
// Under the launcher, the worker preload (always the ES build) makes the worker's storage manager.
// An app that require()s the package gets this bundle, a second copy of the code with its own
// process-wide manager: without the hand-off its metrics would flush under a second identity and
// miss the worker's final flush on drain.
import { setRedisStorageManager, type RedisStorageManager } from '../src/index.js';

export * from '../src/index.js';

const handed = (globalThis as Record<symbol, RedisStorageManager | undefined>)[Symbol.for('prom-client-redis.worker-storage')];
if (handed) setRedisStorageManager(handed);
