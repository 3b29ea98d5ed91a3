// Bucket arithmetic of Prometheus native histograms (exponential schemas -4..8).
//
// Schema s cuts every power of two into 2^s buckets (s > 0), or merges 2^-s powers of two into one
// (s <= 0). Bucket k holds the values in (2^((k-1)/2^s), 2^(k/2^s)]: upper bounds are inclusive and
// 1 is always a bound (the upper bound of bucket 0). The bounds of s > 0 come from a table of
// significands in [0.5, 1): here the correctly rounded doubles of 2^(j/2^s) / 2, made exactly with
// BigInt (Math.pow is not correctly rounded, and multiplying by 2^(2^-s) step by step drifts).
// client_golang's table differs in the last bit for a few entries; that moves only a value that is
// exactly one of those doubles, and the server takes the client's buckets as they are.

export const MIN_SCHEMA = -4;
export const MAX_SCHEMA = 8;
/** client_golang's default zero threshold: 2^-128. */
export const DEFAULT_ZERO_THRESHOLD = 2 ** -128;
/** Largest bucket index of any double at schema 8 (2^1024 = 2^(262144/256)); used to bound input from Redis. */
export const MAX_INDEX = 1024 << MAX_SCHEMA;

/**
 * The schema of a bucket factor, as client_golang's pickSchema: the coarsest resolution whose
 * growth from one bucket to the next, 2^(2^-s), is at most `factor` (schema 8 below 2^(2^-8)).
 */
export function schemaForFactor(factor: number): number {
  for (let s = MIN_SCHEMA; s < MAX_SCHEMA; s++) if (2 ** (2 ** -s) <= factor) return s;
  return MAX_SCHEMA;
}

/** Per schema > 0: significands of the bounds in one octave, and a guide from mantissa bits to them. */
interface Octave {
  /** 2^(j/2^s) / 2 for j in [0, 2^s), increasing, in [0.5, 1). */
  readonly fracs: Float64Array;
  /**
   * For each cell of the top s+1 mantissa bits, the first j whose frac is >= the cell's start. A cell
   * is narrower than the gap between two bounds, so the bucket is guide[cell] or the one after.
   */
  readonly guide: Uint16Array;
}

const octaves: Array<Octave | undefined> = [];

function octave(schema: number): Octave {
  let o = octaves[schema];
  if (o === undefined) {
    const n = 2 ** schema;
    const fracs = new Float64Array(n);
    for (let j = 0; j < n; j++) fracs[j] = exp2Fraction(j, schema) / 2;
    const cells = 2 ** (schema + 1);
    const guide = new Uint16Array(cells);
    let j = 0;
    for (let cell = 0; cell < cells; cell++) {
      const start = 0.5 * (1 + cell / cells);
      while (j < n && fracs[j]! < start) j++;
      guide[cell] = j;
    }
    octaves[schema] = o = { fracs, guide };
  }
  return o;
}

/**
 * The double nearest to 2^(j/2^s), for 0 <= j < 2^s: the m in [2^52, 2^53) with
 * (2m-1)^N < 2^(j+53N) < (2m+1)^N, N = 2^s (no tie: the value is irrational for j > 0).
 */
function exp2Fraction(j: number, schema: number): number {
  if (j === 0) return 1;
  const N = BigInt(2 ** schema);
  const target = 1n << BigInt(j + 53 * 2 ** schema);
  let m = BigInt(Math.round(2 ** (j / 2 ** schema) * 2 ** 52));
  for (;;) {
    if ((2n * m - 1n) ** N > target) m -= 1n;
    else if ((2n * m + 1n) ** N < target) m += 1n;
    else return Number(m) / 2 ** 52;
  }
}

// The bits of a double, to read its exponent and mantissa without Math.log2 (the hot path).
const F64 = new Float64Array(1);
const U32 = new Uint32Array(F64.buffer);
/** Index of the high word in U32: 1 on little-endian machines. */
const HI = new Uint8Array(new Float64Array([1]).buffer)[7] === 0x3f ? 1 : 0;
const LO = 1 - HI;

/**
 * The index of the bucket of `v` (finite, > 0) at `schema`: the k with bound(k-1) < v <= bound(k).
 * What client_golang computes with math.Frexp and a binary search, here from the bits of the
 * double and one comparison.
 */
export function bucketIndex(v: number, schema: number): number {
  F64[0] = v;
  let hi = U32[HI]!;
  let biased = (hi >>> 20) & 0x7ff;
  let shift = 0;
  if (biased === 0) {
    // Subnormal: scale into the normal range, and take the scale off the exponent.
    F64[0] = v * 2 ** 64;
    hi = U32[HI]!;
    biased = (hi >>> 20) & 0x7ff;
    shift = 64;
  }
  // frexp: v = frac × 2^exp with frac in [0.5, 1).
  const exp = biased - 1022 - shift;
  const mantissaHi = hi & 0xfffff;
  if (schema > 0) {
    const { fracs, guide } = octave(schema);
    const n = fracs.length;
    U32[HI] = mantissaHi | 0x3fe00000;
    const frac = F64[0]!;
    let j = guide[mantissaHi >>> (19 - schema)]!;
    if (j < n && frac > fracs[j]!) j++;
    return j + (exp - 1) * n;
  }
  // An exact power of two 2^(exp-1) is the upper bound of bucket exp-1 at schema 0.
  const key = mantissaHi === 0 && U32[LO] === 0 ? exp - 1 : exp;
  if (schema === 0) return key;
  const by = -schema;
  return (key + (1 << by) - 1) >> by;
}

/** The inclusive upper bound of bucket `index` at `schema` (the bound Prometheus computes). */
export function upperBound(index: number, schema: number): number {
  if (schema <= 0) return 2 ** (index * 2 ** -schema);
  const { fracs } = octave(schema);
  const n = fracs.length;
  const within = index & (n - 1);
  const exp = (index >> schema) + 1;
  // frac × 2^exp in two steps, so that 2^exp alone never overflows or underflows for a bound that fits.
  return fracs[within]! * 2 * 2 ** (exp - 1);
}

/** The exclusive lower bound of bucket `index` at `schema`. */
export function lowerBound(index: number, schema: number): number {
  return upperBound(index - 1, schema);
}

/** The bucket at `schema - by` that bucket `index` at `schema` falls into: ceil(index / 2^by). */
export function coarserIndex(index: number, by: number): number {
  return by === 0 ? index : -((-index) >> by);
}

/** A valid schema: an integer in [-4, 8]. */
export function isSchema(schema: number): boolean {
  return Number.isInteger(schema) && schema >= MIN_SCHEMA && schema <= MAX_SCHEMA;
}
