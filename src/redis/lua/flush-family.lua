--[[
  Applies one process's flush batch for one metric family, at most once and in order.

  KEYS[1] seq hash        {prefix}:{tm}:cluster:seq:{h}   __epoch -> id; __born -> Redis ms when the
                          epoch was created (or the hash made again); __restored -> '1' when the
                          epoch began from a loss (a reset re-send, or the sums found gone), '0'
                          when from a process's first batch; processId -> last seq applied
  KEYS[2..] the other keys the batch needs, in the order ARGV[1] names them (a key the batch does
  not touch is not named: in Redis Cluster, a slot being migrated answers TRYAGAIN to a script
  that names a key missing from the source node):
    c  cluster hash    {prefix}:{tm}:cluster:metric:{h}    summed (see "The sums"); __epoch -> id.
                       Named by every batch of a counter, histogram or summary family: its
                       epoch says whether the sums are the epoch's (see below)
    m  meta hash       {prefix}:{tm}:cluster:meta:{h}      named by every batch: checked to exist
    p  process hash    {prefix}:{tm}:{processId}:metric:{h} absolute per-process values
    e  exemplar hash   {prefix}:{tm}:cluster:exemplar:{h}  latest exemplar per series or bucket
    r  created hash    {prefix}:{tm}:cluster:created:{h}   creation time (ms) per series, first flushed

  ARGV[1]  the roles of KEYS[2..], e.g. 'cm' or 'mpe'
  ARGV[2]  seq field: `processId|instance`, one per process life (see identity.ts)
  ARGV[3]  seq (this process life's flush number, increasing), or `seq:after`: the batch must
           follow the one of seq `after` (a chunk, or a part sent while the family drains, behind
           another of the same round): it applies only once that one is (or when the seq hash was
           found gone, so that what applied is unknown)
  ARGV[4]  knownEpoch: the __epoch this process saw last for the family ('' if it never flushed it)
  ARGV[5]  ttl seconds of the process hash and of the exemplar hash
  ARGV[6]  flags: 1 = reset (a full re-send after loss), 2 = write meta, 4 = the process hash should exist
  ARGV[7]  clientNowMs: the process's clock when it built the batch ('@' fields are moved to Redis time)
  ARGV[8]  nMeta: the number of meta field/value pairs at ARGV[14..]
  ARGV[9]  sums: field/delta pairs summed into the cluster hash, packed as one string:
           'f1\nd1\nf2\nd2...' ('' for none; no field or value holds a raw newline)
  ARGV[10] sets: field/value pairs set in the process hash, packed the same way
  ARGV[11] dels: fields deleted from the process hash (before the sets), 'f1\nf2...'
  ARGV[12] exemplars: field/`<timestamp>|<json>` pairs, packed the same way; an exemplar replaces
           the stored one only when its timestamp is newer
  ARGV[13] created: field/ms pairs (the process's clock, moved to Redis time like '@' fields),
           packed the same way; the created hash keeps the first one flushed (a restarted
           process's later creation changes nothing). HGET then HSET rather than HSETNX: the
           minimal ACL line of README.md has no +hsetnx, and an upgrade must not need a new one
  ARGV[14..] meta field/value pairs (separate arguments: help text may hold a newline)

  Returns {status, epoch, repaired, lost}:
    1 applied; 2 applied, but the process hash had expired (the caller re-sends all its values);
    0 already applied (a retry whose first reply was lost); -1 the family was lost (the caller
    re-sends its whole cumulative state with the reset flag); -2 one of the KEYS holds something
    else than a hash (garbage): nothing was written, and the second element names the key;
    -3 not applied: the batch of seq `after` (ARGV[3]) is not applied yet (nothing was written).
    `repaired` counts sum fields that held no number (garbage), or whose sum would not be finite,
    and now hold this batch's delta.
    `lost` names the keys of the family found gone (evicted, deleted, a restart), one letter each:
      s  the seq hash. With the cluster hash still holding the epoch, the seq hash is made again
         in that epoch and the batch applies: the sums are intact, only the record of applied
         seqs is gone. Without it (a gauge family, or both gone), -1 as for an empty restart.
      c  the sums: the cluster hash is gone, or holds another epoch, while the seq hash stayed. A
         new epoch starts (seq hash and cluster hash anew): every process that had flushed the
         family gets -1 and re-sends its totals; a batch of a process new to it, or a reset, applies.
      m  the meta hash (the caller writes it again).
]]
-- A script that fails half-way keeps what it wrote: deltas added before the failure would be added
-- again by the retry. So every key is checked before anything is written.
for k = 1, #KEYS do
  local t = redis.call('TYPE', KEYS[k])['ok']
  if t ~= 'hash' and t ~= 'none' then return {-2, KEYS[k], 0} end
end
local key = {}
local roles = ARGV[1]
for r = 1, #roles do key[string.sub(roles, r, r)] = KEYS[r + 1] end

local flags = tonumber(ARGV[6])
local reset = flags % 2 == 1
local writeMeta = math.floor(flags / 2) % 2 == 1
local expectProcess = math.floor(flags / 4) % 2 == 1
local known = ARGV[4]

-- A new epoch: the family's summed data starts from nothing (the processes re-send into it). What
-- a cluster hash of another epoch holds goes (HKEYS and HDEL, not DEL: the minimal ACL line of
-- README.md has no +del, and an upgrade must not need a new right).
local function nowMs()
  local t = redis.call('TIME')
  return string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)), t
end
local function startEpoch(afterLoss)
  local born, t = nowMs()
  local id = t[1] .. '.' .. t[2] .. '.' .. ARGV[2]
  redis.call('HSET', KEYS[1], '__epoch', id, '__born', born, '__restored', afterLoss and '1' or '0')
  if key.c then
    local fields = redis.call('HKEYS', key.c)
    for j = 1, #fields, 1000 do redis.call('HDEL', key.c, unpack(fields, j, math.min(j + 999, #fields))) end
    redis.call('HSET', key.c, '__epoch', id)
  end
  return id
end

local lost = ''
if key.m and not (writeMeta or reset) and redis.call('EXISTS', key.m) == 0 then lost = 'm' end
local epoch = redis.call('HGET', KEYS[1], '__epoch')
local sumsEpoch = key.c and redis.call('HGET', key.c, '__epoch')
if not epoch and sumsEpoch then
  -- The seq hash alone is gone: the family goes on in the epoch its sums carry. A retry of a batch
  -- whose reply was lost just then would apply twice: the seqs applied are gone with the hash.
  epoch = sumsEpoch
  redis.call('HSET', KEYS[1], '__epoch', epoch, '__born', (nowMs()))
  lost = lost .. 's'
elseif not epoch then
  if known ~= '' and not reset then return {-1, '', 0, lost .. 's'} end
  epoch = startEpoch(reset)
elseif key.c and sumsEpoch ~= epoch then
  if not sumsEpoch and redis.call('EXISTS', key.c) == 1 then
    -- Sums written before the cluster hash kept the epoch: they are this epoch's.
    redis.call('HSET', key.c, '__epoch', epoch)
  else
    epoch = startEpoch(true)
    lost = lost .. 'c'
  end
end
if known ~= '' and known ~= epoch and not reset then return {-1, epoch, 0, lost} end

local seqText, afterText = string.match(ARGV[3], '^(%d+):?(%d*)$')
local seq = tonumber(seqText)
local after = tonumber(afterText)
local last = tonumber(redis.call('HGET', KEYS[1], ARGV[2]) or '') or -1
if seq <= last then return {0, epoch, 0, lost} end
-- The batch before this one was not applied (refused, OOM say, while this one was on its way): this
-- one must not overtake it (its retry would then look applied). Both come again, in order.
-- A missing seq field is no excuse (a family new to this process, or an epoch begun by this very
-- call: the batch before cannot have applied in it), unless this call found the whole seq hash gone
-- with the record of what applied ('s' in lost): then it cannot tell, as for a retry.
if after and last < after and (last >= 0 or not string.find(lost, 's', 1, true)) then return {-3, epoch, 0, lost} end

local status = 1
if expectProcess and not reset and key.p and redis.call('EXISTS', key.p) == 0 then status = 2 end

-- ARGV[10..13] arrive packed (see above). They are unpacked into ARGV[14 + 2 * nMeta ...], after the
-- meta pairs, in the layout of one argument per item that the loops below read. The sums (ARGV[9])
-- go into two lists of their own, for HMGET. One gmatch step per pair costs less than string.find
-- and string.sub per item (~0.3 against ~0.45 µs a pair).
local nMeta = tonumber(ARGV[8])
local gmatch = string.gmatch
local PAIR, ITEM = '([^\n]*)\n([^\n]*)\n?', '[^\n]+'
local sumFields, sumDeltas, nSum = {}, {}, 0
for f, d in gmatch(ARGV[9], PAIR) do
  nSum = nSum + 1
  sumFields[nSum], sumDeltas[nSum] = f, d
end
local counts = {}
local at = 14 + 2 * nMeta
for list = 10, 13 do
  local n = 0
  if list == 11 then
    for item in gmatch(ARGV[list], ITEM) do
      ARGV[at + n] = item
      n = n + 1
    end
  else
    for f, v in gmatch(ARGV[list], PAIR) do
      ARGV[at + n] = f
      ARGV[at + n + 1] = v
      n = n + 2
    end
  end
  at = at + n
  counts[list - 9] = n
end
local nSet, nDel, nEx, nCreated = counts[1] / 2, counts[2], counts[3] / 2, counts[4] / 2
local i = 14
if (writeMeta or reset) and key.m then
  for j = 0, nMeta - 1 do redis.call('HSET', key.m, ARGV[i + 2 * j], ARGV[i + 2 * j + 1]) end
end
i = i + 2 * nMeta

-- The sums. A field that holds no number cannot be added to (and failing here would be half-way):
-- it restarts from this delta, which Prometheus reads as a counter reset of that one series; so
-- does a sum that would be NaN or infinite (HINCRBYFLOAT refuses those too).
local repaired = 0
if nSum > 0 and redis.acl_check_cmd and redis.acl_check_cmd('HMGET', key.c, 'f') then
  -- One HMGET, the additions here, and one HSET per 1,000 pairs: ~1.5 µs a field against ~2.1
  -- for a HINCRBYFLOAT each (the cost of a command called from Lua is most of it). The addition
  -- is a double's, not HINCRBYFLOAT's long double: integer counts are exact either way (up to
  -- 2^53); a fractional sum may differ in its last bit (see collect/rounding-floor.ts). A sum is
  -- written as an integer when it is one, else with 15 significant digits when they read back as
  -- the same double, else 17.
  local tn, fmt, huge = tonumber, string.format, math.huge
  local out, m, slot = {}, 0, {}
  for from = 1, nSum, 1000 do
    local to = math.min(from + 999, nSum)
    local old = redis.call('HMGET', key.c, unpack(sumFields, from, to))
    for j = from, to do
      local f, d = sumFields[j], sumDeltas[j]
      -- A field named twice in a batch (a reset re-send: carried totals next to a live series)
      -- adds to what the first wrote.
      local k = slot[f]
      local before
      if k then before = out[k] else before = old[j - from + 1] end
      local x = tn(d)
      local text = d
      if before then
        local y = tn(before)
        x = y and x and y + x
        if x and x == x and x ~= huge and x ~= -huge then
          -- '%d' costs a third of '%.17g' (the common case: counts), and is exact below 2^53.
          if x % 1 == 0 and x < 2^53 and x > -2^53 then
            text = fmt('%d', x)
          else
            text = fmt('%.17g', x)
            if #text > 15 then
              local short = fmt('%.15g', x)
              if tn(short) == x then text = short end
            end
          end
        else
          x = nil
        end
      elseif x and (x ~= x or x == huge or x == -huge) then
        x = nil
      end
      if not x then
        text = d
        repaired = repaired + 1
      end
      if k then
        out[k] = text
      else
        out[m + 1], out[m + 2] = f, text
        m = m + 2
        slot[f] = m
      end
    end
  end
  for from = 1, m, 2000 do redis.call('HSET', key.c, unpack(out, from, math.min(from + 1999, m))) end
else
  -- Without the right to HMGET (the minimal ACL line of README.md had none before; an upgrade
  -- must not need a new right) or before Redis 7: one HINCRBYFLOAT per field.
  for j = 1, nSum do
    local f, d = sumFields[j], sumDeltas[j]
    if not pcall(redis.call, 'HINCRBYFLOAT', key.c, f, d) then
      redis.call('HSET', key.c, f, d)
      repaired = repaired + 1
    end
  end
end
local setsAt = i
i = i + 2 * nSet
-- Deletions first: a series removed and made again before this flush keeps its new value.
for j = 0, nDel - 1 do redis.call('HDEL', key.p, ARGV[i + j]) end
i = i + nDel
if nSet > 0 then
  local t = redis.call('TIME')
  local offset = (tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)) - tonumber(ARGV[7])
  for j = 0, nSet - 1 do
    local f, v = ARGV[setsAt + 2 * j], ARGV[setsAt + 2 * j + 1]
    if string.sub(f, 1, 1) == '@' then v = string.format('%d', tonumber(v) + offset) end
    redis.call('HSET', key.p, f, v)
  end
end
if (nSet > 0 or nDel > 0) and redis.call('EXISTS', key.p) == 1 then redis.call('EXPIRE', key.p, tonumber(ARGV[5])) end
local exemplarsAt = i
i = i + 2 * nEx
if nCreated > 0 then
  local t = redis.call('TIME')
  local offset = (tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)) - tonumber(ARGV[7])
  for j = 0, nCreated - 1 do
    local ms = tonumber(ARGV[i + 2 * j + 1])
    local f = ARGV[i + 2 * j]
    if ms and not redis.call('HGET', key.r, f) then redis.call('HSET', key.r, f, string.format('%d', ms + offset)) end
  end
end
i = exemplarsAt
for j = 0, nEx - 1 do
  local f, v = ARGV[i + 2 * j], ARGV[i + 2 * j + 1]
  local old = redis.call('HGET', key.e, f)
  local newTs = tonumber(string.match(v, '^[^|]*')) or 0
  local oldTs = old and tonumber(string.match(old, '^[^|]*')) or nil
  if not oldTs or newTs >= oldTs then redis.call('HSET', key.e, f, v) end
end
if nEx > 0 then redis.call('EXPIRE', key.e, tonumber(ARGV[5])) end
redis.call('HSET', KEYS[1], ARGV[2], seqText)
return {status, epoch, repaired, lost}
