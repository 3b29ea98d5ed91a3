// The launcher's handling of worker stderr: held back while a worker starts, shown once when every
// try and every worker fails the same way, and never held for good.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { StartupOutput } from '../../src/integrations/startup-output.js';
import { keepAlive } from '../helpers/reaper.js';

/** A destination stream, and a wait for what it received to reach a length (its timers are unref()ed: hold the loop). */
function collector(): { stream: PassThrough; text: () => string; received: (length: number) => Promise<string> } {
  const stream = new PassThrough();
  let text = '';
  const waiters = new Set<() => void>();
  stream.setEncoding('utf8').on('data', (chunk: string) => {
    text += chunk;
    for (const w of [...waiters]) w();
  });
  const received = (length: number): Promise<string> => keepAlive(new Promise((resolve) => {
    const check = (): void => {
      if (text.length < length) return;
      waiters.delete(check);
      resolve(text);
    };
    waiters.add(check);
    check();
  }));
  return { stream, text: () => text, received };
}

describe('StartupOutput', { timeout: 10_000 }, () => {
  it('holds a worker\'s output until release(), then passes everything through in order', async () => {
    const out = collector();
    const from = new PassThrough();
    const tracked = new StartupOutput(60_000).track(from, out.stream);
    from.write('one\n');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(out.text(), '', 'held while the worker starts');
    tracked.release();
    from.write('two\n');
    assert.equal(await out.received(8), 'one\ntwo\n');
  });

  it('shows the same start-up failure once, and a different one again', async () => {
    const out = collector();
    const output = new StartupOutput(60_000);
    const failures = ['Error: boom\n', 'Error: boom\n', 'Error: other\n'];
    const repeats: boolean[] = [];
    for (const text of failures) {
      const from = new PassThrough();
      const tracked = output.track(from, out.stream);
      from.end(text);
      repeats.push(await keepAlive(tracked.releaseUnlessSeen()));
    }
    assert.deepEqual(repeats, [false, true, false]);
    assert.equal(out.text(), 'Error: boom\nError: other\n');
  });

  it('lets the output of a worker that never listens through after holdMs', async () => {
    const out = collector();
    const from = new PassThrough();
    new StartupOutput(30).track(from, out.stream);
    from.write('still starting\n');
    assert.equal(await out.received(15), 'still starting\n');
  });

  it('holds at most 1 MiB, then passes it through', async () => {
    const out = collector();
    const from = new PassThrough();
    new StartupOutput(60_000).track(from, out.stream);
    from.write(Buffer.alloc(1 << 20, 'a'));
    from.write('bc');
    assert.equal((await out.received((1 << 20) + 2)).slice(-3), 'abc');
  });
});
