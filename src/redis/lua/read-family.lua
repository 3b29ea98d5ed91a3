--[[
  Reads one metric family atomically (all its keys share one hash slot).

  KEYS[1] meta hash, KEYS[2] cluster hash, KEYS[3] seq hash, KEYS[4..] process hashes
  ARGV[1] the reading process's seq field `processId|instance` ('' for none)

  Returns {meta, cluster, mySeq, proc1, proc2, ...}: each hash as a flat field/value list, or the
  string 'WRONGTYPE' where a key holds something else (garbage is skipped, not fatal); mySeq is the
  last seq of the reader applied to this family, or -1.
]]
local function read(key)
  local ok, r = pcall(redis.call, 'HGETALL', key)
  if ok then return r end
  return 'WRONGTYPE'
end
local out = {read(KEYS[1]), read(KEYS[2])}
local mySeq = -1
if ARGV[1] ~= '' then
  local ok, r = pcall(redis.call, 'HGET', KEYS[3], ARGV[1])
  if ok and r then mySeq = tonumber(r) or -1 end
end
out[3] = mySeq
for i = 4, #KEYS do out[i] = read(KEYS[i]) end
return out
