// Shared bits of the fault tests: exact samples of one family, and waiting for a condition that has
// no event (a restored total after a Redis restart, a heartbeat lapse) with a generous deadline.
import { setTimeout as sleep } from 'node:timers/promises';
import type { RedisStorageManager } from '../../src/index.js';
import { familyText } from '../helpers/scraper.js';

/** The sample lines of the named families, without HELP/TYPE: what the assertions compare. */
export function samples(exposition: string, ...names: string[]): string {
  return familyText(exposition, ...names)
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .join('\n');
}

/** Scrapes until `expected` is seen or `timeoutMs` passes; returns the last exposition's samples. */
export async function scrapeUntil(scraper: RedisStorageManager, names: readonly string[], expected: string, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      last = samples(await scraper.getCollector().metrics(), ...names);
      if (last === expected) return last;
    } catch (error) {
      last = `(scrape failed: ${(error as Error).message})`;
    }
    if (Date.now() > deadline) return last;
    await sleep(50);
  }
}
