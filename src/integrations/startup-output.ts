import type { Readable, Writable } from 'node:stream';

const MAX_HELD_BYTES = 1 << 20;

export interface TrackedOutput {
  /** Writes what was held back and passes the rest through from now on. */
  release(): void;
  /**
   * For a worker that exited before it listened: writes what it printed unless a worker before it
   * printed exactly that (the same start-up error of every try and every worker, shown once), once
   * the rest of its output has been read. Resolves with whether it was such a repeat.
   */
  releaseUnlessSeen(): Promise<boolean>;
}

/**
 * The stderr of the launcher's workers. A worker's output is held back until it listens, exits,
 * has run `holdMs` (an app that never listens still gets its output through) or has printed
 * 1 MiB, so that a start-up failure repeated by every worker and every retry is shown once.
 */
export class StartupOutput {
  readonly #seen = new Set<string>();

  constructor(readonly holdMs: number) {}

  track(from: Readable, to: Writable): TrackedOutput {
    const held: Buffer[] = [];
    let heldBytes = 0;
    let isHolding = true;
    const onData = (chunk: Buffer): void => {
      if (!isHolding) {
        to.write(chunk);
        return;
      }
      held.push(chunk);
      heldBytes += chunk.length;
      // A worker that prints this much is not failing to start the same way as the last one.
      if (heldBytes > MAX_HELD_BYTES) release();
    };
    from.on('data', onData);
    const timer = setTimeout(() => release(), this.holdMs);
    timer.unref();
    // The rest of a worker's output can still be in the pipe when it exits (bounded: a grandchild
    // of the worker may hold the pipe open).
    const drained = new Promise<void>((resolve) => {
      const bound = setTimeout(resolve, 1_000);
      from.once('close', () => {
        clearTimeout(bound);
        resolve();
      });
    });
    const release = (): void => {
      if (!isHolding) return;
      isHolding = false;
      clearTimeout(timer);
      for (const chunk of held.splice(0)) to.write(chunk);
    };
    return {
      release,
      releaseUnlessSeen: async () => {
        clearTimeout(timer);
        await drained;
        if (!isHolding) return false;
        const text = Buffer.concat(held).toString('utf8');
        const isRepeat = text !== '' && this.#seen.has(text);
        if (isRepeat) held.length = 0;
        else this.#seen.add(text);
        release();
        return isRepeat;
      },
    };
  }
}
