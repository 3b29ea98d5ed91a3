--[[
  Removes the seq fields of dead processes from one family's seq hash. A field is
  `processId|instance` with a 16-hex-digit instance, so the length check makes the prefix match exact.

  KEYS[1] seq hash {prefix}:{tm}:cluster:seq:{h}
  ARGV    processIds pruned from the registry

  Returns the number of fields removed.
]]
local fields = redis.call('HKEYS', KEYS[1])
local removed = 0
for _, f in ipairs(fields) do
  for _, id in ipairs(ARGV) do
    if #f == #id + 17 and string.sub(f, 1, #id + 1) == id .. '|' then
      redis.call('HDEL', KEYS[1], f)
      removed = removed + 1
      break
    end
  end
end
return removed
