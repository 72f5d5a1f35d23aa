-- HOLD: ARGV hold_id, user_id, ttl_ms, mode (0 listed seats, 1 best-available), n, seats...
-- All or nothing. Returns {0, deadline_ms, seat...} or {status, detail}.
local id, user, ttl, mode, n = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local seats = tonumber(redis.call('HGET', K_META, 'seats'))
if not seats then
  return {16, 0}
end
local now = now_ms()
sweep(now)
local rec = redis.call('HGET', K_HOLDS, id)
if rec then
  -- A replay with the same id answers the first outcome.
  local state, deadline, _, list = parse_hold(rec)
  if state == 'H' and deadline <= now then
    end_hold(id, deadline, user, list, 'X')
    return {23, 0}
  end
  if state == 'H' or state == 'B' then
    local out = {0, deadline}
    for i = 1, #list do out[#out + 1] = list[i] end
    return out
  end
  return {state == 'R' and 24 or 23, 0}
end
local list = {}
if mode == 1 then
  local row = tonumber(redis.call('HGET', K_META, 'row_width'))
  if row == 0 then row = seats end
  local start, found = 0, -1
  while start < seats do
    local p = redis.call('BITPOS', K_TAKEN, 0, start, seats - 1, 'BIT')
    if p < 0 then break end
    local row_end = (math.floor(p / row) + 1) * row
    if row_end > seats then row_end = seats end
    if p + n > row_end then
      start = row_end
    else
      local ok = true
      for s = p + 1, p + n - 1 do
        if redis.call('GETBIT', K_TAKEN, s) == 1 then
          ok = false
          start = s + 1
          break
        end
      end
      if ok then found = p break end
    end
  end
  if found < 0 then
    return {20, 0}
  end
  for s = found, found + n - 1 do list[#list + 1] = s end
else
  local seen = {}
  for i = 1, n do
    local s = tonumber(ARGV[5 + i])
    if s >= seats then return {18, s} end
    if seen[s] then return {29, s} end
    seen[s] = true
    if redis.call('GETBIT', K_TAKEN, s) == 1 then return {19, s} end
    list[#list + 1] = s
  end
end
for i = 1, #list do
  redis.call('SETBIT', K_TAKEN, list[i], 1)
end
local deadline = now + ttl
put_hold(id, 'H', deadline, user, list)
redis.call('ZADD', K_EXP, deadline, id)
redis.call('HINCRBY', K_META, 'free', -#list)
redis.call('HINCRBY', K_META, 'held', #list)
redis.call('HINCRBY', K_META, 'holds', 1)
local out = {0, deadline}
for i = 1, #list do out[#out + 1] = list[i] end
return out
