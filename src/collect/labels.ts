type Labels = Record<string, string>;

const LONE_SURROGATE = /\p{Surrogate}/u;

/**
 * Parses a field (the JSON array of a series' label values) into labels, empty values left out, or
 * null when it is not one of ours. Ours are JSON.stringify() of the values: `["a" ]` or `["\u0061"]`
 * would print the same series twice.
 */
export function parseLabelField(field: string, names: readonly string[]): Labels | null {
  try {
    const values = JSON.parse(field) as unknown;
    if (!Array.isArray(values) || values.length !== names.length || !values.every((v) => typeof v === 'string')) return null;
    if (JSON.stringify(values) !== field) return null;
    // A lone surrogate (only a `\ud...` escape can carry one) prints as U+FFFD: two such series would print as one.
    if (field.includes('\\ud') && values.some((v) => LONE_SURROGATE.test(v as string))) return null;
    const labels: Labels = {};
    names.forEach((n, i) => {
      if (values[i] !== '') labels[n] = values[i] as string;
    });
    return labels;
  } catch {
    return null;
  }
}
