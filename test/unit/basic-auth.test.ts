// bcrypt is slow by design: a scrape a second must not pay it each time.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import bcrypt from 'bcryptjs';
import { BasicAuth } from '../../src/integrations/basic-auth.js';

const header = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('basic auth against bcrypt hashes', () => {
  it('checks a right password with bcrypt once, then from memory; a wrong one once too', async () => {
    const auth = new BasicAuth(new Map([['prometheus', bcrypt.hashSync('pa:ss wörd', 4)], ['htpasswd', '$2y$04$' + bcrypt.hashSync('y', 4).slice(7)]]));
    const results: boolean[] = [];
    for (let i = 0; i < 10; i++) results.push(await auth.check(header('prometheus', 'pa:ss wörd')));
    assert.deepEqual([results.every(Boolean), auth.bcryptChecks], [true, 1]);
    for (let i = 0; i < 5; i++) results.push(await auth.check(header('prometheus', 'wrong')));
    assert.deepEqual([results.slice(10).some(Boolean), auth.bcryptChecks], [false, 2]);
    // The right one is still remembered after failures, and htpasswd's $2y$ hashes verify.
    assert.deepEqual([await auth.check(header('prometheus', 'pa:ss wörd')), await auth.check(header('htpasswd', 'y')), auth.bcryptChecks], [true, true, 3]);
  });

  it('an unknown user costs a bcrypt check like a known one, and is refused', async () => {
    const auth = new BasicAuth(new Map([['prometheus', bcrypt.hashSync('x', 4)]]));
    assert.deepEqual([await auth.check(header('nobody', 'x')), auth.bcryptChecks], [false, 1]);
  });

  it('refuses headers that are not Basic credentials without a bcrypt check', async () => {
    const auth = new BasicAuth(new Map([['prometheus', bcrypt.hashSync('x', 4)]]));
    const answers = [];
    for (const h of [undefined, '', 'Bearer abc', 'Basic', 'Basic !!!', `Basic ${Buffer.from('no-colon').toString('base64')}`]) answers.push(await auth.check(h));
    assert.deepEqual([answers, auth.bcryptChecks], [[false, false, false, false, false, false], 0]);
  });

  it('concurrent checks of new passwords each get their own answer', async () => {
    const auth = new BasicAuth(new Map([['prometheus', bcrypt.hashSync('right', 4)]]));
    const answers = await Promise.all(['a', 'b', 'right', 'c'].map((p) => auth.check(header('prometheus', p))));
    assert.deepEqual([answers, auth.bcryptChecks], [[false, false, true, false], 4]);
  });
});
