// The payloads of issue 11 (an attacker with write access to the key prefix), written into a real
// Redis with a pipelined ioredis client, and what a fresh scraper process makes of them.
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDeflate } from 'node:zlib';
import type { Redis } from 'ioredis';
import hdr from 'hdr-histogram-js';
import { familyHash } from '../../src/store/family.js';
import { runNode } from '../helpers/processes.js';
import { newPrefix } from '../helpers/redis-server.js';
import { Counter, Gauge, Histogram, RedisStorageManager, Summary } from '../../src/index.js';

export const HOSTILE_SCRAPER = fileURLToPath(new URL('../fixtures/hostile-scraper.js', import.meta.url));

export interface ScrapeResult {
  readonly durationMs: number;
  readonly cpuMs: number;
  readonly rssGrowthBytes: number;
  readonly bad: Record<string, number>;
  readonly warnings: string[];
  readonly error: { code?: string; message: string } | null;
  readonly text: string;
}

/** One collect by a fresh scraper process with the REDIS_* variables `env`. */
export async function scrapeInChild(url: string, prefix: string, dir: string, env: Record<string, string> = {}): Promise<ScrapeResult> {
  const file = join(dir, `${prefix}.txt`);
  const child = runNode(HOSTILE_SCRAPER, { env: { REDIS_ENABLED: 'true', REDIS_URL: url, REDIS_KEY_PREFIX: prefix, SCRAPE_TEXT_FILE: file, ...env } });
  const [, json] = await child.waitForLine(/^(\{.*\})$/, 60_000);
  await child.exited;
  const result = JSON.parse(json!) as Omit<ScrapeResult, 'text'>;
  return { ...result, text: result.error ? '' : readFileSync(file, 'utf8') };
}

/** `promtool check metrics` of an exposition: its exit code and output. */
export function promtoolCheck(text: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = execFile('promtool', ['check', 'metrics'], (error, stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, output: stdout + stderr }));
    child.stdin!.end(text);
  });
}

/** The meta hash fields a writer of ours sets, with `overrides`. */
function metaFields(name: string, type: string, overrides: Record<string, string> = {}): Record<string, string> {
  return { name, help: 'Planted.', type, mode: '', labelNames: '[]', buckets: '[]', percentiles: '[]', maxAgeSeconds: '0', ageBuckets: '0', pruneAgedBuckets: '0', native: '', ...overrides };
}

/**
 * A family in the index with its meta hash and cluster hash, under the hash of `hashOf` (its name,
 * unless the name itself is the garbage and would not hash like ours anyway).
 */
export function plantFamily(redis: Redis, prefix: string, name: string, typeMode: string, meta: Record<string, string>, sums: Record<string, string>): Promise<unknown> {
  const type = typeMode.startsWith('gauge') ? 'gauge' : typeMode;
  const h = familyHash(name);
  const p = redis.pipeline();
  p.hset(`${prefix}:families`, h, typeMode);
  p.hset(`${prefix}:${typeMode}:cluster:meta:{${h}}`, metaFields(name, type, meta));
  if (Object.keys(sums).length > 0) p.hset(`${prefix}:${typeMode}:cluster:metric:{${h}}`, sums);
  return p.exec();
}

/** `count` counter families `f<i>_total` (value i), pipelined. */
export async function plantManyFamilies(redis: Redis, prefix: string, count: number): Promise<void> {
  for (let start = 0; start < count; start += 5000) {
    const p = redis.pipeline();
    for (let i = start; i < Math.min(count, start + 5000); i++) {
      const name = `f${i}_total`;
      const h = familyHash(name);
      p.hset(`${prefix}:families`, h, 'counter');
      p.hset(`${prefix}:counter:cluster:meta:{${h}}`, metaFields(name, 'counter'));
      p.hset(`${prefix}:counter:cluster:metric:{${h}}`, '[]', String(i));
    }
    await p.exec();
  }
}

/** Fake processes `<host>:<i>:x` in the registry (heartbeat now), each with one summary field `[]#0` of `dur` holding `blob(i)`. */
export async function plantBlobs(redis: Redis, prefix: string, count: number, blob: (i: number) => string, host = 'evil'): Promise<void> {
  const h = familyHash('dur');
  const [sec] = (await redis.time()) as [number, number];
  const p = redis.pipeline();
  for (let i = 0; i < count; i++) {
    p.zadd(`${prefix}:processes:{registry}`, sec * 1000, `${host}:${i}:x`);
    p.hset(`${prefix}:summary:${host}:${i}:x:metric:{${h}}`, '[]#0', blob(i));
  }
  await p.exec();
}

/** A compressed HDR blob (cookie, length, deflate) of `raw`, base64, as a process hash holds one. */
export function hdrBlob(raw: Buffer | Buffer[]): Promise<string> {
  const deflate = createDeflate({ level: 9 });
  const out: Buffer[] = [];
  deflate.on('data', (c: Buffer) => out.push(c));
  return (async () => {
    for (const chunk of Array.isArray(raw) ? raw : [raw]) if (!deflate.write(chunk)) await once(deflate, 'drain');
    deflate.end();
    await once(deflate, 'end');
    const body = Buffer.concat(out);
    const head = Buffer.alloc(8);
    head.writeInt32BE(0x1c849314, 0);
    head.writeInt32BE(body.length, 4);
    return Buffer.concat([head, body]).toString('base64');
  })();
}

/** The uncompressed V2 header of an HDR histogram (3 digits, unit 1 unless told), for a payload of `payloadBytes`. */
export function hdrHeader(payloadBytes: number, digits = 3, highest = 2n ** 40n): Buffer {
  const b = Buffer.alloc(40);
  b.writeInt32BE(0x1c849313, 0);
  b.writeInt32BE(payloadBytes, 4);
  b.writeInt32BE(digits, 12);
  b.writeBigInt64BE(1n, 16);
  b.writeBigInt64BE(highest, 24);
  return b;
}

/** A deflate bomb: a valid header announcing `mib` MiB of zero counts, and those zeros (`mib` MiB inflated, ~1/1000 of it deflated). */
export function deflateBomb(mib: number): Promise<string> {
  const zeros = Buffer.alloc(1 << 20);
  return hdrBlob([hdrHeader(mib << 20), ...Array.from({ length: mib }, () => zeros)]);
}

/** Small blobs that cost the decoder a lot: 5 significant digits over 2^62 (a 24 MB counts array), and a 2^55-long run of zeros. */
export async function smallHostileBlobs(): Promise<[string, string]> {
  const wide = hdr.build({ numberOfSignificantValueDigits: 5, highestTrackableValue: 2 ** 62 });
  wide.recordValue(2 ** 50);
  const run = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
  return [hdr.encodeIntoCompressedBase64(wide), await hdrBlob(Buffer.concat([hdrHeader(run.length), run]))];
}

/** A new prefix holding the good families, written and flushed by a real manager (process `w:1:n`). */
export async function goodPrefix(url: string, name: string): Promise<string> {
  const prefix = newPrefix(name);
  const writer = new RedisStorageManager({ enabled: true, url, keyPrefix: prefix, flushIntervalMs: 3_600_000, exitHooks: false, identity: { host: 'w', pid: 1, nonce: 'n' } });
  const storage = { storage: writer, registers: [] };
  const jobs = new Counter({ name: 'jobs_total', help: 'Jobs.', labelNames: ['k'], ...storage });
  jobs.inc({ k: 'a' }, 1);
  jobs.inc({ k: 'b' }, 2);
  new Gauge({ name: 'load', help: 'Load.', multiprocessMode: 'sum', ...storage }).set(4);
  new Histogram({ name: 'lat', help: 'Latency.', buckets: [1, 5], ...storage }).observe(3);
  new Summary({ name: 'dur', help: 'Durations.', percentiles: [0.5], ...storage }).observe(3);
  await writer.waitUntilConnected(5000);
  await writer.shutdown();
  return prefix;
}
