// The pacer that slices flush and collect work: a collect whose timeout fired starts no more work,
// even when libuv's timer fires before performance.now() has reached the pacer's deadline.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Pacer } from '../../src/pacer.js';

describe('Pacer', () => {
  it('expire(): check() throws, due() rejects and a pending resume rejects, before the deadline is reached', async () => {
    const expired = () => new Error('timed out');
    const pacer = new Pacer(0, 1, performance.now() + 60_000, expired);
    pacer.check();
    const resume = pacer.due();
    assert.ok(resume, 'a zero-length slice yields at once');
    pacer.expire(); // the owner's timer fired while the work waited for its next slice
    await assert.rejects(resume, { message: 'timed out' });
    assert.throws(() => pacer.check(), { message: 'timed out' });
    await assert.rejects(pacer.due()!, { message: 'timed out' });
    await assert.rejects(pacer.step()!, { message: 'timed out' });
  });

  it('without expire(), the same work goes on until the deadline', async () => {
    const pacer = new Pacer(0, 1, performance.now() + 60_000);
    pacer.check();
    assert.equal(await pacer.due(), undefined);
    assert.equal(await pacer.step(), undefined);
  });
});
