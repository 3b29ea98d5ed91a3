// The sliced drain (issue 3, item 11) keeps the shadow store's invariants at every turn of the event
// loop: an update made during the drain is neither lost nor counted twice, and the collector's
// read-your-writes (takeLocalSums, settleLocalSums) counts every series exactly once while the batch is half built.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Counter, Gauge, Histogram, Summary } from '../../src/index.js';
import { offlineManager } from '../helpers/offline.js';
import { drainFamily } from '../../src/flush/batch.js';
import { FLAG_META, type FamilyBatch } from '../../src/store/family.js';
import { Pacer } from '../../src/pacer.js';
import { FamilyStream } from '../../src/flush/stream.js';
import type { Reply } from '../../src/redis/client.js';
import { settleLocalSums, takeLocalSums } from '../../src/collect/snapshot.js';
import { bucketIndex, schemaForFactor } from '../../src/native/schema.js';

const SERIES = 1000;

const managers: Array<ReturnType<typeof offlineManager>> = [];
after(() => Promise.all(managers.map((m) => m.shutdown())));

function setup() {
  const storage = offlineManager();
  managers.push(storage);
  const counter = new Counter({ name: 'c_total', help: 'C.', labelNames: ['id'], storage, registers: [] });
  for (let i = 0; i < SERIES; i++) counter.inc({ id: String(i) }, 1);
  return counter;
}

/** The deltas of a batch's sums, read back from the bytes it sends. */
const sumOf = (b: FamilyBatch) => b.sums.items().reduce((a, v, i) => (i % 2 === 1 ? a + Number(v) : a), 0);

/** What a collect adds from memory: taken in this tick, read out later (a slice at a time with `pacer`). */
const localTotal = async (counter: ReturnType<typeof setup>, pacer = new Pacer()) => {
  const sums = await settleLocalSums(takeLocalSums(counter.family!, -1), pacer);
  return [...sums.values()].reduce((a, b) => a + b, 0);
};

describe('sliced drain', () => {
  it('a collect at any turn of the drain counts every series once, and updates made meanwhile all reach a batch', async () => {
    const counter = setup();
    // Yields after every value: the drain takes SERIES turns.
    const draining = drainFamily(counter.family!, 1, Date.now(), { reset: false, meta: true, allPerProcess: false }, new Pacer(0, 1));
    let turns = 0;
    let updates = 0;
    while (counter.family!.draining !== undefined) {
      assert.equal(await localTotal(counter), SERIES + updates, `turn ${turns}`);
      // One update to a series already drained, one to a series not drained yet.
      const drained = counter.family!.draining.sums.count / 2;
      counter.inc({ id: String(Math.max(0, drained - 1)) });
      counter.inc({ id: String(Math.min(SERIES - 1, drained + 1)) });
      updates += 2;
      turns++;
      await nextTurn();
    }
    const batch = await draining;
    assert.ok(turns > SERIES / 2, `${turns} turns`);
    const inBatch = sumOf(batch);
    // What is not in this batch is waiting in the store for the next one, on the dirty list.
    const waiting = counter.series.dirty.reduce((a, v) => a + (v as unknown as { delta: number }).delta, 0);
    assert.equal(inBatch + waiting, SERIES + updates);
    assert.ok(waiting > 0 && inBatch > SERIES);
    const next = await drainFamily(counter.family!, 2, Date.now(), { reset: false, meta: false, allPerProcess: false });
    assert.equal(sumOf(next), waiting);
    assert.equal(counter.series.dirty.length, 0);
  });

  it('the sums a collect took in one tick read the same when the drain has gone on meanwhile, the batch being built included', async () => {
    const counter = setup();
    const draining = drainFamily(counter.family!, 1, Date.now(), { reset: false, meta: true, allPerProcess: false }, new Pacer(0, 1));
    for (let k = 0; k < SERIES / 4; k++) await nextTurn();
    assert.ok(counter.family!.draining && counter.family!.draining.sums.count > 0);
    const taken = takeLocalSums(counter.family!, -1);
    // Read a pair at a time while the drain writes on (and updates land on series both sides of it).
    const reading = settleLocalSums(taken, new Pacer(0, 1));
    for (let k = 0; k < 50; k++) {
      counter.inc({ id: String(k * 20) }, 1000);
      await nextTurn();
    }
    const sums = await reading;
    assert.equal([...sums.values()].reduce((a, b) => a + b, 0), SERIES);
    assert.equal(sums.size, SERIES);
    // The batch waits in the outbox as a flush leaves it: every update is in it or in the store.
    counter.family!.pending.push(await draining);
    assert.equal(await localTotal(counter), SERIES + 50_000);
  });

  it('a reset drain (Redis lost the family) re-sends the cumulative totals, and the collect meanwhile counts them once', async () => {
    const counter = setup();
    await drainFamily(counter.family!, 1, Date.now(), { reset: false, meta: true, allPerProcess: false });
    counter.family!.pending = [];
    counter.inc({ id: '5' }, 4);
    const draining = drainFamily(counter.family!, 2, Date.now(), { reset: true, meta: true, allPerProcess: false }, new Pacer(0, 1));
    await nextTurn();
    assert.ok(counter.family!.draining);
    assert.equal(await localTotal(counter), SERIES + 4);
    const batch = await draining;
    assert.equal(sumOf(batch), SERIES + 4);
  });

  it('a collect adds exactly the series changed since the last drain, and during a drain of every value (summaries re-sent whole) counts each once', async () => {
    const storage = offlineManager();
    managers.push(storage);
    const summary = new Summary({ name: 's_seconds', help: 'S.', labelNames: ['id'], percentiles: [0.5], storage, registers: [] });
    for (let i = 0; i < 200; i++) summary.observe({ id: String(i) }, 1);
    const family = summary.family!;
    family.pending.push({ ...(await drainFamily(family, 1, Date.now(), { reset: false, meta: true, allPerProcess: false })), seq: 1 });
    summary.observe({ id: '7' }, 2);
    summary.observe({ id: '150' }, 3);
    summary.observe({ id: '7' }, 4);
    // Redis applied seq 1: only the two series changed since are this process's to add.
    assert.deepEqual([...takeLocalSums(family, 1).deltas].sort(), [['["150"]#count', 1], ['["150"]#sum', 3], ['["7"]#count', 2], ['["7"]#sum', 6]]);
    family.pending = [];
    // Every per-process value re-sent (its per-process hash expired), a value per turn; updates land on
    // series both sides of the drain, and the sums the collect adds stay exact at every turn.
    const draining = drainFamily(family, 2, Date.now(), { reset: false, meta: false, allPerProcess: true }, new Pacer(0, 1));
    let observed = 3;
    let turns = 0;
    while (family.draining !== undefined) {
      const counts = [...(await settleLocalSums(takeLocalSums(family, -1), new Pacer())).entries()].filter(([f]) => f.endsWith('#count'));
      assert.equal(counts.reduce((a, [, x]) => a + x, 0), observed, `turn ${turns}`);
      summary.observe({ id: String((turns * 7) % 200) }, 1);
      observed++;
      turns++;
      await nextTurn();
    }
    assert.ok(turns > 100, `${turns} turns`);
    family.pending.push({ ...(await draining), seq: 2 });
    const counts = [...(await settleLocalSums(takeLocalSums(family, -1), new Pacer())).entries()].filter(([f]) => f.endsWith('#count'));
    assert.equal(counts.reduce((a, [, x]) => a + x, 0), observed);
  });

  it('a value listed twice (an update before and after a drain of every value reaches it) is read once, by this collect and during the next drain', async () => {
    for (const kind of ['counter reset', 'summary re-sent'] as const) {
      const storage = offlineManager();
      managers.push(storage);
      const counter = kind === 'counter reset' ? new Counter({ name: 'twice_total', help: 'T.', labelNames: ['id'], storage, registers: [] }) : undefined;
      const summary = kind === 'summary re-sent' ? new Summary({ name: 'twice_seconds', help: 'T.', labelNames: ['id'], percentiles: [0.5], storage, registers: [] }) : undefined;
      const update = (id: string, x: number) => (counter ? counter.inc({ id }, x) : summary!.observe({ id }, x));
      for (let i = 0; i < 20; i++) update(String(i), 1);
      const family = (counter ?? summary)!.family!;
      family.pending.push({ ...(await drainFamily(family, 1, Date.now(), { reset: false, meta: true, allPerProcess: false })), seq: 1 });
      // Redis applied seq 1. A drain of every value (a re-send), a value per turn: id 8 is updated before
      // the drain reaches it and again after, so the dirty list holds it twice.
      const draining = drainFamily(family, 2, Date.now(), { reset: kind === 'counter reset', meta: false, allPerProcess: true }, new Pacer(0, 1));
      update('8', 2);
      while (family.drainAt <= 8) await nextTurn();
      update('8', 5);
      assert.equal(family.series.dirty.filter((v) => v.field === '["8"]').length, 2);
      family.pending.push({ ...(await draining), seq: 2 });
      // Seq 2 applied too: only the last update is this process's to add.
      const added = [...(await settleLocalSums(takeLocalSums(family, 2), new Pacer())).entries()];
      assert.deepEqual(added.sort(), counter ? [['["8"]', 5]] : [['["8"]#count', 1], ['["8"]#sum', 5]], kind);
      // The next drain reads that list: once it has drained the first copy, an update lists the value
      // again, so it is both on the new dirty list and in the drain's undrained part. At every turn
      // it is counted once.
      const next = drainFamily(family, 3, Date.now(), { reset: false, meta: false, allPerProcess: false }, new Pacer(0, 1));
      // Its first slice (one value) ran in the call.
      assert.equal(family.drainAt, 1);
      update('8', 100);
      let turns = 0;
      while (family.draining !== undefined) {
        const sums = await settleLocalSums(takeLocalSums(family, 2), new Pacer());
        assert.equal(sums.get(counter ? '["8"]' : '["8"]#sum'), 105, `${kind}, turn ${turns}`);
        turns++;
        await nextTurn();
      }
      await next;
    }
  });

  it('a drain hands its batch to onDone while the family is still draining: no promise callback after it sees neither', async () => {
    const counter = setup();
    const family = counter.family!;
    let kept = false;
    const checks: boolean[] = [];
    // Promise callbacks queued before the drain starts run after its synchronous part, in order.
    for (let k = 0; k < 10; k++) void Promise.resolve().then(() => checks.push(family.draining !== undefined || kept));
    const draining = drainFamily(family, 1, Date.now(), { reset: false, meta: true, allPerProcess: false }, new Pacer(1000, 1000), undefined, (batch) => {
      family.pending.push(batch);
      kept = true;
    });
    for (let k = 0; k < 10; k++) await Promise.resolve();
    assert.deepEqual(checks, Array(10).fill(true));
    assert.equal((await draining).sums.count / 2, SERIES);
    assert.equal(await localTotal(counter), SERIES);
  });

  it('a drain held by its parts in flight goes on in a turn of its own: no promise callback sees it finished before its caller has its last batch', async () => {
    const storage = offlineManager({ maxSeriesPerMetric: 40_000 });
    managers.push(storage);
    const counter = new Counter({ name: 'held_total', help: 'H.', labelNames: ['id'], storage, registers: [] });
    // Sixteen parts of 2,000 pairs (the most in flight), then 500 values after the drain is let go on.
    const n = 16 * 2000 + 500;
    for (let i = 0; i < n; i++) counter.inc({ id: String(i) }, 1);
    const family = counter.family!;
    const replies: Array<() => void> = [];
    const stream = new FamilyStream(() => [new Promise<Reply>((resolve) => replies.push(() => resolve({ error: null, value: [1] })))]);
    let seq = 10;
    // As the flusher's streamer does: the part in the outbox, then sent.
    const onSums = (chunk: FamilyBatch) => {
      const batch = { ...chunk, seq: ++seq };
      family.pending.push(batch);
      return stream.part(batch);
    };
    let isLastInOutbox = false;
    const draining = drainFamily(family, 1, Date.now(), { reset: false, meta: true, allPerProcess: false }, new Pacer(1000, 1000), onSums).then((b) => {
      family.pending.push({ ...b, seq: ++seq });
      isLastInOutbox = true;
    });
    for (let k = 0; k < 100 && replies.length < 16; k++) await nextTurn();
    for (let k = 0; k < 20; k++) await nextTurn();
    assert.deepEqual([replies.length, family.draining !== undefined], [16, true]);
    // The first reply comes: every promise callback after it finds the drain still on, or its last batch in the outbox.
    replies[0]!();
    for (let k = 0; k < 30; k++) {
      assert.ok(family.draining !== undefined || isLastInOutbox, `promise callback ${k}`);
      await Promise.resolve();
    }
    for (const reply of replies) reply();
    await draining;
    assert.deepEqual(family.pending.map((b) => b.sums.count / 2), [...Array(16).fill(2000), 500]);
  });

  it('a streamed drain hands over every 2,000 sum pairs at once, and the collect meanwhile counts every series once', async () => {
    const storage = offlineManager({ maxSeriesPerMetric: 10_000 });
    managers.push(storage);
    const counter = new Counter({ name: 'wide_total', help: 'W.', labelNames: ['id'], storage, registers: [] });
    const n = 5000;
    for (let i = 0; i < n; i++) counter.inc({ id: String(i) }, 1);
    const family = counter.family!;
    const chunks: FamilyBatch[] = [];
    let seq = 10;
    // As the flusher does: the part goes into the outbox in the tick it is handed over.
    const onSums = (chunk: FamilyBatch) => {
      const batch = { ...chunk, seq: ++seq };
      chunks.push(batch);
      family.pending.push(batch);
    };
    const draining = drainFamily(family, 1, Date.now(), { reset: false, meta: true, allPerProcess: false }, new Pacer(0, 100), onSums);
    let turns = 0;
    while (family.draining !== undefined) {
      assert.equal(await localTotal(counter), n + turns, `turn ${turns}`);
      counter.inc({ id: String(turns % n) });
      turns++;
      await nextTurn();
    }
    const batch = await draining;
    assert.deepEqual(chunks.map((c) => [c.sums.count / 2, c.flags & FLAG_META, c.sets.count + c.dels.count + c.created.count]), [[2000, 0, 0], [2000, 0, 0]]);
    assert.equal(batch.sums.count / 2, 1000);
    assert.equal(batch.flags & FLAG_META, FLAG_META);
    const waiting = counter.series.dirty.reduce((a, v) => a + (v as unknown as { delta: number }).delta, 0);
    assert.equal(chunks.reduce((a, c) => a + sumOf(c), 0) + sumOf(batch) + waiting, n + turns);
    family.pending.push({ ...batch, seq: ++seq });
    assert.equal(await localTotal(counter), n + turns);
  });
});

describe('the lists a drain writes', () => {
  it('are the items the flush script expects, field by field: histogram buckets (classic and native), sums, counts, gauges, creation times', async () => {
    const storage = offlineManager();
    managers.push(storage);
    const h = new Histogram({ name: 'h_seconds', help: 'H.', labelNames: ['path'], buckets: [0.5, 1], nativeHistogramBucketFactor: 1.1, storage, registers: [] });
    const g = new Gauge({ name: 'g', help: 'G.', labelNames: ['path'], storage, registers: [] });
    for (const x of [0.25, 0.75, 0.75, 3, -2, 0]) h.observe({ path: 'é/ü' }, x);
    g.set({ path: '/a' }, -1.25);
    const hb = await drainFamily(h.family!, 1, Date.now(), { reset: false, meta: true, allPerProcess: false });
    const schema = schemaForFactor(1.1);
    const field = '["é/ü"]';
    const bucket = (sign: string, x: number) => `${field}#n${sign}${schema}:${bucketIndex(x, schema)}`;
    assert.deepEqual(hb.sums.items(), [
      `${field}#0.5`, '3', `${field}#1`, '2', `${field}#+Inf`, '1', `${field}#sum`, '2.75', `${field}#count`, '6',
      bucket('+', 0.25), '1', bucket('+', 0.75), '2', bucket('+', 3), '1', bucket('-', 2), '1', `${field}#nz:${2 ** -128}`, '1',
    ]);
    assert.deepEqual(hb.sums.bytes(), Buffer.from(hb.sums.items().join('\n')));
    assert.deepEqual(hb.created.items(), [field, String(h.family!.series.values.values().next().value!.createdAtMs)]);
    const gb = await drainFamily(g.family!, 1, Date.now(), { reset: false, meta: true, allPerProcess: false });
    assert.deepEqual([gb.sets.items(), gb.sums.count, gb.created.count], [['["/a"]', '-1.25'], 0, 0]);
  });
});
