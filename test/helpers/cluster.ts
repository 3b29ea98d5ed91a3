// A real Redis Cluster on 127.0.0.1: N masters with M replicas each, made with
// `redis-cli --cluster create`, and a failover that is a real SIGKILL of a master.
//
// --cluster-node-timeout 2000 makes a failover take about 3 s instead of 15; --cluster-port puts
// the cluster bus on its own free port instead of port+10000, which may not be free (or valid).
import { join } from 'node:path';
import { freePort } from './ports.js';
import { LOCALHOST, parseInfo, runRedisCli, startRedis, type RedisServer } from './redis-server.js';
import { makeTempDir, pollUntil } from './reaper.js';

export type ClusterRole = 'master' | 'replica';

export interface ClusterNodeInfo {
  host: string;
  port: number;
  /** Role when the cluster was created; waitForFailover() tells what changed. */
  role: ClusterRole;
}

export interface StartClusterOptions {
  /** @default 3 (Redis Cluster needs at least 3) */
  masters?: number;
  /** @default 1 */
  replicasPerMaster?: number;
  /** Extra redis-server arguments for every node. */
  args?: readonly string[];
  /** How long to wait for `cluster_state:ok` everywhere. @default 30000 */
  readyTimeoutMs?: number;
}

export interface RedisCluster {
  readonly nodes: readonly ClusterNodeInfo[];
  /** `{ host, port }` of every node, for `new Cluster(startupNodes)`. */
  readonly startupNodes: Array<{ host: string; port: number }>;
  /** The server of every node, in the order of `nodes`. */
  readonly servers: readonly RedisServer[];
  /** SIGKILLs the `index`-th master (in the order of `nodes`) and returns its port. */
  killMaster(index: number): Promise<number>;
  /**
   * Waits until a replica of every killed master has been promoted and every live node reports
   * `cluster_state:ok`; resolves with the promoted nodes' ports.
   */
  waitForFailover(timeoutMs?: number): Promise<number[]>;
  stop(): Promise<void>;
}

/** Parses `CLUSTER NODES`: `<id> <ip:port@bus> <flags> <master id> ...` per line. */
function parseClusterNodes(text: string): Array<{ port: number; flags: string[] }> {
  return text.trim().split('\n').map((line) => {
    const [, address = '', flags = ''] = line.split(' ');
    return { port: Number(address.split('@')[0]?.split(':').pop()), flags: flags.split(',') };
  });
}

export async function startCluster(options: StartClusterOptions = {}): Promise<RedisCluster> {
  const masterCount = options.masters ?? 3;
  const replicasPerMaster = options.replicasPerMaster ?? 1;
  if (!Number.isInteger(masterCount) || masterCount < 3) {
    throw new TypeError(`Expected \`masters\` to be an integer >= 3, got \`${masterCount}\``);
  }
  if (!Number.isInteger(replicasPerMaster) || replicasPerMaster < 0) {
    throw new TypeError(`Expected \`replicasPerMaster\` to be an integer >= 0, got \`${replicasPerMaster}\``);
  }
  const nodeCount = masterCount * (1 + replicasPerMaster);
  const results = await Promise.allSettled(
    Array.from({ length: nodeCount }, async () => {
      const dir = makeTempDir('cluster-node');
      return startRedis({
        dir,
        args: [
          '--cluster-enabled', 'yes',
          '--cluster-config-file', join(dir, 'nodes.conf'),
          '--cluster-node-timeout', '2000',
          '--cluster-port', String(await freePort()),
          ...(options.args ?? []),
        ],
      });
    }),
  );
  const servers = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map((server) => server.stop()));
  };

  try {
    const failure = results.find((result) => result.status === 'rejected');
    if (failure) throw failure.reason;
    // redis-cli makes the first `masterCount` addresses masters and assigns the rest as replicas.
    await runRedisCli([
      '--cluster', 'create',
      ...servers.map((server) => `${LOCALHOST}:${server.port}`),
      '--cluster-replicas', String(replicasPerMaster),
      '--cluster-yes',
    ]);
    await waitUntilReady(servers, masterCount, options.readyTimeoutMs ?? 30_000);
  } catch (error) {
    await stop();
    throw error;
  }

  // ROLE is each node's own word on its role and, for a replica, its master's port.
  const roles = await Promise.all(servers.map((server) => server.cli('ROLE')));
  const nodes: ClusterNodeInfo[] = servers.map((server, i) => ({
    host: LOCALHOST,
    port: server.port,
    role: roles[i]!.startsWith('master') ? 'master' : 'replica',
  }));
  const replicaPortsOf = new Map<number, number[]>(); // master port → its replicas' ports
  for (const [i, role] of roles.entries()) {
    const [kind, , masterPort] = role.split('\n');
    if (kind !== 'slave') continue;
    const key = Number(masterPort);
    replicaPortsOf.set(key, [...(replicaPortsOf.get(key) ?? []), servers[i]!.port]);
  }
  const killedMasterPorts: number[] = [];

  return {
    nodes,
    startupNodes: nodes.map(({ host, port }) => ({ host, port })),
    servers,
    async killMaster(index) {
      const master = nodes.filter((node) => node.role === 'master')[index];
      if (master === undefined) throw new RangeError(`Expected a master index < ${masterCount}, got ${index}`);
      await servers.find((server) => server.port === master.port)!.kill();
      killedMasterPorts.push(master.port);
      return master.port;
    },
    async waitForFailover(timeoutMs = 20_000) {
      const live = servers.filter((server) => server.isRunning);
      return pollUntil('a replica to be promoted and cluster_state:ok', async () => {
        const promoted: number[] = [];
        for (const killedPort of killedMasterPorts) {
          const replicas = live.filter((server) => replicaPortsOf.get(killedPort)?.includes(server.port));
          const roles = await Promise.all(replicas.map((server) => server.cli('ROLE')));
          const index = roles.findIndex((role) => role.startsWith('master'));
          if (index < 0) return undefined;
          promoted.push(replicas[index]!.port);
        }
        const infos = await Promise.all(live.map((server) => server.cli('CLUSTER', 'INFO')));
        return infos.every((info) => parseInfo(info).get('cluster_state') === 'ok') ? promoted : undefined;
      }, { timeoutMs, intervalMs: 100 });
    },
    stop,
  };
}

/**
 * Every node reports state ok with all slots assigned, sees every other node in its final role
 * (roles spread by gossip, after redis-cli is done), and every replica is in sync with its master.
 */
async function waitUntilReady(servers: readonly RedisServer[], masterCount: number, timeoutMs: number): Promise<void> {
  const nodeCount = servers.length;
  await pollUntil('cluster_state:ok on every node', async () => {
    for (const server of servers) {
      const info = parseInfo(await server.cli('CLUSTER', 'INFO'));
      const isReady = info.get('cluster_state') === 'ok'
        && info.get('cluster_slots_assigned') === '16384'
        && info.get('cluster_known_nodes') === String(nodeCount);
      if (!isReady) return undefined;
      const lines = parseClusterNodes(await server.cli('CLUSTER', 'NODES'));
      const isSettled = lines.every((line) => !line.flags.some((flag) => /fail|handshake|noaddr/.test(flag)))
        && lines.filter((line) => line.flags.includes('slave')).length === nodeCount - masterCount;
      if (!isSettled) return undefined;
      const replication = parseInfo(await server.cli('INFO', 'replication'));
      if (replication.get('role') === 'slave' && replication.get('master_link_status') !== 'up') return undefined;
    }
    return true;
  }, { timeoutMs, intervalMs: 100 });
}
