// scrape-floor: the cluster-wide scrape of N series written by 8 processes, against the floor of
// any scrape: prom-client rendering the same N series in its own process (register.metrics()).
// What is left above the floor is the Redis read, the decode and the merge. Both sides serve at
// once and their scrapes alternate, so a busy spell of this shared machine hits both alike; CPU
// time (the scraping process's own, plus redis-server's for the subject) is the steady figure.
import type { ChildProcess } from 'node:child_process';
import { formatNumber } from './lib/format.js';
import { forkReady, processesCpuMs, script, stopForked } from './lib/proc.js';
import { withRedis } from './lib/redis.js';
import type { Row } from './lib/results.js';
import type { Section, SectionContext } from './lib/section.js';
import { shapeArgs, type SeriesShape } from './lib/series.js';
import { median } from './lib/stats.js';

const PROCESSES = 8;
const SIZES: ReadonlyArray<{ n: number; rounds: number; kind?: 'summary' }> = [{ n: 10_000, rounds: 15 }, { n: 100_000, rounds: 9 }, { n: 2_000, rounds: 7, kind: 'summary' }];

interface Scraped {
  readonly ms: number;
  readonly cpuUs: number;
  readonly bytes: number;
  readonly lines: number;
}

function scrapeOnce(child: ChildProcess): Promise<Scraped> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: Scraped & { type?: string }) => {
      if (m.type !== 'scraped') return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(m);
    };
    const onExit = (code: number | null) => reject(new Error(`scrape server exited with ${String(code)}`));
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.send({ type: 'scrape' });
  });
}

const label = (n: number) => `${n / 1000}k`;
export const FLOOR_LABEL = (n: number, kind = 'counter') => `prom-client register.metrics(), ${label(n)} ${kind} series, in-process`;
export const SCRAPE_LABEL = (n: number, kind = 'counter') => `subject metrics(), ${label(n)} ${kind} series from ${PROCESSES} processes`;

async function run(context: SectionContext) {
  const rows: Row[] = [];
  const notes: string[] = [];
  if (context.subject.subject === null) return { rows, notes: [`Not measured: ${context.subject.status}.`] };
  for (const { n, rounds, kind = 'counter' } of SIZES) {
    const shape: SeriesShape = kind === 'summary' ? { counters: 0, histograms: 0, summaries: n } : { counters: n, histograms: 0 };
    await withRedis(async (server) => {
      const started: ChildProcess[] = [];
      try {
        const prefix = `perf-floor-${kind}-${n}`;
        // One OS process standing for 8 (8 managers, 8 identities), each writing all N series
        // through the real flush path; then a reader that wrote nothing serves the scrapes.
        started.push(await forkReady(script('scrape-subject.js'), ['writer', server.url, prefix, ...shapeArgs(shape), String(PROCESSES)], 300_000));
        const reader = await forkReady(script('scrape-subject.js'), ['serve', server.url, prefix], 300_000);
        started.push(reader);
        const floor = await forkReady(script('render-floor.js'), shapeArgs(shape), 300_000);
        started.push(floor);
        const subject: Scraped[] = [];
        const prom: Scraped[] = [];
        const redisCpuMs: number[] = [];
        for (let r = 0; r < rounds; r++) {
          for (const side of r % 2 === 0 ? ['floor', 'subject'] : ['subject', 'floor']) {
            if (side === 'floor') {
              prom.push(await scrapeOnce(floor));
              continue;
            }
            const before = server.pid === undefined ? null : processesCpuMs([server.pid]);
            subject.push(await scrapeOnce(reader));
            const after = server.pid === undefined ? null : processesCpuMs([server.pid]);
            if (before !== null && after !== null) redisCpuMs.push(after - before);
          }
        }
        const s = subject.at(-1)!;
        const p = prom.at(-1)!;
        if (s.lines !== p.lines) throw new Error(`the two sides rendered ${s.lines} and ${p.lines} lines of N = ${n}`);
        // redis-server's CPU comes in 10 ms ticks: summed over the rounds, then shared out.
        const redisUs = (redisCpuMs.reduce((a, b) => a + b, 0) * 1000) / subject.length;
        const readerUs = median(subject.map((x) => x.cpuUs));
        const promUs = median(prom.map((x) => x.cpuUs));
        const cpuUnit = { unit: 'ms CPU per scrape', better: 'lower' as const };
        rows.push(
          { ...cpuUnit, figure: { label: `${SCRAPE_LABEL(n, kind)}, reader + redis-server CPU`, value: (readerUs + redisUs) / 1000 }, baseline: { label: FLOOR_LABEL(n, kind), value: promUs / 1000 } },
          { ...cpuUnit, figure: { label: `${SCRAPE_LABEL(n, kind)}, reader CPU`, value: readerUs / 1000 }, baseline: { label: FLOOR_LABEL(n, kind), value: promUs / 1000 } },
          { ...cpuUnit, figure: { label: `${SCRAPE_LABEL(n, kind)}, redis-server CPU`, value: redisUs / 1000 }, baseline: { label: FLOOR_LABEL(n, kind), value: promUs / 1000 } },
          { unit: 'ms per scrape', better: 'lower', figure: { label: SCRAPE_LABEL(n, kind), value: median(subject.map((x) => x.ms)) }, baseline: { label: FLOOR_LABEL(n, kind), value: median(prom.map((x) => x.ms)) } },
        );
        context.log(`N = ${formatNumber(n)} ${kind}: subject ${formatNumber(readerUs / 1000)} + redis ${formatNumber(redisUs / 1000)} ms CPU, prom-client ${formatNumber(promUs / 1000)} ms CPU; ${s.lines} lines`);
        notes.push(`N = ${formatNumber(n)} ${kind} series: ${formatNumber(s.lines)} exposition lines (${formatNumber(s.bytes)} bytes) on both sides; ${rounds} alternating rounds after a warm-up scrape each.`);
      } finally {
        await Promise.all(started.map((child) => stopForked(child)));
      }
    });
  }
  notes.push(
    `The subject: one OS process stands for ${PROCESSES} (${PROCESSES} storage managers, each its own identity, each writing all N counter series, one label \`id\`, and flushing once through the real flush path); Redis sums them, so the scrape reads N fields. A separate reader process (its own manager, no metrics) times \`collector.metrics()\`. The floor: a process holding the same N series in prom-client's own Registry times \`register.metrics()\`. Both serve at once and their scrapes alternate; figures are medians (redis-server's CPU, counted by /proc in 10 ms ticks, is summed over the rounds and divided).`,
    '*reader + redis-server CPU* is what a scrape costs the machine; the Redis read, decode and merge may cost at most half the render (≤ 1.5×).',
    `Summary series (a reference row, no target): ${PROCESSES} processes each observe 3 values in each of N series, so a scrape merges ${PROCESSES} HDR histograms a series (each process's blob decoded, added, then the quantiles read); prom-client renders its own N t-digests. The subject's quantiles are HDR's (3 significant digits), prom-client's t-digest's: the same lines, other values.`,
  );
  return { rows, notes };
}

export const scrapeFloor: Section = { id: 'scrape-floor', title: 'Scrape against the floor: prom-client rendering the same series in-process', run };
