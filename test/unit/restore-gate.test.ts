// The restore gate's rule (src/collect/restore-gate.ts, docs/design.md, Restoration), read by read,
// with registries as Redis would hold them: when it holds a collect back, what ends the wait, and
// the bound when a writer never comes back. The real-Redis side is test/e2e/launcher-restore.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RestoreGate, type RegistryView } from '../../src/collect/restore-gate.js';
import { RoundingFloor } from '../../src/collect/rounding-floor.js';
import { Pacer } from '../../src/pacer.js';

const LIVE_TIMEOUT = 600;

/** A view at `nowMs` where each writer last beat at `beats[id]` (live for LIVE_TIMEOUT after it). */
function view(nowMs: number, beats: Record<string, number>, restoring: Record<string, number> = {}, epochs: Record<string, [string, number, boolean?]> = {}): RegistryView {
  return {
    readsAll: true,
    nowMs,
    processes: new Map(Object.entries(beats)),
    live: new Map(Object.entries(beats).map(([id, ms]) => [id, ms + LIVE_TIMEOUT])),
    restoring: new Map(Object.entries(restoring)),
    epochs: new Map(Object.entries(epochs).map(([f, [epoch, bornMs, afterLoss]]) => [f, { epoch, bornMs, afterLoss: afterLoss ?? false }])),
  };
}

function gate(): { gate: RestoreGate; givenUp: string[] } {
  const givenUp: string[] = [];
  return { gate: new RestoreGate({ fallbackLiveTimeoutMs: 1000, onGiveUp: (id, why) => givenUp.push(`${id}: ${why}`) }), givenUp };
}

describe('RestoreGate', () => {
  it('after an empty restart, holds back until every writer of the previous read has beaten again and left the restoring registry', () => {
    const { gate: g, givenUp } = gate();
    assert.equal(g.check(view(1000, { a: 900, b: 950 }, {}, { f: ['e1', 100] })), undefined);
    // Redis restarted empty: both gone; then a back and restoring, then a done, b not yet beaten.
    assert.equal(g.check(view(1100, {})), 'Redis lost data and 2 writers have not restored it yet (a, b)');
    assert.equal(g.check(view(1150, { a: 1140 }, { a: 1140 }, { f: ['', -1] })), 'Redis lost data and 2 writers have not restored it yet (a, b)');
    assert.equal(g.check(view(1200, { a: 1190 }, {}, { f: ['e2', 1160] })), 'Redis lost data and 1 writer has not restored it yet (b)');
    // b's first beat after the loss marks it restoring in the same script: still held.
    assert.equal(g.check(view(1250, { a: 1190, b: 1240 }, { b: 1240 }, { f: ['e2', 1160] })), 'Redis lost data and 1 writer has not restored it yet (b)');
    assert.equal(g.check(view(1300, { a: 1290, b: 1295 }, {}, { f: ['e2', 1160] })), undefined);
    assert.deepEqual(givenUp, []);
  });

  it('a writer that never beats again is given up its own live timeout after the loss was seen', () => {
    const { gate: g, givenUp } = gate();
    // b's own live timeout is 600 ms (deadline 1550 - last beat 950). FLUSHALL: the family and the
    // index are gone; both must beat after the read that sees it (1100).
    g.check(view(1000, { a: 900, b: 950 }, {}, { f: ['e1', 100] }));
    assert.match(g.check(view(1100, { a: 1090 }))!, /\(a, b\)$/);
    assert.match(g.check(view(1700, { a: 1690 }))!, /\(b\)$/);
    assert.equal(g.check(view(1701, { a: 1690 })), undefined);
    assert.deepEqual(givenUp, ['b: it did not beat within its live timeout']);
    // Forgotten: a later loss does not wait for it again.
    assert.equal(g.check(view(1800, { a: 1790 })), undefined);
  });

  it("the collector's own process, late to beat after a loss, is not given up at its live timeout: held until it has restored, or restoreWaitMs", () => {
    const givenUp: string[] = [];
    const g = new RestoreGate({ fallbackLiveTimeoutMs: 1000, restoreWaitMs: 5000, selfId: 'self', onGiveUp: (id, why) => givenUp.push(`${id}: ${why}`) });
    g.check(view(1000, { self: 900, b: 950 }, {}, { f: ['e1', 100] }));
    // FLUSHALL. b is back at once; this process (a loaded machine) beats 900 ms later, then re-sends.
    assert.match(g.check(view(1100, { b: 1090 }))!, /\(b, self\)$/);
    assert.match(g.check(view(1900, { b: 1890 }, {}, { f: ['e2', 1150] }))!, /^Redis lost data and 1 writer has not restored it yet \(self\)$/);
    assert.match(g.check(view(2010, { b: 1990, self: 2000 }, { self: 2000 }, { f: ['e2', 1150] }))!, /\(self\)$/);
    assert.equal(g.check(view(2100, { b: 2090, self: 2095 }, {}, { f: ['e2', 1150] })), undefined);
    assert.deepEqual(givenUp, []);
    // Another loss, and this process never beats again: given up restoreWaitMs after the loss was seen.
    assert.match(g.check(view(3000, { b: 2990 }))!, /\(b, self\)$/);
    assert.match(g.check(view(7990, { b: 7980 }))!, /\(self\)$/);
    assert.equal(g.check(view(8001, { b: 7980 })), undefined);
    assert.deepEqual(givenUp, ['self: it is live but did not restore in time']);
  });

  it('a writer that left cleanly (out of the live set, still in the processes registry) is not waited for', () => {
    const { gate: g } = gate();
    g.check(view(1000, { a: 900, b: 950 }));
    const left = view(1100, { a: 1090, b: 950 });
    (left.live as Map<string, number>).delete('b');
    assert.equal(g.check(left), undefined);
  });

  it('a writer gone from the processes registry while every family is there is no loss (pruned after its TTL)', () => {
    const { gate: g } = gate();
    g.check(view(1000, { a: 900, b: 950 }, {}, { f: ['e1', 100] }));
    // b died after that read; its TTL after its last beat the registry pruned it.
    assert.equal(g.check(view(5950, { a: 5940 }, {}, { f: ['e1', 100] })), undefined);
  });

  it('a family whose epoch changed holds back until every writer has beaten after its birth', () => {
    const { gate: g } = gate();
    g.check(view(1000, { a: 990, b: 995 }, {}, { f: ['e1', 100], g: ['x', 100] }));
    // The registries survived (a Cluster shard restarted empty): only the epoch tells.
    assert.equal(g.check(view(1100, { a: 1090, b: 1050 }, {}, { f: ['e2', 1080], g: ['x', 100] })), 'Redis lost data and 1 writer has not restored it yet (b)');
    assert.equal(g.check(view(1200, { a: 1190, b: 1150 }, {}, { f: ['e2', 1080], g: ['x', 100] })), undefined);
  });

  it('a live writer restoring holds back, at most restoreWaitMs after it began', () => {
    const { gate: g } = gate();
    // A collector that knows nobody yet still sees the restoring registry.
    assert.equal(g.check(view(1000, { a: 990 }, { a: 500 })), 'Redis lost data and 1 writer has not restored it yet (a)');
    assert.equal(g.check(view(10_499, { a: 10_490 }, { a: 500 })), 'Redis lost data and 1 writer has not restored it yet (a)');
    assert.equal(g.check(view(10_500, { a: 10_490 }, { a: 500 })), undefined);
    // A dead writer left in the registry (SIGKILLed while restoring) holds nothing back.
    assert.equal(g.check(view(20_000, { a: 19_990 }, { z: 19_000 })), undefined);
  });

  it('a collector that starts after a loss waits the longest live timeout after the restored epoch began; a fresh epoch holds nothing back', () => {
    const { gate: g } = gate();
    g.waitsForUnseenWriters = true;
    // Its first read: a's part is back (a done restoring), b has not beaten yet: held until the
    // epoch's birth plus this collector's own live timeout (1000 ms).
    assert.equal(g.check(view(1200, { a: 1190 }, {}, { f: ['e2', 1100, true] })), 'Redis lost data lately and writers that have not beaten since are not known: not restored for 900 ms more at most');
    assert.equal(g.check(view(2099, { a: 2090 }, {}, { f: ['e2', 1100, true] })), 'Redis lost data lately and writers that have not beaten since are not known: not restored for 1 ms more at most');
    assert.equal(g.check(view(2100, { a: 2090 }, {}, { f: ['e2', 1100, true] })), undefined);
    // Only at its first read: later, what it served came from writers it knows.
    const { gate: later } = gate();
    later.waitsForUnseenWriters = true;
    assert.equal(later.check(view(1000, { a: 990 })), undefined);
    assert.equal(later.check(view(1200, { a: 1190 }, {}, { f: ['e2', 1100, true] })), undefined);
    // A collector embedded in an app (not the metrics server) does not wait at its first read.
    const { gate: embedded } = gate();
    assert.equal(embedded.check(view(1200, { a: 1190 }, {}, { f: ['e2', 1100, true] })), undefined);
    // A family whose epoch began with a process's first batch (a cold start): nothing to wait for.
    const { gate: cold } = gate();
    cold.waitsForUnseenWriters = true;
    assert.equal(cold.check(view(1200, { a: 1190 }, {}, { f: ['e1', 1100, false] })), undefined);
  });

  it('more than five writers waited for are named five and counted', () => {
    const { gate: g } = gate();
    const beats = Object.fromEntries(['p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7'].map((id) => [id, 990]));
    g.check(view(1000, beats, {}, { f: ['e1', 100] }));
    assert.equal(g.check(view(1100, {})), 'Redis lost data and 7 writers have not restored it yet (p1, p2, p3, p4, p5, and 2 more)');
  });
});

describe('RestoreGate: a writer whose beat is late', () => {
  it('is still waited for after a loss, although it was not live at the read before the loss', () => {
    const { gate: g, givenUp } = gate();
    assert.equal(g.check(view(1000, { a: 900, b: 950 }, {}, { f: ['e1', 100] })), undefined);
    // b's beat is late (a loaded machine): past its live deadline (950 + 600) at this read.
    assert.equal(g.check(view(1700, { a: 1650, b: 950 }, {}, { f: ['e1', 100] })), undefined);
    // Redis lost the family; a restored it at 1750. b holds a part of it too: held back until b beats.
    assert.match(g.check(view(1800, { a: 1760, b: 950 }, {}, { f: ['e2', 1750, true] })) ?? '', /1 writer has not restored it yet \(b\)/);
    assert.equal(g.check(view(2000, { a: 1960, b: 1950 }, {}, { f: ['e2', 1750, true] })), undefined);
    assert.deepEqual(givenUp, []);
  });

  it('is forgotten after ten of its live timeouts of silence (a writer gone for good holds nothing back)', () => {
    const { gate: g, givenUp } = gate();
    assert.equal(g.check(view(1000, { a: 900, b: 950 }, {}, { f: ['e1', 100] })), undefined);
    assert.equal(g.check(view(7000, { a: 6950, b: 950 }, {}, { f: ['e1', 100] })), undefined);
    assert.equal(g.check(view(7100, { a: 7060, b: 950 }, {}, { f: ['e2', 7050, true] })), undefined);
    assert.deepEqual(givenUp, []);
  });
});

describe('RoundingFloor', () => {
  it('serves a float sum lower by a rounding error as before, and lets a real decrease and every integer through', async () => {
    const floor = new RoundingFloor();
    const read = async (entries: Array<[string, number]>) => {
      const sums = new Map(entries);
      await floor.apply('f|histogram', sums, new Pacer());
      return [...sums];
    };
    assert.deepEqual(await read([['[]#sum', 0.14813568099999994], ['[]#count', 40]]), [['[]#sum', 0.14813568099999994], ['[]#count', 40]]);
    // The same sum added in another order (one collect saw a process's unflushed part, the next Redis's long double).
    assert.deepEqual(await read([['[]#sum', 0.1481356809999999], ['[]#count', 40]]), [['[]#sum', 0.14813568099999994], ['[]#count', 40]]);
    assert.deepEqual(await read([['[]#sum', 0.25], ['[]#count', 41]]), [['[]#sum', 0.25], ['[]#count', 41]]);
    // A writer's part lost for real: the lower value is served.
    assert.deepEqual(await read([['[]#sum', 0.125], ['[]#count', 39]]), [['[]#sum', 0.125], ['[]#count', 39]]);
    assert.deepEqual(await read([['[]#sum', 0.12499999999999999]]), [['[]#sum', 0.125]]);
  });

  it('two collects of a family at once: the one that ends last is floored against what the other served', async () => {
    const floor = new RoundingFloor();
    const fields = Array.from({ length: 300 }, (_, i) => `["${i}"]#sum`);
    await floor.apply('f|summary', new Map(fields.map((f) => [f, 0.25])), new Pacer());
    // B walks a slice per value (it pauses at once); A, meanwhile, serves a sum higher by a rounding error.
    const b = new Map(fields.map((f) => [f, 0.3]));
    const slow = floor.apply('f|summary', b, new Pacer(0, 1));
    // A's read also holds a series new since B's.
    const a = new Map([...fields, '["new"]#sum'].map((f) => [f, 0.30000000000000004]));
    await floor.apply('f|summary', a, new Pacer());
    await slow;
    assert.deepEqual([new Set(a.values()), new Set(b.values())], [new Set([0.30000000000000004]), new Set([0.30000000000000004])]);
    // And the floor stays, the new series' too: a next read of 0.3 is served as before.
    const c = new Map([...fields, '["new"]#sum'].map((f) => [f, 0.3]));
    await floor.apply('f|summary', c, new Pacer());
    assert.deepEqual(new Set(c.values()), new Set([0.30000000000000004]));
  });

  it('forgets a family that a read of every family no longer covered, and keeps those it covered, served or skipped', async () => {
    const floor = new RoundingFloor();
    await floor.apply('a|counter', new Map([['[]', 0.3]]), new Pacer());
    await floor.apply('b|counter', new Map([['[]', 0.7]]), new Pacer());
    await floor.apply('c|counter', new Map([['[]', 0.9]]), new Pacer());
    floor.prune(new Set(['a|counter', 'b|counter', 'c|counter']));
    assert.equal(floor.size, 3);
    // Family b is gone from Redis; c is in the read but skipped (a bad meta hash): only a applied.
    await floor.apply('a|counter', new Map([['[]', 0.30000000000000004]]), new Pacer());
    floor.prune(new Set(['a|counter', 'c|counter']));
    assert.equal(floor.size, 2);
    // a is still floored (its last value stays); b, back again, starts afresh (a lower value goes
    // through); c, served again, keeps its floor.
    const a = new Map([['[]', 0.3]]);
    await floor.apply('a|counter', a, new Pacer());
    const b = new Map([['[]', 0.6999999999999999]]);
    await floor.apply('b|counter', b, new Pacer());
    const c = new Map([['[]', 0.8999999999999999]]);
    await floor.apply('c|counter', c, new Pacer());
    assert.deepEqual([a.get('[]'), b.get('[]'), c.get('[]')], [0.30000000000000004, 0.6999999999999999, 0.9]);
  });
});

describe('RestoreGate: times read from Redis are not believed past the timeouts', () => {
  it('a birth, a restoring mark or a live deadline far in the future holds collects back no longer than the timeouts allow', () => {
    // A first read that finds a family restored "in a year" (garbage, or another clock): held for
    // the server's own live timeout (1000 ms) from now, not until then.
    const first = gate().gate;
    first.waitsForUnseenWriters = true;
    assert.equal(first.check(view(1000, { a: 990 }, {}, { f: ['e2', 3e13, true] })), 'Redis lost data lately and writers that have not beaten since are not known: not restored for 1000 ms more at most');
    assert.equal(first.check(view(2001, { a: 1990 }, {}, { f: ['e2', 3e13, true] })), undefined);
    // A live writer marked restoring "in a year": not counted as restoring.
    const { gate: g } = gate();
    assert.equal(g.check(view(1000, { a: 990 }, { a: 3e13 })), undefined);
    // A writer whose live deadline is a year away and never beats again after a loss: given up
    // within a day (the longest live timeout a writer may set), not waited for in a year.
    const { gate: h, givenUp } = gate();
    const huge = view(1000, { a: 990 }, {}, { f: ['e1', 100] });
    (huge.live as Map<string, number>).set('a', 3e13);
    h.check(huge);
    const lost = view(1100, {});
    (lost.live as Map<string, number>).set('a', 3e13);
    assert.match(h.check(lost)!, /\(a\)$/);
    const dayLater = view(1100 + 86_400_001, {});
    (dayLater.live as Map<string, number>).set('a', 3e13);
    assert.equal(h.check(dayLater), undefined);
    assert.deepEqual(givenUp, ['a: it is live but did not restore in time']);
  });
});
