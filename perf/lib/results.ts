// The shape of what a section measures, and where the latest figures are kept between runs.
// perf/results.json holds every section's latest result, so running one section alone refreshes
// that section in perf/README.md and keeps the others (each says when and where it was measured).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Machine } from './machine.js';

export type Better = 'lower' | 'higher';

export interface Figure {
  readonly label: string;
  /** null when not measured, e.g. the subject is not built yet. */
  readonly value: number | null;
}

export interface Row {
  readonly unit: string;
  readonly better: Better;
  readonly figure: Figure;
  /** A figure from the same run to compare with; null marks a reference row (it is the baseline). */
  readonly baseline: Figure | null;
}

export interface Curve {
  readonly name: string;
  /** [processes, scrape milliseconds] */
  readonly points: ReadonlyArray<readonly [number, number]>;
}

/** What a section's run() returns. */
export interface Measured {
  readonly rows: Row[];
  readonly notes: string[];
  readonly curves?: Curve[];
}

export interface SectionResult extends Measured {
  readonly id: string;
  readonly title: string;
  readonly measuredAt: string;
  readonly machine: Machine;
  readonly subject: string;
  readonly seconds: number;
  /** Share of all CPUs busy with other work in the second before the section (null: unknown). */
  readonly busyBefore?: number | null;
  /** The same in the second after the section, and the 1-minute load average then. */
  readonly busyAfter?: number | null;
  readonly loadAverage?: number;
  readonly error?: string;
}

export type Results = Record<string, SectionResult>;

export function loadResults(path: string): Results {
  if (!existsSync(path)) return {};
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Results;
  } catch {
    return {};
  }
}

export function saveResults(path: string, results: Results): void {
  writeFileSync(path, `${JSON.stringify(results, null, 2)}\n`);
}

export function ratio(row: Row): number | null {
  if (row.baseline === null || row.baseline.value === null || row.figure.value === null) return null;
  if (row.baseline.value === 0) return null;
  return row.figure.value / row.baseline.value;
}
