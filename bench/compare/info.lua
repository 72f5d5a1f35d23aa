-- EVENT_INFO: returns {0, seats, free, held, booked, holds} or {16, 0}.
if redis.call('EXISTS', K_META) == 0 then
  return {16, 0}
end
sweep(now_ms())
local m = redis.call('HMGET', K_META, 'seats', 'free', 'held', 'booked', 'holds')
return {0, tonumber(m[1]), tonumber(m[2]), tonumber(m[3]), tonumber(m[4]), tonumber(m[5])}
