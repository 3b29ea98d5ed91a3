import { ValidationError, describe } from '../errors.js';
import type { NativeDefinition } from '../store/definition.js';
import { DEFAULT_ZERO_THRESHOLD, schemaForFactor } from '../native/schema.js';

interface NativeOptions {
  name?: unknown;
  type?: unknown;
  nativeHistogramBucketFactor?: unknown;
  nativeHistogramMaxBucketNumber?: unknown;
  nativeHistogramZeroThreshold?: unknown;
}

const fail = (name: unknown, option: string, expected: string, value: unknown) =>
  new ValidationError('ERR_PCR_INVALID_METRIC', `Expected \`${option}\` of histogram \`${String(name)}\` to be ${expected}, got ${describe(value)}`);

/** The native settings of a histogram's options, checked; undefined without `nativeHistogramBucketFactor`. */
export function nativeDefinitionOf(config: NativeOptions | undefined): NativeDefinition | undefined {
  if (config === null || typeof config !== 'object') return undefined;
  const { name, nativeHistogramBucketFactor: factor, nativeHistogramMaxBucketNumber: max, nativeHistogramZeroThreshold: zero } = config;
  if (factor === undefined) {
    for (const [option, value] of [['nativeHistogramMaxBucketNumber', max], ['nativeHistogramZeroThreshold', zero]] as const) {
      if (value !== undefined) throw new ValidationError('ERR_PCR_INVALID_METRIC', `\`${option}\` of histogram \`${String(name)}\` needs \`nativeHistogramBucketFactor\``);
    }
    return undefined;
  }
  if (typeof factor !== 'number' || !Number.isFinite(factor) || factor <= 1) throw fail(name, 'nativeHistogramBucketFactor', 'a finite number > 1', factor);
  if (max !== undefined && !(typeof max === 'number' && Number.isSafeInteger(max) && max >= 0)) throw fail(name, 'nativeHistogramMaxBucketNumber', 'an integer >= 0', max);
  if (zero !== undefined && !(typeof zero === 'number' && Number.isFinite(zero) && zero >= 0)) throw fail(name, 'nativeHistogramZeroThreshold', 'a finite number >= 0', zero);
  return Object.freeze({ schema: schemaForFactor(factor), zeroThreshold: (zero as number | undefined) ?? DEFAULT_ZERO_THRESHOLD, maxBuckets: (max as number | undefined) ?? 160 });
}
