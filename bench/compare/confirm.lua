-- CONFIRM: ARGV hold_id. Returns {0, 0, seat...} (the booking) or {status, detail}.
local id = ARGV[1]
if redis.call('EXISTS', K_META) == 0 then
  return {16, 0}
end
local now = now_ms()
sweep(now)
local rec = redis.call('HGET', K_HOLDS, id)
if not rec then
  return {22, 0}
end
local state, deadline, user, list = parse_hold(rec)
if state == 'H' and deadline <= now then
  end_hold(id, deadline, user, list, 'X')
  return {23, 0}
end
if state == 'H' then
  put_hold(id, 'B', deadline, user, list)
  redis.call('ZREM', K_EXP, id)
  redis.call('HINCRBY', K_META, 'held', -#list)
  redis.call('HINCRBY', K_META, 'booked', #list)
  redis.call('HINCRBY', K_META, 'holds', -1)
elseif state ~= 'B' then
  return {state == 'R' and 24 or 23, 0}
end
local out = {0, 0}
for i = 1, #list do out[#out + 1] = list[i] end
return out
