// Native histogram bucket arithmetic against an exact oracle: BigInt powers of the double's exact
// value, no floating point. Prometheus puts a value that is exactly a bound into the bucket below
// it (upper bounds are inclusive), which the bound tests pin for every schema.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_SCHEMA, MIN_SCHEMA, bucketIndex, coarserIndex, lowerBound, schemaForFactor, upperBound } from '../../src/native/schema.js';
import { exactIndex, nextUp, randomValues, rng } from '../helpers/native-oracle.js';

const SCHEMAS = Array.from({ length: MAX_SCHEMA - MIN_SCHEMA + 1 }, (_, i) => MIN_SCHEMA + i);

describe('native histogram schema', () => {
  it('picks the schema of a bucket factor as client_golang does', () => {
    assert.deepEqual(
      [1.0001, 1.0027, 1.003, 1.01, 1.05, 1.1, 1.0905077326652577, 1.2, 1.5, 2, 3, 4, 16, 256, 65536, 1e6].map(schemaForFactor),
      [8, 8, 8, 7, 4, 3, 3, 2, 1, 0, 0, -1, -2, -3, -4, -4],
    );
  });

  it('bounds of schema 3 are the correctly rounded 2^(j/8)', () => {
    // 2^(j/8) / 2, j = 0..7, as Python's Decimal (60 digits) rounds them to doubles. (client_golang's
    // table has 0.8408964152537144 and 0.9170040432046711, one ulp below: only a value that is exactly
    // one of those two doubles would fall into another bucket there; the server never re-buckets.)
    const expected = [0.5, 0.5452538663326288, 0.5946035575013605, 0.6484197773255048, 0.7071067811865476, 0.7711054127039704, 0.8408964152537145, 0.9170040432046712];
    assert.deepEqual(Array.from({ length: 8 }, (_, j) => upperBound(j - 8, 3)), expected);
    assert.equal(upperBound(0, 3), 1);
    assert.equal(upperBound(8, 3), 2);
    assert.equal(upperBound(-80, 3), 2 ** -10);
  });

  it('every index matches the exact oracle, all schemas, 4,000 values each (tiny, subnormal, huge)', () => {
    const random = rng(12);
    for (const schema of SCHEMAS) {
      for (const v of randomValues(random, 4000)) {
        const abs = Math.abs(v);
        if (abs === 0) continue;
        assert.equal(bucketIndex(abs, schema), exactIndex(abs, schema), `v=${abs} schema=${schema}`);
      }
    }
  });

  it('a bound belongs to the bucket below it, the next double above it to the next bucket', () => {
    for (const schema of SCHEMAS) {
      const per = schema > 0 ? 2 ** schema : 1;
      for (let k = -3 * per; k <= 3 * per; k++) {
        const u = upperBound(k, schema);
        assert.equal(bucketIndex(u, schema), k, `bound of ${k} at ${schema}`);
        assert.equal(bucketIndex(nextUp(u), schema), k + 1, `above the bound of ${k} at ${schema}`);
        assert.equal(lowerBound(k + 1, schema), u);
      }
    }
  });

  it('extreme doubles: the smallest subnormal and the largest finite', () => {
    assert.equal(bucketIndex(Number.MIN_VALUE, 0), -1074);
    assert.equal(bucketIndex(Number.MIN_VALUE, 8), -1074 * 256);
    assert.equal(bucketIndex(Number.MAX_VALUE, 0), 1024);
    assert.equal(bucketIndex(Number.MAX_VALUE, -4), 64);
    assert.equal(bucketIndex(Number.MAX_VALUE, 8), 1024 * 256);
  });

  it('a bucket of a finer schema falls into the coarser bucket that contains its whole range', () => {
    for (const schema of SCHEMAS) {
      for (let by = 0; schema - by >= MIN_SCHEMA; by++) {
        for (let k = -70; k <= 70; k++) {
          const j = coarserIndex(k, by);
          assert.ok(lowerBound(j, schema - by) <= lowerBound(k, schema) && upperBound(k, schema) <= upperBound(j, schema - by), `k=${k} s=${schema} by=${by}`);
        }
      }
    }
  });
});
