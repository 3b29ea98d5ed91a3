import type { Logger } from '../log.js';
import type { SelfStats } from '../stats.js';

/** Where the collect's decoding counts what it skipped, by kind (SelfStats itself, or a BadDataReporter). */
export interface BadDataSink {
  bad(kind: string, count?: number): void;
}

/** What each kind of the collect means, for the one warning about it. */
const MEANING: Readonly<Record<string, string>> = {
  key: 'a key of ours holds something else than a hash or zset',
  packing: 'a family reply could not be unpacked',
  index: 'an entry of the families index is not a family hash and type',
  meta: 'a meta hash is missing, has an unknown type or mode, or is not of the family it is under',
  name: 'a meta hash has an invalid metric name',
  help: 'a meta hash has an empty help text',
  'label-names': 'a meta hash has invalid label names',
  buckets: 'a histogram meta hash has invalid bucket bounds',
  percentiles: 'a summary meta hash has invalid percentiles',
  'too-many-buckets': 'a histogram family or series has more buckets than maxHistogramBuckets (REDIS_MAX_HISTOGRAM_BUCKETS)',
  'too-many-percentiles': 'a summary family has more percentiles than maxPercentilesPerFamily (REDIS_MAX_PERCENTILES)',
  'too-many-families': 'the index lists more families than maxFamilies (REDIS_MAX_FAMILIES)',
  'too-many-processes': 'the process registry lists more processes than maxProcessesPerFamily (REDIS_MAX_PROCESSES)',
  process: 'a process registry member is not a process id (braces, white space, empty or too long)',
  conflict: 'two families print the same metric name (the same name, or e.g. a counter `x_count` next to a histogram `x`): the first by name is served',
  field: 'a field is not a label set of its family',
  value: 'a value is not a number',
  exemplar: 'an exemplar is not one we write',
  created: 'a creation time is not a timestamp',
  hdr: 'a summary HDR blob is not one we write',
  'hdr-too-big': 'a summary HDR blob inflates past maxHdrBytes (REDIS_MAX_HDR_BYTES)',
  native: 'a native histogram bucket field is not one we write',
};

/**
 * Counts bad data in SelfStats (`prom_client_redis_bad_data_total{kind}`) and warns once per kind
 * and process: anything under the prefix may come from a buggy or hostile process, and an operator
 * should learn of it once, not at every scrape.
 */
export class BadDataReporter implements BadDataSink {
  readonly #warned = new Set<string>();

  constructor(
    readonly stats: SelfStats,
    readonly logger: Logger,
  ) {}

  bad(kind: string, count = 1): void {
    this.stats.bad(kind, count);
    if (this.#warned.has(kind)) return;
    this.#warned.add(kind);
    this.logger.warn(`bad data under the key prefix: ${MEANING[kind] ?? kind}; skipped, the rest is served (counted in prom_client_redis_bad_data_total{kind="${kind}"}, warned once)`, { kind });
  }
}
