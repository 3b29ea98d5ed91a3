// Exact reference for native histogram buckets: the index of a double computed with BigInt powers
// of its exact value (no floating point), and seeded random values over the whole double range.

/** A seeded PRNG (mulberry32): the same sequence at every run. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Values that exercise every part of the range: latencies, tiny and subnormal, huge, exact powers of two, zeros, negatives. */
export function randomValues(random: () => number, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const sign = random() < 0.2 ? -1 : 1;
    const kind = random();
    let v: number;
    if (kind < 0.5) v = random() * 2; // seconds
    else if (kind < 0.7) v = Math.exp((random() - 0.5) * 60); // e^-30 .. e^30
    else if (kind < 0.8) v = 2 ** Math.floor((random() - 0.5) * 200); // exact powers of two
    else if (kind < 0.85) v = Number.MIN_VALUE * Math.floor(1 + random() * 1e6); // subnormal
    else if (kind < 0.9) v = Number.MAX_VALUE * random(); // huge
    else if (kind < 0.95) v = 0;
    else v = Math.floor(random() * 1000); // integers
    out.push(sign * v);
  }
  return out;
}

/** The exact rational of a positive finite double: m × 2^e with m a BigInt. */
function exact(v: number): { m: bigint; e: number } {
  const f = new Float64Array([v]);
  const u = new BigUint64Array(f.buffer);
  const bits = u[0]!;
  const biased = Number((bits >> 52n) & 0x7ffn);
  const fraction = bits & ((1n << 52n) - 1n);
  return biased === 0 ? { m: fraction, e: -1074 } : { m: fraction | (1n << 52n), e: biased - 1075 };
}

/** ceil(log2(x)) of a BigInt x > 0. */
function ceilLog2(x: bigint): number {
  const bits = x.toString(2).length;
  return (x & (x - 1n)) === 0n ? bits - 1 : bits;
}

/** The k with 2^((k-1)/2^s) < v <= 2^(k/2^s), exactly. */
export function exactIndex(v: number, schema: number): number {
  const { m, e } = exact(v);
  if (schema >= 0) {
    const n = 2 ** schema;
    // v^n = m^n × 2^(e·n); k = ceil(log2(v^n)).
    return e * n + ceilLog2(m ** BigInt(n));
  }
  const k0 = e + ceilLog2(m);
  const by = 2 ** -schema;
  const k = -Math.floor(-k0 / by);
  return k === 0 ? 0 : k;
}

/** The next double above a positive finite double. */
export function nextUp(v: number): number {
  const f = new Float64Array([v]);
  const u = new BigUint64Array(f.buffer);
  u[0] = u[0]! + 1n;
  return f[0]!;
}

/** The observations of native writer `index` (test/fixtures/native-writer.ts): latencies of 0.1 ms to ~20 s, a few zeros. */
export function nativeWriterValues(index: number, count: number): number[] {
  const random = rng(1000 + index);
  return Array.from({ length: count }, (_, i) => (i % 50 === 0 ? 0 : Math.round(Math.exp(random() * 12 - 9) * 1e6) / 1e6));
}
