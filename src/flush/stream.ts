// The library's own timers come from node:timers, not the globals: an app's fake timers must not stop a flush.
import { setImmediate } from 'node:timers';
import { RedisOperationError } from '../errors.js';
import type { Reply } from '../redis/client.js';
import type { FamilyBatch } from '../store/family.js';

/**
 * The parts of one family sent while it is drained (drainFamily's `onSums`), then the rest of its
 * batches: Redis adds the first sums while the client drains the rest. The family's batches must
 * apply in seq order (a later seq applied first makes the retry of an earlier one look done, and
 * its deltas would be lost), so a part is sent only while every part before it is applied as far
 * as the replies tell, and the rest once they all are; what is not sent answers NOT_SENT and waits
 * in the outbox for the next round, which re-sends the family's batches in order.
 */
export class FamilyStream {
  /** One reply per batch handed over, in order: the parts, then the rest. */
  readonly replies: Promise<Reply>[] = [];
  #isBroken = false;
  /** Parts sent and not answered yet. */
  #open = 0;
  /** Called when a part's reply comes (a drain waiting for room: see part()). */
  #onReply: (() => void) | undefined = undefined;

  constructor(readonly send: (batches: readonly FamilyBatch[]) => Promise<Reply>[]) {}

  /**
   * A part, already in the outbox with its seq. Returns a promise when MAX_OPEN_PARTS parts are
   * waiting for their replies: the drain waits for it before it drains more. Redis applies the parts
   * one after the other, so a drain that ran ahead would only hold more of them in flight, each with
   * its command, pipeline and promises (~10 KB of objects a part): at a million series, ~5 MB that
   * every young-generation collection during the flush had to copy (11-13 ms, perf/README.md 5b).
   */
  part(batch: FamilyBatch): Promise<void> | undefined {
    if (this.#isBroken) {
      this.replies.push(Promise.resolve(NOT_SENT));
      return undefined;
    }
    const [reply] = this.send([batch]);
    this.#open++;
    this.replies.push(
      reply!.then((r) => {
        if (!isApplied(r)) this.#isBroken = true;
        this.#open--;
        const onReply = this.#onReply;
        this.#onReply = undefined;
        onReply?.();
        return r;
      }),
    );
    if (this.#open < MAX_OPEN_PARTS) return undefined;
    // The drain goes on in a turn of its own, not in the promise callbacks of the reply: there a
    // collect's reply, parsed from the same socket read, could run between the end of the drain and
    // the flusher's putting its last batch in the outbox, and miss that batch's sums.
    return new Promise<void>((resolve) => (this.#onReply = () => setImmediate(resolve)));
  }

  /** The family's other batches (after the drain), sent together once every part is applied. */
  rest(batches: readonly FamilyBatch[]): void {
    if (batches.length === 0) return;
    const replies = Promise.all(this.replies).then((parts) => (parts.every(isApplied) ? Promise.all(this.send(batches)) : batches.map(() => NOT_SENT)));
    for (let i = 0; i < batches.length; i++) this.replies.push(replies.then((r) => r[i]!));
  }
}

/**
 * Parts in flight at most while a family drains: ~32,000 pairs, some 45 ms of Redis's work queued
 * behind the one it runs, so that it never waits for the client. Measured (flushes of 100k counters,
 * builds alternating): with 16, 0.69-0.91M series/s against 0.56-0.65M without a bound, and client
 * CPU within the same spread; with 4, the client CPU was ~15% higher. At a million series the parts
 * in flight (~10 KB of objects each) stay below ~0.2 MB, where ~500 of them were ~5 MB.
 */
const MAX_OPEN_PARTS = 16;

/** A flush script's reply that says the batch is in Redis (applied now or before). */
function isApplied(reply: Reply): boolean {
  return reply.error === null && Array.isArray(reply.value) && Number(reply.value[0]) >= 0;
}

/** The reply of a batch not sent, because one before it was not applied. */
const NOT_SENT: Reply = { error: new RedisOperationError('flush: not sent, an earlier part of the family was not applied; kept for the next flush'), value: null };
