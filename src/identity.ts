import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

export interface ProcessIdentityOptions {
  /** @default os.hostname() */
  host?: string;
  /** @default process.pid */
  pid?: number;
  /** Distinguishes two lives of the same host and pid. @default random */
  nonce?: string;
}

export interface ProcessIdentity {
  readonly host: string;
  readonly pid: number;
  readonly nonce: string;
  /** `host:pid:nonce`: unique across hosts and restarts; the `pid` label of `all`/`liveall` series. */
  readonly id: string;
  /**
   * Random for every process life and never overridable: the flush sequence numbers (idempotency)
   * are kept per `id|instance`, so two processes that share an `id` by mistake (a fixed identity
   * inherited by forked children, a restart with the same fixed identity) never see each other's
   * flushes as "already applied". 16 hex digits.
   */
  readonly instance: string;
}

/**
 * The reference keys processes by pid alone, so pid 7 on two hosts overwrite each other. Ours adds
 * the host and a nonce made at start (and again after a fork), so no two lives share an id.
 */
export function makeIdentity(options: ProcessIdentityOptions = {}): ProcessIdentity {
  const host = options.host ?? hostname();
  const pid = options.pid ?? process.pid;
  const nonce = options.nonce ?? randomBytes(4).toString('hex');
  return Object.freeze({ host, pid, nonce, id: `${host}:${pid}:${nonce}`, instance: randomBytes(8).toString('hex') });
}

/** The field of this process life in every family's seq hash. */
export function seqFieldOf(identity: ProcessIdentity): string {
  return `${identity.id}|${identity.instance}`;
}
