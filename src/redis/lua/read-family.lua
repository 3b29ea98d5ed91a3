--[[
  Reads one metric family atomically (all its keys share one hash slot).

  KEYS[1] meta hash, KEYS[2] cluster hash (its __epoch field is left out), KEYS[3] seq hash, KEYS[4] exemplar hash,
  KEYS[5] created hash, KEYS[6..] process hashes
  ARGV[1] the reading process's seq field `processId|instance` ('' for none)
  ARGV[2] '1' to read the created hash ('' in its place otherwise: a text 0.0.4 scrape shows no
          `_created`, and a family of 100,000 counters would read 100,000 more fields)
  ARGV[3] '1' to get the family's epoch, its birth and whether it began from a loss after the
          process hashes (see below)

  Returns {meta, cluster, mySeq, exemplars, created, proc1, proc2, ...}; with ARGV[3] '1', then
  the family's epoch ('' when it has none), the Redis ms when that epoch began (-1 when
  unknown), and 1 when it began from a loss (a re-send after Redis lost the family), else 0: a collector that sees the epoch change knows the family was lost and is being
  restored (see docs/design.md, Restoration). `meta` is the meta hash as a flat field/value
  list. Every other hash comes packed into ONE string, its HGETALL list as a MessagePack array of
  strings, or past 1,000 pairs a list of such arrays of 1,000 pairs each (cmsgpack, in C: a third of the server CPU of building the same string in Lua, ~40 ms
  against ~120 ms for 100,000 fields); a family of 100,000 series is then one bulk reply that the
  client slices as it goes, instead of 200,000 small ones it would have to allocate and
  garbage-collect at once (see perf/EVENT-LOOP.md); past 1,000 fields, where the user may run
  DUMP, it comes as its DUMP cut into parts instead (see dumped() below). A key
  that holds something else than a hash (garbage) reads as the string 'WRONGTYPE': skipped, not
  fatal. mySeq is the last seq of the reader applied to this family, or -1.
]]
local function pairsOf(key)
  local ok, r = pcall(redis.call, 'HGETALL', key)
  if ok then return r end
  return nil
end
-- Strings of one packed part (1,000 pairs, ~15-40 KB): a larger hash comes as a list of parts. The
-- client's parser (redis-parser) returns a bulk string that arrived within one socket read (64 KB)
-- as a view of it, and copies one that spans reads into a buffer pool it reallocates as it grows:
-- one 25 MB string of a million series held the reader's event loop for tens of ms (the copy into
-- fresh memory, whose page faults are dear on this VM), and so did parts of 20,000 pairs.
local PART = 2000
-- A hash of more than DUMP_OVER fields comes as its DUMP instead, when the user may run DUMP and
-- the hash is in its hashtable encoding (type byte 4; a listpack, a hash with field TTLs or another
-- server's format takes the packed way): {'dump', skip, part, part, ...}, the dump cut into parts
-- of DUMP_PART bytes for the client's parser (see above: each is copied once, a small copy),
-- `skip` the field the client leaves out.
-- Redis serializes a hash for about half the CPU of HGETALL into a Lua table and the packing
-- (the Lua table of HGETALL's reply alone costs more than the whole dump): this script for
-- 100,000 fields took ~115-125 ms of redis-server CPU against ~230-250 ms, 10,000 fields ~9.5
-- against ~16 ms, 1,500 fields ~1.3 against ~2 ms (a loaded 2-core machine; DUMP alone ~80-100
-- ms for 100,000: the rest is the Lua string, its parts and the reply). The client reads the RDB
-- strings (collect/rdb-hash.ts): raw, integers, LZF (DUMP compresses a string of more than 20
-- bytes when rdbcompression is on, as it is by default).
local DUMP_OVER = PART / 2
local DUMP_PART = 65536
-- Asked first with acl_check_cmd, which leaves nothing in ACL LOG: README's minimal ACL line has
-- neither +dump nor +hlen (Redis before 7.0 has no acl_check_cmd: the packed way).
local canDump = redis.acl_check_cmd ~= nil
local function dumped(key, skip)
  if not (canDump and redis.acl_check_cmd('DUMP', key) and redis.acl_check_cmd('HLEN', key)) then return nil end
  local ok, n = pcall(redis.call, 'HLEN', key)
  if not ok or n <= DUMP_OVER then return nil end
  local d
  ok, d = pcall(redis.call, 'DUMP', key)
  if not ok or type(d) ~= 'string' or string.byte(d, 1) ~= 4 then return nil end
  local parts = {'dump', skip or ''}
  for at = 1, #d, DUMP_PART do parts[#parts + 1] = string.sub(d, at, at + DUMP_PART - 1) end
  return parts
end
-- `skip`: a field left out (the cluster hash's __epoch, which is no sum); the last pair takes its
-- place (a hash has no order to keep).
local function packed(key, skip)
  local d = dumped(key, skip)
  if d then return d end
  local r = pairsOf(key)
  if not r then return 'WRONGTYPE' end
  if skip then
    for i = 1, #r, 2 do
      if r[i] == skip then
        local n = #r
        r[i], r[i + 1] = r[n - 1], r[n]
        r[n], r[n - 1] = nil, nil
        break
      end
    end
  end
  local n = #r
  if n <= PART then return cmsgpack.pack(r) end
  local parts = {}
  for first = 1, n, PART do
    local part = {}
    for j = first, math.min(first + PART - 1, n) do part[j - first + 1] = r[j] end
    parts[#parts + 1] = cmsgpack.pack(part)
  end
  return parts
end
local out = {pairsOf(KEYS[1]) or 'WRONGTYPE', packed(KEYS[2], '__epoch')}
local mySeq = -1
if ARGV[1] ~= '' then
  local ok, r = pcall(redis.call, 'HGET', KEYS[3], ARGV[1])
  if ok and r then mySeq = tonumber(r) or -1 end
end
out[3] = mySeq
for i = 4, #KEYS do
  if i == 5 and ARGV[2] ~= '1' then out[i] = '' else out[i] = packed(KEYS[i]) end
end
-- HGETs, not HMGET: the minimal ACL line of README.md has no +hmget.
local function field(f)
  local ok, r = pcall(redis.call, 'HGET', KEYS[3], f)
  if ok and r then return r end
  return nil
end
if ARGV[3] == '1' then
  out[#KEYS + 1] = field('__epoch') or ''
  out[#KEYS + 2] = tonumber(field('__born') or '') or -1
  if field('__restored') == '1' then out[#KEYS + 3] = 1 else out[#KEYS + 3] = 0 end
end
return out
