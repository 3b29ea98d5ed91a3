import type { Measured } from './results.js';
import type { SubjectLoad } from '../subject.js';

export interface SectionContext {
  /** Prints one progress line prefixed with the section id. */
  readonly log: (line: string) => void;
  readonly subject: SubjectLoad;
}

export interface Section {
  readonly id: string;
  readonly title: string;
  run(context: SectionContext): Promise<Measured>;
}
