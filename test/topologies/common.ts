// Shared by the topology tests: the writer fixture, exact expected totals, and a scrape parser.
import { fileURLToPath } from 'node:url';
import { runNode, type NodeChild } from '../helpers/processes.js';
import { slotOf } from '../../src/redis/connect.js';
import { familyHash } from '../../src/store/family.js';

export const TOPOLOGY_WRITER = fileURLToPath(new URL('../fixtures/topology-writer.js', import.meta.url));
export const FAMILIES = 6;

export interface WriterTotals {
  /** What the load added to every family. */
  readonly perFamily: number;
  /** Bursts of `index × (f + 1)` into family f. */
  readonly bursts: number;
  /** Flushes that failed (and whose data was kept and sent again). */
  readonly failures: number;
}

/** Starts writer `index` with the given REDIS_* environment; resolves once its first burst is acknowledged. */
export async function startWriter(index: number, env: Record<string, string>, timeoutMs = 30_000): Promise<NodeChild> {
  const child = runNode(TOPOLOGY_WRITER, { env: { WRITER_INDEX: String(index), WRITER_FAMILIES: String(FAMILIES), ...env } });
  await child.waitForLine(/^flushed$/, timeoutMs);
  return child;
}

/** SIGTERM: the writer settles everything with Redis, reports what it wrote and exits 0. */
export async function stopWriter(child: NodeChild, timeoutMs = 70_000): Promise<WriterTotals> {
  child.child.kill('SIGTERM');
  const [, perFamily, bursts, failures] = await child.waitForLine(/^total (\d+) bursts (\d+) failures (\d+)$/, timeoutMs);
  const status = await child.exited;
  if (status.code !== 0) throw new Error(`writer exited with ${JSON.stringify(status)}\n${child.stderr()}`);
  return { perFamily: Number(perFamily), bursts: Number(bursts), failures: Number(failures) };
}

/** The exact value of `c<f>_total` that writers `1..n` with these totals add up to. */
export function expectedTotals(totals: ReadonlyMap<number, WriterTotals>): number[] {
  return Array.from({ length: FAMILIES }, (_, f) => {
    let sum = 0;
    for (const [index, t] of totals) sum += t.bursts * index * (f + 1) + t.perFamily;
    return sum;
  });
}

/** `c<f>_total` values of an exposition, in family order (NaN where missing). */
export function counterValues(exposition: string): number[] {
  return Array.from({ length: FAMILIES }, (_, f) => {
    const m = new RegExp(`^c${f}_total (\\S+)$`, 'm').exec(exposition);
    return m ? Number(m[1]) : Number.NaN;
  });
}

/** Cluster slot of family `c<f>_total` (all its keys share it). */
export function familySlot(f: number): number {
  return slotOf(`{${familyHash(`c${f}_total`)}}`);
}
