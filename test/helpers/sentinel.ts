// A real Redis Sentinel setup on 127.0.0.1: one master, one replica, three sentinels with a quorum
// of 2, tuned so that a SIGKILLed master is replaced in a few seconds.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LOCALHOST, parseInfo, startRedis, type RedisServer } from './redis-server.js';
import { makeTempDir, pollUntil } from './reaper.js';

export interface HostAndPort {
  host: string;
  port: number;
}

export interface SentinelSetup {
  /** The name the sentinels monitor: pass it as `name` to ioredis with `sentinels`. */
  readonly masterName: string;
  readonly sentinels: HostAndPort[];
  /** The servers, as started; after a failover `replica` is the master. */
  readonly master: RedisServer;
  readonly replica: RedisServer;
  readonly sentinelServers: readonly RedisServer[];
  /** SIGKILLs the current master (the one the sentinels name) and returns its port. */
  killMaster(): Promise<number>;
  /** Polls `SENTINEL get-master-addr-by-name` until it names another address than before the kill. */
  waitForNewMaster(timeoutMs?: number): Promise<HostAndPort>;
  stop(): Promise<void>;
}

export interface StartSentinelOptions {
  /** @default 'mymaster' */
  masterName?: string;
  /** How long to wait for the sentinels to see the master, the replica and each other. @default 20000 */
  readyTimeoutMs?: number;
}

export async function startSentinel(options: StartSentinelOptions = {}): Promise<SentinelSetup> {
  const masterName = options.masterName ?? 'mymaster';
  const started: RedisServer[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(started.map((server) => server.stop()));
  };
  try {
    const master = await startRedis({ label: 'sentinel-master' });
    started.push(master);
    const replica = await startRedis({ label: 'sentinel-replica', args: ['--replicaof', LOCALHOST, String(master.port)] });
    started.push(replica);
    // A sentinel learns the replicas from the master's INFO, which it reads at once on connecting
    // and then only every 10 s: let the replica attach first.
    await pollUntil('the replica to sync with its master', async () =>
      parseInfo(await replica.cli('INFO', 'replication')).get('master_link_status') === 'up' ? true : undefined,
    );

    // allSettled: when one fails, the others are in `started` before stop() runs.
    const settled = await Promise.allSettled([0, 1, 2].map(async () => {
      const dir = makeTempDir('sentinel');
      // Sentinel rewrites its config file (known replicas, peers, epochs), so each needs its own.
      const configFile = join(dir, 'sentinel.conf');
      writeFileSync(configFile, [
        'sentinel resolve-hostnames no',
        `sentinel monitor ${masterName} ${LOCALHOST} ${master.port} 2`,
        `sentinel down-after-milliseconds ${masterName} 1000`,
        `sentinel failover-timeout ${masterName} 3000`,
        '',
      ].join('\n'));
      const sentinel = await startRedis({ dir, configFile, isSentinel: true });
      started.push(sentinel);
      return sentinel;
    }));
    const sentinelServers = settled.map((result) => {
      if (result.status === 'rejected') throw result.reason;
      return result.value;
    });

    await pollUntil('the sentinels to see the master, the replica and each other', async () => {
      for (const sentinel of sentinelServers) {
        const address = await sentinel.cli('SENTINEL', 'get-master-addr-by-name', masterName);
        const replicas = parseRecords(await sentinel.cli('SENTINEL', 'replicas', masterName));
        const peers = parseRecords(await sentinel.cli('SENTINEL', 'sentinels', masterName));
        // A replica can be promoted only once its sentinel sees it up and linked to the master.
        const isReady = address === `${LOCALHOST}\n${master.port}`
          && replicas.some((r) => r.get('port') === String(replica.port) && r.get('flags') === 'slave' && r.get('master-link-status') === 'ok')
          && peers.filter((peer) => peer.get('flags') === 'sentinel').length === 2;
        if (!isReady) return undefined;
      }
      return true;
    }, { timeoutMs: options.readyTimeoutMs ?? 20_000, intervalMs: 100 });

    let addressBeforeKill: string | undefined;
    const currentMaster = async (): Promise<HostAndPort> => {
      const live = sentinelServers.find((sentinel) => sentinel.isRunning);
      if (live === undefined) throw new Error('No sentinel is running');
      const [host = '', port = ''] = (await live.cli('SENTINEL', 'get-master-addr-by-name', masterName)).split('\n');
      return { host, port: Number(port) };
    };

    return {
      masterName,
      sentinels: sentinelServers.map(({ host, port }) => ({ host, port })),
      master,
      replica,
      sentinelServers,
      async killMaster() {
        const { host, port } = await currentMaster();
        const server = [master, replica].find((candidate) => candidate.port === port);
        if (server === undefined) throw new Error(`The sentinels name ${host}:${port}, which this setup did not start`);
        addressBeforeKill = `${host}:${port}`;
        await server.kill();
        return port;
      },
      async waitForNewMaster(timeoutMs = 20_000) {
        if (addressBeforeKill === undefined) throw new Error('Call killMaster() before waitForNewMaster()');
        const before = addressBeforeKill;
        return pollUntil(`the sentinels to name a master other than ${before}`, async () => {
          const address = await currentMaster();
          return `${address.host}:${address.port}` === before ? undefined : address;
        }, { timeoutMs, intervalMs: 100 });
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Parses redis-cli's flat output of `SENTINEL replicas|sentinels`: name/value lines, each record from `name`. */
function parseRecords(text: string): Array<Map<string, string>> {
  const lines = text.split('\n');
  const records: Array<Map<string, string>> = [];
  for (let i = 0; i + 1 < lines.length; i += 2) {
    if (lines[i] === 'name') records.push(new Map());
    records.at(-1)?.set(lines[i]!, lines[i + 1]!);
  }
  return records;
}
