import { ValidationError } from '../errors.js';
import { badLabelValue, checkLabelValue } from '../validation.js';
import type { StoredExemplar } from '../store/values.js';

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * An exemplar for `value`, stamped now (seconds, as prom-client). Checked as prom-client does (the
 * label set's names and values at most 128 characters, the OpenMetrics limit), and more: names must
 * be label names and values strings or numbers, or the exposition could not be parsed.
 */
export function exemplarOf(metric: string, labels: Readonly<Record<string, unknown>>, value: number): StoredExemplar {
  if (labels === null || typeof labels !== 'object') throw badLabelValue(metric, 'exemplarLabels', labels, 'an object of label values');
  let size = 0;
  const labelSet: Record<string, string | number> = {};
  for (const [name, v] of Object.entries(labels)) {
    if (!LABEL_NAME.test(name)) throw badLabelValue(metric, `exemplar ${name}`, name, 'an exemplar label name matching /^[a-zA-Z_][a-zA-Z0-9_]*$/');
    checkLabelValue(metric, `exemplar ${name}`, v);
    labelSet[name] = v as string | number;
    size += name.length + String(v).length;
  }
  if (size > 128) throw new ValidationError('ERR_PCR_INVALID_LABEL', 'Label set size must be smaller than 128 UTF-8 chars');
  return { labelSet, value, timestamp: Date.now() / 1000, isFlushed: false };
}
