type Labels = Record<string, string>;

const LONE_SURROGATE = /\p{Surrogate}/u;

/**
 * Parses a field (the JSON array of a series' label values) into labels, empty values left out, or
 * null when it is not one of ours. Ours are JSON.stringify() of the values: `["a" ]` or `["\u0061"]`
 * would print the same series twice.
 */
export function parseLabelField(field: string, names: readonly string[]): Labels | null {
  const values = plainValues(field);
  if (values !== undefined) return values !== null && values.length === names.length ? labelsOf(values, names) : null;
  try {
    const values = JSON.parse(field) as unknown;
    if (!Array.isArray(values) || values.length !== names.length || !values.every((v) => typeof v === 'string')) return null;
    if (JSON.stringify(values) !== field) return null;
    // A lone surrogate (only a `\ud...` escape can carry one) prints as U+FFFD: two such series would print as one.
    if (field.includes('\\ud') && values.some((v) => LONE_SURROGATE.test(v as string))) return null;
    return labelsOf(values as string[], names);
  } catch {
    return null;
  }
}

function labelsOf(values: readonly string[], names: readonly string[]): Labels {
  const labels: Labels = {};
  names.forEach((n, i) => {
    if (values[i] !== '') labels[n] = values[i]!;
  });
  return labels;
}

/** What JSON.stringify never leaves unescaped in a string: a quote, a control character. */
const NOT_PLAIN = /["\u0000-\u001f]/;
const SURROGATE = /[\ud800-\udfff]/;

/**
 * The values of a field with no backslash, read without JSON.parse (null: not JSON.stringify() of
 * string values); undefined for a field with a backslash, which JSON.parse reads. JSON.parse
 * internalizes short strings: a million label values grew V8's string table, whose resizes held
 * the event loop ~30 ms in one call (perf/README.md, target 5b). A field with surrogates (which
 * must be pairs to be ours) is left to JSON.parse too.
 */
function plainValues(field: string): string[] | null | undefined {
  if (field.includes('\\') || SURROGATE.test(field)) return undefined;
  if (field.length < 2 || field[0] !== '[' || field[field.length - 1] !== ']') return null;
  if (field.length === 2) return [];
  const inner = field.slice(1, -1);
  if (inner.length < 2 || inner[0] !== '"' || inner[inner.length - 1] !== '"') return null;
  const values = inner.slice(1, -1).split('","');
  for (const v of values) if (NOT_PLAIN.test(v)) return null;
  return values;
}
