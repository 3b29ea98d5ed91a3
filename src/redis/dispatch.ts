// The library's own timers come from node:timers, not the globals: an app's fake timers (Jest's
// useFakeTimers) must not stop a collect or a flush.
import { setImmediate } from 'node:timers';
import { Cluster } from 'ioredis';
import type { ChainableCommander } from 'ioredis';
import { AuthError, RedisOperationError } from '../errors.js';
import type { ResolvedConfig } from '../config.js';
import { slotOf, type RedisConnection } from './connect.js';
import { explainCommandError, redirectionOf, waitShortfall } from './connection-errors.js';
import { SCRIPTS } from './scripts.js';
import { PackedList } from './packed-list.js';

/** One command of a batch; `key` routes it to its node in Redis Cluster. */
export interface RedisCommand {
  readonly name: string;
  readonly args: readonly (string | number | PackedList)[];
  readonly key?: string;
}

/** A command's weight in a pipeline slice: one per argument, a packed list its items. */
function weightOf(args: RedisCommand['args']): number {
  let w = 0;
  for (const a of args) w += a instanceof PackedList ? Math.max(1, a.count) : 1;
  return w;
}

/** A packed list goes as its bytes, which ioredis copies into the command as they are. */
function sendable(args: RedisCommand['args']): (string | number | Buffer)[] {
  return args.map((a) => (a instanceof PackedList ? a.bytes() : a));
}

export type Reply = { readonly error: Error | null; readonly value: unknown };

/** What one delivery needs from the client that owns the connection. */
export interface Delivery {
  readonly redis: RedisConnection;
  readonly config: ResolvedConfig;
  readonly what: string;
  readonly waitReplicas: number;
  /** `Date.now()` past which nothing is sent again (the caller settles what is still open). */
  readonly deadline: number;
  /** Records a command's final reply; the first call per index counts. */
  readonly settle: (index: number, reply: Reply) => void;
  readonly onAuthError: (error: AuthError) => void;
  /** A fresh slot table (one refresh shared by the nodes that ask for it at once). */
  readonly refreshSlots: () => Promise<void>;
}

/**
 * Delivers commands node by node. Each node's pipeline settles its commands as soon as that node
 * answers, whatever the other nodes do: a dead master or a slot stuck in migration costs its own
 * commands time, never another node's. Redirected commands (see redirectionOf) are retried on
 * their own: ASK and TRYAGAIN one by one (ioredis follows ASK with ASKING and waits TRYAGAIN out
 * briefly), MOVED, CLUSTERDOWN and closed connections once more after a slot-table refresh. What
 * still fails settles with its error; the caller keeps the data and tries again later.
 */
export async function deliver(commands: readonly RedisCommand[], indexes: readonly number[], d: Delivery): Promise<void> {
  await Promise.all(groupByNode(d.redis, commands, indexes).map((group) => deliverGroup(commands, group, 1, d)));
}

async function deliverGroup(commands: readonly RedisCommand[], group: readonly number[], attempt: number, d: Delivery): Promise<void> {
  const replies = await runGroup(commands, group, d);
  const alone: number[] = [];
  const again: number[] = [];
  let refresh = false;
  group.forEach((i, j) => {
    const reply = replies[j]!;
    const kind = d.redis instanceof Cluster ? redirectionOf(reply.error) : undefined;
    if (kind === undefined || Date.now() >= d.deadline) d.settle(i, reply);
    else if (kind === 'ask' || kind === 'tryagain' || (kind === 'moved' && attempt > 1)) alone.push(i);
    else if (attempt > 1) d.settle(i, reply);
    else {
      again.push(i);
      if (kind !== 'regroup') refresh = true;
    }
  });
  const work: Promise<void>[] = alone.map(async (i) => d.settle(i, await runAlone(commands[i]!, d)));
  if (again.length > 0) {
    work.push(
      (async () => {
        if (refresh) await d.refreshSlots();
        await Promise.all(groupByNode(d.redis, commands, again).map((g) => deliverGroup(commands, g, attempt + 1, d)));
      })(),
    );
  }
  await Promise.all(work);
}

/**
 * Runs one node's commands. Encoding 100,000 series' worth of arguments at once would block the
 * event loop: they go as several pipelines, one slice per tick. They share the node's connection,
 * so Redis runs them in order (a pipeline was never atomic anyway), and the WAIT that ends the last
 * one covers the writes of all of them. Returns one reply per command of the group.
 */
async function runGroup(commands: readonly RedisCommand[], group: readonly number[], d: Delivery): Promise<Reply[]> {
  const { waitReplicas, what, config } = d;
  const results: Array<[Error | null, unknown]> = new Array(group.length + (waitReplicas > 0 ? 1 : 0));
  const execs: Promise<void>[] = [];
  for (let start = 0; start < group.length; ) {
    const from = start;
    let args = 0;
    while (start < group.length && (start === from || args < ARGS_PER_PIPELINE)) args += weightOf(commands[group[start++]!]!.args);
    const isLast = start === group.length;
    const pipeline = d.redis.pipeline();
    for (let j = from; j < start; j++) addCommand(pipeline, commands[group[j]!]!);
    if (isLast && waitReplicas > 0) pipeline.call('wait', waitReplicas, config.waitTimeoutMs);
    const count = start - from + (isLast && waitReplicas > 0 ? 1 : 0);
    execs.push(
      pipeline.exec().then(
        (r) => {
          for (let j = 0; j < count; j++) results[from + j] = r?.[j] ?? [new RedisOperationError(`${what}: no reply`), null];
        },
        // ioredis refuses a whole Cluster pipeline whose keys its slot table places on two nodes
        // (a table refreshed between two slices): these commands are regrouped and sent again.
        (error: Error) => {
          for (let j = 0; j < count; j++) results[from + j] = [error, null];
        },
      ),
    );
    if (!isLast) await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all(execs);
  let shortfall: Error | undefined;
  if (waitReplicas > 0) {
    const [waitError, acknowledged] = results[group.length] ?? [new RedisOperationError(`${what}: no reply to WAIT`), 0];
    if (waitError) shortfall = explainCommandError(waitError, config, what) ?? waitError;
    else if (Number(acknowledged) < waitReplicas) shortfall = waitShortfall(acknowledged, waitReplicas, config.waitTimeoutMs);
  }
  return group.map((_, j) => {
    const r = results[j];
    let error = r === undefined ? new RedisOperationError(`${what}: no reply`) : r[0];
    if (error) error = explainCommandError(error, config, what) ?? error;
    // A command redirected elsewhere was not applied here: WAIT says nothing about it.
    else if (shortfall) error = shortfall;
    if (error instanceof AuthError) d.onAuthError(error);
    return error ? { error, value: null } : { error: null, value: r![1] };
  });
}

async function runAlone(command: RedisCommand, d: Delivery): Promise<Reply> {
  const { redis, config, what, waitReplicas } = d;
  try {
    const fn = (redis as unknown as Record<string, unknown>)[command.name];
    const value = typeof fn === 'function' && command.name.replace(/Buffer$/, '') in SCRIPTS
      ? await (fn as (...a: unknown[]) => Promise<unknown>).apply(redis, sendable(command.args))
      : await redis.call(command.name, ...sendable(command.args));
    // Its WAIT would go to another connection than the write: let the next flush re-send it
    // (a no-op by the seq) in a pipeline whose WAIT covers this write.
    return waitReplicas > 0 ? { error: waitShortfall('unknown', waitReplicas, config.waitTimeoutMs), value: null } : { error: null, value };
  } catch (error) {
    const e = error as Error;
    const explained = explainCommandError(e, config, what);
    if (explained instanceof AuthError) d.onAuthError(explained);
    return { error: explained ?? e, value: null };
  }
}

/**
 * Groups command indexes by the nodes ioredis would send them to. The group is the slot's whole
 * node list (master first), as ioredis itself checks a Cluster pipeline: grouping by master alone
 * would mix slots whose lists differ after a MOVED and have the pipeline refused.
 */
function groupByNode(redis: RedisConnection, commands: readonly RedisCommand[], indexes: readonly number[]): number[][] {
  if (!(redis instanceof Cluster)) return [[...indexes]];
  const byNode = new Map<string, number[]>();
  for (const i of indexes) {
    const key = commands[i]!.key;
    const node = key === undefined ? 'any' : (redis.slots[slotOf(key)]?.join(';') ?? 'any');
    let list = byNode.get(node);
    if (!list) byNode.set(node, (list = []));
    list.push(i);
  }
  // Keyless commands (TIME) ride with any node's pipeline.
  const any = byNode.get('any');
  if (any && byNode.size > 1) {
    byNode.delete('any');
    byNode.values().next().value!.push(...any);
  }
  return [...byNode.values()];
}

/** Arguments per pipeline: a few milliseconds of encoding. */
const ARGS_PER_PIPELINE = 20_000;

function addCommand(pipeline: ChainableCommander, command: RedisCommand): void {
  const fn = (pipeline as unknown as Record<string, unknown>)[command.name];
  // `<script>Buffer` is ioredis' variant of a script command that leaves bulk replies as Buffers.
  if (typeof fn === 'function' && command.name.replace(/Buffer$/, '') in SCRIPTS) {
    (fn as (...a: unknown[]) => unknown).apply(pipeline, sendable(command.args));
  } else {
    pipeline.call(command.name, ...sendable(command.args));
  }
}
