// A TCP proxy in front of a Redis port, to make the network misbehave on purpose: latency, cut
// connections, a black hole, refused connections, and a cut right after a given command left.
//
// The proxy's server and sockets are unref()ed, so a proxy a test forgot to close does not keep
// the test file alive; whatever the test awaits (a client's reply) keeps the loop running.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { LOCALHOST } from './redis-server.js';
import { keepAlive } from './reaper.js';

export type DelayDirection = 'toClient' | 'toServer' | 'both';

/** One client connection and its upstream connection. */
export interface ProxyConnection {
  readonly id: number;
  /** Cuts this connection as cutAll() cuts every one. */
  cut(): void;
}

/** Called with each chunk once it has been handed to the kernel on its way. */
export type ChunkListener = (chunk: Buffer, connection: ProxyConnection) => void;

export interface TcpProxy {
  readonly host: string;
  readonly port: number;
  readonly targetPort: number;
  /** Connections open now. */
  readonly connectionCount: number;
  /**
   * Delays every chunk by `ms`, in order. The default direction, 'toClient', delays replies: the
   * command reaches Redis at once and a round trip takes `ms` longer. 'both' delays each way by `ms`.
   */
  setDelay(ms: number, direction?: DelayDirection): void;
  /**
   * Destroys every client connection now. Chunks not yet forwarded are dropped; the upstream side is
   * ended gracefully, so a command already forwarded is still executed by Redis (its reply is lost).
   */
  cutAll(): void;
  /**
   * While on, connections are accepted and data in both directions is dropped. Turning it off does
   * not bring back what was dropped: a client that lost a reply is out of step, so cutAll() after.
   */
  blackhole(isOn: boolean): void;
  /** While on, new connections are reset as soon as they are accepted (ECONNRESET for the client). */
  refuse(isOn: boolean): void;
  /**
   * While on, replies are kept (`onHeld` sees each chunk); turning it off hands everything kept to
   * the client in one write, so that it reads replies that Redis sent apart in one socket read.
   */
  holdReplies(isOn: boolean): void;
  /** Listens to server→client chunks kept by holdReplies(); returns a function that removes the listener. */
  onHeld(listener: ChunkListener): () => void;
  /** Listens to client→server chunks; returns a function that removes the listener. */
  onForward(listener: ChunkListener): () => void;
  /** Listens to server→client chunks; returns a function that removes the listener. */
  onReply(listener: ChunkListener): () => void;
  /** Cuts every connection and stops listening. */
  close(): Promise<void>;
}

interface Delays {
  toClientMs: number;
  toServerMs: number;
}

/** Forwards chunks from one socket to another in order, each no earlier than its due time. */
class OneWay {
  #queue: Array<{ chunk: Buffer; dueAtMs: number }> = [];
  #timer: NodeJS.Timeout | undefined;
  #held: Buffer[] = [];

  constructor(
    private readonly sink: Socket,
    private readonly delayMs: () => number,
    private readonly isDropping: () => boolean,
    private readonly afterWrite: (chunk: Buffer) => void,
    private readonly isHolding: () => boolean = () => false,
    private readonly onHeld: (chunk: Buffer) => void = () => {},
  ) {}

  push(chunk: Buffer): void {
    if (this.isDropping()) return;
    if (this.isHolding()) {
      this.#held.push(chunk);
      this.onHeld(chunk);
      return;
    }
    this.#queue.push({ chunk, dueAtMs: Date.now() + this.delayMs() });
    this.#pump();
  }

  /** Sends what was held, as one chunk. */
  release(): void {
    if (this.#held.length === 0) return;
    const chunk = Buffer.concat(this.#held);
    this.#held = [];
    this.push(chunk);
  }

  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue = [];
    this.#held = [];
  }

  #pump(): void {
    if (this.#timer !== undefined) return;
    for (let head = this.#queue[0]; head !== undefined; head = this.#queue[0]) {
      const waitMs = head.dueAtMs - Date.now();
      if (waitMs > 0) {
        this.#timer = setTimeout(() => {
          this.#timer = undefined;
          this.#pump();
        }, waitMs);
        return;
      }
      this.#queue.shift();
      if (this.sink.destroyed || this.isDropping()) continue;
      const { chunk } = head;
      this.sink.write(chunk, (error) => {
        if (!error) this.afterWrite(chunk);
      });
    }
  }
}

/** Starts a proxy on a free port of 127.0.0.1 that forwards to `targetPort` on 127.0.0.1. */
export async function startProxy(targetPort: number, targetHost = LOCALHOST): Promise<TcpProxy> {
  const delays: Delays = { toClientMs: 0, toServerMs: 0 };
  let isBlackholed = false;
  let isRefusing = false;
  let isHolding = false;
  let nextId = 1;
  const cutters = new Map<number, () => void>();
  const releasers = new Set<() => void>();
  const forwardListeners = new Set<ChunkListener>();
  const replyListeners = new Set<ChunkListener>();
  const heldListeners = new Set<ChunkListener>();

  const server: Server = createServer((client) => {
    client.on('error', () => {});
    client.unref();
    if (isRefusing) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect({ port: targetPort, host: targetHost });
    upstream.on('error', () => {});
    upstream.unref();
    const connection: ProxyConnection = { id: nextId++, cut: () => cut() };
    const toServer = new OneWay(upstream, () => delays.toServerMs, () => isBlackholed, (chunk) => {
      for (const listener of forwardListeners) listener(chunk, connection);
    });
    const toClient = new OneWay(
      client,
      () => delays.toClientMs,
      () => isBlackholed,
      (chunk) => {
        for (const listener of replyListeners) listener(chunk, connection);
      },
      () => isHolding,
      (chunk) => {
        for (const listener of heldListeners) listener(chunk, connection);
      },
    );
    const release = () => toClient.release();
    releasers.add(release);
    client.on('data', (chunk: Buffer) => toServer.push(chunk));
    upstream.on('data', (chunk: Buffer) => toClient.push(chunk));

    let isCut = false;
    function cut(): void {
      if (isCut) return;
      isCut = true;
      cutters.delete(connection.id);
      releasers.delete(release);
      toServer.clear();
      toClient.clear();
      client.destroy();
      // end(), not destroy(): Redis still reads (and executes) what was already forwarded.
      upstream.end();
      upstream.once('close', () => upstream.destroy());
    }
    cutters.set(connection.id, cut);
    client.once('close', cut);
    upstream.once('close', () => {
      cut();
      upstream.destroy();
    });
  });
  server.unref();

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host: LOCALHOST }, () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('Expected a TCP address');

  const cutAll = (): void => {
    for (const cut of [...cutters.values()]) cut();
  };
  const subscribe = (listeners: Set<ChunkListener>, listener: ChunkListener) => {
    listeners.add(listener);
    return () => void listeners.delete(listener);
  };

  return {
    host: LOCALHOST,
    port: address.port,
    targetPort,
    get connectionCount() {
      return cutters.size;
    },
    setDelay(ms, direction = 'toClient') {
      if (!Number.isFinite(ms) || ms < 0) throw new TypeError(`Expected \`ms\` to be a finite number >= 0, got \`${ms}\``);
      if (direction !== 'toServer') delays.toClientMs = ms;
      if (direction !== 'toClient') delays.toServerMs = ms;
    },
    cutAll,
    blackhole(isOn) {
      isBlackholed = isOn;
    },
    refuse(isOn) {
      isRefusing = isOn;
    },
    holdReplies(isOn) {
      isHolding = isOn;
      if (!isOn) for (const release of [...releasers]) release();
    },
    onHeld: (listener) => subscribe(heldListeners, listener),
    onForward: (listener) => subscribe(forwardListeners, listener),
    onReply: (listener) => subscribe(replyListeners, listener),
    close() {
      cutAll();
      return keepAlive(new Promise<void>((resolve) => server.close(() => resolve())));
    },
  };
}
