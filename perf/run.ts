// Entry point: `node dist/perf/run.js [section...]`. Runs the named sections (all by default),
// prints progress, then rewrites perf/results.json, perf/README.md and perf/scaling.svg.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { curve, curve1m } from './curve.js';
import { e2e } from './e2e.js';
import { flush } from './flush.js';
import { hotpath } from './hotpath.js';
import { BUSY_WARNING, busyShare, describeMachine, machineLine } from './lib/machine.js';
import { renderReadme } from './lib/readme.js';
import { redisServerVersion } from './lib/redis.js';
import { loadResults, saveResults, type SectionResult } from './lib/results.js';
import type { Section } from './lib/section.js';
import { scalingChart } from './lib/svg.js';
import { memory } from './memory.js';
import { redisPerCall } from './redis-per-call.js';
import { scrape } from './scrape.js';
import { scrapeFloor } from './scrape-floor.js';
import { scrapeLatency } from './scrape-latency.js';
import { loadSubject } from './subject.js';

const SECTIONS: readonly Section[] = [hotpath, redisPerCall, flush, scrape, scrapeFloor, e2e, memory, scrapeLatency, curve, curve1m];
const ORDER = SECTIONS.map((s) => s.id);
/** Run only when named: a million series takes minutes. */
const BY_NAME_ONLY = new Set(['curve-1m']);

// dist/perf/run.js -> perf/ in the source tree, where the results are committed.
const PERF_DIR = fileURLToPath(new URL('../../perf/', import.meta.url));

/** Which source the subject was built from, so that figures can be traced to a commit. */
function sourceRevision(): string {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: PERF_DIR, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = git('status', '--porcelain', '--', '../src').length > 0;
    return `src at ${git('rev-parse', '--short', 'HEAD')}${dirty ? ' with uncommitted changes' : ''}`;
  } catch {
    return 'src revision unknown';
  }
}

async function main(): Promise<number> {
  const requested = process.argv.slice(2);
  if (requested.length === 1 && requested[0] === 'readme') {
    // Rewrites README.md from results.json (and the scripts' own files) without measuring anything.
    writeFileSync(`${PERF_DIR}README.md`, renderReadme(loadResults(`${PERF_DIR}results.json`), ORDER, describeMachine(await redisServerVersion())));
    console.log('wrote perf/README.md');
    return 0;
  }
  const unknown = requested.filter((id) => !ORDER.includes(id));
  if (unknown.length > 0) {
    console.error(`Unknown section ${unknown.map((u) => `\`${u}\``).join(', ')}; expected some of: ${ORDER.join(', ')}`);
    return 2;
  }
  const selected = requested.length === 0 ? SECTIONS.filter((s) => !BY_NAME_ONLY.has(s.id)) : SECTIONS.filter((s) => requested.includes(s.id));

  const machine = describeMachine(await redisServerVersion());
  console.log(`machine: ${machineLine(machine)}`);
  const loaded = await loadSubject();
  const subject = loaded.subject === null ? loaded : { ...loaded, status: `subject: ${loaded.status}, ${sourceRevision()}` };
  console.log(subject.status);

  const resultsPath = `${PERF_DIR}results.json`;
  const results = loadResults(resultsPath);
  let failures = 0;
  const suiteStart = Date.now();
  for (const section of selected) {
    console.log(`\n== ${section.id}: ${section.title}`);
    const busyBefore = await busyShare();
    if (busyBefore !== null && busyBefore > BUSY_WARNING) {
      console.log(`[${section.id}] WARNING: ${(busyBefore * 100).toFixed(0)}% of the CPUs busy with other work before the section: figures will be noisy`);
    }
    const start = Date.now();
    const log = (line: string) => console.log(`[${section.id}] ${line}`);
    const base = { id: section.id, title: section.title, measuredAt: new Date().toISOString(), machine, subject: subject.status };
    let result: SectionResult;
    try {
      const measured = await section.run({ log, subject });
      result = { ...base, ...measured, seconds: (Date.now() - start) / 1000, busyBefore };
    } catch (error) {
      failures++;
      const message = error instanceof Error ? error.message : String(error);
      console.error(`[${section.id}] FAILED: ${error instanceof Error ? (error.stack ?? message) : message}`);
      result = { ...base, rows: [], notes: [], error: message, seconds: (Date.now() - start) / 1000, busyBefore };
    }
    // The share after, too: a section of minutes may start on a quiet machine and end on a busy one.
    result = { ...result, busyAfter: await busyShare(), loadAverage: loadavg()[0] };
    console.log(`[${section.id}] done in ${result.seconds.toFixed(1)} s`);
    results[section.id] = result;
    // Save after every section, so an interrupted run keeps what it measured.
    saveResults(resultsPath, results);
  }

  writeFileSync(`${PERF_DIR}README.md`, renderReadme(results, ORDER, machine));
  const curves = results.scrape?.curves;
  if (curves !== undefined) {
    writeFileSync(`${PERF_DIR}scaling.svg`, scalingChart(curves, 'Scrape time vs processes (1k counter + 100 histogram series each)'));
  }
  const million = results['curve-1m']?.curves ?? results.curve?.curves;
  if (million !== undefined) {
    const axes = (y: string, yUnit: string) => ({ x: 'series (log scale)', xUnit: 'series', y, yUnit, xBase: 10 as const });
    writeFileSync(`${PERF_DIR}curve-time.svg`, scalingChart(million.filter((c) => c.name.endsWith(', ms')), 'Flush and scrape time vs series', axes('ms (log scale)', 'ms')));
    writeFileSync(`${PERF_DIR}curve-memory.svg`, scalingChart(million.filter((c) => c.name.endsWith(', MiB')), 'Memory vs series', axes('MiB (log scale)', 'MiB')));
  }
  console.log(`\nall done in ${((Date.now() - suiteStart) / 1000).toFixed(0)} s; wrote perf/README.md${curves ? ', perf/scaling.svg' : ''}`);
  return failures === 0 ? 0 : 1;
}

process.exitCode = await main();
// A handle left open by a failed section must not hang the suite (unref: no delay otherwise).
setTimeout(() => {
  console.error('handles still open after the run; exiting');
  process.exit();
}, 5000).unref();
