import { inspect, format } from 'node:util';
import { ValidationError, describe } from './errors.js';

// Where prom-client's own tests pin a message, ours is the same text (our `code` added): code that
// matches prom-client's errors keeps working. Elsewhere ours also name the metric and the value.

// prom-client's rules (https://prometheus.io/docs/concepts/data_model/#metric-names-and-labels).
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function validateMetricName(name: unknown): asserts name is string {
  if (name === undefined || name === null || name === '') {
    throw new ValidationError('ERR_PCR_INVALID_METRIC', 'Missing mandatory name parameter');
  }
  if (typeof name !== 'string' || !METRIC_NAME.test(name)) {
    throw new ValidationError(
      'ERR_PCR_INVALID_METRIC',
      `Invalid metric name ${describe(name)}: expected a string matching ${METRIC_NAME}`,
    );
  }
}

export function validateHelp(name: string, help: unknown): asserts help is string {
  if (typeof help !== 'string' || help.length === 0) {
    throw new ValidationError(
      'ERR_PCR_INVALID_METRIC',
      `Missing mandatory help parameter for metric \`${name}\`: expected a non-empty string, got ${describe(help)}`,
    );
  }
}

export function validateLabelNames(metric: string, names: unknown, reserved: readonly string[]): string[] {
  if (names === undefined) return [];
  if (!Array.isArray(names)) {
    throw new ValidationError(
      'ERR_PCR_INVALID_LABEL',
      `Invalid labelNames for metric \`${metric}\`: expected an array of strings, got ${describe(names)}`,
    );
  }
  const seen = new Set<string>();
  for (const name of names) {
    if (typeof name !== 'string' || !LABEL_NAME.test(name) || name.startsWith('__')) {
      throw new ValidationError(
        'ERR_PCR_INVALID_LABEL',
        `Invalid label name ${describe(name)} for metric \`${metric}\`: expected ${LABEL_NAME} not starting with \`__\``,
      );
    }
    if (reserved.includes(name)) {
      throw new ValidationError('ERR_PCR_INVALID_LABEL', `${name} is a reserved label keyword`);
    }
    if (seen.has(name)) {
      throw new ValidationError('ERR_PCR_INVALID_LABEL', `Label name \`${name}\` is repeated in metric \`${metric}\``);
    }
    seen.add(name);
  }
  return [...names] as string[];
}

export function invalidValue(metric: string, what: string, value: unknown): ValidationError {
  return new ValidationError('ERR_PCR_INVALID_VALUE', `${what} for metric \`${metric}\`: got ${describe(value)}`);
}

/** prom-client's "Value is not a valid number: 3ms" (and "Delta ..." for gauge increments). */
export function notANumber(what: 'Value' | 'Delta', value: unknown): ValidationError {
  return new ValidationError('ERR_PCR_INVALID_VALUE', `${what} is not a valid number: ${format(value)}`);
}

/** prom-client's message for a negative counter increment. */
export function decreasedCounter(): ValidationError {
  return new ValidationError('ERR_PCR_INVALID_VALUE', 'It is not possible to decrease a counter');
}

/** prom-client's message for a label name outside `labelNames`. */
export function unknownLabel(_metric: string, label: string, labelNames: readonly string[]): ValidationError {
  return new ValidationError('ERR_PCR_INVALID_LABEL', `Added label "${label}" is not included in initial labelset: ${inspect([...labelNames])}`);
}

/** prom-client's message for positional label values that do not match `labelNames`. */
export function labelCountMismatch(_metric: string, labelNames: readonly string[], args: readonly unknown[]): ValidationError {
  return new ValidationError(
    'ERR_PCR_INVALID_LABEL',
    `Invalid number of arguments (${args.length}): "${args.join(', ')}" for label names (${labelNames.length}): "${labelNames.join(', ')}".`,
  );
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const native = (String.prototype as { isWellFormed?: () => boolean }).isWellFormed;
/**
 * No lone surrogate: one cannot be written as UTF-8, so every exposition would show U+FFFD and
 * distinct label values would collapse into identical lines. (String#isWellFormed from Node 20.)
 */
export const isWellFormed: (s: string) => boolean = native ? (s) => native.call(s) : (s) => !LONE_SURROGATE.test(s);
export const WELL_FORMED = 'a well-formed string (a lone surrogate cannot be exposed)';

/** A label value given to the API: a well-formed string or a finite number. */
export function checkLabelValue(metric: string, label: string, value: unknown): void {
  if (typeof value === 'string') {
    if (!isWellFormed(value)) throw badLabelValue(metric, label, value, WELL_FORMED);
  } else if (!(typeof value === 'number' && Number.isFinite(value))) throw badLabelValue(metric, label, value);
}

export function badLabelValue(metric: string, label: string, value: unknown, expected = 'a string or a finite number'): ValidationError {
  return new ValidationError(
    'ERR_PCR_INVALID_LABEL',
    `Invalid value for label \`${label}\` of metric \`${metric}\`: expected ${expected}, got ${describe(value)}`,
  );
}

export function validateBuckets(metric: string, buckets: unknown): number[] {
  if (!Array.isArray(buckets) || buckets.length === 0) {
    throw new ValidationError(
      'ERR_PCR_INVALID_METRIC',
      `Invalid buckets for histogram \`${metric}\`: expected a non-empty array of increasing finite numbers, got ${describe(buckets)}`,
    );
  }
  const out: number[] = [];
  for (const b of buckets) {
    if (typeof b !== 'number' || !Number.isFinite(b) || (out.length > 0 && b <= out[out.length - 1]!)) {
      throw new ValidationError(
        'ERR_PCR_INVALID_METRIC',
        `Invalid buckets for histogram \`${metric}\`: expected increasing finite numbers, got ${describe(buckets)} (at ${describe(b)})`,
      );
    }
    out.push(b);
  }
  return out;
}

export function validatePercentiles(metric: string, percentiles: unknown): number[] {
  if (!Array.isArray(percentiles) || percentiles.length === 0) {
    throw new ValidationError(
      'ERR_PCR_INVALID_METRIC',
      `Invalid percentiles for summary \`${metric}\`: expected a non-empty array of numbers in [0, 1], got ${describe(percentiles)}`,
    );
  }
  for (const p of percentiles) {
    if (typeof p !== 'number' || !(p >= 0 && p <= 1)) {
      throw new ValidationError(
        'ERR_PCR_INVALID_METRIC',
        `Invalid percentile ${describe(p)} for summary \`${metric}\`: expected a number in [0, 1]`,
      );
    }
  }
  return [...percentiles].sort((a, b) => a - b) as number[];
}
