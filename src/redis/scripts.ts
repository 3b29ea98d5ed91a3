import { readFileSync } from 'node:fs';

/**
 * The Lua scripts, from `lua/` (copied next to the build by `npm run build`). A file's name ends in
 * its number of keys where that is fixed; its header lists KEYS, ARGV and the reply.
 */
function load(file: string): string {
  return readFileSync(new URL(`./lua/${file}`, import.meta.url), 'utf8');
}

export const SCRIPTS = {
  /** Variable key count (only the keys a batch needs): the caller passes numkeys first. */
  pcrFlushFamily: { lua: load('flush-family.lua') },
  /** Variable key count: the caller passes numkeys first. */
  pcrReadFamily: { lua: load('read-family.lua'), readOnly: true },
  pcrHeartbeat: { lua: load('heartbeat-3.lua'), numberOfKeys: 3 },
  pcrPruneSeq: { lua: load('prune-seq-1.lua'), numberOfKeys: 1 },
} as const;
