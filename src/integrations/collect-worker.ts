// The launcher primary's collect thread (see collect-thread.ts): reads Redis, merges, renders and
// compresses the cluster-wide /metrics off the primary's main thread, which hands the app's new
// connections to the workers and must not wait for a scrape of 100,000 series.
import { getPriority, setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { gzipSync } from 'node:zlib';
import { RedisMultiProcessCollector, type ExpositionKind } from '../collect/collector.js';
import type { ResolvedConfig } from '../config.js';
import type { ProcessIdentity } from '../identity.js';
import { createLogger, type Logger } from '../log.js';
import { RedisStorageClient } from '../redis/client.js';
import { SelfStats } from '../stats.js';
import { GZIP_OPTIONS } from './negotiate.js';
import { RedisStorageDict } from '../store/storage-dict.js';

export interface CollectWorkerData {
  /** The primary's resolved configuration: the same Redis, prefix, limits and timeouts. */
  readonly config: ResolvedConfig;
  /** The primary's identity: its own fields are read from Redis like any process's (it flushed them first). */
  readonly identity: ProcessIdentity;
  readonly isDebug: boolean;
  /** Niceness this thread adds to the primary's (Linux sets it per thread); 0 leaves it. */
  readonly nice: number;
}

export interface CollectRequest {
  readonly type: 'collect';
  readonly id: number;
  readonly kind: ExpositionKind;
  readonly timeoutMs: number;
  readonly gzip: boolean;
}

/** What the thread's collects added to the self-metrics since its last reply (the primary feeds its own SelfStats). */
export interface CollectStats {
  readonly durationsMs: number[];
  readonly failures: number;
  readonly badData: Array<[string, number]>;
  readonly processesLive: number;
}

export type CollectReply =
  | { readonly type: 'done'; readonly id: number; readonly body: ArrayBuffer; readonly gzipped: boolean; readonly stats: CollectStats }
  | { readonly type: 'failed'; readonly id: number; readonly message: string; readonly code: string | undefined; readonly stats: CollectStats }
  | { readonly type: 'warn'; readonly message: string; readonly fields: Record<string, unknown> | undefined };

const port = parentPort!;
const { config, identity, isDebug, nice } = workerData as CollectWorkerData;
if (nice > 0) {
  try {
    setPriority(Math.min(19, getPriority() + nice));
  } catch {
    // Not allowed here (a seccomp profile, say): the thread still keeps the main thread free.
  }
}

const base = createLogger({ REDIS_DEBUG: isDebug ? 'true' : '' });
// The primary's own connection already warns about Redis faults (TLS, credentials): once is enough.
const quiet: Logger = { isDebug, debug: base.debug, warn: (message, fields) => base.debug('collect_thread.connection_warning', { message, ...fields }) };
// What the collect itself finds (bad data) is the primary's to say.
const forwarding: Logger = { isDebug, debug: base.debug, warn: (message, fields) => port.postMessage({ type: 'warn', message, fields } satisfies CollectReply) };

const client = new RedisStorageClient(config, quiet);
const stats = new SelfStats();
const durationsMs: number[] = [];
stats.onCollect = (ms) => durationsMs.push(ms);
let failuresSeen = 0;
// No metric of its own: an empty store, nothing to flush, no heartbeat.
const collector = new RedisMultiProcessCollector({
  dict: new RedisStorageDict(config.maxSeriesPerMetric, () => {}, false),
  client,
  config,
  identity,
  logger: forwarding,
  stats,
  callbacks: () => [],
});
// It serves the launcher's /metrics: after a loss, its first read waits for writers it cannot see yet (see RestoreGate).
collector.waitForUnseenWriters();

function takeStats(): CollectStats {
  const taken: CollectStats = { durationsMs: durationsMs.splice(0), failures: stats.collectFailures - failuresSeen, badData: [...stats.badData], processesLive: stats.processesLive };
  failuresSeen = stats.collectFailures;
  stats.badData.clear();
  return taken;
}

/** The body in an ArrayBuffer of its own, to be transferred rather than copied. */
function own(body: Buffer): ArrayBuffer {
  if (body.byteOffset === 0 && body.byteLength === body.buffer.byteLength && body.buffer instanceof ArrayBuffer) return body.buffer;
  const copy = new Uint8Array(body.byteLength);
  copy.set(body);
  return copy.buffer;
}

/** The text's parts encoded into one buffer of its own (no string of the whole text made first). */
function encodeParts(parts: readonly string[]): Buffer {
  let bytes = 0;
  for (const part of parts) bytes += Buffer.byteLength(part);
  const out = Buffer.allocUnsafeSlow(bytes);
  let at = 0;
  for (const part of parts) at += out.write(part, at);
  return out;
}

async function serve(request: CollectRequest): Promise<void> {
  try {
    const rendered = await collector.expositionParts(request.kind, { timeoutMs: request.timeoutMs });
    const bytes = Buffer.isBuffer(rendered) ? rendered : encodeParts(rendered);
    // Here rather than in the thread pool: this thread is the one that may wait.
    const body = own(request.gzip ? gzipSync(bytes, GZIP_OPTIONS) : bytes);
    port.postMessage({ type: 'done', id: request.id, body, gzipped: request.gzip, stats: takeStats() } satisfies CollectReply, [body]);
  } catch (error) {
    const e = error as Error & { code?: string };
    port.postMessage({ type: 'failed', id: request.id, message: e.message, code: e.code, stats: takeStats() } satisfies CollectReply);
  }
}

port.on('message', (message: CollectRequest | { type: 'close' }) => {
  if (message.type === 'collect') {
    void serve(message);
    return;
  }
  collector.stop();
  void client.close().finally(() => {
    client.disconnect();
    port.close();
  });
});
