--[[
  Records a heartbeat in Redis server time (so host clocks do not matter) and prunes processes
  silent for longer than the TTL.

  KEYS[1] {prefix}:processes:{registry}  zset processId -> last heartbeat ms (every process)
  KEYS[2] {prefix}:live:{registry}       zset processId -> the ms until which it is live: its last
                                         heartbeat + its own live timeout (removed on clean exit)
  KEYS[3] {prefix}:restoring:{registry}  zset processId -> ms since which it re-sends data Redis lost
                                         (see docs/design.md, Restoration)
  ARGV[1] processId
  ARGV[2] ttl ms
  ARGV[3] 'beat' or 'exit'
  ARGV[4] the process's own live timeout, ms (REDIS_LIVE_TIMEOUT_MS of the writer, not of a reader:
          a process flushing every 5 s stays live for a scraper whose own timeout is 300 ms)
  ARGV[5] '1' while the process checks or re-sends families Redis may have lost; '0' to clear its
          mark (once all of that is acknowledged, and in a process life's first beat: a mark left
          by an earlier life with the same id); '' to leave the registry as it is (the usual beat)
  ARGV[6] '1' when the process has beaten before: missing from the registry, it is restoring from
          this very beat on (it learns of the loss from this reply)

  Returns {nowMs, wasKnown, pruned processIds...}: wasKnown is 1 when the process was in the
  registry before this beat. A process that has beaten before and gets 0 learns that Redis lost the
  registry (restart, failover to an empty replica) and checks every family it has flushed.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local nowArg = string.format('%d', now)
local wasKnown = 0
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then wasKnown = 1 end
if ARGV[3] == 'exit' then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
else
  redis.call('ZADD', KEYS[2], string.format('%d', now + tonumber(ARGV[4])), ARGV[1])
  if ARGV[5] == '1' or (wasKnown == 0 and ARGV[6] == '1') then
    redis.call('ZADD', KEYS[3], 'NX', nowArg, ARGV[1])
  elseif ARGV[5] == '0' then
    redis.call('ZREM', KEYS[3], ARGV[1])
  end
end
redis.call('ZADD', KEYS[1], nowArg, ARGV[1])
local cutoff = string.format('(%d', now - tonumber(ARGV[2]))
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', cutoff, 'LIMIT', 0, 100)
if #dead > 0 then
  redis.call('ZREM', KEYS[1], unpack(dead))
  redis.call('ZREM', KEYS[2], unpack(dead))
  redis.call('ZREM', KEYS[3], unpack(dead))
end
local out = {nowArg, wasKnown}
for _, id in ipairs(dead) do out[#out + 1] = id end
return out
