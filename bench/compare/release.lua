-- RELEASE: ARGV hold_id. Returns {0} or {status, detail}. Releasing twice answers 0 again.
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
  end_hold(id, deadline, user, list, 'R')
  return {0}
end
if state == 'R' then return {0} end
if state == 'B' then return {28, 0} end
return {23, 0}
