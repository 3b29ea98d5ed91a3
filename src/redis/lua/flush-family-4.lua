--[[
  Applies one process's flush batch for one metric family, at most once and in order.

  KEYS[1] seq hash        {prefix}:{tm}:cluster:seq:{h}   __epoch -> id; processId -> last seq applied
  KEYS[2] cluster hash    {prefix}:{tm}:cluster:metric:{h} summed by HINCRBYFLOAT
  KEYS[3] process hash    {prefix}:{tm}:{processId}:metric:{h} absolute per-process values
  KEYS[4] meta hash       {prefix}:{tm}:cluster:meta:{h}

  ARGV[1]  seq field: `processId|instance`, one per process life (see identity.ts)
  ARGV[2]  seq (this process life's flush number, increasing)
  ARGV[3]  knownEpoch: the __epoch this process saw last for the family ('' if it never flushed it)
  ARGV[4]  ttl seconds of the process hash
  ARGV[5]  flags: 1 = reset (a full re-send after loss), 2 = write meta, 4 = the process hash should exist
  ARGV[6]  clientNowMs: the process's clock when it built the batch ('@' fields are moved to Redis time)
  ARGV[7]  nMeta: the number of meta field/value pairs at ARGV[11..]
  ARGV[8]  sums: field/delta pairs summed into the cluster hash, packed as one string:
           'f1\nd1\nf2\nd2...' ('' for none; no field or value holds a raw newline)
  ARGV[9]  sets: field/value pairs set in the process hash, packed the same way
  ARGV[10] dels: fields deleted from the process hash, 'f1\nf2...'
  ARGV[11..] meta field/value pairs (separate arguments: help text may hold a newline)

  Returns {status, epoch, repaired}:
    1 applied; 2 applied, but the process hash had expired (the caller re-sends all its values);
    0 already applied (a retry whose first reply was lost); -1 the family was lost (the caller
    re-sends its whole cumulative state with the reset flag); -2 one of the KEYS holds something
    else than a hash (garbage): nothing was written, and the second element names the key.
    `repaired` counts sum fields that held no number (garbage) and now hold this batch's delta.
]]
-- A script that fails half-way keeps what it wrote: deltas added before the failure would be added
-- again by the retry. So every key is checked before anything is written.
for k = 1, 4 do
  local t = redis.call('TYPE', KEYS[k])['ok']
  if t ~= 'hash' and t ~= 'none' then return {-2, KEYS[k], 0} end
end

local flags = tonumber(ARGV[5])
local reset = flags % 2 == 1
local writeMeta = math.floor(flags / 2) % 2 == 1
local expectProcess = math.floor(flags / 4) % 2 == 1
local known = ARGV[3]

local epoch = redis.call('HGET', KEYS[1], '__epoch')
if not epoch then
  if known ~= '' and not reset then return {-1, '', 0} end
  local t = redis.call('TIME')
  epoch = t[1] .. '.' .. t[2] .. '.' .. ARGV[1]
  redis.call('HSET', KEYS[1], '__epoch', epoch)
elseif known ~= '' and known ~= epoch and not reset then
  return {-1, epoch, 0}
end

local seq = tonumber(ARGV[2])
local last = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '') or -1
if seq <= last then return {0, epoch, 0} end

local status = 1
if expectProcess and not reset and redis.call('EXISTS', KEYS[3]) == 0 then status = 2 end

-- ARGV[8..10] arrive packed (see above). They are unpacked into ARGV[11 + 2 * nMeta ...], after the
-- meta pairs, in the layout of one argument per item that the loops below read.
local nMeta = tonumber(ARGV[7])
local counts = {}
local at = 11 + 2 * nMeta
for list = 8, 10 do
  local s, n = ARGV[list], 0
  if s ~= '' then
    local pos, stop, len = 1, 0, #s
    repeat
      stop = string.find(s, '\n', pos, true) or (len + 1)
      ARGV[at] = string.sub(s, pos, stop - 1)
      at, n, pos = at + 1, n + 1, stop + 1
    until pos > len + 1
  end
  counts[list - 7] = n
end
local nSum, nSet, nDel = counts[1] / 2, counts[2] / 2, counts[3]
local i = 11
if writeMeta or reset then
  for j = 0, nMeta - 1 do redis.call('HSET', KEYS[4], ARGV[i + 2 * j], ARGV[i + 2 * j + 1]) end
end
i = i + 2 * nMeta
local repaired = 0
for j = 0, nSum - 1 do
  local f, d = ARGV[i + 2 * j], ARGV[i + 2 * j + 1]
  -- A field that holds no number cannot be added to (and failing here would be half-way): it
  -- restarts from this delta, which Prometheus reads as a counter reset of that one series.
  if not pcall(redis.call, 'HINCRBYFLOAT', KEYS[2], f, d) then
    redis.call('HSET', KEYS[2], f, d)
    repaired = repaired + 1
  end
end
i = i + 2 * nSum
if nSet > 0 then
  local t = redis.call('TIME')
  local offset = (tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)) - tonumber(ARGV[6])
  for j = 0, nSet - 1 do
    local f, v = ARGV[i + 2 * j], ARGV[i + 2 * j + 1]
    if string.sub(f, 1, 1) == '@' then v = string.format('%d', tonumber(v) + offset) end
    redis.call('HSET', KEYS[3], f, v)
  end
end
i = i + 2 * nSet
for j = 0, nDel - 1 do redis.call('HDEL', KEYS[3], ARGV[i + j]) end
if (nSet > 0 or nDel > 0) and redis.call('EXISTS', KEYS[3]) == 1 then redis.call('EXPIRE', KEYS[3], tonumber(ARGV[4])) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return {status, epoch, repaired}
