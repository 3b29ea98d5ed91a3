/**
 * Every Redis key of the library is built here (the BullMQ habit). Keys of one family end in
 * `{<hash>}`, so they share one Redis Cluster slot and one Lua call can touch them all. Nothing
 * ever parses a key name: meaning lives in the index and the meta hash.
 */
export class KeyBuilder {
  constructor(readonly prefix: string) {}

  /** Hash: family hash → `type[_mode]`. Where the collector starts. */
  families(): string {
    return `${this.prefix}:families`;
  }

  /** Zset: processId → last heartbeat (ms, Redis time), every process until pruned after the TTL. */
  processes(): string {
    return `${this.prefix}:processes:{registry}`;
  }

  /** Zset: processId → its live deadline (last heartbeat + its own live timeout); a process leaves it on clean exit. */
  live(): string {
    return `${this.prefix}:live:{registry}`;
  }

  /** Zset: processId → when it began re-sending data Redis lost; it leaves once all is acknowledged. */
  restoring(): string {
    return `${this.prefix}:restoring:{registry}`;
  }

  meta(typeMode: string, hash: string): string {
    return `${this.prefix}:${typeMode}:cluster:meta:{${hash}}`;
  }

  cluster(typeMode: string, hash: string): string {
    return `${this.prefix}:${typeMode}:cluster:metric:{${hash}}`;
  }

  seq(typeMode: string, hash: string): string {
    return `${this.prefix}:${typeMode}:cluster:seq:{${hash}}`;
  }

  /** Hash: `<field>` or `<field>#<le>` → `<timestamp>|<json>`, the latest exemplar of any process. */
  exemplar(typeMode: string, hash: string): string {
    return `${this.prefix}:${typeMode}:cluster:exemplar:{${hash}}`;
  }

  /** Hash: `<field>` → the series' creation time (ms, Redis time), as the first process to flush it reported. */
  created(typeMode: string, hash: string): string {
    return `${this.prefix}:${typeMode}:cluster:created:{${hash}}`;
  }

  process(typeMode: string, processId: string, hash: string): string {
    return `${this.prefix}:${typeMode}:${processId}:metric:{${hash}}`;
  }
}
