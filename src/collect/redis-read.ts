// The collector's Redis read: two pipelined round trips (the index and the process registries,
// then one atomic read per family), everything read checked and bounded (meta.ts, decode.ts,
// bad-data.ts), the restore gate asked (restore-gate.ts), and this process's own unflushed state
// added in the same tick as the replies (snapshot.ts). The merge and the rendering are collector.ts'.
import type { ResolvedConfig } from '../config.js';
import type { Logger } from '../log.js';
import { seqFieldOf, type ProcessIdentity } from '../identity.js';
import type { RedisStorageClient } from '../redis/client.js';
import { PromClientRedisError, RedisOperationError, RestoringError } from '../errors.js';
import type { Pacer } from '../pacer.js';
import type { MetricFamily } from '../store/family.js';
import type { RedisStorageDict } from '../store/storage-dict.js';
import type { Exemplar } from '../store/values.js';
import { GAUGE_MODES } from '../store/definition.js';
import { flatPairs, garbageOr, parseExemplar, processIds, zsetEntries, zsetScores } from './decode.js';
import { parseMeta } from './meta.js';
import type { BadDataReporter } from './bad-data.js';
import { smallestPaced } from './paced-sort.js';
import type { RestoreGate } from './restore-gate.js';
import { RoundingFloor } from './rounding-floor.js';
import { addLocalExemplars, addLocalCreated, addLocalCreatedByTable, feedOf, localProcessFields, settleLocalSums, takeLocalSums, metaOfFamily, type FamilyMeta, type FamilySnapshot, type ProcessFields } from './snapshot.js';
import type { CounterTable, CounterValues } from './counter-table.js';
import { createdByTable, sumsByTable, tableFromReply, tableWithChange, type LocalFeed } from './counter-read.js';

/** A counter table made for a family, and, when changed from another (its field i now at `at[i]`, -1: gone), from which. */
interface MadeTable {
  readonly table: CounterTable;
  readonly moved: { readonly from: CounterTable; readonly at: Int32Array; readonly added: number } | undefined;
}

/** Reads made in a row before a collect that keeps finding them stale gives up (a loss per read: not expected). */
const STALE_READS = 3;

/** What a families index entry may be: a family hash (familyHash()) and a type segment of our keys. */
const FAMILY_HASH = /^[0-9a-f]{16}$/;
const TYPE_MODES: ReadonlySet<string> = new Set(['counter', 'histogram', 'summary', ...GAUGE_MODES.map((m) => `gauge_${m}`)]);

interface FamilyRead {
  readonly hash: string;
  readonly typeMode: string;
  readonly local: MetricFamily | undefined;
  readonly processIds: readonly string[];
}

/** What the read needs of its collector. */
export interface RedisReadParts {
  readonly dict: RedisStorageDict;
  readonly identity: ProcessIdentity;
  readonly config: ResolvedConfig;
  readonly logger: Logger;
}

export class RedisFamilyReader {
  readonly #parts: RedisReadParts;
  readonly #bad: BadDataReporter;
  readonly #gate: RestoreGate;
  /** Keeps float sums from going down by a rounding error (see RoundingFloor). */
  readonly #floor = new RoundingFloor();
  /** Counter tables being built or changed, by family and label names: a scrape that needs one waits for it. */
  readonly #building = new Map<string, Promise<MadeTable | null>>();
  /** The pacers of the builds running, which stop() expires. */
  readonly #buildPacers = new Set<Pacer>();

  constructor(parts: RedisReadParts, bad: BadDataReporter, gate: RestoreGate) {
    this.#parts = parts;
    this.#bad = bad;
    this.#gate = gate;
  }

  /**
   * Stops the table builds running (see #build) at their next slice: a process shutting down is
   * not kept alive by them (seconds at 1M series), nor their reply buffers kept. A scrape waiting
   * for one rejects (ERR_PCR_SHUTDOWN). A later scrape reads as usual (a connection the caller
   * passed in stays open after shutdown).
   */
  stop(): void {
    for (const pacer of this.#buildPacers) pacer.expire();
  }

  /** Waits for the first connection (within the collect's time), then reads. */
  async read(client: RedisStorageClient, pacer: Pacer, only?: readonly MetricFamily[], withCreated = false, tables?: Map<string, CounterTable>): Promise<{ snapshots: FamilySnapshot[]; live: Set<string> }> {
    // A read that a loss made stale (see #readOnce) is made again: sent after the flush reply that
    // told of the loss, on the same connection, it is answered after the loss.
    for (let attempt = 1; ; attempt++) {
      const read = await this.#readOnce(client, pacer, only, withCreated, tables);
      if (read) return read;
      if (attempt === STALE_READS) throw new RestoringError('collect: Redis lost a family of this process while it was being read');
    }
  }

  /** One read; undefined when it must not be merged (it read Redis before a loss this process has since handled). */
  async #readOnce(client: RedisStorageClient, pacer: Pacer, only: readonly MetricFamily[] | undefined, withCreated: boolean, tables: Map<string, CounterTable> | undefined): Promise<{ snapshots: FamilySnapshot[]; live: Set<string> } | undefined> {
    const { dict, identity, config } = this.#parts;
    const bad = this.#bad;
    // (Right after start, client.run() waits for the first connection within this time.)
    const left = () => Math.max(1, Math.round(pacer.deadline - performance.now()));
    const keys = client.keys;
    const localNowMs = Date.now();
    const [index, all, liveSet, time, restoringSet] = await client.run(
      [
        only ? { name: 'time', args: [] } : { name: 'hgetall', args: [keys.families()], key: keys.families() },
        { name: 'zrange', args: [keys.processes(), 0, -1, 'WITHSCORES'], key: keys.processes() },
        { name: 'zrange', args: [keys.live(), 0, -1, 'WITHSCORES'], key: keys.live() },
        { name: 'time', args: [] },
        { name: 'zrange', args: [keys.restoring(), 0, -1, 'WITHSCORES'], key: keys.restoring() },
      ],
      left(),
      'collect',
    );
    pacer.check();
    if (time!.error) throw new RedisOperationError(`collect: ${time!.error.message}`, { cause: time!.error });
    const [sec, usec] = time!.value as [string, string];
    const redisNowMs = Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
    const clockOffsetMs = redisNowMs - Math.round((localNowMs + Date.now()) / 2);
    const allFlat = garbageOr(all!, bad);
    const liveFlat = garbageOr(liveSet!, bad);
    const everyone = processIds(zsetEntries(allFlat, -Infinity), config.maxProcessesPerFamily, bad);
    // Each score is its writer's own deadline (last heartbeat + that writer's REDIS_LIVE_TIMEOUT_MS).
    const live = new Set(processIds(zsetEntries(liveFlat, redisNowMs), config.maxProcessesPerFamily, bad));
    live.add(identity.id);

    // Families: the index, plus this process's own (maybe not flushed yet).
    const reads = new Map<string, FamilyRead>();
    const localByHash = new Map<string, MetricFamily>();
    for (const f of only ?? dict.families.values()) if (!f.isOverLimit) localByHash.set(`${f.hash}|${f.typeMode}`, f);
    const addRead = (hash: string, typeMode: string) => {
      const id = `${hash}|${typeMode}`;
      if (reads.has(id)) return;
      const local = localByHash.get(id);
      const perProcess = typeMode.startsWith('gauge') || typeMode === 'summary';
      const ids = !perProcess ? [] : (typeMode.startsWith('gauge_live') ? [...live] : everyone).filter((p) => !(local && p === identity.id));
      reads.set(id, { hash, typeMode, local, processIds: ids });
    };
    // This process's own families first: they are read whatever the index holds.
    for (const f of localByHash.values()) addRead(f.hash, f.typeMode);
    // Whether this read saw every family of the index (a family left out past maxFamilies is no loss).
    let readsAll = !only;
    if (!only) {
      // ioredis turns an HGETALL reply into an object.
      const indexValue = garbageOr(index!, bad);
      const entries = (indexValue !== null && typeof indexValue === 'object' ? indexValue : {}) as Record<string, string>;
      // An entry becomes key names: a hash with braces or a type we do not write is no family of ours.
      // (for...in, not Object.entries: no 50,000 pairs built in one block for a hostile index.)
      let ids: string[] = [];
      for (const hash in entries) {
        const typeMode = entries[hash]!;
        if (FAMILY_HASH.test(hash) && TYPE_MODES.has(typeMode)) ids.push(`${hash}|${typeMode}`);
        else bad.bad('index');
        const pause = pacer.step();
        if (pause) await pause;
      }
      // Past maxFamilies, the same ones at every scrape: the first by hash (this process's own are
      // read whatever their hash).
      ids = ids.filter((id) => !reads.has(id));
      const room = Math.max(0, config.maxFamilies - reads.size);
      const skipped = Math.max(0, ids.length - room);
      if (skipped > 0) ids = await smallestPaced(ids, room, pacer);
      for (const id of ids) addRead(id.slice(0, 16), id.slice(17));
      if (skipped > 0) {
        bad.bad('too-many-families', skipped);
        readsAll = false;
      }
    }

    const list = [...reads.values()];
    const seqField = seqFieldOf(identity);
    // Built a slice at a time: with 10,000 processes in the registry, each gauge family names 10,000 keys.
    const commands: Array<{ name: string; args: Array<string | number>; key: string }> = [];
    for (const r of list) {
      const ks = [keys.meta(r.typeMode, r.hash), keys.cluster(r.typeMode, r.hash), keys.seq(r.typeMode, r.hash), keys.exemplar(r.typeMode, r.hash), keys.created(r.typeMode, r.hash), ...r.processIds.map((p) => keys.process(r.typeMode, p, r.hash))];
      // The Buffer variant: ioredis would otherwise turn every bulk string of a 100,000-field reply
      // into a string in one synchronous pass; flatPairs() does it a slice at a time instead.
      // With the family's epoch, its birth and whether it began from a loss (the last three values), for the restore gate.
      commands.push({ name: 'pcrReadFamilyBuffer', args: [ks.length, ...ks, seqField, withCreated ? '1' : '0', '1'], key: ks[0]! });
      const pause = pacer.step();
      if (pause) await pause;
    }
    const replies = await client.run(commands, left(), 'collect');
    pacer.check();
    // A family Redis could not read fails the collect: serving it from local data alone would look
    // like a counter reset. (Garbage inside a family is handled by the script and skipped below.)
    const failed = replies.findIndex((reply) => reply.error);
    if (failed !== -1) {
      throw new RedisOperationError(`collect: reading family ${list[failed]!.hash} failed: ${replies[failed]!.error!.message}`, { cause: replies[failed]!.error });
    }
    const epochs = new Map<string, { epoch: string; bornMs: number; afterLoss: boolean }>();
    for (let i = 0; i < list.length; i++) {
      const value = replies[i]!.value as unknown[];
      const [epoch, born, afterLoss] = value.slice(-3);
      const bornMs = Number(born);
      epochs.set(`${list[i]!.hash}|${list[i]!.typeMode}`, {
        epoch: Buffer.isBuffer(epoch) ? epoch.toString('latin1') : typeof epoch === 'string' ? epoch : '',
        bornMs: Number.isFinite(bornMs) ? bornMs : -1,
        afterLoss: afterLoss === 1,
      });
    }
    const restoringFlat = garbageOr(restoringSet!, bad);
    const held = this.#gate.check({ readsAll, nowMs: redisNowMs, processes: zsetScores(allFlat), live: zsetScores(liveFlat), restoring: zsetScores(restoringFlat), epochs });
    if (held) throw new RestoringError(`collect: ${held}`);
    // A flush reply handled since this read's reply arrived (both can come in one socket read, and
    // the flush's handlers run first) may have found one of this process's families lost: the
    // outbox and totals added below then describe Redis after the loss (everything to re-send,
    // unacknowledged batches dropped), while this read saw Redis before it, still holding this
    // process's part in the epoch lost. Merged, that part would count twice, and the next answer
    // would look lower.
    for (const r of list) {
      if (r.local && r.local.lostEpoch !== '' && epochs.get(`${r.hash}|${r.typeMode}`)!.epoch === r.local.lostEpoch) return undefined;
    }
    // This process's own state is read in the same tick as the replies, against the seq Redis
    // reported: a batch in flight is then counted exactly once. The rest may take several ticks.
    const locals = list.map((r, i) => {
      if (!r.local) return undefined;
      const sums = takeLocalSums(r.local, Number((replies[i]!.value as unknown[])[2]));
      const exemplars = new Map<string, Exemplar>();
      addLocalExemplars(r.local, exemplars);
      return { sums, exemplars, fields: localProcessFields(r.local, clockOffsetMs) };
    });
    const snapshots: FamilySnapshot[] = [];
    for (let i = 0; i < list.length; i++) {
      const r = list[i]!;
      const [metaFlat, clusterFlat, , exemplarFlat, createdFlat, ...procs] = (replies[i]!.value as unknown[]).slice(0, -3) as [unknown, unknown, number, unknown, unknown, ...unknown[]];
      const meta = r.local ? metaOfFamily(r.local) : parseMeta(metaFlat, r.hash, r.typeMode, config);
      const paused = pacer.due();
      if (paused) await paused;
      if (typeof meta === 'string') {
        bad.bad(meta);
        continue;
      }
      const taken = locals[i];
      if (tables && r.typeMode === 'counter') {
        const feed = taken && { sums: () => feedOf(taken.sums), exemplars: taken.exemplars };
        const counters = await this.#readCounters(meta, r, clusterFlat, exemplarFlat, createdFlat, feed, tables, withCreated, clockOffsetMs, pacer);
        if (counters) {
          snapshots.push({ meta, sums: new Map(), processes: new Map(), exemplars: new Map(), created: undefined, local: r.local, counters });
          continue;
        }
      }
      const local = taken && { ...taken, sums: await settleLocalSums(taken.sums, pacer) };
      const sums = new Map<string, number>();
      for (const [f, v] of flatPairs(clusterFlat, bad)) {
        const x = Number(v);
        if (v === '' || Number.isNaN(x)) bad.bad('value');
        else sums.set(f, x);
        const pause = pacer.step();
        if (pause) await pause;
      }
      const exemplars = new Map<string, Exemplar>();
      for (const [f, v] of flatPairs(exemplarFlat, bad)) {
        const e = parseExemplar(v);
        if (e) exemplars.set(f, e);
        else bad.bad('exemplar');
      }
      const created = new Map<string, number>();
      if (withCreated) for (const [f, v] of flatPairs(createdFlat, bad)) {
        const ms = Number(v);
        if (v !== '' && Number.isSafeInteger(ms) && ms >= 0) created.set(f, ms);
        else bad.bad('created');
        const pause = pacer.step();
        if (pause) await pause;
      }
      const processes = new Map<string, ProcessFields>();
      for (let j = 0; j < r.processIds.length; j++) {
        const fields = new Map<string, string>();
        for (const [f, v] of flatPairs(procs[j], bad)) {
          fields.set(f, v);
          const pause = pacer.step();
          if (pause) await pause;
        }
        if (fields.size > 0) processes.set(r.processIds[j]!, fields);
      }
      if (local) {
        for (const [f, x] of local.sums) sums.set(f, (sums.get(f) ?? 0) + x);
        for (const [f, e] of local.exemplars) {
          const known = exemplars.get(f);
          if (!known || e.timestamp >= known.timestamp) exemplars.set(f, e);
        }
        processes.set(identity.id, local.fields);
        if (withCreated) addLocalCreated(r.local!, clockOffsetMs, created);
      }
      await this.#floor.apply(`${r.hash}|${r.typeMode}`, sums, pacer);
      snapshots.push({ meta, sums, processes, exemplars, created, local: r.local });
    }
    // Only a read of every family tells which ones are gone.
    if (readsAll) this.#floor.prune(reads);
    return { snapshots, live };
  }

  /**
   * A family's table made by `make` (built from the reply, or changed from the one it had), and
   * kept in `tables` at once. The work goes on past the scrape's deadline (sliced, with no deadline
   * of its own; the scrape itself is answered at its deadline and this work stops after it): the
   * first scrape of a million series spends most of its time building, and a scrape that ran out of
   * time would otherwise leave the next to start again, and the next, so that a machine too slow
   * for one scrape could never serve any. One at a time per family: a scrape that comes meanwhile
   * waits for it.
   */
  async #make(meta: FamilyMeta, tables: Map<string, CounterTable>, pacer: Pacer, isBuild: boolean, make: (own: Pacer) => Promise<MadeTable | null>): Promise<MadeTable | null> {
    const key = `${meta.name}|${meta.labelNames.join(',')}`;
    let making = this.#building.get(key);
    if (!making) {
      const started = performance.now();
      if (isBuild) this.#parts.logger.debug('collect.table_building', { family: meta.name });
      const own = pacer.unbounded(() => new PromClientRedisError('ERR_PCR_SHUTDOWN', `collect: the collector was stopped (shutdown) while the table of ${meta.name} was being ${isBuild ? 'built' : 'changed'}`));
      this.#buildPacers.add(own);
      making = make(own).then(
        (made) => {
          const ms = Math.round(performance.now() - started);
          if (made?.moved) {
            const kept = made.table.size - made.moved.added;
            this.#parts.logger.debug('collect.table_changed', { family: meta.name, added: made.moved.added, gone: made.moved.from.size - kept, ms });
          } else if (made) this.#parts.logger.debug('collect.table_built', { family: meta.name, series: made.table.size, ms });
          return made;
        },
        (error: Error) => {
          const code = (error as Error & { code?: string }).code;
          this.#parts.logger.debug(code === 'ERR_PCR_SHUTDOWN' ? 'collect.table_stopped' : 'collect.table_failed', { family: meta.name, message: error.message });
          throw error;
        },
      );
      this.#building.set(key, making);
      void making
        .finally(() => {
          this.#building.delete(key);
          this.#buildPacers.delete(own);
        })
        .catch(() => {});
    }
    const made = await making;
    // Kept before the deadline is checked: a scrape that timed out still goes on to here (its
    // work stops at the check below), and one that waited for another's work keeps it too.
    if (made) tables.set(meta.name, made.table);
    pacer.check();
    return made;
  }

  /**
   * A counter family read through its table (built from the reply when the family has none, or
   * its fields changed): the same sums, creation times and exemplars as the ordinary read below,
   * with no string or Map entry per series. Null where that read must run instead (counter-read.ts).
   */
  async #readCounters(meta: FamilyMeta, r: FamilyRead, clusterFlat: unknown, exemplarFlat: unknown, createdFlat: unknown, local: { sums: () => LocalFeed; exemplars: Map<string, Exemplar> } | undefined, tables: Map<string, CounterTable>, withCreated: boolean, clockOffsetMs: number, pacer: Pacer): Promise<CounterValues | null> {
    // Only a family that came in packed parts (more than 1,000 series): for a small one the
    // ordinary read costs less than a table, and its few strings are nothing to the garbage collector.
    if (!Array.isArray(clusterFlat)) return null;
    const known = tables.get(meta.name);
    const kept = known?.labelNames === meta.labelNames.join(',') ? known : undefined;
    let got = kept ? await sumsByTable(clusterFlat, kept, local?.sums, pacer) : null;
    let table: CounterTable | undefined = kept;
    let moved: MadeTable['moved'];
    if (got !== null && !(got instanceof Float64Array)) {
      // Series new or gone since the table was made: the table with them, or without.
      const change = got;
      const made = await this.#make(meta, tables, pacer, false, async (own) => {
        const changed = await tableWithChange(kept!, change, meta.labelNames, own);
        return changed && { table: changed.table, moved: { from: kept!, at: changed.at, added: changed.table.size - changed.kept } };
      });
      got = null;
      if (made) {
        table = made.table;
        moved = made.moved;
        got = await sumsByTable(clusterFlat, table, local?.sums, pacer);
      }
    }
    if (!(got instanceof Float64Array)) {
      moved = undefined;
      const made = await this.#make(meta, tables, pacer, true, async (own) => {
        const built = await tableFromReply(clusterFlat, meta.labelNames, own);
        return built && { table: built, moved: undefined };
      });
      if (!made) return null;
      table = made.table;
      got = await sumsByTable(clusterFlat, table, local?.sums, pacer);
      if (!(got instanceof Float64Array)) return null;
    }
    const values = got;
    const read = table!;
    let created: Float64Array | undefined;
    if (withCreated) {
      let badCreated = 0;
      created = (await createdByTable(createdFlat, read, () => badCreated++, pacer)) ?? undefined;
      if (!created) return null;
      if (badCreated > 0) this.#bad.bad('created', badCreated);
      if (r.local) await addLocalCreatedByTable(r.local, clockOffsetMs, read, created, pacer);
    }
    const exemplars = new Map<number, Exemplar>();
    const put = (f: string, e: Exemplar) => {
      const i = read.findString(f);
      const known = exemplars.get(i);
      if (i >= 0 && (!known || e.timestamp >= known.timestamp)) exemplars.set(i, e);
    };
    for (const [f, v] of flatPairs(exemplarFlat, this.#bad)) {
      const e = parseExemplar(v);
      if (e) put(f, e);
      else this.#bad.bad('exemplar');
    }
    if (local) for (const [f, e] of local.exemplars) put(f, e);
    await this.#floor.applyTable(`${r.hash}|${r.typeMode}`, read, values, pacer, moved);
    return { table: read, values, created, exemplars };
  }
}
