-- CONFIRM: ARGV hold_id. Returns {0, 0, seat...} (the booking) or {status, detail}.
local id = ARGV[1]
local answer, state, deadline, user, list = named_hold(id)
if answer then
  return answer
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
