// One scrape with hostile payloads (what a writer with access to the prefix could plant), next to the good
// families of the tests (test/faults/hostile-data.test.ts) scraped alone: the time it takes, the CPU
// it uses and the longest block of the collector's event loop.
// Run: npm run build && node dist/perf/hostile.js   (starts its own redis-server)
// Env: REPS (default 3). Not a timed test: figures go to perf/README.md, section "hostile".
import { loadavg, cpus } from 'node:os';
import { Redis } from 'ioredis';
import { RedisStorageManager } from '../src/index.js';
import { watchLoop } from './lib/loop-watch.js';
import { startRedis, type RedisServer } from '../test/helpers/redis-server.js';
import { deflateBomb, goodPrefix as goodPrefixAt, plantBlobs, plantFamily, plantManyFamilies, smallHostileBlobs } from '../test/faults/hostile-support.js';

const REPS = Number(process.env.REPS ?? 3);

interface Figure {
  ms: number;
  cpuMs: number;
  /** Longest event-loop delay (monitorEventLoopDelay, 1 ms resolution): includes the time the OS gave the CPU to others. */
  wallMax: number;
  /** Longest gap between two turns of a 1 ms timer, counted in this process's CPU time: what our own work blocked. */
  cpuMax: number;
}

async function measure(work: () => Promise<unknown>): Promise<Figure> {
  const { ms, cpuMs, wallMax, cpuMax } = await watchLoop(work);
  return { ms, cpuMs, wallMax, cpuMax };
}

const goodPrefix = (server: RedisServer, name: string) => goodPrefixAt(server.url, name);

const server = await startRedis({ label: 'perf-hostile' });
const client = new Redis(server.redisOptions());
const [wide, run] = await smallHostileBlobs();
const bomb = await deflateBomb(1024);
const payloads: Array<[string, (prefix: string) => Promise<unknown>]> = [
  ['none (the good families alone)', async () => {}],
  ['injecting label name, name with a space/newline, label names [{}]', async (prefix) => {
    await plantFamily(client, prefix, 'injected_total', 'counter', { labelNames: JSON.stringify(['a="1"} 666\nfake_injected_metric{b']) }, { '["v"]': '1' });
    await plantFamily(client, prefix, 'bad name_total', 'counter', {}, { '[]': '1' });
    await plantFamily(client, prefix, 'bad\nname_total', 'counter', {}, { '[]': '1' });
    await plantFamily(client, prefix, 'braces_total', 'counter', { labelNames: '[{}]' }, { '[]': '1' });
  }],
  ['1 GiB deflate bomb (1.0 MB base64) in an HDR field', (prefix) => plantBlobs(client, prefix, 1, () => bomb, 'bomb')],
  ['400 small HDR blobs (5 digits over 2^62, 2^55 zero runs)', (prefix) => plantBlobs(client, prefix, 400, (i) => (i % 2 === 0 ? wide : run))],
  ['8.9 MB percentile list', (prefix) => plantFamily(client, prefix, 'pct', 'summary', { percentiles: JSON.stringify(Array.from({ length: 880_000 }, (_, i) => Number((i / 880_000).toFixed(9)))) }, { '[]#sum': '1' })],
  ['1.3 MB bucket list + a series with 100,000 bounds', async (prefix) => {
    await plantFamily(client, prefix, 'wide_list', 'histogram', { buckets: JSON.stringify(Array.from({ length: 160_000 }, (_, i) => i + 0.5)) }, { '[]#sum': '1' });
    const fields: Record<string, string> = { '[]#sum': '1', '[]#count': '1' };
    for (let i = 0; i < 100_000; i++) fields[`[]#${i + 2}`] = '1';
    await plantFamily(client, prefix, 'wide_series', 'histogram', { buckets: '[1]' }, fields);
  }],
  ['50,000 families (2,000 read: REDIS_MAX_FAMILIES)', (prefix) => plantManyFamilies(client, prefix, 50_000)],
];

console.log(`node ${process.version}, ${cpus().length} CPUs, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
console.log('| payload | took | CPU | loop max (wall) | loop max (own CPU) | body | bad data |');
console.log('|---|---|---|---|---|---|---|');
const all = await goodPrefix(server, 'perf-hostile-all');
// Every payload but the 50,000 families (which would leave most of the others unread: past REDIS_MAX_FAMILIES).
for (const [, plant] of payloads.slice(0, -1)) await plant(all);
for (const [what, plant, prefix] of [...payloads.map(([w, p]) => [w, p, undefined] as const), ['all of the above at once but the 50,000 families', async () => {}, all] as const]) {
  const p = prefix ?? (await goodPrefix(server, 'perf-hostile'));
  if (!prefix) await plant(p);
  const figures: Figure[] = [];
  let body = 0;
  let bad = '';
  for (let rep = 0; rep < REPS; rep++) {
    // A fresh scraper each time: nothing cached from an earlier scrape.
    const scraper = new RedisStorageManager({ enabled: true, url: server.url, keyPrefix: p, exitHooks: false, identity: { host: 'scraper', pid: 1, nonce: 'n' } });
    scraper.logger.warn = () => {};
    await scraper.waitUntilConnected(5000);
    figures.push(await measure(async () => (body = (await scraper.getCollector().metrics()).length)));
    bad = JSON.stringify(Object.fromEntries([...scraper.stats.badData].sort()));
    await scraper.shutdown();
  }
  const median = (pick: (f: Figure) => number) => figures.map(pick).sort((a, b) => a - b)[Math.floor(figures.length / 2)]!.toFixed(0);
  console.log(`| ${what} | ${median((f) => f.ms)} ms | ${median((f) => f.cpuMs)} ms | ${median((f) => f.wallMax)} ms | ${median((f) => f.cpuMax)} ms | ${body} B | ${bad.replace(/"/g, '')} |`);
}
console.log(`(medians of ${REPS} scrapes, each by a fresh scraper)`);
client.disconnect();
await server.stop();
